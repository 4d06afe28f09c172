#include "rpc/server.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "rpc/metrics.hpp"

namespace cityledger::rpc {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using error_code = beast::error_code;

namespace {

constexpr const char* server_name = "cityledger";
constexpr std::chrono::milliseconds accept_retry_delay{100};

// Beast 1.74 speaks boost::string_view.
std::string_view std_view(beast::string_view view) { return {view.data(), view.size()}; }
beast::string_view beast_view(std::string_view view) { return {view.data(), view.size()}; }

std::string_view path_of(std::string_view target) {
  auto end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

bool is_json_content_type(std::string_view value) {
  auto end = value.find(';');
  if (end != std::string_view::npos) value = value.substr(0, end);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
  if (value.size() != 16) return false;
  std::string lower(value);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json";
}

}  // namespace

// Something the server can close from any thread (it posts to its own strand).
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void close() = 0;
};

class WsSession;

class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
 public:
  struct Subscription {
    std::string topic;
    std::weak_ptr<WsSession> session;
    const void* owner;  // the session, for clean-up from its destructor
  };

  // Holds one of the connections_max places for as long as the connection
  // lives, whether it is HTTP or became a WebSocket.
  class Slot {
   public:
    Slot(std::shared_ptr<Impl> impl, std::uint64_t id) : impl_(std::move(impl)), id_(id) {}
    ~Slot() { impl_->release_slot(id_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    void bind(std::weak_ptr<Closable> session) { impl_->bind_slot(id_, std::move(session)); }

   private:
    std::shared_ptr<Impl> impl_;
    std::uint64_t id_;
  };

  Impl(net::io_context& io, std::shared_ptr<Dispatcher> dispatcher, ServerConfig config)
      : io_(io),
        dispatcher_(std::move(dispatcher)),
        config_(std::move(config)),
        accept_strand_(net::make_strand(io)),
        acceptor_(accept_strand_),
        retry_timer_(accept_strand_) {
    if (config_.handler_threads > 0) pool_.emplace(config_.handler_threads);
  }

  net::io_context& io_;
  std::shared_ptr<Dispatcher> dispatcher_;
  ServerConfig config_;
  struct Route {
    std::string prefix;
    GetHandler handler;
    HttpHeaders headers;
  };
  std::vector<Route> routes_;
  ReadinessCheck readiness_;

  net::strand<net::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::optional<net::thread_pool> pool_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint16_t> port_{0};

  std::mutex mutex_;  // guards sessions_, subscriptions_, next ids
  std::uint64_t next_slot_id_ = 1;
  std::uint64_t next_subscription_id_ = 1;
  std::unordered_map<std::uint64_t, std::weak_ptr<Closable>> sessions_;
  std::map<std::string, Subscription> subscriptions_;

  std::atomic<std::uint64_t> connections_accepted_{0};
  std::atomic<std::uint64_t> connections_rejected_{0};
  std::atomic<std::uint64_t> connections_active_{0};
  std::atomic<std::uint64_t> http_requests_{0};
  std::atomic<std::uint64_t> requests_timed_out_{0};
  std::atomic<std::uint64_t> websocket_sessions_{0};
  std::atomic<std::uint64_t> websocket_dropped_{0};
  std::atomic<std::uint64_t> notifications_sent_{0};
  mutable std::mutex status_mutex_;
  std::map<unsigned, std::uint64_t> responses_by_status_;

  Status start();
  void stop();
  void publish(std::string_view topic, const json& result);
  ServerStats stats() const;

  void count_status(unsigned status) {
    std::lock_guard lock(status_mutex_);
    ++responses_by_status_[status];
  }

  // Runs work on the handler pool (or inline when there is none).
  template <typename Work>
  void run_handler(Work&& work) {
    if (pool_) {
      net::post(*pool_, std::forward<Work>(work));
    } else {
      work();
    }
  }

  const Route* find_route(std::string_view path) const {
    const Route* best = nullptr;
    for (const auto& route : routes_) {
      if (path.starts_with(route.prefix) && (best == nullptr || route.prefix.size() > best->prefix.size())) {
        best = &route;
      }
    }
    return best;
  }

  // subscribe/unsubscribe on behalf of a WebSocket session.
  MethodResult subscribe(const std::shared_ptr<WsSession>& session, const json& params);
  MethodResult unsubscribe(const void* owner, const json& params);
  void drop_subscriptions(const void* owner) {
    std::lock_guard lock(mutex_);
    std::erase_if(subscriptions_, [owner](const auto& entry) { return entry.second.owner == owner; });
  }

 private:
  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);

