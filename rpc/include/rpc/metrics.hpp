// Prometheus exposition for values read at scrape time.
//
// The server's counters (and the node's, node/metrics.hpp) live in plain
// structs updated on the hot path; at scrape time they are turned into
// prometheus-cpp's data model (MetricFamily) and serialized by its
// TextSerializer, so the text format, escaping and histogram layout are the
// library's, not ours.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <utility>
#include <vector>

#include "rpc/server.hpp"

namespace cityledger::rpc {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Builds a list of families; each sample belongs to the family started last.
class MetricFamilies {
 public:
  MetricFamilies& counter(std::string name, std::string help);
  MetricFamilies& gauge(std::string name, std::string help);
  MetricFamilies& sample(double value, const MetricLabels& labels = {});
  // Appends already built families (e.g. a prometheus::Registry's Collect()).
  MetricFamilies& append(std::vector<prometheus::MetricFamily> families);
  std::vector<prometheus::MetricFamily> take() { return std::move(families_); }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

// The server's connection, request and notification counters.
void add_server_metrics(MetricFamilies& out, const ServerStats& stats);

// Prometheus text format 0.0.4.
std::string serialize_metrics(const std::vector<prometheus::MetricFamily>& families);

// The Content-Type of serialize_metrics' output.
inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace cityledger::rpc
