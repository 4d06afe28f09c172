#include "rpc/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>

namespace cityledger::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using error_code = beast::error_code;

namespace {

constexpr std::size_t excerpt_max = 200;

std::string excerpt(std::string_view text) {
  if (text.size() <= excerpt_max) return std::string(text);
  return std::string(text.substr(0, excerpt_max)) + "...";
}

ErrorCode code_for_reply(const RpcError& error) {
  if (error.data.is_object()) {
    auto it = error.data.find("code");
    if (it != error.data.end() && it->is_string()) {
      if (auto code = error_code_from_id(it->get_ref<const std::string&>())) return *code;
    }
  }
  switch (error.code) {
    case parse_error:
    case invalid_request:
    case invalid_params:
      return ErrorCode::invalid_argument;
    case method_not_found:
      return ErrorCode::not_found;
    default:
      return ErrorCode::internal;
  }
}

}  // namespace

Result<Endpoint> parse_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  auto bad = [&](std::string_view why) {
    return Status(ErrorCode::invalid_argument, "bad RPC URL \"" + excerpt(url) + "\": " + std::string(why) +
                                                   " (expected http://host:port)");
  };
  if (!url.starts_with(scheme)) return bad("only http:// is supported");
  std::string_view rest = url.substr(scheme.size());
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return bad("a path is not allowed");
  std::string_view host;
  std::string_view port_text;
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!rest.starts_with(":")) return bad("missing port");
    port_text = rest.substr(1);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("missing port");
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  }
  if (host.empty()) return bad("missing host");
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return bad("bad port");
  }
  return Endpoint{std::string(host), static_cast<std::uint16_t>(port)};
}

struct RpcClient::Impl {
  // Beast reads as much as the buffer has room for, at least 512 bytes: an
  // empty buffer would take a 300 KB reply (a batch of 100 proof bundles) in
  // about 600 reads, each also resetting the stream's timer.
  static constexpr std::size_t read_room = 64 * 1024;

  Impl() { buffer.reserve(read_room); }

