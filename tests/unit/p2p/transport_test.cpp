// The TLS transport on loopback: pinning, Hello, framing limits, slow peers,
// reconnects. Every wait is for a condition, with a generous upper bound; no
// assertion depends on how long something took.
#include "node/p2p/transport.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "node/tls_identity.hpp"

namespace cityledger::node::p2p {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto wait_max = 30s;
constexpr const char* chain = "p2p-test";

// Polls `condition` until it holds or wait_max passes.
template <typename F>
bool eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + wait_max;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

struct Identity {
  fs::path key;
  fs::path cert;
  Hash32 pin;
  Hash32 validator_key;
};

// Records what the transport reports; safe to read from the test thread.
class Recorder : public TransportHandler {
 public:
  void on_peer_connected(PeerIndex peer, const pb::Hello& hello) override {
    std::lock_guard lock(mutex_);
    ++connects_[peer];
    hellos_[peer] = hello;
  }
  void on_peer_disconnected(PeerIndex peer, const std::string& reason) override {
    std::lock_guard lock(mutex_);
    ++disconnects_[peer];
    reasons_.push_back(reason);
  }
  void on_message(PeerIndex peer, pb::Envelope envelope) override {
    std::lock_guard lock(mutex_);
    if (envelope.has_hello()) return;  // keepalives
    messages_.emplace_back(peer, std::move(envelope));
  }

  int connects(PeerIndex peer) const {
    std::lock_guard lock(mutex_);
    const auto it = connects_.find(peer);
    return it == connects_.end() ? 0 : it->second;
  }
  int disconnects(PeerIndex peer) const {
    std::lock_guard lock(mutex_);
    const auto it = disconnects_.find(peer);
    return it == disconnects_.end() ? 0 : it->second;
  }
  int total_connects() const {
    std::lock_guard lock(mutex_);
    int total = 0;
    for (const auto& [_, n] : connects_) total += n;
    return total;
  }
  std::size_t message_count() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::vector<std::pair<PeerIndex, pb::Envelope>> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::optional<pb::Hello> hello(PeerIndex peer) const {
    std::lock_guard lock(mutex_);
    const auto it = hellos_.find(peer);
    return it == hellos_.end() ? std::nullopt : std::optional<pb::Hello>(it->second);
  }
  bool has_tx(PeerIndex from, const std::string& body) const {
    std::lock_guard lock(mutex_);
    for (const auto& [peer, envelope] : messages_)
      if (peer == from && envelope.tx().body() == body) return true;
    return false;
  }
  std::vector<std::string> reasons() const {
    std::lock_guard lock(mutex_);
    return reasons_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<PeerIndex, int> connects_;
  std::map<PeerIndex, int> disconnects_;
  std::map<PeerIndex, pb::Hello> hellos_;
  std::vector<std::string> reasons_;
  std::vector<std::pair<PeerIndex, pb::Envelope>> messages_;
};

pb::Envelope tx_envelope(const std::string& body) {
  pb::Envelope envelope;
  envelope.mutable_tx()->set_body(body);
  return envelope;
}

std::string frame_bytes(const pb::Envelope& envelope) {
  auto frame = encode_frame(envelope);
  EXPECT_TRUE(frame.ok());
  return *frame;
}

std::string raw_header(std::uint32_t length) {
  return {static_cast<char>(length >> 24), static_cast<char>(length >> 16), static_cast<char>(length >> 8),
          static_cast<char>(length)};
}

// A bare TLS client under the test's control: sends what it is told and reads
// only when asked, so it can misbehave in every way a hostile peer might.
class RawPeer {
 public:
  RawPeer(const Identity& identity, std::uint16_t port) : context_(ssl::context::tls), port_(port) {
    SSL_CTX_set_min_proto_version(context_.native_handle(), TLS1_3_VERSION);
    context_.use_certificate_file(identity.cert.string(), ssl::context::pem);
    context_.use_private_key_file(identity.key.string(), ssl::context::pem);
    context_.set_verify_mode(ssl::verify_none);
    // After the certificate is loaded: an SSL object copies it from the context when created.
    stream_.emplace(io_, context_);
  }

