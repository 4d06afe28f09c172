// cityledgerd_byzantine: a validator that misbehaves on purpose, for the
// cluster tests (docs/testing.md, "Byzantine mode"). Built only with the
// tests, never installed; the shipped cityledgerd has none of this code.
//
//   cityledgerd_byzantine start --home DIR --byzantine equivocate|invalid-blocks|garbage-frames|all
//
// It is an ordinary node (the same cl_node library) with a hook on what the
// consensus core broadcasts (Node::set_outbound_hook) and a timer that writes
// raw frames (Transport::send_raw_frame_for_testing):
//
// - equivocate: a proposal goes out as two different blocks (the real one and
//   one with a later time), each to a different subset of peers, one peer
//   getting both; every vote is accompanied by a second vote for another block
//   id (the other block, when it equivocated on the proposal), signed here
//   with the validator key, around the double-sign guard, and
//   the two go to overlapping subsets of peers (so one peer sees both); once
//   per height, a burst of vote pairs for the next 16 rounds to every peer;
// - invalid-blocks: a new block is proposed broken, in turn: wrong log root,
//   wrong previous block hash, a transaction with a bad signature (when the
//   block has none, a wrong log root); the proposal is re-signed so only the
//   block's content is wrong;
// - garbage-frames: every second one peer gets, in turn, random bytes in a
//   frame, an oversized length prefix, a zero length prefix, an envelope with
//   an unknown field and one with a non-minimal varint;
// - all: the three at once; proposals alternate by height between
//   equivocation and invalid blocks, one proposal (height, round) each.
// A proposal the core retransmits is resent as forged the first time.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <tuple>

#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "node/logging.hpp"
#include "node/node.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

using namespace cityledger;

namespace {

struct Modes {
  bool equivocate = false;
  bool invalid_blocks = false;
  bool garbage_frames = false;
};

Result<Modes> parse_modes(const std::string& text) {
  Modes m;
  if (text == "equivocate") {
    m.equivocate = true;
  } else if (text == "invalid-blocks") {
    m.invalid_blocks = true;
  } else if (text == "garbage-frames") {
    m.garbage_frames = true;
  } else if (text == "all") {
    m = Modes{true, true, true};
  } else {
    return error(ErrorCode::invalid_argument, "--byzantine: unknown mode '" + text + "'");
  }
  return m;
}

std::string frame_of(std::string_view body, std::uint32_t length) {
  std::string frame;
  for (int shift = 24; shift >= 0; shift -= 8) frame.push_back(static_cast<char>((length >> shift) & 0xff));
  frame.append(body);
  return frame;
}

class Byzantine {
 public:
  Byzantine(node::Node& node, Modes modes, crypto::SecretKey key)
      : node_(node),
        modes_(modes),
        key_(std::move(key)),
        chain_id_(node.genesis().chain_id),
        self_(node.self_index().value()) {
    for (std::uint32_t i = 0; i < node.genesis().validators.size(); ++i) {
      if (node.self_index() != i) peers_.push_back(i);
    }
  }

  // Node::OutboundHook: true when the envelope was handled here.
  bool on_outbound(const pb::Envelope& envelope) {
    if (peers_.size() < 2) return false;
    // Only our own messages: the core also relays other validators' votes
    // (the last commit's precommits, polkas), which go out untouched.
    if (envelope.has_proposal() && envelope.proposal().proposal().proposer_index() == self_ &&
        (modes_.invalid_blocks || modes_.equivocate)) {
      // The core retransmits its proposal on every timeout: send the same
      // forgeries again rather than new ones.
      const auto& p = envelope.proposal().proposal();
      auto key = std::make_tuple(p.height(), p.round(), p.block_id());
      if (key != last_proposal_key_) {
        last_proposal_key_ = std::move(key);
        const bool invalid = modes_.invalid_blocks && (!modes_.equivocate || proposals_ % 2 == 1);
        ++proposals_;
        last_proposal_sends_ =
            invalid ? invalid_block(envelope.proposal()) : equivocating_proposal(envelope.proposal());
      }
      for (const auto& [peer, e] : last_proposal_sends_) node_.transport().send(peer, e);
      return true;
    }
    if (envelope.has_vote() && envelope.vote().validator_index() == self_ && modes_.equivocate) {
      return equivocate_vote(envelope.vote());
    }
    return false;
  }

  void start_garbage() {
    if (!modes_.garbage_frames) return;
    timer_ = std::make_unique<boost::asio::steady_timer>(node_.io());
    arm();
  }

 private:
  // The peers in an order that turns with every message, so each honest
  // validator is in turn the one that gets both versions.
  std::vector<node::p2p::PeerIndex> rotated() {
    std::vector<node::p2p::PeerIndex> order = peers_;
    std::rotate(order.begin(), order.begin() + static_cast<long>(turn_++ % order.size()), order.end());
    return order;
  }

  pb::Envelope resigned(pb::ProposalMessage message) {
    message.mutable_proposal()->set_block_id(proto::to_field(proto::block_hash(message.block().header())));
    proto::sign_proposal(*message.mutable_proposal(), chain_id_, key_);
    pb::Envelope e;
    *e.mutable_proposal() = std::move(message);
    return e;
  }

