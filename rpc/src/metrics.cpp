#include "rpc/metrics.hpp"

#include <prometheus/text_serializer.h>

#include "common/check.hpp"

namespace cityledger::rpc {

MetricFamilies& MetricFamilies::counter(std::string name, std::string help) {
  families_.push_back({std::move(name), std::move(help), prometheus::MetricType::Counter, {}});
  return *this;
}

MetricFamilies& MetricFamilies::gauge(std::string name, std::string help) {
  families_.push_back({std::move(name), std::move(help), prometheus::MetricType::Gauge, {}});
  return *this;
}

MetricFamilies& MetricFamilies::sample(double value, const MetricLabels& labels) {
  CL_CHECK(!families_.empty());
  auto& family = families_.back();
  prometheus::ClientMetric metric;
  for (const auto& [name, label_value] : labels) metric.label.push_back({name, label_value});
  if (family.type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return *this;
}

MetricFamilies& MetricFamilies::append(std::vector<prometheus::MetricFamily> families) {
  for (auto& f : families) families_.push_back(std::move(f));
  return *this;
}

void add_server_metrics(MetricFamilies& out, const ServerStats& s) {
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  out.counter("cityledger_rpc_connections_accepted_total", "RPC connections accepted")
      .sample(d(s.connections_accepted));
  out.counter("cityledger_rpc_connections_rejected_total",
              "RPC connections closed at once because connections_max was reached")
      .sample(d(s.connections_rejected));
  out.gauge("cityledger_rpc_connections_active", "RPC connections open now").sample(d(s.connections_active));
  out.counter("cityledger_rpc_http_requests_total", "HTTP requests received").sample(d(s.http_requests));
  out.counter("cityledger_rpc_requests_timed_out_total",
              "Connections closed because a request did not arrive whole in time")
      .sample(d(s.requests_timed_out));
  out.counter("cityledger_rpc_http_responses_total", "HTTP responses sent, by status code");
  for (const auto& [status, count] : s.http_responses_by_status) {
    out.sample(d(count), {{"status", std::to_string(status)}});
  }
  out.counter("cityledger_rpc_websocket_sessions_total", "WebSocket sessions opened")
      .sample(d(s.websocket_sessions));
  out.counter("cityledger_rpc_websocket_clients_dropped_total",
              "WebSocket subscribers dropped because their queue overflowed")
      .sample(d(s.websocket_clients_dropped));
  out.counter("cityledger_rpc_notifications_sent_total", "Subscription notifications queued to clients")
      .sample(d(s.notifications_sent));
  // Method names come from the registry or are one of "(unknown)", "(invalid)".
  out.counter("cityledger_rpc_requests_total", "JSON-RPC requests, by method");
  for (const auto& [method, count] : s.rpc.requests_by_method) out.sample(d(count), {{"method", method}});
  out.counter("cityledger_rpc_errors_total", "JSON-RPC error responses, by error code");
  for (const auto& [code, count] : s.rpc.errors_by_code)
    out.sample(d(count), {{"code", std::to_string(code)}});
}

std::string serialize_metrics(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace cityledger::rpc
