#include "cluster.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/check.hpp"
#include "crypto/sha256.hpp"
#include "proto/objects.hpp"

namespace cityledger::sim {

namespace {

constexpr std::string_view chain_id = "cityledger-sim";
constexpr std::string_view other_chain_id = "cityledger-sim-other";
constexpr std::uint64_t epoch_unix_ms = 1'700'000'000'000;
constexpr std::uint32_t validators_max = 8;  // 7 validators and a joining node (--set-change)
constexpr std::size_t byzantine_history_max = 256;
constexpr std::uint32_t fetch_attempts_max = 120;
constexpr std::uint64_t fetch_retry_ms = 1000;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Keys are derived once per process: deriving a key is a scalar multiplication.
const crypto::SecretKey& test_key(std::uint32_t index) {
  static const std::vector<crypto::SecretKey> keys = [] {
    std::vector<crypto::SecretKey> out;
    for (std::uint32_t i = 0; i < validators_max; ++i)
      out.push_back(crypto::SecretKey::from_seed_for_testing(i));
    return out;
  }();
  CL_CHECK(index < keys.size());
  return keys[index];
}

const Hash32& genesis_hash() {
  static const Hash32 hash = crypto::sha256(std::string_view("cityledger-sim genesis"));
  return hash;
}

std::string random_bytes(Rng& rng, std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t word = rng.next();
    for (std::size_t j = 0; j < 8 && i + j < size; ++j)
      out[i + j] = static_cast<char>((word >> (8 * j)) & 0xff);
  }
  return out;
}

std::uint8_t step_of_vote(pb::VoteType type) {
  switch (type) {
    case pb::VOTE_TYPE_PREVOTE:
      return 2;
    case pb::VOTE_TYPE_PRECOMMIT:
      return 3;
    default:
      return 0;
  }
}

std::string short_hex(const std::string& block_id) {
  if (block_id.empty()) return "nil";
  return to_hex(as_bytes(block_id)).substr(0, 16);
}

std::string short_hex(const Hash32& id) { return id.hex().substr(0, 16); }

}  // namespace

std::uint32_t short_id(const std::string& block_id) {
  if (block_id.size() < 4) return 0;
  std::uint32_t out = 0;
  for (int i = 0; i < 4; ++i)
    out = (out << 8) | static_cast<std::uint8_t>(block_id[static_cast<std::size_t>(i)]);
  return out == 0 ? 1 : out;
}

const char* profile_name(Profile profile) {
  switch (profile) {
    case Profile::chaos:
      return "chaos";
    case Profile::calm:
      return "calm";
    case Profile::lockbreak:
      return "lockbreak";
  }
  return "?";
}

std::optional<Profile> profile_from_name(std::string_view name) {
  for (Profile p : {Profile::chaos, Profile::calm, Profile::lockbreak}) {
    if (name == profile_name(p)) return p;
  }
  return std::nullopt;
}

const char* failure_name(FailureKind kind) {
  switch (kind) {
    case FailureKind::none:
      return "none";
    case FailureKind::safety:
      return "SAFETY";
    case FailureKind::double_sign:
      return "DOUBLE-SIGN";
    case FailureKind::unpersisted_send:
      return "UNPERSISTED-SEND";
    case FailureKind::bad_certificate:
      return "BAD-CERTIFICATE";
    case FailureKind::bad_evidence:
      return "BAD-EVIDENCE";
    case FailureKind::liveness:
      return "LIVENESS";
    case FailureKind::contract:
      return "CONTRACT";
    case FailureKind::event_budget:
      return "EVENT-BUDGET";
  }
  return "?";
}

std::string behavior_names(std::uint32_t behaviors) {
  static constexpr std::pair<std::uint32_t, const char*> names[] = {
      {behavior_silent, "silent"},
      {behavior_equivocate, "equivocate"},
      {behavior_double_vote, "double-vote"},
      {behavior_invalid_blocks, "invalid-blocks"},
      {behavior_bad_signatures, "bad-signatures"},
      {behavior_replay, "replay"},
      {behavior_wrong_chain, "wrong-chain"},
      {behavior_fork, "fork"},
  };
  std::string out;
  for (const auto& [bit, name] : names) {
    if ((behaviors & bit) == 0) continue;
    if (!out.empty()) out += ",";
    out += name;
  }
  return out.empty() ? "honest" : out;
}

// ------------------------------------------------------------------ scenario