  // TCP connect and TLS handshake; false on any error.
  bool connect() {
    error_code_ = {};
    bool done = false;
    stream_->lowest_layer().async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), [&](const boost::system::error_code& ec) {
          if (ec) {
            error_code_ = ec;
            done = true;
            return;
          }
          stream_->async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& e) {
            error_code_ = e;
            done = true;
          });
        });
    run_until(done);
    return done && !error_code_;
  }

  bool write(const std::string& bytes) {
    bool done = false;
    asio::async_write(*stream_, asio::buffer(bytes), [&](const boost::system::error_code& ec, std::size_t) {
      error_code_ = ec;
      done = true;
    });
    run_until(done);
    return done && !error_code_;
  }

  // Reads (and discards) until the other side ends the connection; true if it did.
  bool read_until_closed() {
    bool closed = false;
    std::function<void()> read_more = [&] {
      stream_->async_read_some(asio::buffer(buffer_), [&](const boost::system::error_code& ec, std::size_t) {
        if (ec) {
          closed = true;
          return;
        }
        read_more();
      });
    };
    read_more();
    run_until(closed);
    return closed;
  }

 private:
  void run_until(bool& flag) {
    const auto deadline = std::chrono::steady_clock::now() + wait_max;
    io_.restart();
    while (!flag && std::chrono::steady_clock::now() < deadline) io_.run_for(50ms);
  }

  asio::io_context io_;
  ssl::context context_;
  std::uint16_t port_ = 0;
  std::optional<ssl::stream<tcp::socket>> stream_;
  boost::system::error_code error_code_;
  std::array<char, 65536> buffer_{};
};

// Ports nobody listens on, all different: the kernel may hand out the same
// ephemeral port twice in a row once the first socket is closed, so all of
// them are held open until every one is chosen.
std::vector<std::uint16_t> free_ports(std::size_t count) {
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::acceptor>> held;
  std::vector<std::uint16_t> ports;
  for (std::size_t i = 0; i < count; ++i) {
    held.push_back(
        std::make_unique<tcp::acceptor>(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    ports.push_back(held.back()->local_endpoint().port());
  }
  return ports;
}

// Identities, a shared io_context run by two threads, and the transports on it.
class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cityledger-p2p-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io_.run(); });
  }

  void TearDown() override {
    for (auto& transport : transports_) {
      if (transport) transport->stop();
    }
    transports_.clear();
    // Every timer and socket of a stopped transport is gone, so run() returns
    // once the guard is released: a hang here is a leaked operation.
    guard_.reset();
    for (auto& thread : threads_) thread.join();
    fs::remove_all(dir_);
  }

  Identity identity(const std::string& name) {
    Identity id;
    id.key = dir_ / (name + ".key");
    id.cert = dir_ / (name + ".crt");
    auto pin = generate_tls_identity(id.key, id.cert, name);
    EXPECT_TRUE(pin.ok()) << pin.status().to_string();
    id.pin = *pin;
    id.validator_key.bytes.fill(static_cast<std::uint8_t>(name.size() + name.back()));
    return id;
  }

  // A config for validator `self` of `ids`, with each other validator's
  // address at `ports` (none when the port is 0). Unless `dial_both`, only
  // higher indexes get an address, so only the lower side dials: tests that
  // are not about the tie-break then have no duplicate connections, whose
  // closing may lose a message in flight.
  TransportConfig config(std::size_t self, const std::vector<Identity>& ids,
                         const std::vector<std::uint16_t>& ports, bool dial_both = false) {
    TransportConfig c;
    c.chain_id = chain;
    c.self_index = static_cast<PeerIndex>(self);
    c.validator_key = ids[self].validator_key;
    c.tls_key_file = ids[self].key;
    c.tls_cert_file = ids[self].cert;
    c.listen_address = "127.0.0.1:" + std::to_string(ports[self]);
    c.reconnect_delay_max = 500ms;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i == self) continue;
      PeerConfig peer;
      peer.index = static_cast<PeerIndex>(i);
      peer.name = "node" + std::to_string(i);
      const bool dial = ports[i] != 0 && (dial_both || i > self);
      peer.address = dial ? "127.0.0.1:" + std::to_string(ports[i]) : "";
      peer.tls_pin = ids[i].pin;
      peer.validator_key = ids[i].validator_key;
      c.peers.push_back(peer);
    }
    return c;
  }

  Transport& add(TransportConfig c, Recorder& recorder) {
    transports_.push_back(std::make_unique<Transport>(io_, std::move(c), recorder));
    Transport& transport = *transports_.back();
    const Status status = transport.start();
    EXPECT_TRUE(status.ok()) << status.to_string();
    return transport;
  }

  // Sends until it arrives: a message in flight on a connection that loses the
  // tie-break is lost, like any message on a connection that breaks.
  static bool deliver(Transport& from, PeerIndex to, const Recorder& receiver, PeerIndex from_index,
                      const std::string& body) {
    auto last = std::chrono::steady_clock::now() - 1s;
    return eventually([&] {
      if (std::chrono::steady_clock::now() - last > 200ms) {
        from.send(to, tx_envelope(body));
        last = std::chrono::steady_clock::now();
      }
      return receiver.has_tx(from_index, body);
    });
  }

  static bool connected_to(const Transport& transport, std::size_t count) {
    return transport.connected_peers().size() == count;
  }

  // Handlers live in the fixture: they must outlive the transports, which are
  // stopped in TearDown, after the test body's locals are gone.
  template <typename T = Recorder>
  T& recorder() {
    recorders_.push_back(std::make_unique<T>());
    return static_cast<T&>(*recorders_.back());
  }

  fs::path dir_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<Transport>> transports_;
};

