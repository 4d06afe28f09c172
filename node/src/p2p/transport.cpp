#include "node/p2p/transport.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "crypto/sha256.hpp"
#include "node/p2p/send_queue.hpp"

namespace cityledger::node::p2p {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::io_context::executor_type>;
using boost::system::error_code;

namespace {

constexpr std::size_t read_chunk_bytes = 64u << 10;
// How long stop() waits, from a thread outside the io_context, for the sockets to close.
constexpr auto stop_wait_max = std::chrono::seconds(5);
// The head start given to the dial of the peer with the lower pin, in reconnect_delay_initial units.
constexpr int non_preferred_dial_delay_factor = 3;
// Small frames queued for a peer are written together up to this many bytes.
constexpr std::size_t write_coalesce_bytes = 64u << 10;

std::optional<Hash32> pin_of_certificate(X509* cert) {
  if (cert == nullptr) return std::nullopt;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return std::nullopt;
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(key, &der);
  if (size <= 0) return std::nullopt;
  const Hash32 pin = crypto::sha256(ByteSpan{der, static_cast<std::size_t>(size)});
  OPENSSL_free(der);
  return pin;
}

struct HostPort {
  std::string host;
  std::string port;
};

// "host:port" or "[v6 address]:port".
Result<HostPort> split_host_port(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
    return error(ErrorCode::invalid_argument, "address '" + address + "' is not host:port");
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = address.substr(colon + 1);
  for (const char c : port) {
    if (c < '0' || c > '9') return error(ErrorCode::invalid_argument, "address '" + address + "': bad port");
  }
  if (port.size() > 5 || std::stoul(port) > 65535)
    return error(ErrorCode::invalid_argument, "address '" + address + "': bad port");
  return HostPort{host, port};
}

DisconnectReason reason_of(FrameError error) {
  switch (error) {
    case FrameError::zero_length:
      return DisconnectReason::decode_zero_length;
    case FrameError::oversized:
      return DisconnectReason::decode_oversized;
    case FrameError::not_canonical:
      return DisconnectReason::decode_not_canonical;
    case FrameError::no_payload:
    case FrameError::none:
      break;
  }
  return DisconnectReason::decode_no_payload;
}

bool is_ssl_error(const error_code& ec) {
  return ec.category() == asio::error::get_ssl_category() ||
         ec.category() == ssl::error::get_stream_category();
}

std::string describe_error(const error_code& ec) {
  if (ec == asio::error::eof || ec == ssl::error::stream_truncated) return "end of stream";
  return ec.message();
}

}  // namespace

const char* drop_reason_name(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::queue_full:
      return "queue_full";
    case DropReason::not_connected:
      return "not_connected";
    case DropReason::disconnected:
      return "disconnected";
    case DropReason::too_large:
      return "too_large";
    case DropReason::unknown_peer:
      return "unknown_peer";
    case DropReason::stopped:
      return "stopped";
  }
  return "unknown";
}

const char* disconnect_reason_name(DisconnectReason reason) noexcept {
  switch (reason) {
    case DisconnectReason::decode_zero_length:
      return frame_error_name(FrameError::zero_length);
    case DisconnectReason::decode_oversized:
      return frame_error_name(FrameError::oversized);
    case DisconnectReason::decode_not_canonical:
      return frame_error_name(FrameError::not_canonical);
    case DisconnectReason::decode_no_payload:
      return frame_error_name(FrameError::no_payload);
    case DisconnectReason::tls_pin_refused:
      return "tls_pin_refused";
    case DisconnectReason::tls_handshake_failed:
      return "tls_handshake_failed";
    case DisconnectReason::connect_failed:
      return "connect_failed";
    case DisconnectReason::handshake_timeout:
      return "handshake_timeout";
    case DisconnectReason::protocol_error:
      return "protocol_error";
    case DisconnectReason::wrong_chain_id:
      return "wrong_chain_id";
    case DisconnectReason::wrong_validator_key:
      return "wrong_validator_key";
    case DisconnectReason::duplicate_connection:
      return "duplicate_connection";
    case DisconnectReason::idle_timeout:
      return "idle_timeout";
    case DisconnectReason::write_timeout:
      return "write_timeout";
    case DisconnectReason::connection_lost:
      return "connection_lost";
    case DisconnectReason::too_many_pending:
      return "too_many_pending";
    case DisconnectReason::stopped:
      return "stopped";
    case DisconnectReason::peer_removed:
      return "peer_removed";
  }
  return "unknown";
}

class Connection;

// Everything the transport knows about one configured peer. Strand only.
struct PeerSlot {
  PeerSlot(PeerConfig peer_config, const TransportConfig& config, asio::any_io_executor executor,
           std::uint64_t seed)
      : config(std::move(peer_config)),
        queue(config.send_queue_max_messages, config.send_queue_max_bytes),
        backoff(config.reconnect_delay_initial, config.reconnect_delay_max, seed),
        redial_timer(executor) {}

  PeerConfig config;
  SendQueue queue;
  Backoff backoff;
  std::weak_ptr<Connection> active;  // the one connection used for this peer
  bool dialing = false;              // an outbound attempt is in progress
  bool redial_pending = false;       // redial_timer is armed
  std::uint32_t dial_failures = 0;   // consecutive failed dials, for the log level
  bool retired = false;              // dropped by set_peers(): never dialed or used again
  asio::steady_timer redial_timer;
};

class Transport::Impl : public std::enable_shared_from_this<Transport::Impl> {
 public:
  Impl(asio::io_context& io, TransportConfig config, TransportHandler& handler);

  Status start();
  void stop();
  void send(PeerIndex peer, const pb::Envelope& envelope);
  void broadcast(const pb::Envelope& envelope);
  void send_raw_frame_for_testing(PeerIndex peer, std::string frame);
  Status set_peers(std::vector<PeerConfig> peers);
  TransportMetrics metrics() const;
  std::vector<PeerIndex> connected_peers() const {
    std::lock_guard lock(connected_mutex_);
    return connected_;
  }