Scenario Scenario::generate(const Options& options, Rng& rng) {
  CL_CHECK(options.validators == 4 || options.validators == 7);
  Scenario s;
  const std::uint32_t n = options.validators;
  const std::uint32_t f = (n - 1) / 3;
  s.validators = n;
  s.behaviors.assign(n, 0);

  if (options.profile == Profile::calm) {
    s.before_gst = s.after_gst = NetworkParams{1, 5, 0.0, 0.0};
    s.gst_ms = 0;
    s.app_delay_max_ms = 1;
    s.disk_delay_max_ms = 1;
    s.heights_after_heal = options.heights_after_heal != 0 ? options.heights_after_heal : 50;
    s.liveness_bound_ms = 10'000 + std::uint64_t{s.heights_after_heal} * 1'000;
    return s;
  }

  static constexpr std::uint64_t delay_spreads_ms[] = {10, 50, 200, 1000, 3000};
  static constexpr double losses[] = {0.0, 0.02, 0.1, 0.3};
  static constexpr double duplicates[] = {0.0, 0.02, 0.1};
  static constexpr double crash_on_persist[] = {0.0, 0.0, 0.01, 0.05};
  static constexpr std::uint64_t app_delays_max_ms[] = {1, 5, 20};

  s.gst_ms = rng.range(1'000, 30'000);
  s.before_gst.delay_min_ms = rng.range(1, 20);
  s.before_gst.delay_max_ms = s.before_gst.delay_min_ms + rng.pick(delay_spreads_ms);
  s.before_gst.loss = rng.pick(losses);
  s.before_gst.duplicate = rng.pick(duplicates);
  s.after_gst.delay_min_ms = 1;
  s.after_gst.delay_max_ms = rng.range(2, 50);
  s.after_gst.loss = 0.0;
  s.after_gst.duplicate = rng.chance(0.5) ? 0.0 : 0.02;
  s.app_delay_max_ms = rng.pick(app_delays_max_ms);
  s.disk_delay_max_ms = rng.pick(app_delays_max_ms);
  s.heights_after_heal = options.heights_after_heal != 0 ? options.heights_after_heal : 4;
  s.liveness_bound_ms = 120'000;

  const std::uint32_t all_mask = (1u << n) - 1;
  const std::uint32_t partitions = static_cast<std::uint32_t>(rng.range(0, 3));
  for (std::uint32_t i = 0; i < partitions; ++i) {
    Partition p;
    p.start_ms = rng.below(s.gst_ms);
    p.end_ms = std::min(s.gst_ms, p.start_ms + rng.range(200, 20'000));
    // Either one validator is cut off from the rest, or a random split.
    p.side_mask =
        rng.chance(0.5) ? (1u << rng.below(n)) : static_cast<std::uint32_t>(rng.range(1, all_mask - 1));
    s.partitions.push_back(p);
  }

  // Byzantine validators: at most f, picked at random.
  std::vector<std::uint32_t> order(n);
  for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
  for (std::uint32_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
  const std::uint32_t byzantine = static_cast<std::uint32_t>(rng.range(0, f));
  for (std::uint32_t i = 0; i < byzantine; ++i) {
    // Bits 1..7 are the active behaviours; silence excludes them.
    s.behaviors[order[i]] =
        rng.chance(0.2) ? behavior_silent : static_cast<std::uint32_t>(rng.range(1, 127)) << 1;
  }

  s.crashes_max = 6;
  s.crash_on_persist = rng.pick(crash_on_persist);
  const std::uint32_t crashes = static_cast<std::uint32_t>(rng.range(0, 3));
  for (std::uint32_t i = 0; i < crashes; ++i) {
    Crash c;
    c.node = order[rng.range(byzantine, n - 1)];  // honest ones only
    c.at_ms = rng.below(s.gst_ms);
    c.down_ms = rng.range(10, 10'000);
    s.crashes.push_back(c);
  }

  if (options.profile == Profile::lockbreak) {
    // Without locking, a validator that precommitted X in one round prevotes
    // another block Y in a later round. With f Byzantine validators that
    // equivocate and double-vote this turns into two commits quickly: the
    // Byzantine precommit for X reaches only the node that then commits X,
    // and when a Byzantine validator proposes Y in the next round the honest
    // nodes that saw no commit (their precommits were lost) are no longer
    // locked on X, so Y gathers 2f+1 prevotes and precommits as well.
    // Losses and short partitions before GST keep the precommits apart.
    s.behaviors.assign(n, 0);
    for (std::uint32_t i = 0; i < f; ++i) s.behaviors[order[i]] = behavior_fork;
    s.before_gst.delay_min_ms = 1;
    s.before_gst.delay_max_ms = rng.range(20, 300);
    s.before_gst.loss = 0.1 + 0.3 * rng.unit();
    s.before_gst.duplicate = 0.0;
    s.gst_ms = rng.range(20'000, 40'000);
    s.crashes.clear();
    s.crash_on_persist = 0.0;
    s.partitions.clear();
    const std::uint32_t count = static_cast<std::uint32_t>(rng.range(0, 4));
    for (std::uint32_t i = 0; i < count; ++i) {
      Partition p;
      p.start_ms = rng.below(s.gst_ms);
      p.end_ms = std::min(s.gst_ms, p.start_ms + rng.range(200, 3'000));
      p.side_mask = 1u << rng.below(n);
      s.partitions.push_back(p);
    }
  }
  return s;
}

std::string Scenario::describe() const {
  char line[512];
  std::string out;
  std::snprintf(line, sizeof line,
                "  before GST: delay %" PRIu64 "..%" PRIu64 "ms loss %.2f duplicate %.2f; GST at %" PRIu64
                "ms; after: delay %" PRIu64 "..%" PRIu64 "ms duplicate %.2f\n",
                before_gst.delay_min_ms, before_gst.delay_max_ms, before_gst.loss, before_gst.duplicate,
                gst_ms, after_gst.delay_min_ms, after_gst.delay_max_ms, after_gst.duplicate);
  out += line;
  for (std::uint32_t i = 0; i < validators; ++i) {
    if (behaviors[i] == 0) continue;
    std::snprintf(line, sizeof line, "  validator %u is Byzantine: %s\n", i,
                  behavior_names(behaviors[i]).c_str());
    out += line;
  }
  for (const auto& p : partitions) {
    std::snprintf(line, sizeof line, "  partition %" PRIu64 "..%" PRIu64 "ms, side mask 0x%x\n", p.start_ms,
                  p.end_ms, p.side_mask);
    out += line;
  }
  for (const auto& c : crashes) {
    std::snprintf(line, sizeof line, "  crash of n%u at %" PRIu64 "ms for %" PRIu64 "ms\n", c.node, c.at_ms,
                  c.down_ms);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "  crash-on-persist %.2f; app delay <= %" PRIu64 "ms, disk delay <= %" PRIu64
                "ms; liveness: %u heights within %" PRIu64 "ms of heal\n",
                crash_on_persist, app_delay_max_ms, disk_delay_max_ms, heights_after_heal, liveness_bound_ms);
  out += line;
  return out;
}

// ------------------------------------------------------------ nodes, events

struct Cluster::Node {
  std::uint32_t index = 0;
  std::uint32_t behaviors = 0;
  bool byzantine() const { return behaviors != 0; }

  std::unique_ptr<consensus::Core> core;  // null while the node is down
  std::uint64_t incarnation = 0;          // events of an earlier life are dropped

  // The disk: survives crashes.
  std::optional<pb::SignState> sign_state;
  std::map<std::uint64_t, pb::CommittedBlock> blocks;  // applied blocks by height
  std::uint64_t last_applied = 0;
  // Blocks this node built or found valid for heights it has not applied yet,
  // kept before the core is answered, as a real node keeps them beside the
  // sign state: after a restart while locked, the core gets them back
  // (consensus::Config::restored_blocks) and can still vote for its lock.
  std::multimap<std::uint64_t, pb::Block> kept_blocks;

  // Lost on a crash.
  struct PendingWrite {
    pb::SignState state;
    std::vector<pb::Envelope> held;  // broadcasts emitted after this Persist
  };
  std::deque<PendingWrite> pending_writes;
  std::uint64_t disk_free_at_ms = 0;  // writes complete in order
  std::uint64_t commit_pending = 0;   // height of a Commit not yet applied
  Hash32 commit_pending_id;

  // Byzantine memory: messages seen, blocks it made up.
  std::vector<pb::Envelope> history;
  std::size_t history_next = 0;
  std::map<std::uint64_t, std::vector<std::string>> alternatives;  // height -> block ids
  std::set<std::pair<std::uint64_t, std::uint32_t>> forked;        // (height, round) it forked
};

// The payloads of Cluster::Event. A named namespace, not an anonymous one:
// Cluster::Event has external linkage, so its member types must too.
namespace events {
struct Deliver {
  std::uint32_t to = 0;
  std::uint32_t from = 0;
  pb::Envelope envelope;
};
struct DeliverCommitted {
  std::uint32_t to = 0;
  std::uint32_t from = 0;
  std::uint64_t incarnation = 0;
  pb::CommittedBlock committed;
};
struct Fetch {
  std::uint32_t node = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t height = 0;
  std::uint32_t attempt = 0;
};
struct NodeInput {
  std::uint32_t node = 0;
  std::uint64_t incarnation = 0;
  consensus::Input input;
};
struct PersistDone {
  std::uint32_t node = 0;
  std::uint64_t incarnation = 0;
};
struct CommitDone {
  std::uint32_t node = 0;
  std::uint64_t incarnation = 0;
  pb::CommittedBlock committed;
};
struct CrashAt {
  std::uint32_t node = 0;
  std::uint64_t down_ms = 0;
};
struct RestartAt {
  std::uint32_t node = 0;
};
struct PartitionChange {
  std::uint32_t side_mask = 0;
  std::uint64_t end_ms = 0;
  bool start = false;
};
struct Gst {};
struct LivenessDeadline {};
}  // namespace events

struct Cluster::Event {
  std::variant<events::Deliver, events::DeliverCommitted, events::Fetch, events::NodeInput,
               events::PersistDone, events::CommitDone, events::CrashAt, events::RestartAt,
               events::PartitionChange, events::Gst, events::LivenessDeadline>
      payload;
};

struct Cluster::QueueEntry {
  std::uint64_t time_ms = 0;
  std::uint64_t sequence = 0;
  Event event;
  // std::push_heap builds a max-heap: "less" means "later".
  bool operator<(const QueueEntry& other) const {
    return std::tie(time_ms, sequence) > std::tie(other.time_ms, other.sequence);
  }
};

std::size_t Cluster::SignedKeyHasher::operator()(const SignedKey& k) const noexcept {
  std::uint64_t x = k.height * 0x9e3779b97f4a7c15ULL;
  x ^= (std::uint64_t{k.round} << 16) ^ (std::uint64_t{k.validator} << 4) ^ k.step;
  return static_cast<std::size_t>(x * 0xbf58476d1ce4e5b9ULL);
}

Cluster::Cluster(const Options& options)
    : options_(options),
      rng_(options.seed),
      scenario_(Scenario::generate(options, rng_)),
      trace_(options.trace_ring, options.echo_trace),
      verifier_(std::make_unique<MemoVerifier>()) {
  const std::uint32_t nodes = options.validators + (options.set_change ? 1 : 0);
  for (std::uint32_t i = 0; i < nodes; ++i) node_keys_.push_back(test_key(i).public_key());
  validators_ = consensus::ValidatorSet(
      std::vector<crypto::PublicKey>(node_keys_.begin(), node_keys_.begin() + options.validators));
  with_joiner_ = consensus::ValidatorSet(node_keys_);
  for (std::uint32_t i = 0; i < nodes; ++i) {
    auto node = std::make_unique<Node>();
    node->index = i;
    // The joiner is honest and outside every fault of the scenario.
    node->behaviors = i < options.validators ? scenario_.behaviors[i] : 0;
    nodes_.push_back(std::move(node));
  }
  crashes_left_ = scenario_.crashes_max;
}

Cluster::~Cluster() = default;

consensus::ValidatorSet Cluster::validators_at(std::uint64_t height) const {
  if (options_.set_change && height >= set_change_join_height && height < set_change_leave_height) {
    return with_joiner_;
  }
  return validators_;
}

bool Cluster::in_tenure(std::uint32_t node, std::uint64_t height) const {
  return validators_at(height).index_of(node_keys_[node]).has_value();
}

void Cluster::record(TraceKind kind, std::uint32_t node, std::uint64_t height, std::uint32_t round,
                     std::uint32_t peer, std::uint32_t block, std::uint8_t detail, std::int64_t extra) {
  TraceRecord r;
  r.time_ms = now_ms_;
  r.kind = kind;
  r.node = node;
  r.height = height;
  r.round = round;
  r.peer = peer;
  r.block = block;
  r.detail = detail;
  r.extra = extra;
  trace_.add(r);
}

void Cluster::fail(FailureKind kind, std::string message) {
  if (!outcome_.ok()) return;  // the first violation is the one that counts
  outcome_.failure = kind;
  outcome_.message = std::move(message);
  record(TraceKind::failure, 0);
}

void Cluster::schedule(std::uint64_t at_ms, Event event) {
  CL_CHECK(at_ms >= now_ms_);
  queue_.push_back(QueueEntry{at_ms, sequence_++, std::move(event)});
  std::push_heap(queue_.begin(), queue_.end());
}

// --------------------------------------------------------------------- run

Outcome Cluster::run() {
  for (auto& node : nodes_) {
    if ((node->behaviors & behavior_silent) == 0) start_core(*node, false);
  }
  for (const auto& p : scenario_.partitions) {
    schedule(p.start_ms, Event{events::PartitionChange{p.side_mask, p.end_ms, true}});
    schedule(p.end_ms, Event{events::PartitionChange{p.side_mask, p.end_ms, false}});
  }
  for (const auto& c : scenario_.crashes) schedule(c.at_ms, Event{events::CrashAt{c.node, c.down_ms}});
  schedule(scenario_.gst_ms, Event{events::Gst{}});

  while (outcome_.ok() && !done_) {
    if (queue_.empty()) {
      fail(FailureKind::liveness,
           "the event queue ran dry before every honest node reached the target height");
      break;
    }
    if (++outcome_.counters.events > options_.max_events) {
      fail(FailureKind::event_budget,
           "more than " + std::to_string(options_.max_events) + " events: a message storm or a livelock");
      break;
    }
    std::pop_heap(queue_.begin(), queue_.end());
    QueueEntry entry = std::move(queue_.back());
    queue_.pop_back();
    now_ms_ = entry.time_ms;
    dispatch(entry.event);
  }

  // On a calm network the joiner must take part while it is in the set.
  if (outcome_.ok() && options_.set_change && options_.profile == Profile::calm &&
      !joiner_signed_in_tenure_) {
    fail(FailureKind::contract, "the joining validator never precommitted while in the set");
  }
  outcome_.sim_time_ms = now_ms_;
  outcome_.counters.signature_checks = verifier_->checks();
  outcome_.counters.signature_cache_hits = verifier_->hits();
  outcome_.trace_digest = trace_.digest();
  bool first = true;
  for (const auto& node : nodes_) {
    if (node->byzantine()) continue;
    if (first || node->last_applied < outcome_.min_honest_height)
      outcome_.min_honest_height = node->last_applied;
    outcome_.max_honest_height = std::max(outcome_.max_honest_height, node->last_applied);
    first = false;
  }
  return outcome_;
}

void Cluster::dispatch(Event& event) {
  auto live = [&](std::uint32_t index, std::uint64_t incarnation) -> Node* {
    Node& node = *nodes_[index];
    return node.core && node.incarnation == incarnation ? &node : nullptr;
  };
  std::visit(Overloaded{
                 [&](events::Deliver& e) { deliver(*nodes_[e.to], e.from, e.envelope); },
                 [&](events::DeliverCommitted& e) {
                   Node* node = live(e.to, e.incarnation);
                   if (node == nullptr) return;
                   const auto& cert = e.committed.commit();
                   record(TraceKind::committed_block_in, node->index, cert.height(), cert.round(), e.from,
                          short_id(cert.block_id()));
                   ++outcome_.counters.catch_up_blocks;
                   feed(*node, consensus::CommittedBlockReceived{std::move(e.committed)});
                 },
                 [&](events::Fetch& e) {
                   Node* node = live(e.node, e.incarnation);
                   if (node == nullptr || node->last_applied >= e.height) return;
                   fetch_committed_block(*node, e.height, e.attempt);
                 },
                 [&](events::NodeInput& e) {
                   Node* node = live(e.node, e.incarnation);
                   if (node != nullptr) feed(*node, std::move(e.input));
                 },
                 [&](events::PersistDone& e) {
                   Node* node = live(e.node, e.incarnation);
                   if (node != nullptr) on_persist_done(*node);
                 },
                 [&](events::CommitDone& e) {
                   Node* node = live(e.node, e.incarnation);
                   if (node != nullptr) on_commit_done(*node, std::move(e.committed));
                 },
                 [&](events::CrashAt& e) { crash(*nodes_[e.node], e.down_ms); },
                 [&](events::RestartAt& e) { restart(*nodes_[e.node]); },
                 [&](events::PartitionChange& e) {
                   if (e.start) {
                     if (gst_reached_) return;
                     active_partitions_.push_back(e.side_mask);
                     record(TraceKind::partition, 0, e.end_ms, 0, 0, 0, 0, e.side_mask);
                   } else {
                     auto it = std::find(active_partitions_.begin(), active_partitions_.end(), e.side_mask);
                     if (it == active_partitions_.end()) return;
                     active_partitions_.erase(it);
                     record(TraceKind::heal, 0, 0, 0, 0, 0, 0, e.side_mask);
                   }
                 },
                 [&](events::Gst&) {
                   gst_reached_ = true;
                   active_partitions_.clear();
                   record(TraceKind::gst, 0);
                   maybe_start_liveness_clock();
                 },
                 [&](events::LivenessDeadline&) {
                   if (done_) return;
                   std::string message = "after the network healed at " + std::to_string(scenario_.gst_ms) +
                                         "ms, not every honest node reached height " +
                                         std::to_string(liveness_target_height_) + " within " +
                                         std::to_string(scenario_.liveness_bound_ms) + "ms:";
                   for (const auto& node : nodes_) {
                     if (node->byzantine()) continue;
                     message += " n" + std::to_string(node->index) +
                                "{applied=" + std::to_string(node->last_applied);
                     if (node->core) {
                       message += " h=" + std::to_string(node->core->height()) +
                                  " r=" + std::to_string(node->core->round()) + " " +
                                  consensus::step_name(node->core->step());
                     } else {
                       message += " down";
                     }
                     message += "}";
                   }
                   fail(FailureKind::liveness, std::move(message));
                 },
             },
             event.payload);
}

// ------------------------------------------------------------ driving cores

void Cluster::start_core(Node& node, bool restarted) {
  consensus::Config config;
  config.chain_id = std::string(chain_id);
  config.key = test_key(node.index).clone();
  config.height = node.last_applied + 1;
  config.validators = validators_at(config.height);
  if (node.last_applied > 0) config.last_commit = node.blocks.at(node.last_applied).commit();
  config.restored = node.sign_state;
  for (auto [it, end] = node.kept_blocks.equal_range(config.height); it != end; ++it) {
    config.restored_blocks.push_back(it->second);
  }
  config.timeouts = scenario_.timeouts;
  config.test_disable_locking = options_.disable_locking && !node.byzantine();
  node.core = std::make_unique<consensus::Core>(std::move(config), *verifier_);
  if (restarted)
    record(TraceKind::restart, node.index, node.last_applied + 1, 0, 0, 0, node.sign_state ? 1 : 0);
  feed(node, consensus::Start{});
}

void Cluster::feed(Node& node, consensus::Input input) {
  CL_CHECK(node.core != nullptr);
  if (std::holds_alternative<consensus::Start>(input)) {
    record(TraceKind::start, node.index, node.last_applied + 1);
  } else if (const auto* t = std::get_if<consensus::TimeoutFired>(&input)) {
    record(TraceKind::timeout_in, node.index, t->height, t->round, 0, 0, static_cast<std::uint8_t>(t->step));
  }
  std::vector<consensus::Output> outputs = node.core->handle(input);
  for (auto& output : outputs) {
    execute(node, output);
    if (!outcome_.ok()) return;
  }
  check_node(node);
}

void Cluster::execute(Node& node, consensus::Output& output) {
  std::visit(
      Overloaded{
          [&](consensus::Broadcast& o) { on_broadcast(node, std::move(o.envelope)); },
          [&](consensus::ScheduleTimeout& o) {
            record(TraceKind::timeout_out, node.index, o.height, o.round, 0, 0,
                   static_cast<std::uint8_t>(o.step), static_cast<std::int64_t>(o.duration_ms));
            schedule(now_ms_ + o.duration_ms,
                     Event{events::NodeInput{node.index, node.incarnation,
                                             consensus::TimeoutFired{o.height, o.round, o.step}}});
          },
          [&](consensus::ValidateBlock& o) {
            record(TraceKind::validate_out, node.index, o.height, 0, 0, short_id(o.block_id.to_string()));
            if (proto::block_hash(o.block.header()) != o.block_id) {
              fail(FailureKind::contract, "n" + std::to_string(node.index) +
                                              ": ValidateBlock with a block_id that is not the block's hash");
              return;
            }
            const bool valid = node.byzantine() ? true : validate_block(node, o.block, o.height);
            if (valid) node.kept_blocks.emplace(o.height, o.block);
            const std::uint64_t at = now_ms_ + rng_.range(0, scenario_.app_delay_max_ms);
            record(TraceKind::validated_in, node.index, o.height, 0, 0, short_id(o.block_id.to_string()),
                   valid ? 1 : 0);
            schedule(at, Event{events::NodeInput{node.index, node.incarnation,
                                                 consensus::BlockValidated{o.height, o.block_id, valid}}});
          },
          [&](consensus::BuildBlock& o) {
            record(TraceKind::build_out, node.index, o.height, o.round);
            if (o.height != node.last_applied + 1) {
              fail(FailureKind::contract, "n" + std::to_string(node.index) + ": BuildBlock for height " +
                                              std::to_string(o.height) + " but the node applied up to " +
                                              std::to_string(node.last_applied));
              return;
            }
            pb::Block block = build_block(node, o.height, o.last_commit);
            if (!outcome_.ok()) return;
            if (node.byzantine() && (node.behaviors & behavior_invalid_blocks) != 0 && rng_.chance(0.7)) {
              add_fake_transaction(block, "invalid");
            }
            node.kept_blocks.emplace(o.height, block);
            record(TraceKind::built_in, node.index, o.height, o.round, 0,
                   short_id(proto::block_hash(block.header()).to_string()), 0, block.txs_size());
            schedule(now_ms_ + rng_.range(0, scenario_.app_delay_max_ms),
                     Event{events::NodeInput{node.index, node.incarnation,
                                             consensus::BlockBuilt{o.height, o.round, std::move(block)}}});
          },
          [&](consensus::Persist& o) { on_persist(node, std::move(o.state)); },
          [&](consensus::Commit& o) { on_commit(node, o); },
          [&](consensus::RequestCommittedBlock& o) {
            record(TraceKind::request_out, node.index, o.height);
            fetch_committed_block(node, o.height, 0);
          },
          [&](consensus::EvidenceFound& o) { on_evidence(node, o.evidence); },
      },
      output);
}

void Cluster::on_broadcast(Node& node, pb::Envelope envelope) {
  if (envelope.has_proposal()) {
    const auto& p = envelope.proposal().proposal();
    record(TraceKind::broadcast_out, node.index, p.height(), p.round(), 0, short_id(p.block_id()), 0,
           p.pol_round());
  } else if (envelope.has_vote()) {
    const auto& v = envelope.vote();
    record(TraceKind::broadcast_out, node.index, v.height(), v.round(), 0, short_id(v.block_id()),
           static_cast<std::uint8_t>(v.type()), v.validator_index());
  }
  if (!node.pending_writes.empty()) {
    // Nothing signed may leave before the Persist emitted ahead of it is on disk.
    record(TraceKind::held, node.index, 0, 0, 0, 0, 0, static_cast<std::int64_t>(node.pending_writes.size()));
    node.pending_writes.back().held.push_back(std::move(envelope));
    return;
  }
  release(node, envelope);
}

void Cluster::release(Node& node, const pb::Envelope& envelope) {
  if (node.byzantine()) {
    byzantine_broadcast(node, envelope);
    return;
  }
  check_signed(node, envelope, true);
  if (!outcome_.ok()) return;
  for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to != node.index) send(node.index, to, envelope);
  }
}

void Cluster::on_persist(Node& node, pb::SignState state) {
  record(TraceKind::persist_out, node.index, state.height(), state.round(), 0, short_id(state.block_id()),
         static_cast<std::uint8_t>(state.step()), state.locked_round());
  const std::uint64_t delay = node.byzantine() ? 0 : rng_.range(0, scenario_.disk_delay_max_ms);
  const std::uint64_t done_at = std::max(now_ms_ + delay, node.disk_free_at_ms);
  node.disk_free_at_ms = done_at;
  node.pending_writes.push_back(Node::PendingWrite{std::move(state), {}});
  schedule(done_at, Event{events::PersistDone{node.index, node.incarnation}});
  // A crash that may hit while the write is still in flight: it loses the
  // write and whatever the core emitted after it.
  if (!node.byzantine() && !gst_reached_ && crashes_left_ > 0 && scenario_.crash_on_persist > 0.0 &&
      rng_.chance(scenario_.crash_on_persist)) {
    schedule(now_ms_ + rng_.range(0, done_at - now_ms_),
             Event{events::CrashAt{node.index, rng_.range(10, 5'000)}});
  }
}

void Cluster::on_persist_done(Node& node) {
  CL_CHECK(!node.pending_writes.empty());
  Node::PendingWrite write = std::move(node.pending_writes.front());
  node.pending_writes.pop_front();
  const pb::SignState& s = write.state;
  if (!node.byzantine() && node.sign_state) {
    const auto& old = *node.sign_state;
    if (std::make_tuple(s.height(), s.round(), s.step()) <
        std::make_tuple(old.height(), old.round(), old.step())) {
      fail(FailureKind::contract,
           "n" + std::to_string(node.index) + ": persisted sign state went backwards from h=" +
               std::to_string(old.height()) + " r=" + std::to_string(old.round()) +
               " step=" + std::to_string(old.step()) + " to h=" + std::to_string(s.height()) +
               " r=" + std::to_string(s.round()) + " step=" + std::to_string(s.step()));
      return;
    }
  }
  node.sign_state = s;
  if (!node.byzantine() && s.has_message()) {
    check_signed(node, s.message(), false);
    if (!outcome_.ok()) return;
  }
  for (const auto& envelope : write.held) {
    release(node, envelope);
    if (!outcome_.ok()) return;
  }
  record(TraceKind::persisted_in, node.index, s.height(), s.round(), 0, short_id(s.block_id()),
         static_cast<std::uint8_t>(s.step()), s.locked_round());
  feed(node, consensus::Persisted{std::move(write.state)});
}

void Cluster::on_commit(Node& node, consensus::Commit& commit) {
  const pb::BlockHeader& header = commit.block.header();
  const std::uint64_t height = header.height();
  const Hash32 id = proto::block_hash(header);
  const pb::CommitCertificate& cert = commit.certificate;
  record(TraceKind::commit_out, node.index, height, cert.round(), 0, short_id(id.to_string()), 0,
         cert.signatures_size());
  const std::string who = "n" + std::to_string(node.index);
  if (node.commit_pending != 0) {
    if (node.commit_pending == height && node.commit_pending_id == id) return;  // repeated before applied
    if (!node.byzantine()) {
      fail(node.commit_pending == height ? FailureKind::safety : FailureKind::contract,
           who + ": Commit of " + short_hex(id) + " at height " + std::to_string(height) +
               " while the Commit of " + short_hex(node.commit_pending_id) + " at height " +
               std::to_string(node.commit_pending) + " is not applied yet");
    }
    return;
  }
  if (!node.byzantine()) {
    if (height != node.last_applied + 1) {
      fail(FailureKind::contract, who + ": Commit for height " + std::to_string(height) +
                                      " but the node has applied up to " + std::to_string(node.last_applied));
      return;
    }
    if (cert.height() != height || cert.block_id() != id.to_string()) {
      fail(FailureKind::bad_certificate,
           who + ": the certificate of the Commit at height " + std::to_string(height) + " names height " +
               std::to_string(cert.height()) + " block " + short_hex(cert.block_id()));
      return;
    }
    std::uint32_t distinct = 0;
    std::int64_t previous = -1;
    for (const auto& sig : cert.signatures()) {
      if (static_cast<std::int64_t>(sig.validator_index()) <= previous ||
          sig.validator_index() >= validators_at(height).size()) {
        fail(FailureKind::bad_certificate,
             who + ": certificate signers not strictly ascending validator indexes");
        return;
      }
      previous = sig.validator_index();
      ++distinct;
    }
    const consensus::ValidatorSet validators = validators_at(height);
    if (distinct < validators.quorum() ||
        !consensus::verify_commit_certificate(cert, chain_id, validators, height, id, *verifier_)) {
      fail(FailureKind::bad_certificate, who + ": the certificate at height " + std::to_string(height) +
                                             " has " + std::to_string(distinct) + " signers (quorum " +
                                             std::to_string(validators.quorum()) + ") or does not verify");
      return;
    }
    auto [it, inserted] = committed_.emplace(height, CommittedAt{id, node.index, now_ms_});
    if (!inserted && it->second.id != id) {
      fail(FailureKind::safety,
           "height " + std::to_string(height) + ": n" + std::to_string(node.index) + " commits block " +
               short_hex(id) + " in round " + std::to_string(cert.round()) + " but n" +
               std::to_string(it->second.node) + " committed block " + short_hex(it->second.id) + " at " +
               std::to_string(it->second.time_ms) + "ms");
      return;
    }
  }
  node.commit_pending = height;
  node.commit_pending_id = id;
  pb::CommittedBlock committed;
  *committed.mutable_block() = std::move(commit.block);
  *committed.mutable_commit() = std::move(commit.certificate);
  schedule(now_ms_ + rng_.range(0, scenario_.disk_delay_max_ms),
           Event{events::CommitDone{node.index, node.incarnation, std::move(committed)}});
}

void Cluster::on_commit_done(Node& node, pb::CommittedBlock committed) {
  const std::uint64_t height = committed.block().header().height();
  node.commit_pending = 0;
  node.last_applied = std::max(node.last_applied, height);
  record(TraceKind::applied_in, node.index, height, 0, 0, short_id(committed.commit().block_id()));
  node.blocks[height] = std::move(committed);
  node.kept_blocks.erase(node.kept_blocks.begin(), node.kept_blocks.upper_bound(node.last_applied));
  feed(node, consensus::CommitApplied{height, validators_at(height + 1)});
  check_liveness_progress();
}

void Cluster::on_evidence(Node& node, const pb::DuplicateVoteEvidence& evidence) {
  ++outcome_.counters.evidence;
  const pb::Vote& a = evidence.first();
  const pb::Vote& b = evidence.second();
  record(TraceKind::evidence_out, node.index, a.height(), a.round(), a.validator_index(), 0,
         static_cast<std::uint8_t>(a.type()));
  if (node.byzantine()) return;
  const std::string who = "n" + std::to_string(node.index);
  if (a.validator_index() != b.validator_index() || a.type() != b.type() || a.height() != b.height() ||
      a.round() != b.round() || a.block_id() == b.block_id() ||
      a.validator_index() >= validators_at(a.height()).size()) {
    fail(FailureKind::bad_evidence, who + ": evidence whose two votes do not conflict");
    return;
  }
  const crypto::PublicKey key = validators_at(a.height()).key(a.validator_index());
  if (!verifier_->verify(key, proto::vote_digest(a, chain_id), a.signature()) ||
      !verifier_->verify(key, proto::vote_digest(b, chain_id), b.signature())) {
    fail(FailureKind::bad_evidence, who + ": evidence with a vote whose signature does not verify");
    return;
  }
  if (!nodes_[a.validator_index()]->byzantine()) {
    fail(FailureKind::bad_evidence, who + ": evidence of double signing against honest validator " +
                                        std::to_string(a.validator_index()));
  }
}

void Cluster::fetch_committed_block(Node& node, std::uint64_t height, std::uint32_t attempt) {
  if (attempt >= fetch_attempts_max) return;
  std::vector<std::uint32_t> sources;
  for (const auto& other : nodes_) {
    if (other->index != node.index && !other->byzantine() && other->core && other->blocks.contains(height)) {
      sources.push_back(other->index);
    }
  }
  if (!sources.empty()) {
    const std::uint32_t source = sources[rng_.below(sources.size())];
    const NetworkParams& net = network();
    const bool lost = (net.loss > 0.0 && rng_.chance(net.loss)) || (net.loss > 0.0 && rng_.chance(net.loss));
    if (connected(node.index, source) && !lost) {
      const std::uint64_t delay =
          rng_.range(net.delay_min_ms, net.delay_max_ms) + rng_.range(net.delay_min_ms, net.delay_max_ms);
      record(TraceKind::fetch_served, node.index, height, 0, source);
      schedule(now_ms_ + delay, Event{events::DeliverCommitted{node.index, source, node.incarnation,
                                                               nodes_[source]->blocks.at(height)}});
      return;
    }
  }
  record(TraceKind::fetch_retry, node.index, height, 0, 0, 0, 0, attempt + 1);
  schedule(now_ms_ + fetch_retry_ms, Event{events::Fetch{node.index, node.incarnation, height, attempt + 1}});
}

void Cluster::crash(Node& node, std::uint64_t down_ms) {
  if (!node.core || node.byzantine() || crashes_left_ == 0 || gst_reached_) return;
  --crashes_left_;
  ++outcome_.counters.crashes;
  outcome_.counters.persists_lost += node.pending_writes.size();
  record(TraceKind::crash, node.index, 0, 0, 0, 0, 0, static_cast<std::int64_t>(down_ms));
  if (!node.pending_writes.empty() || node.commit_pending != 0) {
    record(TraceKind::lost_on_crash, node.index, 0, 0, 0, 0, node.commit_pending != 0 ? 1 : 0,
           static_cast<std::int64_t>(node.pending_writes.size()));
  }
  node.core.reset();
  ++node.incarnation;
  node.pending_writes.clear();
  node.commit_pending = 0;
  node.disk_free_at_ms = now_ms_;
  schedule(now_ms_ + down_ms, Event{events::RestartAt{node.index}});
}

void Cluster::restart(Node& node) {
  CL_CHECK(!node.core);
  start_core(node, true);
  maybe_start_liveness_clock();
}

// -------------------------------------------------------------- application

bool Cluster::validate_block(Node& node, const pb::Block& block, std::uint64_t height) {
  const pb::BlockHeader& h = block.header();
  auto refuse = [&] {
    ++outcome_.counters.invalid_blocks_refused;
    return false;
  };
  if (h.chain_id() != chain_id || h.height() != height) return refuse();
  Hash32 previous = genesis_hash();
  if (height > 1) {
    auto it = node.blocks.find(height - 1);
    if (it == node.blocks.end()) {
      ++outcome_.counters.validate_without_parent;
      return refuse();
    }
    previous = proto::block_hash(it->second.block().header());
  }
  if (h.previous_block_hash() != previous.to_string()) return refuse();
  if (h.tx_count() != static_cast<std::uint32_t>(block.txs_size())) return refuse();
  if (h.txs_root() != proto::txs_root(block.txs()).to_string()) return refuse();
  const consensus::ValidatorSet validators = validators_at(height);
  if (h.validator_set_hash() != validators.hash().to_string() || h.proposer_index() >= validators.size())
    return refuse();
  if (height == 1) {
    if (block.has_last_commit() || !h.last_commit_hash().empty()) return refuse();
  } else {
    if (!block.has_last_commit()) return refuse();
    const pb::CommitCertificate& last = block.last_commit();
    if (last.height() != height - 1 || last.block_id() != previous.to_string()) return refuse();
    if (h.last_commit_hash() != proto::hash_message(last).to_string()) return refuse();
    if (!consensus::verify_commit_certificate(last, chain_id, validators_at(height - 1), height - 1, previous,
                                              *verifier_)) {
      return refuse();
    }
  }
  for (const auto& tx : block.txs()) {
    if (tx.body().starts_with("invalid")) return refuse();  // a Byzantine proposer's poison
  }
  return true;
}

pb::Block Cluster::build_block(Node& node, std::uint64_t height, const pb::CommitCertificate& last_commit) {
  pb::Block block;
  pb::BlockHeader& h = *block.mutable_header();
  h.set_chain_id(std::string(chain_id));
  h.set_height(height);
  h.set_time_unix_ms(epoch_unix_ms + now_ms_);
  Hash32 previous = genesis_hash();
  if (height > 1) {
    previous = proto::block_hash(node.blocks.at(height - 1).block().header());
    if (last_commit.height() != height - 1 || last_commit.block_id() != previous.to_string()) {
      fail(FailureKind::contract,
           "n" + std::to_string(node.index) + ": BuildBlock at height " + std::to_string(height) +
               " carries a last_commit for height " + std::to_string(last_commit.height()) + " block " +
               short_hex(last_commit.block_id()) + ", not the applied block " + short_hex(previous));
      return block;
    }
    *block.mutable_last_commit() = last_commit;
    h.set_last_commit_hash(proto::hash_message(last_commit).to_string());
  }
  h.set_previous_block_hash(previous.to_string());
  h.set_log_size(0);
  h.set_log_root(Hash32{}.to_string());
  h.set_validator_set_hash(validators_at(height).hash().to_string());
  h.set_proposer_index(node.index);
  const std::uint64_t txs = rng_.below(3);
  for (std::uint64_t i = 0; i < txs; ++i) add_fake_transaction(block, "tx");
  if (txs == 0) h.set_txs_root(proto::txs_root(block.txs()).to_string());
  return block;
}

void Cluster::add_fake_transaction(pb::Block& block, std::string_view prefix) {
  pb::Transaction& tx = *block.add_txs();
  tx.set_body(std::string(prefix) + ":" + to_hex(as_bytes(random_bytes(rng_, 8))));
  tx.set_signature(random_bytes(rng_, 64));
  block.mutable_header()->set_tx_count(static_cast<std::uint32_t>(block.txs_size()));
  block.mutable_header()->set_txs_root(proto::txs_root(block.txs()).to_string());
}

// ------------------------------------------------------------------ network

const NetworkParams& Cluster::network() const {
  return gst_reached_ ? scenario_.after_gst : scenario_.before_gst;
}

bool Cluster::connected(std::uint32_t from, std::uint32_t to) const {
  for (std::uint32_t mask : active_partitions_) {
    if (((mask >> from) & 1u) != ((mask >> to) & 1u)) return false;
  }
  return true;
}

void Cluster::send(std::uint32_t from, std::uint32_t to, const pb::Envelope& envelope) {
  ++outcome_.counters.messages_sent;
  if (!connected(from, to)) {
    ++outcome_.counters.dropped_partition;
    return;
  }
  const NetworkParams& net = network();
  if (net.loss > 0.0 && rng_.chance(net.loss)) {
    ++outcome_.counters.dropped_loss;
    return;
  }
  if (net.duplicate > 0.0 && rng_.chance(net.duplicate)) {
    ++outcome_.counters.duplicated;
    schedule(now_ms_ + rng_.range(net.delay_min_ms, net.delay_max_ms),
             Event{events::Deliver{to, from, envelope}});
  }
  schedule(now_ms_ + rng_.range(net.delay_min_ms, net.delay_max_ms),
           Event{events::Deliver{to, from, envelope}});
}

void Cluster::deliver(Node& node, std::uint32_t from, pb::Envelope& envelope) {
  if (!node.core) {
    ++outcome_.counters.dropped_node_down;
    return;
  }
  if (node.byzantine()) {
    // A Byzantine validator knows what it signed: its puppet core must not be
    // shown the forged messages it sent under its own key (relayed back by
    // honest peers), which an honest core rightly treats as impossible.
    const bool own =
        (envelope.has_vote() && envelope.vote().validator_index() == node.index) ||
        (envelope.has_proposal() && envelope.proposal().proposal().proposer_index() == node.index);
    if (own) return;
    remember(node, envelope);
  }
  ++outcome_.counters.messages_delivered;
  if (envelope.has_proposal()) {
    const auto& p = envelope.proposal().proposal();
    record(TraceKind::proposal_in, node.index, p.height(), p.round(), from, short_id(p.block_id()), 0,
           p.pol_round());
    feed(node, consensus::ProposalReceived{std::move(*envelope.mutable_proposal())});
  } else if (envelope.has_vote()) {
    const auto& v = envelope.vote();
    record(TraceKind::vote_in, node.index, v.height(), v.round(), from, short_id(v.block_id()),
           static_cast<std::uint8_t>(v.type()), v.validator_index());
    feed(node, consensus::VoteReceived{std::move(*envelope.mutable_vote())});
  }
}

// ------------------------------------------------------------------ Byzantine

void Cluster::remember(Node& node, const pb::Envelope& envelope) {
  if (node.history.size() < byzantine_history_max) {
    node.history.push_back(envelope);
  } else {
    node.history[node.history_next] = envelope;
    node.history_next = (node.history_next + 1) % byzantine_history_max;
  }
}

void Cluster::byzantine_broadcast(Node& node, const pb::Envelope& envelope) {
  remember(node, envelope);
  const std::uint32_t b = node.behaviors;
  const bool own_proposal =
      envelope.has_proposal() && envelope.proposal().proposal().proposer_index() == node.index;
  const bool own_vote = envelope.has_vote() && envelope.vote().validator_index() == node.index;
  const bool own_precommit_for_block =
      own_vote && envelope.vote().type() == pb::VOTE_TYPE_PRECOMMIT && !envelope.vote().block_id().empty();
  if (own_proposal && (b & behavior_fork) != 0) {
    fork(node, envelope.proposal());
  } else if (own_vote && (b & behavior_fork) != 0 &&
             node.forked.contains({envelope.vote().height(), envelope.vote().round()})) {
    // Its votes for this round went out with the forked proposal.
  } else if (own_precommit_for_block && (b & behavior_fork) != 0) {
    split_precommit(node, envelope.vote());
  } else if (own_proposal && (b & behavior_equivocate) != 0) {
    equivocate(node, envelope.proposal());
  } else if (own_vote && (b & behavior_double_vote) != 0) {
    double_vote(node, envelope.vote());
  } else {
    for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
      if (to != node.index) send(node.index, to, envelope);
    }
  }
  if ((b & behavior_bad_signatures) != 0 && rng_.chance(0.3)) send_bad_signature(node, envelope);
  if ((b & behavior_wrong_chain) != 0 && own_vote && rng_.chance(0.3))
    send_wrong_chain(node, envelope.vote());
  if ((b & behavior_replay) != 0 && rng_.chance(0.3)) send_replay(node);
  if ((b & behavior_double_vote) != 0 && own_vote && rng_.chance(0.05))
    send_future_vote(node, envelope.vote());
}

void Cluster::equivocate(Node& node, const pb::ProposalMessage& original) {
  pb::Envelope first;
  *first.mutable_proposal() = original;
  pb::Envelope second;
  pb::ProposalMessage& alt = *second.mutable_proposal();
  alt = original;
  const bool poison = (node.behaviors & behavior_invalid_blocks) != 0 && rng_.chance(0.5);
  add_fake_transaction(*alt.mutable_block(), poison ? "invalid" : "equivocation");
  const std::string alt_id = proto::block_hash(alt.block().header()).to_string();
  alt.mutable_proposal()->set_block_id(alt_id);
  // A fresh block claims no proof-of-lock: honest nodes need none to prevote it.
  alt.mutable_proposal()->set_pol_round(-1);
  proto::sign_proposal(*alt.mutable_proposal(), chain_id, test_key(node.index));
  const std::uint64_t height = original.proposal().height();
  auto& known = node.alternatives[height];
  if (known.size() < 8) known.push_back(alt_id);
  while (node.alternatives.size() > 4) node.alternatives.erase(node.alternatives.begin());
  record(TraceKind::byz_equivocate, node.index, height, original.proposal().round(), 0, short_id(alt_id));
  // Sometimes the fresh block goes to everyone: a proposer that ignores the
  // valid-value rule. Otherwise each peer gets one of the two at random.
  const bool only_fresh = rng_.chance(0.3);
  for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to == node.index) continue;
    ++outcome_.counters.byzantine_messages;
    send(node.index, to, only_fresh || rng_.chance(0.5) ? second : first);
  }
}

void Cluster::fork(Node& node, const pb::ProposalMessage& original) {
  pb::Envelope forked;
  pb::ProposalMessage& alt = *forked.mutable_proposal();
  alt = original;
  add_fake_transaction(*alt.mutable_block(), "fork");
  const std::string alt_id = proto::block_hash(alt.block().header()).to_string();
  alt.mutable_proposal()->set_block_id(alt_id);
  alt.mutable_proposal()->set_pol_round(-1);
  proto::sign_proposal(*alt.mutable_proposal(), chain_id, test_key(node.index));
  const std::uint64_t height = original.proposal().height();
  const std::uint32_t round = original.proposal().round();
  node.forked.insert({height, round});
  while (node.forked.size() > 64) node.forked.erase(node.forked.begin());
  auto& known = node.alternatives[height];
  if (known.size() < 8) known.push_back(alt_id);
  while (node.alternatives.size() > 4) node.alternatives.erase(node.alternatives.begin());
  record(TraceKind::byz_equivocate, node.index, height, round, 0, short_id(alt_id));
  std::vector<pb::Envelope> messages{forked};
  for (pb::VoteType type : {pb::VOTE_TYPE_PREVOTE, pb::VOTE_TYPE_PRECOMMIT}) {
    pb::Envelope envelope;
    pb::Vote& v = *envelope.mutable_vote();
    v.set_type(type);
    v.set_height(height);
    v.set_round(round);
    v.set_block_id(alt_id);
    v.set_validator_index(node.index);
    proto::sign_vote(v, chain_id, test_key(node.index));
    messages.push_back(std::move(envelope));
  }
  for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to == node.index) continue;
    for (const auto& m : messages) {
      ++outcome_.counters.byzantine_messages;
      send(node.index, to, m);
    }
  }
}

void Cluster::split_precommit(Node& node, const pb::Vote& vote) {
  pb::Envelope original;
  *original.mutable_vote() = vote;
  pb::Envelope nil;
  pb::Vote& v = *nil.mutable_vote();
  v = vote;
  v.set_block_id(std::string());
  proto::sign_vote(v, chain_id, test_key(node.index));
  std::uint32_t lucky = static_cast<std::uint32_t>(rng_.below(nodes_.size()));
  if (lucky == node.index) lucky = (lucky + 1) % static_cast<std::uint32_t>(nodes_.size());
  for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to == node.index) continue;
    if (to != lucky) {
      record(TraceKind::byz_conflicting_vote, node.index, v.height(), v.round(), to, 0,
             static_cast<std::uint8_t>(v.type()));
    }
    ++outcome_.counters.byzantine_messages;
    send(node.index, to, to == lucky ? original : nil);
  }
}

void Cluster::double_vote(Node& node, const pb::Vote& vote) {
  pb::Envelope original;
  *original.mutable_vote() = vote;
  for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to == node.index) continue;
    if (rng_.chance(0.5)) {
      send(node.index, to, original);
      continue;
    }
    pb::Envelope other;
    pb::Vote& v = *other.mutable_vote();
    v = vote;
    // Mostly a vote for the block this validator made up at the height (it
    // helps that block gather a quorum); otherwise nil or a random id.
    const auto alternatives = node.alternatives.find(vote.height());
    if (alternatives != node.alternatives.end() && alternatives->second.back() != vote.block_id() &&
        rng_.chance(0.7)) {
      v.set_block_id(alternatives->second.back());
    } else if (!vote.block_id().empty() && rng_.chance(0.5)) {
      v.set_block_id(std::string());
    } else {
      v.set_block_id(random_bytes(rng_, 32));
    }
    proto::sign_vote(v, chain_id, test_key(node.index));
    record(TraceKind::byz_conflicting_vote, node.index, v.height(), v.round(), to, short_id(v.block_id()),
           static_cast<std::uint8_t>(v.type()));
    ++outcome_.counters.byzantine_messages;
    send(node.index, to, other);
  }
}