  net::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Runs one asynchronous operation to completion on the private io_context.
  template <typename Start>
  error_code run(Start start) {
    error_code result = net::error::would_block;
    start([&result](error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  void disconnect() {
    if (stream) {
      error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->close();
    }
    stream.reset();
    buffer.consume(buffer.size());
  }
};

RpcClient::RpcClient(std::string url, ClientOptions options)
    : url_(std::move(url)), options_(options), impl_(std::make_unique<Impl>()) {}
RpcClient::~RpcClient() = default;
RpcClient::RpcClient(RpcClient&&) noexcept = default;
RpcClient& RpcClient::operator=(RpcClient&&) noexcept = default;

namespace {

// The result of one response object, or its error mapped to a Status.
Result<json> interpret_response(json& response, const std::string& url, RpcError* error) {
  if (auto result = response.find("result"); result != response.end()) return std::move(*result);
  auto error_it = response.find("error");
  if (error_it == response.end() || !error_it->is_object() || !error_it->contains("code") ||
      !(*error_it)["code"].is_number_integer() || !error_it->contains("message") ||
      !(*error_it)["message"].is_string()) {
    return Status(ErrorCode::io_error, "reply from " + url + " has neither a result nor a valid error: " +
                                           excerpt(response.dump()));
  }
  RpcError rpc_error{(*error_it)["code"].get<int>(), (*error_it)["message"].get<std::string>(),
                     error_it->value("data", json())};
  const auto code = code_for_reply(rpc_error);
  Status mapped(
      code, rpc_error.message.empty() ? "RPC error " + std::to_string(rpc_error.code) : rpc_error.message);
  if (error != nullptr) *error = std::move(rpc_error);
  return mapped;
}

bool is_response_envelope(const json& response) {
  return response.is_object() && response.value("jsonrpc", json()) == "2.0";
}

}  // namespace

Result<json> RpcClient::exchange(std::string body, const std::string& what) {
  auto endpoint = parse_url(url_);
  if (!endpoint) return endpoint.status();
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;

  http::request<http::string_body> request{http::verb::post, "/", 11};
  request.set(http::field::host, endpoint->host + ":" + std::to_string(endpoint->port));
  request.set(http::field::user_agent, "cityledger-rpc-client");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "application/json");
  request.keep_alive(true);
  request.body() = std::move(body);
  request.prepare_payload();

  auto timed_out = [&] {
    impl_->disconnect();
    return Status(ErrorCode::unavailable, "RPC call " + what + " to " + url_ + " timed out after " +
                                              std::to_string(options_.timeout.count()) + " ms");
  };

  std::optional<http::response<http::string_body>> reply;
  for (int attempt = 0; attempt < 2 && !reply; ++attempt) {
    const bool reused = impl_->stream.has_value();
    if (!reused) {
      tcp::resolver resolver(impl_->io);
      error_code ec;
      auto addresses = resolver.resolve(endpoint->host, std::to_string(endpoint->port), ec);
      if (ec) return Status(ErrorCode::unavailable, "cannot resolve " + endpoint->host + ": " + ec.message());
      impl_->stream.emplace(impl_->io);
      impl_->stream->expires_at(deadline);
      ec = impl_->run([&](auto handler) { impl_->stream->async_connect(addresses, handler); });
      if (ec == beast::error::timeout) return timed_out();
      if (ec) {
        impl_->disconnect();
        return Status(ErrorCode::unavailable, "cannot connect to " + url_ + ": " + ec.message());
      }
      impl_->stream->socket().set_option(tcp::no_delay(true), ec);
    }
    impl_->stream->expires_at(deadline);
    auto ec = impl_->run([&](auto handler) { http::async_write(*impl_->stream, request, handler); });
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.reply_limit_bytes);
    if (!ec) {
      ec =
          impl_->run([&](auto handler) { http::async_read(*impl_->stream, impl_->buffer, parser, handler); });
    }
    if (ec == beast::error::timeout) return timed_out();
    if (ec) {
      impl_->disconnect();
      // A server may close a keep-alive connection just as we reuse it: retry once on a fresh one.
      const bool closed_by_peer = ec == http::error::end_of_stream || ec == net::error::eof ||
                                  ec == net::error::connection_reset || ec == net::error::broken_pipe;
      if (reused && closed_by_peer) continue;
      return Status(ErrorCode::unavailable, "RPC call " + what + " to " + url_ + " failed: " + ec.message());
    }
    reply.emplace(parser.release());
  }
  if (!reply) return Status(ErrorCode::unavailable, "RPC server at " + url_ + " closed the connection");
  if (!reply->keep_alive()) impl_->disconnect();

  const unsigned status = reply->result_int();
  if (status != 200) {
    const std::string text =
        "RPC server at " + url_ + " answered HTTP " + std::to_string(status) + ": " + excerpt(reply->body());
    if (status == 503) return Status(ErrorCode::unavailable, text);
    if (status >= 400 && status < 500) return Status(ErrorCode::invalid_argument, text);
    return Status(ErrorCode::io_error, text);
  }
  DispatcherLimits reply_limits;
  reply_limits.depth_max = 512;
  if (auto problem = check_json_limits(reply->body(), reply_limits)) {
    return Status(ErrorCode::io_error, "reply from " + url_ + " refused: " + *problem);
  }
  json response = json::parse(reply->body(), nullptr, false);
  if (response.is_discarded()) {
    return Status(ErrorCode::io_error, "reply from " + url_ + " is not JSON: " + excerpt(reply->body()));
  }
  return response;
}

Result<json> RpcClient::call(std::string_view method, const json& params, RpcError* error) {
  const std::uint64_t id = next_id_++;
  const json request{{"jsonrpc", "2.0"}, {"method", std::string(method)}, {"params", params}, {"id", id}};
  auto response = exchange(json_text(request), std::string(method));
  if (!response) return response.status();
  if (!is_response_envelope(*response) || response->value("id", json()) != id) {
    return Status(ErrorCode::io_error, "reply from " + url_ + " is not a JSON-RPC response to this call: " +
                                           excerpt(response->dump()));
  }
  return interpret_response(*response, url_, error);
}

Result<std::vector<Result<json>>> RpcClient::call_batch(std::span<const BatchCall> calls) {
  std::vector<Result<json>> results;
  if (calls.empty()) return results;
  const std::uint64_t first_id = next_id_;
  next_id_ += calls.size();
  json request = json::array();
  for (std::size_t i = 0; i < calls.size(); ++i) {
    request.push_back(
        {{"jsonrpc", "2.0"}, {"method", calls[i].method}, {"params", calls[i].params}, {"id", first_id + i}});
  }
  const std::string what =
      "batch of " + std::to_string(calls.size()) + " (" + calls.front().method + ", ...)";
  auto response = exchange(json_text(request), what);
  if (!response) return response.status();
  if (!response->is_array()) {
    // One error object: the server refused the batch as a whole (too large, malformed).
    if (is_response_envelope(*response) && response->contains("error")) {
      if (auto refused = interpret_response(*response, url_, nullptr); !refused.ok()) return refused.status();
    }
    return Status(ErrorCode::io_error, "reply from " + url_ + " to a " + what +
                                           " is not a JSON-RPC batch: " + excerpt(response->dump()));
  }
  results.assign(calls.size(), Status(ErrorCode::io_error, "the server's batch reply from " + url_ +
                                                               " has no response to this call"));
  std::vector<bool> answered(calls.size(), false);
  for (json& one : *response) {
    const json id = is_response_envelope(one) ? one.value("id", json()) : json();
    if (!id.is_number_unsigned() || id.get<std::uint64_t>() < first_id ||
        id.get<std::uint64_t>() - first_id >= calls.size() || answered[id.get<std::uint64_t>() - first_id]) {
      return Status(ErrorCode::io_error, "reply from " + url_ + " to a " + what +
                                             " holds a response to no call of it: " + excerpt(one.dump()));
    }
    const std::size_t index = id.get<std::uint64_t>() - first_id;
    answered[index] = true;
    results[index] = interpret_response(one, url_, nullptr);
  }
  return results;
}

}  // namespace cityledger::rpc