  using Sends = std::vector<std::pair<node::p2p::PeerIndex, pb::Envelope>>;

  Sends equivocating_proposal(const pb::ProposalMessage& original) {
    pb::ProposalMessage other = original;
    auto* header = other.mutable_block()->mutable_header();
    header->set_time_unix_ms(header->time_unix_ms() + 1);
    pb::Envelope a;
    *a.mutable_proposal() = original;
    const pb::Envelope b = resigned(std::move(other));
    // Our votes for either block get a twin for the other one.
    const std::string& id_a = a.proposal().proposal().block_id();
    const std::string& id_b = b.proposal().proposal().block_id();
    twin_ = {{id_a, id_b}, {id_b, id_a}};
    const auto order = rotated();
    // order[0]: A only; order[1]: A then B; the rest: B only.
    Sends sends{{order[0], a}, {order[1], a}};
    for (std::size_t i = 1; i < order.size(); ++i) sends.emplace_back(order[i], b);
    spdlog::warn(
        "byzantine: equivocating proposal at height {} round {}: block {} to {}, block {} to the others",
        original.proposal().height(), original.proposal().round(),
        Hash32::from_span(as_bytes(a.proposal().proposal().block_id())).hex().substr(0, 16),
        node_.genesis().validators.at(order[0]).name,
        Hash32::from_span(as_bytes(b.proposal().proposal().block_id())).hex().substr(0, 16));
    return sends;
  }

  Sends invalid_block(const pb::ProposalMessage& original) {
    pb::ProposalMessage bad = original;
    auto* block = bad.mutable_block();
    auto* header = block->mutable_header();
    const std::uint64_t kind = invalid_blocks_sent_++ % 3;
    std::string what;
    if (kind == 2 && block->txs_size() > 0) {
      std::string signature = block->txs(0).signature();
      if (signature.empty()) signature.assign(64, '\0');
      signature[0] = static_cast<char>(signature[0] ^ 0x01);
      block->mutable_txs(0)->set_signature(signature);
      header->set_txs_root(proto::to_field(proto::txs_root(block->txs())));
      what = "a transaction with a bad signature";
    } else if (kind == 1) {
      header->set_previous_block_hash(proto::to_field(crypto::sha256("byzantine previous block")));
      what = "a wrong previous block hash";
    } else {
      header->set_log_root(proto::to_field(crypto::sha256("byzantine log root " + header->log_root())));
      what = "a wrong log root";
    }
    const pb::Envelope e = resigned(std::move(bad));
    Sends sends;
    for (auto peer : peers_) sends.emplace_back(peer, e);
    spdlog::warn("byzantine: proposing an invalid block at height {} round {}: {}",
                 original.proposal().height(), original.proposal().round(), what);
    return sends;
  }

  bool equivocate_vote(const pb::Vote& original) {
    pb::Vote other = original;
    // For a block we equivocated on, the other block; else an id nobody has.
    const auto twin = twin_.find(original.block_id());
    other.set_block_id(twin != twin_.end()
                           ? twin->second
                           : proto::to_field(crypto::sha256("byzantine vote " + original.block_id())));
    proto::sign_vote(other, chain_id_, key_);  // no double-sign guard here, on purpose
    pb::Envelope a, b;
    *a.mutable_vote() = original;
    *b.mutable_vote() = other;
    const auto order = rotated();
    // order[0]: A only; order[1]: A and B; the rest: B only.
    node_.transport().send(order[0], a);
    node_.transport().send(order[1], a);
    for (std::size_t i = 1; i < order.size(); ++i) node_.transport().send(order[i], b);
    spdlog::debug("byzantine: two votes at height {} round {} type {}", original.height(), original.round(),
                  static_cast<int>(original.type()));
    if (original.height() != burst_height_) burst(original);
    return true;
  }

  // Once per height: a pair of different votes of each type for each of the
  // next burst_rounds rounds, to every peer. Each pair is new evidence.
  void burst(const pb::Vote& original) {
    constexpr std::uint32_t burst_rounds = 16;
    burst_height_ = original.height();
    for (std::uint32_t r = original.round() + 1; r <= original.round() + burst_rounds; ++r) {
      for (const auto type : {pb::VOTE_TYPE_PREVOTE, pb::VOTE_TYPE_PRECOMMIT}) {
        for (const char* which : {"a", "b"}) {
          pb::Vote v = original;
          v.set_round(r);
          v.set_type(type);
          v.set_block_id(proto::to_field(crypto::sha256(std::string("byzantine burst ") + which +
                                                        std::to_string(r) + original.block_id())));
          proto::sign_vote(v, chain_id_, key_);
          pb::Envelope e;
          *e.mutable_vote() = std::move(v);
          for (auto peer : peers_) node_.transport().send(peer, e);
        }
      }
    }
    spdlog::warn("byzantine: burst of {} conflicting vote pairs at height {} for rounds {}..{}",
                 2 * burst_rounds, original.height(), original.round() + 1, original.round() + burst_rounds);
  }

