// A JSON-RPC 2.0 client over HTTP/1.1 keep-alive, for the `cityledger` CLI
// and the data-platform agent.
//
// Errors are Status values:
//   unavailable       cannot resolve, connect ("connection refused"), or the
//                     call timed out, or the server answered 503
//   invalid_argument  bad URL, or the server refused the request (HTTP 4xx)
//   io_error          the reply is not a JSON-RPC response (not JSON, wrong id,
//                     unexpected HTTP status)
//   any other code    the server's JSON-RPC error, mapped back from its
//                     data.code (docs/rpc.md), with the server's message
// Pass an RpcError* to call() to also get the server's error code, message and
// data as sent.
//
// Threading: one RpcClient per thread; calls are synchronous.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "rpc/dispatcher.hpp"

namespace cityledger::rpc {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

// "http://host:port" (a trailing "/" is allowed; IPv6 as "http://[::1]:8545").
Result<Endpoint> parse_url(std::string_view url);

// One call of a batch (RpcClient::call_batch).
struct BatchCall {
  std::string method;
  nlohmann::json params = nlohmann::json::object();
};

struct ClientOptions {
  // For each call as a whole: connect, send, and receive the reply.
  std::chrono::milliseconds timeout{30'000};
  std::size_t reply_limit_bytes = 64u << 20;
};

class RpcClient {
 public:
  explicit RpcClient(std::string url, ClientOptions options = {});
  ~RpcClient();
  RpcClient(RpcClient&&) noexcept;
  RpcClient& operator=(RpcClient&&) noexcept;

  // Calls `method` with named (object) or positional (array) params and
  // returns its result. Reuses the connection; reconnects once if the server
  // had closed an idle one.
  Result<nlohmann::json> call(std::string_view method,
                              const nlohmann::json& params = nlohmann::json::object(),
                              RpcError* error = nullptr);

  // Sends the calls as one JSON-RPC 2.0 batch (one HTTP request; the server
  // answers at most DispatcherLimits::batch_size_max, 256 by default, per
  // batch) and returns each call's result in the calls' order, matched by id.
  // The outer Status fails when the exchange as a whole did (as call() would,
  // or the server refused the batch itself); an inner one is that call's own
  // error. No calls: no request, an empty answer.
  Result<std::vector<Result<nlohmann::json>>> call_batch(std::span<const BatchCall> calls);

  const std::string& url() const { return url_; }

 private:
  // POSTs one request body and returns the reply parsed as JSON; `what`
  // names the request in errors.
  Result<nlohmann::json> exchange(std::string body, const std::string& what);

  struct Impl;
  std::string url_;
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
  std::uint64_t next_id_ = 1;
};

}  // namespace cityledger::rpc