void Cluster::send_bad_signature(Node& node, const pb::Envelope& envelope) {
  pb::Envelope bad = envelope;
  std::uint32_t claimed = node.index;
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  if (bad.has_vote()) {
    pb::Vote& v = *bad.mutable_vote();
    if (rng_.chance(0.5)) {
      claimed = static_cast<std::uint32_t>(rng_.below(nodes_.size()));
      v.set_validator_index(claimed);  // impersonation: the signature is not that validator's
    } else {
      v.set_signature(random_bytes(rng_, 64));
    }
    height = v.height();
    round = v.round();
  } else if (bad.has_proposal()) {
    pb::Proposal& p = *bad.mutable_proposal()->mutable_proposal();
    p.set_signature(random_bytes(rng_, rng_.chance(0.9) ? 64 : rng_.below(80)));
    height = p.height();
    round = p.round();
  } else {
    return;
  }
  record(TraceKind::byz_bad_signature, node.index, height, round, claimed);
  std::uint32_t to = static_cast<std::uint32_t>(rng_.below(nodes_.size()));
  if (to == node.index) to = (to + 1) % static_cast<std::uint32_t>(nodes_.size());
  ++outcome_.counters.byzantine_messages;
  send(node.index, to, bad);
}

void Cluster::send_wrong_chain(Node& node, const pb::Vote& vote) {
  pb::Envelope other;
  pb::Vote& v = *other.mutable_vote();
  v = vote;
  proto::sign_vote(v, other_chain_id, test_key(node.index));
  record(TraceKind::byz_wrong_chain, node.index, v.height(), v.round(), 0, 0,
         static_cast<std::uint8_t>(v.type()));
  for (std::uint32_t to = 0; to < nodes_.size(); ++to) {
    if (to == node.index) continue;
    ++outcome_.counters.byzantine_messages;
    send(node.index, to, other);
  }
}