TEST_F(TransportTest, StartRefusesABadConfiguration) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  Recorder& r = recorder();
  auto refused = [&](TransportConfig c, const std::string& why) {
    Transport transport(io_, std::move(c), r);
    const Status status = transport.start();
    EXPECT_FALSE(status.ok()) << why;
    transport.stop();
  };
  TransportConfig c = config(0, ids, {0, 0});
  TransportConfig twice = c;
  twice.peers.push_back(twice.peers[0]);
  refused(twice, "peer listed twice");
  TransportConfig self = c;
  self.peers[0].index = 0;
  refused(self, "ourselves as a peer");
  TransportConfig own_key = c;
  own_key.peers[0].tls_pin = ids[0].pin;
  refused(own_key, "a peer pinned to our own key");
  TransportConfig idle = c;
  idle.idle_timeout = idle.keepalive_interval;
  refused(idle, "idle timeout shorter than two keepalives");
  TransportConfig no_cert = c;
  no_cert.tls_cert_file = dir_ / "missing.crt";
  refused(no_cert, "missing certificate");
  TransportConfig wrong_key = c;
  wrong_key.tls_key_file = ids[1].key;
  refused(wrong_key, "key of another certificate");
  TransportConfig bad_address = c;
  bad_address.peers[0].address = "localhost";
  refused(bad_address, "address without a port");
  TransportConfig no_chain = c;
  no_chain.chain_id.clear();
  refused(no_chain, "empty chain id");
  EXPECT_EQ(r.total_connects(), 0);
}

TEST_F(TransportTest, TwoPeersConnectWithPinnedKeysAndExchangeEnvelopes) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const std::vector<std::uint16_t> ports = free_ports(2);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  Transport& t0 = add(config(0, ids, ports, true), r0);
  t0.set_local_height(17);
  Transport& t1 = add(config(1, ids, ports, true), r1);
  EXPECT_EQ(t0.listen_port(), ports[0]);
  EXPECT_EQ(t0.tls_pin(), ids[0].pin);

  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 1); }));
  ASSERT_TRUE(r1.hello(0).has_value());
  EXPECT_EQ(r1.hello(0)->chain_id(), chain);
  EXPECT_EQ(r1.hello(0)->height(), 17u);
  EXPECT_EQ(r1.hello(0)->validator(), ids[0].validator_key.to_string());

  ASSERT_TRUE(deliver(t0, 1, r1, 0, "from 0"));
  ASSERT_TRUE(deliver(t1, 0, r0, 1, "from 1"));

  // Both sides dialed: the tie-break leaves one connection, and the
  // application saw every connect matched by a disconnect except the live one.
  ASSERT_TRUE(eventually([&] { return r0.connects(1) == r0.disconnects(1) + 1; }));
  EXPECT_EQ(r1.connects(0), r1.disconnects(0) + 1);
  const auto m0 = t0.metrics();
  EXPECT_GE(m0.sent(MessageKind::tx), 1u);
  EXPECT_GE(m0.received(MessageKind::tx), 1u);
  EXPECT_GE(m0.sent(MessageKind::hello), 1u);

  t0.send(9, tx_envelope("nobody"));
  ASSERT_TRUE(eventually([&] { return t0.metrics().drops(DropReason::unknown_peer) == 1; }));
}

// Frames queued faster than the socket takes them are written several at a
// time (one buffer per write): each still arrives whole, once, in order, and
// is counted once.
TEST_F(TransportTest, ManySmallFramesArriveInOrderWhenWrittenTogether) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const std::vector<std::uint16_t> ports = free_ports(2);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  Transport& t0 = add(config(0, ids, ports), r0);
  Transport& t1 = add(config(1, ids, ports), r1);
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 1); }));
  constexpr int count = 3000;
  const std::string filler(300, 'x');  // 3000 x ~310 bytes: many coalesced writes
  for (int i = 0; i < count; ++i) t0.send(1, tx_envelope(std::to_string(i) + filler));
  ASSERT_TRUE(eventually([&] { return r1.message_count() == count; }));
  const auto messages = r1.messages();
  for (int i = 0; i < count; ++i) ASSERT_EQ(messages[i].second.tx().body(), std::to_string(i) + filler) << i;
  EXPECT_EQ(t0.metrics().sent(MessageKind::tx), static_cast<std::uint64_t>(count));
  EXPECT_EQ(t1.metrics().received(MessageKind::tx), static_cast<std::uint64_t>(count));
  EXPECT_EQ(t0.metrics().drops(DropReason::queue_full), 0u);
  // The sends were queued faster than one write finishes: writes carried several frames.
  EXPECT_LT(t0.metrics().writes, static_cast<std::uint64_t>(count));
}

