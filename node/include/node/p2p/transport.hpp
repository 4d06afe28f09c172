// The validators' peer-to-peer transport (docs/p2p.md): TLS 1.3 with mutual
// authentication by pinned Ed25519 keys, one connection per peer, length-
// prefixed canonical Envelopes, bounded per-peer send queues, reconnect with
// backoff.
//
// Threading: the Transport runs on a caller-provided io_context, which any
// number of threads may run. All of its state lives on one strand, so the
// Handler's callbacks are called one at a time, never concurrently, on one of
// the io_context's threads. send(), broadcast(), set_local_height(), metrics(),
// connected_peers() and stop() may be called from any thread, including from
// inside a callback; none of them waits on the network (stop() waits, bounded,
// only for the io_context to close the sockets; see stop()).
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "node/p2p/frame.hpp"

namespace cityledger::node::p2p {

// The application's name for a peer, stable while the peer is configured. The
// node uses the validator's genesis index for genesis validators and numbers
// validators added by governance after them (node/node.hpp).
using PeerIndex = std::uint32_t;

struct PeerConfig {
  PeerIndex index = 0;
  std::string name;
  std::string address;  // "host:port" to dial ("[::1]:port" for IPv6); empty: never dial, only accept
  Hash32 tls_pin;       // SHA-256 of the peer's certificate SubjectPublicKeyInfo (DER), from genesis
  // When set, the peer's Hello must carry exactly this consensus key.
  std::optional<Hash32> validator_key;
};

struct TransportConfig {
  std::string chain_id;
  // Our own index: no peer may carry it. (Not used for the tie-break between
  // two connections to the same peer, which compares TLS pins: docs/p2p.md.)
  PeerIndex self_index = 0;
  Hash32 validator_key;  // our consensus key, sent in Hello
  std::string node_version = "cityledger/0.1.0";
  std::filesystem::path tls_key_file;   // PEM Ed25519 key (node/tls_identity.hpp)
  std::filesystem::path tls_cert_file;  // PEM self-signed certificate
  // "host:port"; port 0 picks a free port (listen_port() tells which). Empty: do not listen.
  std::string listen_address = "127.0.0.1:0";
  std::vector<PeerConfig> peers;  // every other validator; never ourselves (see also set_peers())

  std::size_t max_frame_bytes = max_frame_bytes_default;
  std::size_t send_queue_max_messages = 4096;    // per peer
  std::size_t send_queue_max_bytes = 64u << 20;  // per peer
  std::chrono::milliseconds reconnect_delay_initial{100};
  std::chrono::milliseconds reconnect_delay_max{5000};
  // TCP connect + TLS handshake + Hello exchange must finish within this.
  std::chrono::milliseconds handshake_timeout{10000};
  // A Hello is sent on a connection that has sent nothing for this long, so an
  // idle but healthy link always carries traffic. Also the period of the
  // per-connection checks below.
  std::chrono::milliseconds keepalive_interval{5000};
  // Nothing received for this long: disconnect ("idle_timeout"). 0 disables;
  // otherwise it must exceed 2 x keepalive_interval (the peer's keepalive
  // period, if it uses the same settings).
  std::chrono::milliseconds idle_timeout{30000};
  // One frame's write not finished after this long (the peer stopped
  // reading): disconnect ("write_timeout"). 0 disables.
  std::chrono::milliseconds write_timeout{30000};
  // Inbound connections still in their handshake; more are closed at once.
  std::size_t max_pending_inbound = 32;
};

// Why an envelope given to send()/broadcast() was not delivered to the socket.
enum class DropReason : std::uint8_t {
  queue_full = 0,  // dropped (oldest first) to make room in a full queue
  not_connected,   // the peer had no connection when the envelope reached the strand
  disconnected,    // still queued when the connection ended
  too_large,       // over max_frame_bytes or the queue's byte bound, or no payload
  unknown_peer,    // send() to an index that is not a configured peer
  stopped,         // after stop()
};
inline constexpr std::size_t drop_reason_count = 6;
const char* drop_reason_name(DropReason reason) noexcept;

// Why a connection ended (or never became one). Counted for every connection.
enum class DisconnectReason : std::uint8_t {
  decode_zero_length = 0,  // the FrameError names, so the reasons match frame_error_name()
  decode_oversized,
  decode_not_canonical,
  decode_no_payload,
  tls_pin_refused,       // the peer's certificate key is not pinned (or not the expected pin)
  tls_handshake_failed,  // any other TLS failure, including being refused by the peer
  connect_failed,        // resolve or TCP connect failed
  handshake_timeout,
  protocol_error,  // first message not a Hello
  wrong_chain_id,
  wrong_validator_key,
  duplicate_connection,  // lost the tie-break against another connection to the same peer
  idle_timeout,
  write_timeout,
  connection_lost,  // end of stream or a socket error
  too_many_pending,
  stopped,
  peer_removed,  // set_peers() dropped the peer (or changed its pin, key or address)
};
inline constexpr std::size_t disconnect_reason_count = 18;
const char* disconnect_reason_name(DisconnectReason reason) noexcept;

// A snapshot of the counters (monotonic since start).
struct TransportMetrics {
  std::array<std::uint64_t, message_kind_count> sent_messages{};  // written to a socket, by kind
  std::array<std::uint64_t, message_kind_count> sent_bytes{};     // frame bytes, by kind
  std::array<std::uint64_t, message_kind_count> received_messages{};
  std::array<std::uint64_t, message_kind_count> received_bytes{};
  std::array<std::uint64_t, drop_reason_count> dropped{};
  std::array<std::uint64_t, disconnect_reason_count> disconnects{};
  std::uint64_t connections_established = 0;
  // Socket writes finished; fewer than frames sent when small frames were written together.
  std::uint64_t writes = 0;