  // ---- strand only, used by Connection
  void on_established(const std::shared_ptr<Connection>& connection, const pb::Hello& hello);
  void on_closed(Connection& connection, const std::string& reason_text);
  void deliver(std::size_t slot, pb::Envelope envelope);
  std::optional<std::size_t> slot_of_pin(const Hash32& pin) const {
    const auto it = slot_by_pin_.find(pin);
    return it == slot_by_pin_.end() ? std::nullopt : std::optional<std::size_t>(it->second);
  }
  OutgoingFrame hello_frame() const;

  void count_sent(MessageKind kind, std::size_t bytes) {
    sent_messages_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
    sent_bytes_[static_cast<std::size_t>(kind)].fetch_add(bytes, std::memory_order_relaxed);
  }
  void count_received(MessageKind kind, std::size_t bytes) {
    received_messages_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
    received_bytes_[static_cast<std::size_t>(kind)].fetch_add(bytes, std::memory_order_relaxed);
  }
  void count_drop(DropReason reason, std::uint64_t count = 1) {
    if (count == 0) return;
    dropped_[static_cast<std::size_t>(reason)].fetch_add(count, std::memory_order_relaxed);
  }
  void count_disconnect(DisconnectReason reason) {
    disconnects_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }

  asio::io_context& io_;
  Strand strand_;
  const TransportConfig config_;
  TransportHandler& handler_;
  std::optional<ssl::context> ssl_;
  Hash32 self_pin_;
  std::atomic<std::uint16_t> port_{0};
  std::atomic<std::uint64_t> local_height_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  // A deque: slots are only ever appended (set_peers() retires, never
  // erases), so a slot's index and address stay valid for its connections.
  std::deque<PeerSlot> slots_;

 private:
  // Runs an application callback unless stop() has begun; stop() takes the
  // same (recursive: a callback may call stop()) mutex, so once it returns no
  // callback is running or will run.
  template <typename F>
  void notify(F&& callback) {
    std::lock_guard lock(callback_mutex_);
    if (stopped_.load()) return;
    callback();
  }
  void accept_next();
  void on_accept(const error_code& ec, tcp::socket socket);
  void dial(std::size_t slot);
  // Dials now or after a delay: the backoff after a failure, plus a head start
  // for the peer when it has the lower index.
  void schedule_dial(std::size_t slot, bool after_failure);
  void enqueue(std::size_t slot, const OutgoingFrame& frame);
  void close_all();
  void publish_connected();
  Status validate_config() const;
  // Strand only.
  void add_slot(const PeerConfig& peer);
  void retire(std::size_t slot, const std::string& why);
  void apply_peers(const std::vector<PeerConfig>& peers);

  std::optional<tcp::acceptor> acceptor_;
  std::unordered_map<Hash32, std::size_t, Hash32Hasher> slot_by_pin_;
  std::unordered_map<PeerIndex, std::size_t> slot_by_index_;
  // Connections not yet established (strand only), so stop() can close them.
  std::unordered_map<Connection*, std::weak_ptr<Connection>> pending_;
  std::size_t pending_inbound_ = 0;
  bool duplicate_peer_ = false;

  std::recursive_mutex callback_mutex_;
  mutable std::mutex connected_mutex_;
  std::vector<PeerIndex> connected_;

  std::array<std::atomic<std::uint64_t>, message_kind_count> sent_messages_{};
  std::array<std::atomic<std::uint64_t>, message_kind_count> sent_bytes_{};
  std::array<std::atomic<std::uint64_t>, message_kind_count> received_messages_{};
  std::array<std::atomic<std::uint64_t>, message_kind_count> received_bytes_{};
  std::array<std::atomic<std::uint64_t>, drop_reason_count> dropped_{};
  std::array<std::atomic<std::uint64_t>, disconnect_reason_count> disconnects_{};
  std::atomic<std::uint64_t> established_{0};
  std::atomic<std::uint64_t> writes_{0};

  friend class Connection;
};

// One TCP+TLS connection, from connect/accept to close. Every member is used
// on the transport's strand only; pending asynchronous operations hold a
// shared_ptr to it, so it lives exactly as long as it has work.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State : std::uint8_t { connecting, tls, hello, established, closed };

  // Outbound: dials slot `slot`.
  Connection(std::shared_ptr<Transport::Impl> impl, std::size_t slot)
      : impl_(std::move(impl)),
        stream_(impl_->strand_, *impl_->ssl_),
        outbound_(true),
        slot_(slot),
        decoder_(impl_->config_.max_frame_bytes),
        deadline_timer_(impl_->strand_),
        tick_timer_(impl_->strand_) {}
  // Inbound: an accepted socket; the slot is known once the certificate is checked.
  Connection(std::shared_ptr<Transport::Impl> impl, tcp::socket socket)
      : impl_(std::move(impl)),
        stream_(std::move(socket), *impl_->ssl_),
        outbound_(false),
        decoder_(impl_->config_.max_frame_bytes),
        deadline_timer_(impl_->strand_),
        tick_timer_(impl_->strand_) {}

  void start_outbound();
  void start_inbound();
  void close(DisconnectReason reason, const std::string& detail);
  void on_activated();
  void send_keepalive();
  void maybe_write();

  bool outbound() const { return outbound_; }
  bool closed() const { return state_ == State::closed; }
  std::optional<std::size_t> slot() const { return slot_; }
  // The tie-break (docs/p2p.md): of two connections between the same two
  // nodes, the one dialed by the side with the lower TLS pin is kept. Pins
  // order the nodes the same way on both sides, whatever indexes each side
  // gives the other (they differ for validators added by governance).
  bool preferred() const {
    const Hash32& self = impl_->self_pin_;
    const Hash32& peer = impl_->slots_[*slot_].config.tls_pin;
    return outbound_ ? self < peer : peer < self;
  }
  std::string describe() const;

  bool active_ = false;        // slot's active connection (Impl sets it)
  bool dial_attempt_ = false;  // counts as the slot's dial in progress
  bool pending_inbound_ = false;

 private:
  void arm_deadline();
  void on_connected(const error_code& ec);
  void start_tls();
  bool verify_certificate(ssl::verify_context& context);
  void on_handshake(const error_code& ec);
  void read_next();
  void on_read(const error_code& ec, std::size_t size);
  bool handle_envelope(pb::Envelope envelope);
  bool check_hello(const pb::Hello& hello);
  void arm_tick();
  void on_tick();
  void on_written(const error_code& ec);

  std::shared_ptr<Transport::Impl> impl_;
  ssl::stream<tcp::socket> stream_;
  const bool outbound_;
  std::optional<std::size_t> slot_;
  State state_ = State::connecting;
  std::string remote_;   // "host:port" for logs
  std::string refusal_;  // why the certificate was refused, set by verify_certificate
  FrameDecoder decoder_;
  std::vector<std::uint8_t> read_buffer_ = std::vector<std::uint8_t>(read_chunk_bytes);
  std::vector<pb::Envelope> decoded_;
  std::deque<OutgoingFrame> control_;  // our Hellos: written before anything from the peer queue
  bool writing_ = false;
  // The frames of the write in progress and, when there are several, their
  // bytes copied into one buffer: one TLS write and one system call for many
  // small frames (votes, transactions) instead of one each.
  std::vector<OutgoingFrame> in_flight_;
  std::string coalesced_;
  Clock::time_point write_started_;
  Clock::time_point last_receive_ = Clock::now();
  Clock::time_point last_send_ = Clock::now();
  asio::steady_timer deadline_timer_;
  asio::steady_timer tick_timer_;
  std::optional<tcp::resolver> resolver_;
};