  void arm() {
    timer_->expires_after(std::chrono::milliseconds(1000));
    timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      send_garbage();
      arm();
    });
  }

  void send_garbage() {
    const std::uint64_t tick = garbage_sent_++;
    // Kinds and peers both turn (5 kinds, 3 peers: every pair within 15 ticks).
    const node::p2p::PeerIndex peer = peers_[tick % peers_.size()];
    const std::uint64_t kind = tick % 5;
    std::string frame, what;
    switch (kind) {
      case 0: {
        std::string body(200, '\0');
        for (char& c : body) c = static_cast<char>(rng_());
        frame = frame_of(body, static_cast<std::uint32_t>(body.size()));
        what = "random bytes";
        break;
      }
      case 1:
        frame = frame_of("\x0a\x00", 0xfffffff0u);
        what = "an oversized length prefix";
        break;
      case 2:
        frame = frame_of("", 0);
        what = "a zero length prefix";
        break;
      case 3: {
        // A Hello (field 1, empty) followed by unknown field 15 (varint 1).
        const std::string body("\x0a\x00\x78\x01", 4);
        frame = frame_of(body, static_cast<std::uint32_t>(body.size()));
        what = "an envelope with an unknown field";
        break;
      }
      default: {
        // A Hello whose length is the non-minimal varint 0x80 0x00 (= 0).
        const std::string body("\x0a\x80\x00", 3);
        frame = frame_of(body, static_cast<std::uint32_t>(body.size()));
        what = "an envelope with a non-minimal varint";
        break;
      }
    }
    spdlog::warn("byzantine: sending {} to {}", what, node_.genesis().validators.at(peer).name);
    node_.transport().send_raw_frame_for_testing(peer, std::move(frame));
  }

  node::Node& node_;
  Modes modes_;
  crypto::SecretKey key_;
  std::string chain_id_;
  std::uint32_t self_;
  std::vector<node::p2p::PeerIndex> peers_;
  // Consensus strand (the hook's calls).
  std::uint64_t turn_ = 0;
  std::uint64_t proposals_ = 0;
  std::tuple<std::uint64_t, std::uint32_t, std::string> last_proposal_key_;
  Sends last_proposal_sends_;
  std::map<std::string, std::string> twin_;
  std::uint64_t burst_height_ = 0;  // block id -> the other block of our equivocation
  std::uint64_t invalid_blocks_sent_ = 0;
  std::uint64_t garbage_sent_ = 0;  // timer handler: one at a time
  std::mt19937_64 rng_{20261129};
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

int fail(const Status& status) {
  std::cerr << "cityledgerd_byzantine: " << status.to_string() << "\n";
  return 1;
}

int run(const std::filesystem::path& home, const std::string& mode_text, const std::string& log_level) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto modes = parse_modes(mode_text);
  if (!modes) return fail(modes.status());
  auto config = node::NodeConfig::load(home);
  if (!config) return fail(config.status());
  if (!log_level.empty()) config->log_level = log_level;
  if (Status s = node::setup_logging(config->log_level, config->log_format, config->name); !s.ok())
    return fail(s);
  auto key = crypto::read_key_file(config->path(config->validator_key_file));
  if (!key) return fail(key.status());
  auto node = node::Node::open(*config);
  if (!node) return fail(node.status());
  if (!(*node)->self_index()) return fail(error(ErrorCode::invalid_argument, "not a validator"));
  spdlog::warn("byzantine: this validator misbehaves on purpose (mode {})", mode_text);
  // Its timer lives on the node's io_context, so it must go before the node.
  std::optional<Byzantine> byzantine;
  byzantine.emplace(**node, *modes, std::move(key).value());
  (*node)->set_outbound_hook([&byzantine](const pb::Envelope& e) { return byzantine->on_outbound(e); });
  if (Status s = (*node)->start(1); !s.ok()) return fail(s);
  byzantine->start_garbage();

  std::thread signal_thread([&signals, n = node->get()] {
    int received = 0;
    sigwait(&signals, &received);
    n->stop();
  });
  Status result = (*node)->wait();
  ::kill(::getpid(), SIGTERM);
  signal_thread.join();
  byzantine.reset();  // the io_context's threads are joined: no handler runs any more
  node->reset();
  if (!result.ok()) return fail(result);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cityledgerd_byzantine - a misbehaving validator for tests only"};
  app.require_subcommand(1);
  std::filesystem::path home;
  std::string mode = "all", log_level;
  auto* start = app.add_subcommand("start", "Run the misbehaving validator in the foreground");
  start->add_option("--home", home, "Validator home directory")->required()->check(CLI::ExistingDirectory);
  start->add_option("--byzantine", mode, "equivocate, invalid-blocks, garbage-frames or all")
      ->capture_default_str();
  start->add_option("--log-level", log_level, "trace, debug, info, warn or error");
  CLI11_PARSE(app, argc, argv);
  return run(home, mode, log_level);
}