TEST_F(TransportTest, FourPeersBroadcastReachesAll) {
  std::vector<Identity> ids;
  const std::vector<std::uint16_t> ports = free_ports(4);
  for (int i = 0; i < 4; ++i) ids.push_back(identity("node" + std::to_string(i)));
  std::vector<Recorder*> recorders;
  std::vector<Transport*> nodes;
  for (std::size_t i = 0; i < 4; ++i) {
    recorders.push_back(&recorder());
    nodes.push_back(&add(config(i, ids, ports, true), *recorders.back()));
  }
  ASSERT_TRUE(eventually([&] {
    for (auto* node : nodes)
      if (!connected_to(*node, 3)) return false;
    return true;
  }));
  // Rebroadcast until everything arrived (see deliver()).
  auto last = std::chrono::steady_clock::now() - 1s;
  ASSERT_TRUE(eventually([&] {
    if (std::chrono::steady_clock::now() - last > 200ms) {
      for (std::size_t i = 0; i < 4; ++i)
        nodes[i]->broadcast(tx_envelope("broadcast by " + std::to_string(i)));
      last = std::chrono::steady_clock::now();
    }
    for (std::size_t i = 0; i < 4; ++i) {
      for (std::size_t j = 0; j < 4; ++j) {
        if (i != j && !recorders[i]->has_tx(static_cast<PeerIndex>(j), "broadcast by " + std::to_string(j)))
          return false;
      }
    }
    return true;
  }));
  for (std::size_t i = 0; i < 4; ++i) {
    for (PeerIndex peer = 0; peer < 4; ++peer) {
      if (peer == i) continue;
      EXPECT_TRUE(
          eventually([&] { return recorders[i]->connects(peer) == recorders[i]->disconnects(peer) + 1; }));
    }
    std::set<std::string> bodies;
    for (const auto& [peer, envelope] : recorders[i]->messages()) {
      EXPECT_NE(peer, i);
      EXPECT_EQ(envelope.tx().body(), "broadcast by " + std::to_string(peer));
      bodies.insert(envelope.tx().body());
    }
    EXPECT_EQ(bodies.size(), 3u);
    EXPECT_EQ(nodes[i]->metrics().drops(DropReason::queue_full), 0u);
  }
}

TEST_F(TransportTest, SimultaneousDialsSettleOnOneConnection) {
  // Both sides dial at once; whichever connections come up, the tie-break
  // (keep the one dialed by the lower index) must leave exactly one, on both
  // sides, with every on_peer_connected but the last matched by a disconnect.
  std::uint64_t duplicates = 0;
  for (int iteration = 0; iteration < 10; ++iteration) {
    const std::vector<Identity> ids = {identity("a" + std::to_string(iteration)),
                                       identity("b" + std::to_string(iteration))};
    const std::vector<std::uint16_t> ports = free_ports(2);
    Recorder& r0 = recorder();
    Recorder& r1 = recorder();
    TransportConfig c0 = config(0, ids, ports, true);
    TransportConfig c1 = config(1, ids, ports, true);
    // A tiny head start for the lower index, so the two dials really race.
    c0.reconnect_delay_initial = c1.reconnect_delay_initial = 1ms;
    Transport& t0 = add(c0, r0);
    Transport& t1 = add(c1, r1);
    ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 1); }));
    ASSERT_TRUE(deliver(t0, 1, r1, 0, "ping"));
    ASSERT_TRUE(deliver(t1, 0, r0, 1, "pong"));
    ASSERT_TRUE(eventually(
        [&] { return r0.connects(1) == r0.disconnects(1) + 1 && r1.connects(0) == r1.disconnects(0) + 1; }));
    duplicates += t0.metrics().disconnect_count(DisconnectReason::duplicate_connection) +
                  t1.metrics().disconnect_count(DisconnectReason::duplicate_connection);
    t0.stop();
    t1.stop();
  }
  RecordProperty("duplicate_connections_closed", static_cast<int>(duplicates));
}