// ------------------------------------------------------------------ Connection

std::string Connection::describe() const {
  std::string out;
  if (slot_) {
    const PeerConfig& peer = impl_->slots_[*slot_].config;
    out = "peer " + std::to_string(peer.index) + (peer.name.empty() ? "" : " (" + peer.name + ")");
  } else {
    out = "unidentified peer";
  }
  if (!remote_.empty()) out += " at " + remote_;
  out += outbound_ ? " (outbound)" : " (inbound)";
  return out;
}

void Connection::arm_deadline() {
  deadline_timer_.expires_after(impl_->config_.handshake_timeout);
  deadline_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->state_ == State::closed || self->state_ == State::established) return;
    self->close(DisconnectReason::handshake_timeout,
                "no Hello within " + std::to_string(self->impl_->config_.handshake_timeout.count()) + " ms");
  });
}

void Connection::start_outbound() {
  arm_deadline();
  const PeerConfig& peer = impl_->slots_[*slot_].config;
  remote_ = peer.address;
  auto host_port = split_host_port(peer.address);
  if (!host_port.ok()) {
    close(DisconnectReason::connect_failed, host_port.status().message());
    return;
  }
  error_code ec;
  const auto address = asio::ip::make_address(host_port->host, ec);
  if (!ec) {
    const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(std::stoul(host_port->port)));
    stream_.lowest_layer().async_connect(
        endpoint, [self = shared_from_this()](const error_code& error) { self->on_connected(error); });
    return;
  }
  resolver_.emplace(impl_->strand_);
  resolver_->async_resolve(
      host_port->host, host_port->port,
      [self = shared_from_this()](const error_code& error, const tcp::resolver::results_type& results) {
        if (self->state_ == State::closed) return;
        if (error) {
          self->close(DisconnectReason::connect_failed, "resolve: " + error.message());
          return;
        }
        asio::async_connect(self->stream_.lowest_layer(), results,
                            [self](const error_code& e, const tcp::endpoint&) { self->on_connected(e); });
      });
}

void Connection::on_connected(const error_code& ec) {
  if (state_ == State::closed) return;
  if (ec) {
    close(DisconnectReason::connect_failed, "connect: " + ec.message());
    return;
  }
  start_tls();
}

void Connection::start_inbound() {
  arm_deadline();
  error_code ec;
  const auto endpoint = stream_.lowest_layer().remote_endpoint(ec);
  if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  start_tls();
}

void Connection::start_tls() {
  state_ = State::tls;
  error_code ignored;
  stream_.lowest_layer().set_option(tcp::no_delay(true), ignored);
  stream_.lowest_layer().set_option(asio::socket_base::keep_alive(true), ignored);
  stream_.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // Called synchronously from inside the handshake on this strand, while the
  // stream (a member of this object) is alive: `this` is safe.
  stream_.set_verify_callback(
      [this](bool /*preverified*/, ssl::verify_context& context) { return verify_certificate(context); });
  stream_.async_handshake(outbound_ ? ssl::stream_base::client : ssl::stream_base::server,
                          [self = shared_from_this()](const error_code& ec) { self->on_handshake(ec); });
}

// The certificates are self-signed, so OpenSSL's own chain verdict
// (`preverified`) is always "untrusted" and is ignored: trust comes only from
// the pin of the leaf's public key. The leaf is re-checked after the handshake.
bool Connection::verify_certificate(ssl::verify_context& context) {
  X509_STORE_CTX* store = context.native_handle();
  if (X509_STORE_CTX_get_error_depth(store) != 0) return true;
  const auto pin = pin_of_certificate(X509_STORE_CTX_get_current_cert(store));
  if (!pin) {
    refusal_ = "certificate has no readable public key";
    return false;
  }
  if (outbound_) {
    const PeerConfig& peer = impl_->slots_[*slot_].config;
    if (*pin != peer.tls_pin) {
      refusal_ = "certificate key pin " + pin->hex() + " is not the pin " + peer.tls_pin.hex() + " of peer " +
                 std::to_string(peer.index);
      return false;
    }
  } else if (!impl_->slot_of_pin(*pin)) {
    refusal_ = "certificate key pin " + pin->hex() + " is not pinned in genesis or the validator schedule";
    return false;
  }
  return true;
}