  void release_slot(std::uint64_t id) {
    {
      std::lock_guard lock(mutex_);
      sessions_.erase(id);
    }
    connections_active_.fetch_sub(1);
  }
  void bind_slot(std::uint64_t id, std::weak_ptr<Closable> session) {
    std::lock_guard lock(mutex_);
    sessions_[id] = std::move(session);
  }
};

using Impl = Server::Impl;

// ---------------------------------------------------------------------------
// WebSocket session

class WsSession : public Closable, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::shared_ptr<Impl> impl, beast::tcp_stream stream, std::unique_ptr<Impl::Slot> slot)
      : impl_(std::move(impl)), ws_(std::move(stream)), slot_(std::move(slot)) {}

  ~WsSession() override { impl_->drop_subscriptions(this); }

  void start(http::request<http::string_body> request) {
    slot_->bind(weak_from_this());
    // The websocket stream has its own timeouts; the tcp_stream's must be off.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = impl_->config_.request_timeout;
    timeouts.idle_timeout = impl_->config_.idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(http::field::server, server_name); }));
    ws_.read_message_max(impl_->config_.body_limit_bytes);
    ws_.async_accept(request, beast::bind_front_handler(&WsSession::on_accept, shared_from_this()));
  }

  void close() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      error_code ec;
      beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
      beast::get_lowest_layer(self->ws_).close();
    });
  }

  // Thread-safe. Drops the client when its queue is full.
  void send(std::string message) {
    if (dropped_.load()) return;
    if (queued_.fetch_add(1) >= impl_->config_.websocket_queue_max) {
      if (!dropped_.exchange(true)) {
        impl_->websocket_dropped_.fetch_add(1);
        spdlog::warn("rpc: dropping a WebSocket client whose queue is full ({} messages)",
                     impl_->config_.websocket_queue_max);
        close();
      }
      return;
    }
    net::post(ws_.get_executor(), [self = shared_from_this(), message = std::move(message)]() mutable {
      self->queue_.push_back(std::move(message));
      if (!self->writing_) self->write_next();
    });
  }

 private:
  void on_accept(error_code ec) {
    if (ec) return;
    impl_->websocket_sessions_.fetch_add(1);
    read();
  }

  void read() { ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::on_read, shared_from_this())); }

  void on_read(error_code ec, std::size_t) {
    if (ec) return;  // closed, timed out or too big: the session ends here
    std::string body = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    impl_->run_handler([self = shared_from_this(), body = std::move(body)] {
      CallContext context;
      context.local_method = [&self](std::string_view method,
                                     const json& params) -> std::optional<MethodResult> {
        if (method == "subscribe") return self->impl_->subscribe(self, params);
        if (method == "unsubscribe") return self->impl_->unsubscribe(self.get(), params);
        return std::nullopt;
      };
      auto response = self->impl_->dispatcher_->handle(body, &context);
      net::post(self->ws_.get_executor(), [self, response = std::move(response)]() mutable {
        if (response) self->send(std::move(*response));
        self->read();
      });
    });
  }

  void write_next() {
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(queue_.front()),
                    beast::bind_front_handler(&WsSession::on_write, shared_from_this()));
  }

  void on_write(error_code ec, std::size_t) {
    queue_.pop_front();
    queued_.fetch_sub(1);
    if (ec) {
      writing_ = false;
      return;
    }
    if (queue_.empty()) {
      writing_ = false;
    } else {
      write_next();
    }
  }

  std::shared_ptr<Impl> impl_;
  websocket::stream<beast::tcp_stream> ws_;
  std::unique_ptr<Impl::Slot> slot_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;  // on the strand only
  bool writing_ = false;
  std::atomic<std::size_t> queued_{0};  // counted at send(), before the post
  std::atomic<bool> dropped_{false};
};