TEST_F(TransportTest, ANewConnectionFromTheSameSideReplacesTheOld) {
  // What a restarted peer looks like before the old connection times out.
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  Recorder& r0 = recorder();
  Transport& t0 = add(config(0, ids, {0, 0}), r0);
  pb::Envelope hello;
  hello.mutable_hello()->set_chain_id(chain);
  hello.mutable_hello()->set_validator(ids[1].validator_key.to_string());

  RawPeer first(ids[1], t0.listen_port());
  ASSERT_TRUE(first.connect());
  ASSERT_TRUE(first.write(frame_bytes(hello)));
  ASSERT_TRUE(eventually([&] { return r0.connects(1) == 1; }));

  RawPeer second(ids[1], t0.listen_port());
  ASSERT_TRUE(second.connect());
  ASSERT_TRUE(second.write(frame_bytes(hello)));
  EXPECT_TRUE(first.read_until_closed());
  ASSERT_TRUE(eventually([&] { return r0.connects(1) == 2 && r0.disconnects(1) == 1; }));
  EXPECT_TRUE(connected_to(t0, 1));
  EXPECT_EQ(t0.metrics().disconnect_count(DisconnectReason::duplicate_connection), 1u);
  ASSERT_TRUE(second.write(frame_bytes(tx_envelope("over the new connection"))));
  ASSERT_TRUE(eventually([&] { return r0.message_count() == 1; }));
}

TEST_F(TransportTest, RefusesAnInboundPeerWhoseKeyIsNotPinned) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const Identity stranger = identity("stranger");
  Recorder& r0 = recorder();
  Transport& t0 = add(config(0, ids, {0, 0}), r0);

  RawPeer raw(stranger, t0.listen_port());
  (void)raw.connect();  // in TLS 1.3 the client may finish before the server refuses it
  (void)raw.write(frame_bytes([] {
    pb::Envelope hello;
    hello.mutable_hello()->set_chain_id(chain);
    return hello;
  }()));
  EXPECT_TRUE(raw.read_until_closed());
  ASSERT_TRUE(
      eventually([&] { return t0.metrics().disconnect_count(DisconnectReason::tls_pin_refused) == 1; }));
  EXPECT_EQ(r0.total_connects(), 0);
  EXPECT_TRUE(t0.connected_peers().empty());
}

TEST_F(TransportTest, RefusesToDialAPeerPresentingAnotherKey) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const Identity impostor = identity("impostor");
  const std::vector<std::uint16_t> ports = free_ports(2);
  Recorder& r0 = recorder();
  Recorder& r_impostor = recorder();
  // The impostor listens where node 1 should be and would accept node 0.
  std::vector<Identity> impostor_view = {ids[0], impostor};
  Transport& bad = add(config(1, impostor_view, {0, ports[1]}), r_impostor);
  Transport& t0 = add(config(0, ids, {ports[0], ports[1]}), r0);
  ASSERT_TRUE(
      eventually([&] { return t0.metrics().disconnect_count(DisconnectReason::tls_pin_refused) >= 2; }));
  EXPECT_EQ(r0.total_connects(), 0);
  EXPECT_EQ(r_impostor.total_connects(), 0);
  EXPECT_GE(bad.metrics().disconnect_count(DisconnectReason::tls_handshake_failed), 1u);
}

TEST_F(TransportTest, DisconnectsAPeerOnAnotherChain) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const std::vector<std::uint16_t> ports = free_ports(2);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  Transport& t0 = add(config(0, ids, ports), r0);
  TransportConfig other = config(1, ids, ports);
  other.chain_id = "another-chain";
  Transport& t1 = add(other, r1);
  ASSERT_TRUE(eventually([&] {
    return t0.metrics().disconnect_count(DisconnectReason::wrong_chain_id) >= 2 &&
           t1.metrics().disconnect_count(DisconnectReason::wrong_chain_id) >= 2;
  }));
  EXPECT_EQ(r0.total_connects(), 0);
  EXPECT_EQ(r1.total_connects(), 0);
}

TEST_F(TransportTest, DisconnectsAPeerWhoseHelloNamesAnotherValidatorKey) {
  std::vector<Identity> ids = {identity("node0"), identity("node1")};
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  Transport& t0 = add(config(0, ids, {0, 0}), r0);
  ids[0].validator_key.bytes.fill(0x55);  // node 1 expects a key node 0 does not have
  add(config(1, ids, {t0.listen_port(), 0}, true), r1);
  ASSERT_TRUE(eventually([&] {
    return transports_[1]->metrics().disconnect_count(DisconnectReason::wrong_validator_key) >= 1;
  }));
  EXPECT_EQ(r1.total_connects(), 0);
}