void Cluster::send_replay(Node& node) {
  if (node.history.empty()) return;
  const pb::Envelope& old = node.history[rng_.below(node.history.size())];
  std::uint32_t to = static_cast<std::uint32_t>(rng_.below(nodes_.size()));
  if (to == node.index) to = (to + 1) % static_cast<std::uint32_t>(nodes_.size());
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  if (old.has_vote()) {
    height = old.vote().height();
    round = old.vote().round();
  } else if (old.has_proposal()) {
    height = old.proposal().proposal().height();
    round = old.proposal().proposal().round();
  }
  record(TraceKind::byz_replay, node.index, height, round, to);
  ++outcome_.counters.byzantine_messages;
  send(node.index, to, old);
}

void Cluster::send_future_vote(Node& node, const pb::Vote& vote) {
  pb::Envelope future;
  pb::Vote& v = *future.mutable_vote();
  v = vote;
  v.set_height(vote.height() + rng_.range(2, 100));
  v.set_round(static_cast<std::uint32_t>(rng_.below(4)));
  v.set_block_id(random_bytes(rng_, 32));
  proto::sign_vote(v, chain_id, test_key(node.index));
  record(TraceKind::byz_future_vote, node.index, v.height(), v.round(), 0, 0,
         static_cast<std::uint8_t>(v.type()));
  std::uint32_t to = static_cast<std::uint32_t>(rng_.below(nodes_.size()));
  if (to == node.index) to = (to + 1) % static_cast<std::uint32_t>(nodes_.size());
  ++outcome_.counters.byzantine_messages;
  send(node.index, to, future);
}