MethodResult Impl::subscribe(const std::shared_ptr<WsSession>& session, const json& params) {
  const auto& topic = params.at("topic").get_ref<const std::string&>();
  if (std::find(config_.topics.begin(), config_.topics.end(), topic) == config_.topics.end()) {
    std::string known;
    for (const auto& t : config_.topics) known += (known.empty() ? "" : ", ") + t;
    return InvalidParams{"topic", "unknown topic \"" + topic + "\" (topics: " + known + ")"};
  }
  std::lock_guard lock(mutex_);
  const auto count = std::count_if(subscriptions_.begin(), subscriptions_.end(),
                                   [&](const auto& entry) { return entry.second.owner == session.get(); });
  if (static_cast<std::size_t>(count) >= config_.websocket_subscriptions_max) {
    return Status(ErrorCode::unavailable, "at most " + std::to_string(config_.websocket_subscriptions_max) +
                                              " subscriptions per connection");
  }
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(next_subscription_id_++));
  subscriptions_.emplace(id, Subscription{topic, session, session.get()});
  return json{{"subscription", id}};
}

MethodResult Impl::unsubscribe(const void* owner, const json& params) {
  const auto& id = params.at("subscription").get_ref<const std::string&>();
  std::lock_guard lock(mutex_);
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end() || it->second.owner != owner) {
    return Status(ErrorCode::not_found, "no subscription " + id + " on this connection");
  }
  subscriptions_.erase(it);
  return json(true);
}

void Impl::publish(std::string_view topic, const json& result) {
  if (stopping_.load()) return;
  std::vector<std::pair<std::string, std::shared_ptr<WsSession>>> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, subscription] : subscriptions_) {
      if (subscription.topic != topic) continue;
      if (auto session = subscription.session.lock()) targets.emplace_back(id, std::move(session));
    }
  }
  if (targets.empty()) return;
  // Serialize the payload once; only the subscription id differs per client.
  const std::string tail = ",\"topic\":" + json_text(json(topic)) + ",\"result\":" + json_text(result) + "}}";
  for (auto& [id, session] : targets) {
    session->send(R"({"jsonrpc":"2.0","method":"subscription","params":{"subscription":")" + id + "\"" +
                  tail);
    notifications_sent_.fetch_add(1);
  }
}

// ---------------------------------------------------------------------------
// HTTP session