void Connection::on_handshake(const error_code& ec) {
  if (state_ == State::closed) return;
  if (ec) {
    if (!refusal_.empty()) {
      close(DisconnectReason::tls_pin_refused, refusal_);
    } else {
      close(DisconnectReason::tls_handshake_failed, "TLS handshake: " + ec.message());
    }
    return;
  }
  const auto pin = pin_of_certificate(SSL_get0_peer_certificate(stream_.native_handle()));
  if (!pin) {
    close(DisconnectReason::tls_pin_refused, "no peer certificate after the handshake");
    return;
  }
  if (outbound_) {
    if (*pin != impl_->slots_[*slot_].config.tls_pin) {
      close(DisconnectReason::tls_pin_refused, "peer certificate changed during the handshake");
      return;
    }
  } else {
    slot_ = impl_->slot_of_pin(*pin);
    if (!slot_) {
      close(DisconnectReason::tls_pin_refused,
            "certificate key pin " + pin->hex() + " is not pinned in genesis or the validator schedule");
      return;
    }
  }
  state_ = State::hello;
  control_.push_back(impl_->hello_frame());
  maybe_write();
  read_next();
}

void Connection::read_next() {
  stream_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](const error_code& ec, std::size_t size) { self->on_read(ec, size); });
}

void Connection::on_read(const error_code& ec, std::size_t size) {
  if (state_ == State::closed) return;
  if (ec) {
    // In TLS 1.3 a client learns that the server refused its certificate only
    // here, from the alert that arrives instead of the server's Hello.
    if (state_ == State::hello && is_ssl_error(ec) && ec != ssl::error::stream_truncated) {
      close(DisconnectReason::tls_handshake_failed, "refused by the peer: " + ec.message());
    } else {
      close(DisconnectReason::connection_lost, describe_error(ec));
    }
    return;
  }
  last_receive_ = Clock::now();
  decoded_.clear();
  const Status status = decoder_.feed(ByteSpan{read_buffer_.data(), size}, decoded_);
  for (auto& envelope : decoded_) {
    if (!handle_envelope(std::move(envelope))) return;
  }
  decoded_.clear();
  if (!status.ok()) {
    close(reason_of(decoder_.error()), status.message());
    return;
  }
  read_next();
}

bool Connection::check_hello(const pb::Hello& hello) {
  const TransportConfig& config = impl_->config_;
  if (hello.chain_id() != config.chain_id) {
    close(DisconnectReason::wrong_chain_id,
          "peer is on chain '" + hello.chain_id() + "', this node on '" + config.chain_id + "'");
    return false;
  }
  const auto& expected = impl_->slots_[*slot_].config.validator_key;
  if (expected && hello.validator() != expected->to_string()) {
    close(DisconnectReason::wrong_validator_key, "Hello names validator key " +
                                                     to_hex(as_bytes(hello.validator())) +
                                                     ", the validator set says " + expected->hex());
    return false;
  }
  return true;
}

// Returns false once the connection is closed (by this envelope or by a
// callback that called stop()).
bool Connection::handle_envelope(pb::Envelope envelope) {
  const MessageKind kind = kind_of(envelope);
  impl_->count_received(kind, frame_header_bytes + envelope.ByteSizeLong());
  if (state_ == State::hello) {
    if (kind != MessageKind::hello) {
      close(DisconnectReason::protocol_error,
            std::string("first message is a ") + message_kind_name(kind) + ", not a hello");
      return false;
    }
    if (!check_hello(envelope.hello())) return false;
    state_ = State::established;
    impl_->on_established(shared_from_this(), envelope.hello());
    return state_ != State::closed;
  }
  if (kind == MessageKind::hello && !check_hello(envelope.hello())) return false;
  if (active_) impl_->deliver(*slot_, std::move(envelope));
  return state_ != State::closed;
}

void Connection::on_activated() {
  deadline_timer_.cancel();
  arm_tick();
  maybe_write();
}

void Connection::arm_tick() {
  tick_timer_.expires_after(impl_->config_.keepalive_interval);
  tick_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->state_ != State::established) return;
    self->on_tick();
  });
}