// ---------------------------------------------------------------- invariants

void Cluster::check_signed(Node& node, const pb::Envelope& envelope, bool leaving) {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  std::uint32_t validator = 0;
  std::uint32_t step = 0;
  const std::string* block_id = nullptr;
  bool signature_ok = true;
  const std::string who = "n" + std::to_string(node.index);
  if (envelope.has_proposal()) {
    const pb::Proposal& p = envelope.proposal().proposal();
    height = p.height();
    round = p.round();
    validator = p.proposer_index();
    step = 1;
    block_id = &p.block_id();
    if (validator == node.index) {
      signature_ok =
          verifier_->verify(node_keys_[validator], proto::proposal_digest(p, chain_id), p.signature());
      if (envelope.proposal().has_block() &&
          proto::block_hash(envelope.proposal().block().header()).to_string() != p.block_id()) {
        fail(FailureKind::contract, who + ": proposal's block_id is not the hash of its block");
        return;
      }
    }
  } else if (envelope.has_vote()) {
    const pb::Vote& v = envelope.vote();
    height = v.height();
    round = v.round();
    validator = v.validator_index();
    step = step_of_vote(v.type());
    block_id = &v.block_id();
    if (validator == node.index) {
      if (step == 0) {
        fail(FailureKind::contract, who + ": signed a vote of unknown type");
        return;
      }
      signature_ok = verifier_->verify(node_keys_[validator], proto::vote_digest(v, chain_id), v.signature());
    }
  } else {
    return;
  }
  if (validator != node.index) return;  // someone else's message passed along
  if (options_.set_change) {
    // Only the set in charge of a height may sign for it: the joiner not
    // before it joins nor after it leaves.
    if (!in_tenure(node.index, height)) {
      fail(FailureKind::contract,
           who + " signed for height " + std::to_string(height) + " where it is not in the validator set");
      return;
    }
    if (node.index == options_.validators && step == 3) joiner_signed_in_tenure_ = true;
  }
  const std::string what = std::string(step == 1   ? "proposal"
                                       : step == 2 ? "prevote"
                                                   : "precommit") +
                           " h=" + std::to_string(height) + " r=" + std::to_string(round) + " block " +
                           short_hex(*block_id);
  if (!signature_ok) {
    fail(FailureKind::contract, who + ": its own " + what + " carries a signature that does not verify");
    return;
  }
  if (leaving) {
    const auto& s = node.sign_state;
    if (!s || std::make_tuple(s->height(), s->round(), s->step()) < std::make_tuple(height, round, step)) {
      fail(FailureKind::unpersisted_send,
           who + ": sends its " + what + " before a sign state covering it is persisted (persisted: " +
               (s ? "h=" + std::to_string(s->height()) + " r=" + std::to_string(s->round()) +
                        " step=" + std::to_string(s->step())
                  : std::string("nothing")) +
               ")");
      return;
    }
  }
  auto [it, inserted] = signed_.emplace(SignedKey{height, round, validator, step}, *block_id);
  if (!inserted && it->second != *block_id) {
    fail(FailureKind::double_sign, who + " (honest) signed " + what + " after signing block " +
                                       short_hex(it->second) + " for the same height, round and step");
  }
}