class HttpSession : public Closable, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<Impl> impl, tcp::socket socket, std::unique_ptr<Impl::Slot> slot)
      : impl_(std::move(impl)),
        executor_(socket.get_executor()),
        stream_(std::move(socket)),
        slot_(std::move(slot)) {}

  void start() {
    slot_->bind(weak_from_this());
    net::dispatch(executor_, [self = shared_from_this()] { self->wait_for_request(); });
  }

  void close() override {
    // stop() may still hold this session just after it became a WebSocket.
    net::post(executor_, [self = shared_from_this()] {
      if (!self->upgraded_) self->close_now();
    });
  }

 private:
  using Response = http::response<http::string_body>;

  const ServerConfig& config() const { return impl_->config_; }

  void close_now() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  // A request begins with its first byte: until then the connection is idle
  // (keep-alive timeout); from then on the whole request has request_timeout.
  void wait_for_request() {
    if (impl_->stopping_.load()) return close_now();
    if (buffer_.size() > 0) return read_header();
    stream_.expires_after(first_request_ ? config().request_timeout : config().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            beast::bind_front_handler(&HttpSession::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(error_code ec, std::size_t size) {
    if (ec) {
      // A new connection that sends nothing is a slow client; an idle keep-alive one is not.
      if (ec == beast::error::timeout && first_request_) impl_->requests_timed_out_.fetch_add(1);
      return close_now();
    }
    buffer_.commit(size);
    read_header();
  }

  void read_header() {
    first_request_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(config().header_limit_bytes));
    parser_->body_limit(config().body_limit_bytes);
    stream_.expires_after(config().request_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::on_header, shared_from_this()));
  }

  // A request that could not be read whole: answer when the client can still
  // read an answer, else just close.
  void refuse_read_error(error_code ec) {
    static const auto& http_category = http::make_error_code(http::error::bad_method).category();
    if (ec == http::error::header_limit) {
      send_error(http::status::request_header_fields_too_large,
                 "request header over " + std::to_string(config().header_limit_bytes) + " bytes");
    } else if (ec == http::error::body_limit) {
      send_error(http::status::payload_too_large,
                 "request body over " + std::to_string(config().body_limit_bytes) + " bytes");
    } else if (ec == beast::error::timeout) {
      // Beast has already closed the socket: a slow client gets no 408.
      impl_->requests_timed_out_.fetch_add(1);
      close_now();
    } else if (ec.category() == http_category && ec != http::error::end_of_stream &&
               ec != http::error::partial_message) {
      send_error(http::status::bad_request, "malformed HTTP request: " + ec.message());
    } else {
      close_now();  // the peer went away
    }
  }

  void on_header(error_code ec, std::size_t) {
    if (ec) return refuse_read_error(ec);
    auto& request = parser_->get();
    if (websocket::is_upgrade(request) && path_of(std_view(request.target())) == "/ws") return upgrade();
    if (auto length = parser_->content_length(); length && *length > config().body_limit_bytes) {
      // Refused from the header alone: the body is never read whole.
      return send_error(http::status::payload_too_large, "request body of " + std::to_string(*length) +
                                                             " bytes is over the limit of " +
                                                             std::to_string(config().body_limit_bytes));
    }
    if (beast::iequals(request[http::field::expect], "100-continue")) {
      auto interim =
          std::make_shared<http::response<http::empty_body>>(http::status::continue_, request.version());
      stream_.expires_after(config().write_timeout);
      http::async_write(stream_, *interim,
                        [self = shared_from_this(), interim](error_code write_ec, std::size_t) {
                          if (write_ec) return self->close_now();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    // The request_timeout set at the first header byte still runs.
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_body, shared_from_this()));
  }

  void on_body(error_code ec, std::size_t) {
    if (ec) return refuse_read_error(ec);
    stream_.expires_never();
    handle(parser_->release());
  }

  void upgrade() {
    upgraded_ = true;
    impl_->http_requests_.fetch_add(1);
    auto request = parser_->release();
    auto session = std::make_shared<WsSession>(impl_, std::move(stream_), std::move(slot_));
    session->start(std::move(request));
  }

  void handle(http::request<http::string_body> request) {
    impl_->http_requests_.fetch_add(1);
    const auto path = path_of(std_view(request.target()));
    const bool keep_alive = request.keep_alive();
    const auto method = request.method();
    if (path == "/") {
      if (method != http::verb::post)
        return send_simple(http::status::method_not_allowed, "use POST\n", keep_alive, "POST");
      if (!is_json_content_type(std_view(request[http::field::content_type]))) {
        return send_simple(http::status::unsupported_media_type, "Content-Type must be application/json\n",
                           keep_alive);
      }
      impl_->run_handler([self = shared_from_this(), request = std::move(request), keep_alive] {
        auto body = self->impl_->dispatcher_->handle(request.body());
        net::post(self->executor_, [self, body = std::move(body), keep_alive]() mutable {
          if (!body) return self->send(http::status::no_content, "", "", keep_alive);
          self->send(http::status::ok, "application/json", std::move(*body), keep_alive);
        });
      });
      return;
    }
    if (path == "/livez" || path == "/readyz" || path == "/ws") {
      if (method != http::verb::get)
        return send_simple(http::status::method_not_allowed, "use GET\n", keep_alive, "GET");
      if (path == "/livez") return send(http::status::ok, "text/plain; charset=utf-8", "ok\n", keep_alive);
      if (path == "/ws")
        return send_simple(http::status::upgrade_required, "a WebSocket upgrade is required\n", keep_alive);
      Readiness readiness;
      if (impl_->readiness_) readiness = impl_->readiness_();
      if (readiness.ready) return send(http::status::ok, "application/json", R"({"ready":true})", keep_alive);
      return send(http::status::service_unavailable, "application/json",
                  json_text(json{{"ready", false}, {"reason", readiness.reason}}), keep_alive);
    }
    const Impl::Route* route = impl_->find_route(path);
    if (route == nullptr) return send_simple(http::status::not_found, "not found\n", keep_alive);
    if (method != http::verb::get)
      return send_simple(http::status::method_not_allowed, "use GET\n", keep_alive, "GET");
    impl_->run_handler(
        [self = shared_from_this(), route, target = std::string(request.target()), keep_alive] {
          HttpResponse response;
          try {
            response = route->handler(target);
          } catch (const std::exception& e) {
            spdlog::error("rpc: GET {} failed: {}", target, e.what());
            response = {500, "text/plain; charset=utf-8", "internal error\n"};
          }
          net::post(self->executor_, [self, route, response = std::move(response), keep_alive]() mutable {
            auto out = self->make_response(static_cast<http::status>(response.status), response.content_type,
                                           std::move(response.body), keep_alive);
            for (const auto& [name, value] : route->headers) out->set(beast_view(name), beast_view(value));
            self->write(std::move(out));
          });
        });
  }

  void send_simple(http::status status, std::string body, bool keep_alive, std::string_view allow = {}) {
    auto response = make_response(status, "text/plain; charset=utf-8", std::move(body), keep_alive);
    if (!allow.empty()) response->set(http::field::allow, beast_view(allow));
    write(std::move(response));
  }

  // An error that ends the connection: the rest of the request is not read.
  void send_error(http::status status, std::string message) {
    spdlog::debug("rpc: refusing a request: {} {}", static_cast<unsigned>(status), message);
    write(make_response(status, "text/plain; charset=utf-8", message + "\n", false));
  }

  void send(http::status status, std::string_view content_type, std::string body, bool keep_alive) {
    write(make_response(status, content_type, std::move(body), keep_alive));
  }

  std::shared_ptr<Response> make_response(http::status status, std::string_view content_type,
                                          std::string body, bool keep_alive) {
    auto response = std::make_shared<Response>(status, 11);
    response->set(http::field::server, server_name);
    if (!content_type.empty()) response->set(http::field::content_type, beast_view(content_type));
    response->keep_alive(keep_alive && !impl_->stopping_.load());
    response->body() = std::move(body);
    response->prepare_payload();
    return response;
  }

  void write(std::shared_ptr<Response> response) {
    impl_->count_status(response->result_int());
    stream_.expires_after(config().write_timeout);
    http::async_write(stream_, *response, [self = shared_from_this(), response](error_code ec, std::size_t) {
      if (ec) return self->close_now();
      if (response->need_eof()) return self->linger();
      self->parser_.reset();
      self->wait_for_request();
    });
  }

  // Half-close, then read and discard whatever the client still sends, for a
  // bounded time and size: closing with unread data would send a reset that
  // can destroy the error response before the client reads it.
  void linger() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(config().linger_timeout);
    drain();
  }

  void drain() {
    if (!drain_buffer_) drain_buffer_ = std::make_unique<std::array<char, 16384>>();
    stream_.async_read_some(net::buffer(*drain_buffer_),
                            [self = shared_from_this()](error_code ec, std::size_t size) {
                              self->drained_bytes_ += size;
                              if (ec || self->drained_bytes_ > self->config().linger_bytes_max)
                                return self->close_now();
                              self->drain();
                            });
  }

  std::shared_ptr<Impl> impl_;
  net::any_io_executor executor_;  // the connection's strand; outlives a move of stream_
  beast::tcp_stream stream_;
  std::unique_ptr<Impl::Slot> slot_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool first_request_ = true;
  bool upgraded_ = false;  // stream_ now belongs to a WsSession
  std::unique_ptr<std::array<char, 16384>> drain_buffer_;
  std::size_t drained_bytes_ = 0;
};