void Connection::on_tick() {
  const TransportConfig& config = impl_->config_;
  const auto now = Clock::now();
  const auto millis = [](Clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  if (config.idle_timeout.count() > 0 && now - last_receive_ >= config.idle_timeout) {
    close(DisconnectReason::idle_timeout, "nothing received for " + millis(now - last_receive_) + " ms");
    return;
  }
  if (config.write_timeout.count() > 0 && writing_ && now - write_started_ >= config.write_timeout) {
    close(DisconnectReason::write_timeout, "one write pending for " + millis(now - write_started_) + " ms");
    return;
  }
  if (!writing_ && now - last_send_ >= config.keepalive_interval) send_keepalive();
  arm_tick();
}

void Connection::send_keepalive() {
  if (state_ != State::established || !control_.empty()) return;
  control_.push_back(impl_->hello_frame());
  maybe_write();
}

void Connection::maybe_write() {
  if (writing_ || (state_ != State::hello && state_ != State::established)) return;
  in_flight_.clear();
  std::size_t bytes = 0;
  // Our Hellos first, then the peer's queue, as many frames as fit in one
  // write (a larger frame goes alone, never copied).
  while (!control_.empty() &&
         (in_flight_.empty() || bytes + control_.front().size_bytes() <= write_coalesce_bytes)) {
    bytes += control_.front().size_bytes();
    in_flight_.push_back(std::move(control_.front()));
    control_.pop_front();
  }
  if (state_ == State::established && active_ && control_.empty()) {
    SendQueue& queue = impl_->slots_[*slot_].queue;
    while (!queue.empty() && (in_flight_.empty() || bytes + queue.front_bytes() <= write_coalesce_bytes)) {
      bytes += queue.front_bytes();
      in_flight_.push_back(std::move(*queue.pop()));
    }
  }
  if (in_flight_.empty()) return;
  writing_ = true;
  write_started_ = Clock::now();
  auto done = [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_written(ec); };
  if (in_flight_.size() == 1) {
    asio::async_write(stream_, asio::buffer(*in_flight_.front().frame), std::move(done));
    return;
  }
  coalesced_.clear();
  coalesced_.reserve(bytes);
  for (const auto& frame : in_flight_) coalesced_ += *frame.frame;
  asio::async_write(stream_, asio::buffer(coalesced_), std::move(done));
}

void Connection::on_written(const error_code& ec) {
  writing_ = false;
  if (state_ == State::closed) return;
  if (ec) {
    close(DisconnectReason::connection_lost, "write: " + describe_error(ec));
    return;
  }
  for (const auto& frame : in_flight_) impl_->count_sent(frame.kind, frame.size_bytes());
  impl_->writes_.fetch_add(1, std::memory_order_relaxed);
  in_flight_.clear();
  last_send_ = Clock::now();
  maybe_write();
}

void Connection::close(DisconnectReason reason, const std::string& detail) {
  if (state_ == State::closed) return;
  const bool was_established = state_ == State::established;
  state_ = State::closed;
  impl_->count_disconnect(reason);
  const std::string text = std::string(disconnect_reason_name(reason)) + ": " + detail;
  switch (reason) {
    case DisconnectReason::stopped:
    case DisconnectReason::duplicate_connection:
      spdlog::debug("p2p: {} closed: {}", describe(), text);
      break;
    case DisconnectReason::connect_failed:
    case DisconnectReason::connection_lost:
      if (was_established) {
        spdlog::info("p2p: {} disconnected: {}", describe(), text);
      } else if (dial_attempt_ && impl_->slots_[*slot_].dial_failures == 0) {
        // The first failure after a success is worth an operator's attention;
        // the retries that follow (every few seconds) are not.
        spdlog::info("p2p: cannot reach {}: {}; retrying with backoff", describe(), text);
      } else {
        spdlog::debug("p2p: {} closed: {}", describe(), text);
      }
      break;
    case DisconnectReason::peer_removed:
      spdlog::info("p2p: {} closed: {}", describe(), text);
      break;
    default:
      spdlog::warn("p2p: {} {}: {}", describe(), was_established ? "disconnected" : "refused", text);
      break;
  }
  error_code ignored;
  deadline_timer_.cancel();
  tick_timer_.cancel();
  if (resolver_) resolver_->cancel();
  // No TLS close_notify: it could wait on a peer that no longer reads. The
  // peer sees the end of the stream, which is all it needs.
  stream_.lowest_layer().close(ignored);
  control_.clear();
  impl_->on_closed(*this, text);
}

// ------------------------------------------------------------------ Impl

Transport::Impl::Impl(asio::io_context& io, TransportConfig config, TransportHandler& handler)
    : io_(io), strand_(asio::make_strand(io)), config_(std::move(config)), handler_(handler) {
  // Built here, not in start(): send() may post lookups before start() runs.
  // Duplicates are reported by start().
  for (const PeerConfig& peer : config_.peers) {
    if (slot_by_index_.contains(peer.index) || slot_by_pin_.contains(peer.tls_pin)) duplicate_peer_ = true;
    add_slot(peer);
  }
}

void Transport::Impl::add_slot(const PeerConfig& peer) {
  static thread_local std::random_device random;
  const std::uint64_t seed = (static_cast<std::uint64_t>(random()) << 32) ^ random() ^ peer.index;
  slots_.emplace_back(peer, config_, strand_, seed);
  slot_by_index_.emplace(peer.index, slots_.size() - 1);
  slot_by_pin_.emplace(peer.tls_pin, slots_.size() - 1);
}

namespace {

bool same_peer(const PeerConfig& a, const PeerConfig& b) {
  return a.index == b.index && a.name == b.name && a.address == b.address && a.tls_pin == b.tls_pin &&
         a.validator_key == b.validator_key;
}

// The rules every peer list obeys, at start() and in set_peers().
Status check_peer_list(const std::vector<PeerConfig>& peers, PeerIndex self_index,
                       const std::optional<Hash32>& self_pin) {
  std::unordered_set<PeerIndex> indexes;
  std::unordered_set<Hash32, Hash32Hasher> pins;
  for (const PeerConfig& peer : peers) {
    const std::string who = "p2p: peer " + std::to_string(peer.index);
    if (peer.index == self_index)
      return error(ErrorCode::invalid_argument,
                   "p2p: peer list contains this node's own index " + std::to_string(peer.index));
    if (self_pin && peer.tls_pin == *self_pin)
      return error(ErrorCode::invalid_argument, who + " is pinned to this node's own TLS key");
    if (!indexes.insert(peer.index).second || !pins.insert(peer.tls_pin).second)
      return error(ErrorCode::invalid_argument, "p2p: a peer index or TLS pin is listed twice");
    if (!peer.address.empty()) {
      auto parsed = split_host_port(peer.address);
      if (!parsed.ok()) return error(ErrorCode::invalid_argument, who + ": " + parsed.status().message());
    }
  }
  return Status::ok_status();
}

}  // namespace

Status Transport::Impl::set_peers(std::vector<PeerConfig> peers) {
  if (!started_ || stopped_)
    return error(ErrorCode::invalid_argument, "p2p: set_peers() before start() or after stop()");
  CL_TRY(check_peer_list(peers, config_.self_index, self_pin_));
  asio::post(strand_, [self = shared_from_this(), peers = std::move(peers)] {
    if (!self->stopped_) self->apply_peers(peers);
  });
  return Status::ok_status();
}

void Transport::Impl::apply_peers(const std::vector<PeerConfig>& peers) {
  std::unordered_map<PeerIndex, const PeerConfig*> wanted;
  for (const PeerConfig& peer : peers) wanted.emplace(peer.index, &peer);
  // Retire first: a changed peer's new slot takes its index and maybe its pin.
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].retired) continue;
    const auto it = wanted.find(slots_[i].config.index);
    if (it == wanted.end()) {
      retire(i, "no longer in the validator set");
    } else if (!same_peer(*it->second, slots_[i].config)) {
      retire(i, "its pin, validator key or address changed");
    } else {
      wanted.erase(it);  // unchanged: keeps its connection
    }
  }
  for (const PeerConfig& peer : peers) {
    if (!wanted.contains(peer.index)) continue;
    add_slot(peer);
    spdlog::info("p2p: added peer {}{} at {} (TLS pin {})", peer.index,
                 peer.name.empty() ? "" : " (" + peer.name + ")",
                 peer.address.empty() ? std::string("no address: accept only") : peer.address,
                 peer.tls_pin.hex());
    schedule_dial(slots_.size() - 1, false);
  }
  publish_connected();
}