  std::uint64_t sent(MessageKind kind) const { return sent_messages[static_cast<std::size_t>(kind)]; }
  std::uint64_t received(MessageKind kind) const { return received_messages[static_cast<std::size_t>(kind)]; }
  std::uint64_t drops(DropReason reason) const { return dropped[static_cast<std::size_t>(reason)]; }
  std::uint64_t disconnect_count(DisconnectReason reason) const {
    return disconnects[static_cast<std::size_t>(reason)];
  }
};

// What the transport tells the application. Called on the transport's strand
// (one at a time, on an io_context thread); never after stop() has returned.
// A callback should be quick: it holds up every peer's traffic while it runs.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // A connection to `peer` passed TLS pinning and the Hello exchange and is now
  // the one used for the peer. Each call is followed, later, by exactly one
  // on_peer_disconnected for the same peer.
  virtual void on_peer_connected(PeerIndex peer, const pb::Hello& hello) = 0;
  // That connection ended; `reason` is human-readable ("connection_lost: end of stream").
  // The transport redials peers that have an address.
  virtual void on_peer_disconnected(PeerIndex peer, const std::string& reason) = 0;
  // Every envelope after the first Hello, including later Hellos (keepalives,
  // carrying the peer's current height).
  virtual void on_message(PeerIndex peer, pb::Envelope envelope) = 0;
};

class Transport {
 public:
  // `handler` must outlive the Transport or the call to stop(), whichever comes first.
  Transport(boost::asio::io_context& io, TransportConfig config, TransportHandler& handler);
  ~Transport();  // stop()s
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Loads the TLS identity, binds the listener and starts dialing. Call once,
  // not concurrently with stop(). Errors: invalid_argument (bad config,
  // unreadable key or certificate, after stop()), io_error (bind).
  Status start();
  // The bound port (after start(); useful with port 0).
  std::uint16_t listen_port() const;
  // Our own pin, from the certificate (after start()).
  Hash32 tls_pin() const;

  // Queue an envelope for one peer or every connected peer. Never blocks: the
  // envelope is encoded on the calling thread and handed to the strand; if the
  // peer is not connected or its queue is full, something is dropped and counted.
  void send(PeerIndex peer, const pb::Envelope& envelope);
  void broadcast(const pb::Envelope& envelope);

  // Test seam (docs/testing.md, "Byzantine mode"): queues `frame` for one
  // peer exactly as given, prefix included, with no encoding and no checks,
  // so a test build can send what a faulty peer sends. Counted as kind none.
  // Only cityledgerd_byzantine calls it; the node never does.
  void send_raw_frame_for_testing(PeerIndex peer, std::string frame);

  // Replaces the peer list (the validator set changed: docs/p2p.md, "Peers
  // from the validator schedule"). A peer whose index is no longer listed, or
  // whose pin, validator key or address changed, is dropped: its connection is
  // closed (peer_removed), its queue emptied, no redial, and its pin no longer
  // accepted. A newly listed peer is dialed at once. Unchanged peers keep their
  // connection. Call after start(); any thread. Errors (nothing changes):
  // invalid_argument for an index or pin listed twice, our own index or pin,
  // an unparsable address.
  Status set_peers(std::vector<PeerConfig> peers);

  // The height announced in our Hellos from now on.
  void set_local_height(std::uint64_t height);

  TransportMetrics metrics() const;
  std::vector<PeerIndex> connected_peers() const;

  // Closes the listener and every connection and cancels every timer. No
  // callback runs after stop() returns. From a thread that is not running the
  // io_context, stop() also waits (bounded) until the sockets are closed;
  // from inside the io_context the closing is posted and happens next.
  // Idempotent.
  void stop();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace cityledger::node::p2p