// ---------------------------------------------------------------------------
// Listener

Status Impl::start() {
  CL_CHECK(!started_.exchange(true));
  dispatcher_->seal();
  error_code ec;
  const auto address = net::ip::make_address(config_.bind_address, ec);
  if (ec) return Status(ErrorCode::invalid_argument, "bad RPC bind address " + config_.bind_address);
  const tcp::endpoint endpoint(address, config_.port);
  const std::string where = config_.bind_address + ":" + std::to_string(config_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status(ErrorCode::io_error, "cannot listen for RPC on " + where + ": " + ec.message());
  port_.store(acceptor_.local_endpoint().port());
  net::dispatch(accept_strand_, [self = shared_from_this()] { self->do_accept(); });
  return {};
}

void Impl::do_accept() {
  if (stopping_.load()) return;
  acceptor_.async_accept(net::make_strand(io_),
                         beast::bind_front_handler(&Impl::on_accept, shared_from_this()));
}

void Impl::on_accept(error_code ec, tcp::socket socket) {
  if (stopping_.load() || ec == net::error::operation_aborted) return;
  if (ec) {
    // Out of file descriptors and the like: try again shortly instead of spinning.
    spdlog::warn("rpc: accept failed: {}", ec.message());
    retry_timer_.expires_after(accept_retry_delay);
    retry_timer_.async_wait([self = shared_from_this()](error_code timer_ec) {
      if (!timer_ec) self->do_accept();
    });
    return;
  }
  if (connections_active_.load() >= config_.connections_max) {
    connections_rejected_.fetch_add(1);
    error_code ignored;
    socket.close(ignored);
    return do_accept();
  }
  connections_accepted_.fetch_add(1);
  connections_active_.fetch_add(1);
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // small request/response exchanges: no Nagle delay
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_slot_id_++;
  }
  auto slot = std::make_unique<Slot>(shared_from_this(), id);
  std::make_shared<HttpSession>(shared_from_this(), std::move(socket), std::move(slot))->start();
  do_accept();
}