void Transport::Impl::retire(std::size_t slot_index, const std::string& why) {
  PeerSlot& slot = slots_[slot_index];
  slot.retired = true;
  slot_by_index_.erase(slot.config.index);
  slot_by_pin_.erase(slot.config.tls_pin);
  slot.redial_timer.cancel();
  spdlog::info("p2p: dropping peer {}{}: {}", slot.config.index,
               slot.config.name.empty() ? "" : " (" + slot.config.name + ")", why);
  if (auto connection = slot.active.lock()) connection->close(DisconnectReason::peer_removed, why);
  // Handshakes in progress with this peer (close() erases from pending_: iterate over a copy).
  std::vector<std::shared_ptr<Connection>> pending;
  for (auto& [_, weak] : pending_) {
    auto connection = weak.lock();
    if (connection && connection->slot() == slot_index) pending.push_back(std::move(connection));
  }
  for (auto& connection : pending) connection->close(DisconnectReason::peer_removed, why);
  count_drop(DropReason::disconnected, slot.queue.clear());
}

Status Transport::Impl::validate_config() const {
  if (config_.chain_id.empty()) return error(ErrorCode::invalid_argument, "p2p: empty chain id");
  if (config_.max_frame_bytes == 0 || config_.max_frame_bytes > UINT32_MAX)
    return error(ErrorCode::invalid_argument, "p2p: max_frame_bytes out of range");
  if (config_.send_queue_max_messages == 0 || config_.send_queue_max_bytes == 0)
    return error(ErrorCode::invalid_argument, "p2p: send queue bounds must be positive");
  if (config_.reconnect_delay_initial.count() <= 0 || config_.keepalive_interval.count() <= 0 ||
      config_.handshake_timeout.count() <= 0)
    return error(ErrorCode::invalid_argument,
                 "p2p: reconnect delay, keepalive and handshake timeout must be positive");
  // A healthy idle peer sends a keepalive at most about two intervals apart
  // (the check runs once per interval): the idle timeout must allow for that.
  if (config_.idle_timeout.count() > 0 && config_.idle_timeout <= 2 * config_.keepalive_interval)
    return error(ErrorCode::invalid_argument,
                 "p2p: idle_timeout must be 0 or more than twice keepalive_interval");
  return check_peer_list(config_.peers, config_.self_index, std::nullopt);
}

Status Transport::Impl::start() {
  CL_CHECK(!started_.load());
  if (stopped_) return error(ErrorCode::invalid_argument, "p2p: start() after stop()");
  CL_TRY(validate_config());
  if (duplicate_peer_)
    return error(ErrorCode::invalid_argument, "p2p: a peer index or TLS pin is listed twice");

  ssl_.emplace(ssl::context::tls);
  SSL_CTX* native = ssl_->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) != 1)
    return error(ErrorCode::internal, "p2p: OpenSSL cannot restrict to TLS 1.3");
  // No session resumption: every connection presents and checks certificates afresh.
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  static constexpr unsigned char session_context[] = "cityledger-p2p";
  SSL_CTX_set_session_id_context(native, session_context, sizeof(session_context) - 1);
  error_code ec;
  ssl_->use_certificate_file(config_.tls_cert_file.string(), ssl::context::pem, ec);
  if (ec)
    return error(ErrorCode::invalid_argument,
                 "p2p: cannot load TLS certificate " + config_.tls_cert_file.string() + ": " + ec.message());
  ssl_->use_private_key_file(config_.tls_key_file.string(), ssl::context::pem, ec);
  if (ec)
    return error(ErrorCode::invalid_argument,
                 "p2p: cannot load TLS key " + config_.tls_key_file.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1)
    return error(ErrorCode::invalid_argument, "p2p: TLS key does not match the certificate");
  const auto pin = pin_of_certificate(SSL_CTX_get0_certificate(native));
  if (!pin) return error(ErrorCode::invalid_argument, "p2p: cannot read the certificate's public key");
  self_pin_ = *pin;
  if (slot_by_pin_.contains(self_pin_))
    return error(ErrorCode::invalid_argument, "p2p: a peer is pinned to this node's own TLS key");

  if (!config_.listen_address.empty()) {
    auto host_port = split_host_port(config_.listen_address);
    if (!host_port.ok())
      return error(ErrorCode::invalid_argument, "p2p: listen: " + host_port.status().message());
    const auto address = asio::ip::make_address(host_port->host, ec);
    if (ec)
      return error(ErrorCode::invalid_argument,
                   "p2p: listen address must be numeric: " + config_.listen_address);
    const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(std::stoul(host_port->port)));
    acceptor_.emplace(strand_);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.reset();
      return error(ErrorCode::io_error,
                   "p2p: cannot listen on " + config_.listen_address + ": " + ec.message());
    }
    port_ = acceptor_->local_endpoint().port();
    spdlog::info("p2p: listening on {}:{} (TLS pin {})", host_port->host, port_.load(), self_pin_.hex());
  }
  started_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    if (self->stopped_) return;
    if (self->acceptor_) self->accept_next();
    for (std::size_t i = 0; i < self->slots_.size(); ++i) self->schedule_dial(i, false);
  });
  return Status::ok_status();
}

void Transport::Impl::accept_next() {
  acceptor_->async_accept(strand_, [self = shared_from_this()](const error_code& ec, tcp::socket socket) {
    self->on_accept(ec, std::move(socket));
  });
}

void Transport::Impl::on_accept(const error_code& ec, tcp::socket socket) {
  if (stopped_ || !acceptor_ || !acceptor_->is_open()) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    spdlog::warn("p2p: accept failed: {}", ec.message());
  } else if (pending_inbound_ >= config_.max_pending_inbound) {
    count_disconnect(DisconnectReason::too_many_pending);
    spdlog::warn("p2p: refused an inbound connection: {} handshakes already pending", pending_inbound_);
    error_code ignored;
    socket.close(ignored);
  } else {
    auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket));
    connection->pending_inbound_ = true;
    ++pending_inbound_;
    pending_.emplace(connection.get(), connection);
    connection->start_inbound();
  }
  accept_next();
}