class MisbehavingPeerTest : public TransportTest {
 protected:
  // node 0 is a real transport; node 1 is a RawPeer with a pinned key.
  void run(const std::string& after_hello, DisconnectReason expected) {
    const std::vector<Identity> ids = {identity("node0"), identity("node1")};
    Recorder& r0 = recorder();
    TransportConfig c = config(0, ids, {0, 0});
    c.max_frame_bytes = 1 << 20;
    Transport& t0 = add(c, r0);
    RawPeer raw(ids[1], t0.listen_port());
    ASSERT_TRUE(raw.connect());
    pb::Envelope hello;
    hello.mutable_hello()->set_chain_id(chain);
    hello.mutable_hello()->set_validator(ids[1].validator_key.to_string());
    std::string bytes = after_hello;
    if (expected != DisconnectReason::protocol_error) bytes = frame_bytes(hello) + after_hello;
    ASSERT_TRUE(raw.write(bytes));
    EXPECT_TRUE(raw.read_until_closed());
    ASSERT_TRUE(eventually([&] { return t0.metrics().disconnect_count(expected) == 1; }));
    if (expected != DisconnectReason::protocol_error) {
      ASSERT_TRUE(eventually([&] { return r0.disconnects(1) == 1; }));
      EXPECT_EQ(r0.connects(1), 1);
      const auto reasons = r0.reasons();
      ASSERT_EQ(reasons.size(), 1u);
      EXPECT_EQ(reasons[0].rfind(disconnect_reason_name(expected), 0), 0u) << reasons[0];
    } else {
      EXPECT_EQ(r0.total_connects(), 0);
    }
  }
};

TEST_F(MisbehavingPeerTest, OversizedFrameDisconnects) {
  run(raw_header((1 << 20) + 1), DisconnectReason::decode_oversized);
}

TEST_F(MisbehavingPeerTest, GarbageFrameDisconnects) {
  run(raw_header(6) + std::string("\xff\xff\xff\xff\xff\xff", 6), DisconnectReason::decode_not_canonical);
}

TEST_F(MisbehavingPeerTest, ZeroLengthFrameDisconnects) {
  run(raw_header(0), DisconnectReason::decode_zero_length);
}

TEST_F(MisbehavingPeerTest, FirstMessageMustBeHello) {
  run(frame_bytes(tx_envelope("too early")), DisconnectReason::protocol_error);
}

TEST_F(TransportTest, PeerThatStopsReadingDoesNotStallTheOthers) {
  // node 0 and node 1 are transports; node 2 is a RawPeer that says Hello and
  // then never reads another byte.
  const std::vector<Identity> ids = {identity("node0"), identity("node1"), identity("node2")};
  std::vector<std::uint16_t> ports = free_ports(2);
  ports.push_back(0);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  TransportConfig c0 = config(0, ids, ports);
  c0.send_queue_max_messages = 32;
  c0.send_queue_max_bytes = 4u << 20;
  Transport& t0 = add(c0, r0);
  Transport& t1 = add(config(1, ids, ports), r1);
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 1); }));

  RawPeer stalled(ids[2], t0.listen_port());
  ASSERT_TRUE(stalled.connect());
  pb::Envelope hello;
  hello.mutable_hello()->set_chain_id(chain);
  hello.mutable_hello()->set_validator(ids[2].validator_key.to_string());
  ASSERT_TRUE(stalled.write(frame_bytes(hello)));
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 2); }));

  // 160 x 256 KiB = 40 MiB to the stalled peer: far more than the socket
  // buffers hold. Node 1 must still get every message.
  const std::string body(256u << 10, 'p');
  constexpr int rounds = 40;
  constexpr int per_round = 4;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < per_round; ++i) t0.broadcast(tx_envelope(body));
    const std::size_t expected = static_cast<std::size_t>((round + 1) * per_round);
    ASSERT_TRUE(eventually([&] { return r1.message_count() == expected; })) << "round " << round;
  }
  const auto metrics = t0.metrics();
  EXPECT_GT(metrics.drops(DropReason::queue_full), 0u);
  EXPECT_EQ(r1.message_count(), static_cast<std::size_t>(rounds * per_round));
  EXPECT_TRUE(connected_to(t0, 2));  // still connected: only its messages were dropped
}