void Impl::stop() {
  if (!started_.load() || stopping_.exchange(true)) return;
  net::post(accept_strand_, [self = shared_from_this()] {
    error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
  std::vector<std::shared_ptr<Closable>> open;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, weak] : sessions_) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
    subscriptions_.clear();
  }
  for (auto& session : open) session->close();
  open.clear();
  if (pool_) pool_->join();
}

ServerStats Impl::stats() const {
  ServerStats out;
  out.connections_accepted = connections_accepted_.load();
  out.connections_rejected = connections_rejected_.load();
  out.connections_active = connections_active_.load();
  out.http_requests = http_requests_.load();
  out.requests_timed_out = requests_timed_out_.load();
  {
    std::lock_guard lock(status_mutex_);
    out.http_responses_by_status = responses_by_status_;
  }
  out.websocket_sessions = websocket_sessions_.load();
  out.websocket_clients_dropped = websocket_dropped_.load();
  out.notifications_sent = notifications_sent_.load();
  out.rpc = dispatcher_->stats();
  return out;
}

// ---------------------------------------------------------------------------
// Server

Server::Server(net::io_context& io, std::shared_ptr<Dispatcher> dispatcher, ServerConfig config) {
  CL_CHECK(dispatcher != nullptr);
  dispatcher->add(
      MethodSpec("subscribe", "Subscribe to a topic (WebSocket /ws only)",
                 {ParamSpec("topic", json{{"type", "string"}, {"enum", config.topics}}, true, "the topic")},
                 json{{"type", "object"}, {"properties", {{"subscription", {{"type", "string"}}}}}},
                 "subscription",
                 "Notifications then arrive as {\"jsonrpc\":\"2.0\",\"method\":\"subscription\",\"params\":"
                 "{\"subscription\":id,\"topic\":topic,\"result\":value}}."),
      [](const json&) -> MethodResult {
        return Status(ErrorCode::invalid_argument, "subscribe is only available over the WebSocket at /ws");
      });
  dispatcher->add(
      MethodSpec("unsubscribe", "Cancel a subscription of this connection (WebSocket /ws only)",
                 {ParamSpec("subscription", json{{"type", "string"}}, true, "the id subscribe returned")},
                 json{{"type", "boolean"}}, "removed"),
      [](const json&) -> MethodResult {
        return Status(ErrorCode::invalid_argument, "unsubscribe is only available over the WebSocket at /ws");
      });
  impl_ = std::make_shared<Impl>(io, std::move(dispatcher), std::move(config));
}

Server::~Server() { stop(); }

void Server::add_get_route(std::string path_prefix, GetHandler handler, HttpHeaders headers) {
  CL_CHECK(!impl_->started_.load());
  CL_CHECK(path_prefix.starts_with("/") && handler != nullptr);
  impl_->routes_.push_back({std::move(path_prefix), std::move(handler), std::move(headers)});
}

void Server::set_readiness(ReadinessCheck check) {
  CL_CHECK(!impl_->started_.load());
  impl_->readiness_ = std::move(check);
}

Status Server::start() { return impl_->start(); }
std::uint16_t Server::port() const { return impl_->port_.load(); }
void Server::stop() { impl_->stop(); }
void Server::publish(std::string_view topic, const json& result) { impl_->publish(topic, result); }
ServerStats Server::stats() const { return impl_->stats(); }

std::string Server::metrics_text() const {
  MetricFamilies families;
  add_server_metrics(families, stats());
  return serialize_metrics(families.take());
}

}  // namespace cityledger::rpc