void Transport::Impl::dial(std::size_t slot_index) {
  PeerSlot& slot = slots_[slot_index];
  if (stopped_ || slot.retired || slot.config.address.empty() || slot.dialing || !slot.active.expired())
    return;
  slot.dialing = true;
  auto connection = std::make_shared<Connection>(shared_from_this(), slot_index);
  connection->dial_attempt_ = true;
  pending_.emplace(connection.get(), connection);
  connection->start_outbound();
}

void Transport::Impl::schedule_dial(std::size_t slot_index, bool after_failure) {
  PeerSlot& slot = slots_[slot_index];
  if (stopped_ || slot.retired || slot.config.address.empty() || slot.dialing || slot.redial_pending ||
      !slot.active.expired())
    return;
  auto delay = after_failure ? slot.backoff.next() : std::chrono::milliseconds(0);
  // Both sides dial, and the tie-break keeps the connection dialed by the
  // lower pin. Letting that side go first avoids most duplicate
  // connections, and the messages lost when the losing one is closed.
  if (slot.config.tls_pin < self_pin_)
    delay += non_preferred_dial_delay_factor * config_.reconnect_delay_initial;
  if (delay.count() == 0) {
    dial(slot_index);
    return;
  }
  slot.redial_pending = true;
  slot.redial_timer.expires_after(delay);
  slot.redial_timer.async_wait([self = shared_from_this(), slot_index](const error_code& ec) {
    self->slots_[slot_index].redial_pending = false;
    if (ec || self->stopped_) return;
    self->dial(slot_index);
  });
}

void Transport::Impl::on_established(const std::shared_ptr<Connection>& connection, const pb::Hello& hello) {
  pending_.erase(connection.get());
  if (connection->pending_inbound_) {
    connection->pending_inbound_ = false;
    --pending_inbound_;
  }
  const std::size_t slot_index = *connection->slot();
  PeerSlot& slot = slots_[slot_index];
  if (connection->dial_attempt_) {
    connection->dial_attempt_ = false;
    slot.dialing = false;
  }
  if (stopped_) {
    connection->close(DisconnectReason::stopped, "transport stopped");
    return;
  }
  if (slot.retired) {
    connection->close(DisconnectReason::peer_removed, "no longer a configured peer");
    return;
  }
  auto existing = slot.active.lock();
  if (existing && !connection->preferred() && existing->preferred()) {
    // If the kept connection is in fact dead (the peer restarted), writing to
    // it makes that show at once instead of after the idle timeout.
    existing->send_keepalive();
    connection->close(DisconnectReason::duplicate_connection, "already connected by " + existing->describe());
    return;
  }
  // The new connection is taken before the old one is closed, so closing the
  // old one neither schedules a redial nor drops the peer's queue.
  slot.active = connection;
  connection->active_ = true;
  if (existing) {
    existing->active_ = false;
    notify([&] { handler_.on_peer_disconnected(slot.config.index, "duplicate_connection: replaced"); });
    existing->close(DisconnectReason::duplicate_connection, "replaced by " + connection->describe());
    if (connection->closed()) return;  // a callback stopped the transport
  }
  slot.backoff.reset();
  slot.dial_failures = 0;
  established_.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("p2p: connected to {}, height {}", connection->describe(), hello.height());
  publish_connected();
  notify([&] { handler_.on_peer_connected(slot.config.index, hello); });
  if (connection->closed()) return;
  connection->on_activated();
}

void Transport::Impl::on_closed(Connection& connection, const std::string& reason_text) {
  pending_.erase(&connection);
  if (connection.pending_inbound_) {
    connection.pending_inbound_ = false;
    --pending_inbound_;
  }
  const auto slot_index = connection.slot();
  if (!slot_index) return;
  PeerSlot& slot = slots_[*slot_index];
  if (connection.dial_attempt_) {
    connection.dial_attempt_ = false;
    slot.dialing = false;
    ++slot.dial_failures;
  }
  if (connection.active_) {
    connection.active_ = false;
    slot.active.reset();
    count_drop(DropReason::disconnected, slot.queue.clear());
    publish_connected();
    notify([&] { handler_.on_peer_disconnected(slot.config.index, reason_text); });
  }
  schedule_dial(*slot_index, true);
}

void Transport::Impl::deliver(std::size_t slot_index, pb::Envelope envelope) {
  notify([&] { handler_.on_message(slots_[slot_index].config.index, std::move(envelope)); });
}

OutgoingFrame Transport::Impl::hello_frame() const {
  pb::Envelope envelope;
  pb::Hello* hello = envelope.mutable_hello();
  hello->set_chain_id(config_.chain_id);
  hello->set_validator(config_.validator_key.to_string());
  hello->set_height(local_height_.load());
  hello->set_node_version(config_.node_version);
  auto frame = encode_frame(envelope, config_.max_frame_bytes);
  CL_CHECK(frame.ok());
  return OutgoingFrame{std::make_shared<const std::string>(std::move(*frame)), MessageKind::hello};
}

void Transport::Impl::enqueue(std::size_t slot_index, const OutgoingFrame& frame) {
  PeerSlot& slot = slots_[slot_index];
  auto connection = slot.active.lock();
  if (!connection) {
    count_drop(DropReason::not_connected);
    return;
  }
  const auto result = slot.queue.push(frame);
  count_drop(DropReason::queue_full, result.dropped);
  if (!result.accepted) count_drop(DropReason::too_large);
  if (result.dropped > 0) {
    spdlog::debug("p2p: send queue of peer {} full: dropped {} oldest", slot.config.index, result.dropped);
  }
  connection->maybe_write();
}