TEST_F(TransportTest, KeepalivesHoldAnIdleLinkAndASilentPeerTimesOut) {
  // node 0 and node 1 exchange nothing but keepalive Hellos; node 2 (raw)
  // says Hello once and then nothing.
  const std::vector<Identity> ids = {identity("node0"), identity("node1"), identity("node2")};
  std::vector<std::uint16_t> ports = free_ports(2);
  ports.push_back(0);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  TransportConfig c0 = config(0, ids, ports);
  TransportConfig c1 = config(1, ids, ports);
  for (TransportConfig* c : {&c0, &c1}) {
    c->keepalive_interval = 50ms;
    c->idle_timeout = 1000ms;
  }
  Transport& t0 = add(c0, r0);
  Transport& t1 = add(c1, r1);
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 1); }));

  RawPeer silent(ids[2], t0.listen_port());
  ASSERT_TRUE(silent.connect());
  pb::Envelope hello;
  hello.mutable_hello()->set_chain_id(chain);
  hello.mutable_hello()->set_validator(ids[2].validator_key.to_string());
  ASSERT_TRUE(silent.write(frame_bytes(hello)));
  ASSERT_TRUE(eventually([&] { return r0.connects(2) == 1; }));
  ASSERT_TRUE(eventually([&] { return r0.disconnects(2) == 1; }));
  EXPECT_EQ(t0.metrics().disconnect_count(DisconnectReason::idle_timeout), 1u);
  EXPECT_EQ(r0.reasons().back().rfind("idle_timeout", 0), 0u) << r0.reasons().back();

  // Meanwhile the idle but healthy link carried many keepalives and survived.
  ASSERT_TRUE(eventually([&] { return t1.metrics().received(MessageKind::hello) >= 20; }));
  EXPECT_EQ(r0.disconnects(1), r0.connects(1) - 1);
  EXPECT_TRUE(connected_to(t1, 1));
  EXPECT_EQ(t1.metrics().disconnect_count(DisconnectReason::idle_timeout), 0u);
}

TEST_F(TransportTest, AWriteThatMakesNoProgressDisconnects) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  Recorder& r0 = recorder();
  TransportConfig c0 = config(0, ids, {0, 0});
  c0.keepalive_interval = 50ms;
  c0.idle_timeout = 0ms;  // the stalled peer is silent too: test the write side alone
  c0.write_timeout = 300ms;
  Transport& t0 = add(c0, r0);
  RawPeer stalled(ids[1], t0.listen_port());
  ASSERT_TRUE(stalled.connect());
  pb::Envelope hello;
  hello.mutable_hello()->set_chain_id(chain);
  hello.mutable_hello()->set_validator(ids[1].validator_key.to_string());
  ASSERT_TRUE(stalled.write(frame_bytes(hello)));
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1); }));
  const std::string body(1u << 20, 'w');
  // Keep offering data until the socket buffers are full and a write stalls.
  ASSERT_TRUE(eventually([&] {
    t0.send(1, tx_envelope(body));
    return t0.metrics().disconnect_count(DisconnectReason::write_timeout) == 1;
  }));
  ASSERT_TRUE(eventually([&] { return r0.disconnects(1) == 1; }));
  EXPECT_GT(t0.metrics().drops(DropReason::disconnected) + t0.metrics().drops(DropReason::queue_full) +
                t0.metrics().drops(DropReason::not_connected),
            0u);
}

TEST_F(TransportTest, ReconnectsAfterThePeerRestarts) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const std::vector<std::uint16_t> ports = free_ports(2);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  Transport& t0 = add(config(0, ids, ports), r0);
  add(config(1, ids, ports), r1);
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1); }));

  transports_[1]->stop();
  transports_[1].reset();
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 0) && r0.disconnects(1) == r0.connects(1); }));
  const int connects_before = r0.connects(1);

  Recorder& r1_again = recorder();
  Transport& t1_again = add(config(1, ids, ports), r1_again);
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1_again, 1); }));
  EXPECT_GT(r0.connects(1), connects_before);
  t0.send(1, tx_envelope("welcome back"));
  ASSERT_TRUE(eventually([&] { return r1_again.message_count() == 1; }));
  EXPECT_EQ(r1_again.messages()[0].second.tx().body(), "welcome back");
}

