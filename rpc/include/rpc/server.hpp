// The node's RPC endpoint: JSON-RPC 2.0 over HTTP/1.1 (keep-alive) and over a
// WebSocket at /ws, on Boost.Beast, on one port. docs/rpc.md is the contract.
//
//   POST /      JSON-RPC (Content-Type: application/json); 204 when nothing is answered
//   GET /livez  200 "ok" while the I/O loop turns
//   GET /readyz 200 when the readiness check says so, else 503 {"ready":false,"reason":...}
//   GET /ws     WebSocket upgrade: JSON-RPC plus subscribe/unsubscribe to topics
//   GET <prefix>... extra routes added by the embedding code (/metrics, /explorer)
//
// Hostile input is refused, never fatal: bodies over the limit get 413 from
// the Content-Length header alone (the body is never read whole), oversized
// headers 431, slow requests are cut off, connections beyond the maximum are closed at
// once, a WebSocket client that does not keep up is dropped.
//
// Threading: the server runs on the caller's io_context (one or more threads
// may run it). JSON-RPC methods and extra GET routes run on a small internal
// thread pool, so a slow method (submit_tx with wait) never stalls the I/O
// loop; /livez and /readyz are answered on the I/O loop itself. Configure
// (add_get_route, set_readiness, the dispatcher's methods) before start().
// publish(), stats() and stop() are thread-safe; stop() must not be called
// from inside a method handler (it waits for running handlers).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "rpc/dispatcher.hpp"

namespace boost::asio {
class io_context;
}

namespace cityledger::rpc {

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Handles GET <prefix>...; receives the whole request target (path and query).
using GetHandler = std::function<HttpResponse(std::string_view target)>;
// Response headers (name, value) a route adds to every answer, e.g. a
// Content-Security-Policy.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct Readiness {
  bool ready = true;
  std::string reason;  // why not ready: "syncing: height 10 of 250", "no peers"
};
// Called on the I/O loop for every GET /readyz: must be cheap and thread-safe.
using ReadinessCheck = std::function<Readiness()>;

struct ServerConfig {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (see Server::port())
  std::size_t body_limit_bytes = 1u << 20;
  std::size_t header_limit_bytes = 16u << 10;
  std::size_t connections_max = 256;  // HTTP and WebSocket connections together
  // From a request's first byte to its last; also the WebSocket handshake.
  std::chrono::milliseconds request_timeout{10'000};
  // How long a connection may sit between requests (keep-alive), and how long
  // a WebSocket may go without a sign of life (the server pings it).
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{10'000};
  // After an error response the server drains what the client still sends
  // for this long (at most linger_bytes_max), so the client reads the error
  // instead of a connection reset.
  std::chrono::milliseconds linger_timeout{2'000};
  std::size_t linger_bytes_max = 8u << 20;
  std::size_t handler_threads = 2;               // 0: run methods on the I/O loop
  std::size_t websocket_queue_max = 1024;        // messages waiting for one client; beyond: dropped
  std::size_t websocket_subscriptions_max = 16;  // per connection
  std::vector<std::string> topics = {"blocks", "checkpoints"};
};

struct ServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_rejected = 0;  // closed at once: over connections_max
  std::uint64_t connections_active = 0;
  std::uint64_t http_requests = 0;
  std::uint64_t requests_timed_out = 0;  // closed: a request did not arrive whole within request_timeout
  std::map<unsigned, std::uint64_t> http_responses_by_status;
  std::uint64_t websocket_sessions = 0;         // handshakes completed
  std::uint64_t websocket_clients_dropped = 0;  // queue overflowed
  std::uint64_t notifications_sent = 0;         // queued to a subscriber
  DispatcherStats rpc;                          // requests by method, errors by code
};

class Server {
 public:
  // Registers `subscribe` and `unsubscribe` in the dispatcher (they answer
  // over /ws only), so the dispatcher must not be sealed yet.
  Server(boost::asio::io_context& io, std::shared_ptr<Dispatcher> dispatcher, ServerConfig config = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // GET requests whose path starts with path_prefix (longest prefix wins);
  // every answer of the route (also its errors) carries `headers`.
  void add_get_route(std::string path_prefix, GetHandler handler, HttpHeaders headers = {});
  void set_readiness(ReadinessCheck check);

  // Binds, listens and starts accepting; seals the dispatcher. io_error when
  // the address cannot be bound (in use, not local).
  Status start();
  // The bound port, once start() succeeded.
  std::uint16_t port() const;

  // Closes the listener and every connection, waits for running handlers.
  // Idempotent. Afterwards the io_context runs out of server work.
  void stop();

  // Sends `result` to every subscriber of `topic` as
  // {"jsonrpc":"2.0","method":"subscription","params":{"subscription":id,"topic":topic,"result":result}}.
  // Thread-safe and non-blocking: each client has a bounded queue.
  void publish(std::string_view topic, const nlohmann::json& result);

  ServerStats stats() const;
  // The counters in Prometheus text format (for the node's /metrics).
  std::string metrics_text() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace cityledger::rpc