void Transport::Impl::send(PeerIndex peer, const pb::Envelope& envelope) {
  if (stopped_) {
    count_drop(DropReason::stopped);
    return;
  }
  auto frame = encode_frame(envelope, config_.max_frame_bytes);
  if (!frame.ok()) {
    count_drop(DropReason::too_large);
    spdlog::warn("p2p: not sending to peer {}: {}", peer, frame.status().message());
    return;
  }
  OutgoingFrame outgoing{std::make_shared<const std::string>(std::move(*frame)), kind_of(envelope)};
  asio::post(strand_, [self = shared_from_this(), peer, outgoing = std::move(outgoing)] {
    if (self->stopped_) {
      self->count_drop(DropReason::stopped);
      return;
    }
    const auto it = self->slot_by_index_.find(peer);
    if (it == self->slot_by_index_.end()) {
      self->count_drop(DropReason::unknown_peer);
      return;
    }
    self->enqueue(it->second, outgoing);
  });
}

void Transport::Impl::send_raw_frame_for_testing(PeerIndex peer, std::string frame) {
  OutgoingFrame outgoing{std::make_shared<const std::string>(std::move(frame)), MessageKind::none};
  asio::post(strand_, [self = shared_from_this(), peer, outgoing = std::move(outgoing)] {
    const auto it = self->slot_by_index_.find(peer);
    if (self->stopped_ || it == self->slot_by_index_.end()) return;
    self->enqueue(it->second, outgoing);
  });
}

void Transport::Impl::broadcast(const pb::Envelope& envelope) {
  if (stopped_) {
    count_drop(DropReason::stopped);
    return;
  }
  auto frame = encode_frame(envelope, config_.max_frame_bytes);
  if (!frame.ok()) {
    count_drop(DropReason::too_large);
    spdlog::warn("p2p: not broadcasting: {}", frame.status().message());
    return;
  }
  OutgoingFrame outgoing{std::make_shared<const std::string>(std::move(*frame)), kind_of(envelope)};
  asio::post(strand_, [self = shared_from_this(), outgoing = std::move(outgoing)] {
    if (self->stopped_) {
      self->count_drop(DropReason::stopped);
      return;
    }
    for (std::size_t i = 0; i < self->slots_.size(); ++i) {
      if (!self->slots_[i].retired) self->enqueue(i, outgoing);
    }
  });
}

void Transport::Impl::publish_connected() {
  std::vector<PeerIndex> connected;
  for (const PeerSlot& slot : slots_) {
    if (!slot.active.expired()) connected.push_back(slot.config.index);
  }
  std::lock_guard lock(connected_mutex_);
  connected_ = std::move(connected);
}

void Transport::Impl::close_all() {
  error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
  for (PeerSlot& slot : slots_) {
    slot.redial_timer.cancel();
    if (auto connection = slot.active.lock())
      connection->close(DisconnectReason::stopped, "transport stopped");
    count_drop(DropReason::stopped, slot.queue.clear());
  }
  // close() erases from pending_: iterate over a copy.
  std::vector<std::shared_ptr<Connection>> pending;
  for (auto& [_, weak] : pending_) {
    if (auto connection = weak.lock()) pending.push_back(std::move(connection));
  }
  for (auto& connection : pending) connection->close(DisconnectReason::stopped, "transport stopped");
  pending_.clear();
  publish_connected();
}

void Transport::Impl::stop() {
  if (stopped_.exchange(true)) return;
  // Wait for a callback in progress on another thread; later ones see stopped_.
  { std::lock_guard lock(callback_mutex_); }
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  asio::post(strand_, [self = shared_from_this(), closed] {
    self->close_all();
    closed->set_value();
  });
  if (started_ && !io_.stopped() && !io_.get_executor().running_in_this_thread()) {
    if (done.wait_for(stop_wait_max) != std::future_status::ready) {
      spdlog::warn("p2p: stop: sockets not closed within {} s (is the io_context running?)",
                   std::chrono::duration_cast<std::chrono::seconds>(stop_wait_max).count());
    }
  }
}

TransportMetrics Transport::Impl::metrics() const {
  TransportMetrics out;
  for (std::size_t i = 0; i < message_kind_count; ++i) {
    out.sent_messages[i] = sent_messages_[i].load(std::memory_order_relaxed);
    out.sent_bytes[i] = sent_bytes_[i].load(std::memory_order_relaxed);
    out.received_messages[i] = received_messages_[i].load(std::memory_order_relaxed);
    out.received_bytes[i] = received_bytes_[i].load(std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < drop_reason_count; ++i)
    out.dropped[i] = dropped_[i].load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < disconnect_reason_count; ++i)
    out.disconnects[i] = disconnects_[i].load(std::memory_order_relaxed);
  out.connections_established = established_.load(std::memory_order_relaxed);
  out.writes = writes_.load(std::memory_order_relaxed);
  return out;
}

// ------------------------------------------------------------------ Transport

Transport::Transport(asio::io_context& io, TransportConfig config, TransportHandler& handler)
    : impl_(std::make_shared<Impl>(io, std::move(config), handler)) {}

Transport::~Transport() { impl_->stop(); }

Status Transport::start() { return impl_->start(); }
Status Transport::set_peers(std::vector<PeerConfig> peers) { return impl_->set_peers(std::move(peers)); }
std::uint16_t Transport::listen_port() const { return impl_->port_.load(); }
Hash32 Transport::tls_pin() const { return impl_->self_pin_; }
void Transport::send(PeerIndex peer, const pb::Envelope& envelope) { impl_->send(peer, envelope); }
void Transport::broadcast(const pb::Envelope& envelope) { impl_->broadcast(envelope); }
void Transport::send_raw_frame_for_testing(PeerIndex peer, std::string frame) {
  impl_->send_raw_frame_for_testing(peer, std::move(frame));
}
void Transport::set_local_height(std::uint64_t height) { impl_->local_height_.store(height); }
TransportMetrics Transport::metrics() const { return impl_->metrics(); }
std::vector<PeerIndex> Transport::connected_peers() const { return impl_->connected_peers(); }
void Transport::stop() { impl_->stop(); }

}  // namespace cityledger::node::p2p