void Cluster::check_node(Node& node) {
  if (!node.core) return;
  outcome_.counters.max_round = std::max<std::uint64_t>(outcome_.counters.max_round, node.core->round());
  if (node.byzantine()) return;
  if (node.core->height() != node.last_applied + 1) {
    fail(FailureKind::contract, "n" + std::to_string(node.index) + ": core at height " +
                                    std::to_string(node.core->height()) + " but the node has applied up to " +
                                    std::to_string(node.last_applied));
  }
}

void Cluster::maybe_start_liveness_clock() {
  if (!gst_reached_ || liveness_clock_started_) return;
  std::uint64_t highest = 0;
  for (const auto& node : nodes_) {
    if (node->byzantine()) continue;
    if (!node->core) return;  // wait for every honest node to be back
    highest = std::max(highest, node->last_applied);
  }
  liveness_clock_started_ = true;
  liveness_target_height_ = highest + scenario_.heights_after_heal;
  // A set change must be behind every honest node before the run ends.
  if (options_.set_change) {
    liveness_target_height_ = std::max(liveness_target_height_, set_change_leave_height + 2);
  }
  record(TraceKind::liveness_start, 0, liveness_target_height_, 0, 0, 0, 0,
         static_cast<std::int64_t>(scenario_.liveness_bound_ms));
  schedule(now_ms_ + scenario_.liveness_bound_ms, Event{events::LivenessDeadline{}});
  check_liveness_progress();
}

void Cluster::check_liveness_progress() {
  if (!liveness_clock_started_) return;
  for (const auto& node : nodes_) {
    if (!node->byzantine() && node->last_applied < liveness_target_height_) return;
  }
  done_ = true;
}

}  // namespace cityledger::sim