// What a validator-set change does to a node's peers (docs/p2p.md, "Peers
// from the validator schedule"): node0 starts knowing only node1, learns
// node2 (which it dials), drops node1 (closed, no redial, its pin refused
// from then on), and re-learns node2 under another index.
TEST_F(TransportTest, SetPeersAddsDropsAndReplacesPeers) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1"), identity("node2")};
  const std::vector<std::uint16_t> ports = free_ports(3);
  Recorder& r0 = recorder();
  Recorder& r1 = recorder();
  Recorder& r2 = recorder();
  auto peer_of = [&](std::size_t i, PeerIndex index) {
    PeerConfig peer;
    peer.index = index;
    peer.name = "node" + std::to_string(i);
    peer.address = "127.0.0.1:" + std::to_string(ports[i]);
    peer.tls_pin = ids[i].pin;
    peer.validator_key = ids[i].validator_key;
    return peer;
  };
  TransportConfig c0 = config(0, ids, ports, true);
  c0.peers = {peer_of(1, 1)};
  Transport& t0 = add(c0, r0);
  TransportConfig c1 = config(1, ids, ports, true);
  c1.peers = {peer_of(0, 0)};
  Transport& t1 = add(c1, r1);
  TransportConfig c2 = config(2, ids, ports, true);
  c2.peers = {peer_of(0, 0)};
  Transport& t2 = add(c2, r2);
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 1); }));
  // node2 already knows node0, but node0 refuses its unpinned key.
  ASSERT_TRUE(
      eventually([&] { return t0.metrics().disconnect_count(DisconnectReason::tls_pin_refused) >= 1; }));
  EXPECT_EQ(r0.connects(2), 0);

  // Refused lists change nothing.
  EXPECT_EQ(t0.set_peers({peer_of(1, 1), peer_of(1, 2)}).code(), ErrorCode::invalid_argument);  // pin twice
  EXPECT_EQ(t0.set_peers({peer_of(1, 1), peer_of(2, 1)}).code(), ErrorCode::invalid_argument);  // index twice
  EXPECT_EQ(t0.set_peers({peer_of(0, 5)}).code(), ErrorCode::invalid_argument);                 // our own pin
  EXPECT_EQ(t0.set_peers({peer_of(1, 0)}).code(), ErrorCode::invalid_argument);  // our own index

  ASSERT_TRUE(t0.set_peers({peer_of(1, 1), peer_of(2, 2)}).ok());
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 2) && connected_to(t2, 1); }));
  ASSERT_TRUE(deliver(t0, 2, r2, 0, "welcome"));
  ASSERT_TRUE(deliver(t2, 0, r0, 2, "thanks"));

  ASSERT_TRUE(t0.set_peers({peer_of(2, 2)}).ok());
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 1) && connected_to(t1, 0); }));
  EXPECT_GE(t0.metrics().disconnect_count(DisconnectReason::peer_removed), 1u);
  ASSERT_TRUE(eventually([&] { return r0.disconnects(1) == r0.connects(1); }));
  EXPECT_EQ(t0.connected_peers(), std::vector<PeerIndex>{2});
  // node1 keeps dialing node0 and is refused at the TLS pin from now on.
  const auto refused = t0.metrics().disconnect_count(DisconnectReason::tls_pin_refused);
  ASSERT_TRUE(
      eventually([&] { return t0.metrics().disconnect_count(DisconnectReason::tls_pin_refused) > refused; }));
  EXPECT_TRUE(connected_to(t1, 0));
  t0.send(1, tx_envelope("to a dropped peer"));
  ASSERT_TRUE(eventually([&] { return t0.metrics().drops(DropReason::unknown_peer) == 1; }));

  // The same node under a new index (its entry changed): reconnected as that index.
  const int connects_as_2 = r0.connects(2);
  ASSERT_TRUE(t0.set_peers({peer_of(2, 7)}).ok());
  ASSERT_TRUE(eventually([&] { return r0.connects(7) == 1 && r0.disconnects(2) == connects_as_2; }));
  ASSERT_TRUE(eventually([&] { return t0.connected_peers() == std::vector<PeerIndex>{7}; }));
  ASSERT_TRUE(deliver(t0, 7, r2, 0, "under a new index"));
}

TEST_F(TransportTest, NoCallbacksAfterStopEvenFromInsideACallback) {
  const std::vector<Identity> ids = {identity("node0"), identity("node1")};
  const std::vector<std::uint16_t> ports = free_ports(2);

  // Stops its own transport from inside on_message, then counts any later callback.
  class Stopper : public Recorder {
   public:
    Transport* self = nullptr;
    std::atomic<int> after_stop{0};
    std::atomic<bool> stopped{false};
    void on_message(PeerIndex peer, pb::Envelope envelope) override {
      if (stopped) ++after_stop;
      if (envelope.has_tx() && !stopped) {
        self->stop();
        stopped = true;
      }
      Recorder::on_message(peer, std::move(envelope));
    }
    void on_peer_disconnected(PeerIndex peer, const std::string& reason) override {
      if (stopped) ++after_stop;
      Recorder::on_peer_disconnected(peer, reason);
    }
  };
  Stopper& r0 = recorder<Stopper>();
  Recorder& r1 = recorder();
  Transport& t0 = add(config(0, ids, ports), r0);
  r0.self = &t0;
  Transport& t1 = add(config(1, ids, ports), r1);
  ASSERT_TRUE(eventually([&] { return connected_to(t1, 1); }));
  for (int i = 0; i < 20; ++i) t1.send(0, tx_envelope("stop " + std::to_string(i)));
  ASSERT_TRUE(eventually([&] { return r0.stopped.load(); }));
  ASSERT_TRUE(eventually([&] { return connected_to(t0, 0); }));
  EXPECT_EQ(r0.after_stop.load(), 0);
  t0.send(1, tx_envelope("after stop"));
  EXPECT_GE(t0.metrics().drops(DropReason::stopped), 1u);
}

}  // namespace
}  // namespace cityledger::node::p2p
