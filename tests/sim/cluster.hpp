// A deterministic simulation of a cityledger validator cluster, in the spirit
// of TigerBeetle's VOPR (docs/simulation.md).
//
// n consensus cores (consensus::Core) are driven by one event queue ordered by
// (simulated time, sequence number): no wall clock, no threads. One seeded
// PRNG decides everything random - the fault schedule, network delays, losses,
// duplicates, Byzantine choices - so a seed replays exactly. Around the cores
// the cluster simulates a lossy, partitionable network, each node's
// application (block validation and building), its disk (sign state and
// applied blocks, losing unsynced writes on a crash), crashes and restarts,
// and up to f Byzantine validators. Invariants are checked as every step
// happens; the first violation stops the run.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "consensus/core.hpp"
#include "memo_verifier.hpp"
#include "rng.hpp"
#include "trace.hpp"

namespace cityledger::sim {

// Which family of fault schedules a seed draws from.
enum class Profile : std::uint8_t {
  chaos,      // the default: everything below, mixed at random per seed
  calm,       // no faults at all: a short, synchronous, lossless network (the benchmark)
  lockbreak,  // a schedule that makes a broken locking rule show quickly (see docs/simulation.md)
};
const char* profile_name(Profile profile);
std::optional<Profile> profile_from_name(std::string_view name);

struct Options {
  std::uint32_t validators = 4;
  std::uint64_t seed = 0;
  Profile profile = Profile::chaos;
  // Honest cores run with Config::test_disable_locking (cl_consensus_testing only).
  bool disable_locking = false;
  bool echo_trace = false;  // print every trace record as it happens
  std::size_t trace_ring = 400;
  // Heights every honest node must commit after the network heals; 0 takes the profile's default.
  std::uint32_t heights_after_heal = 0;
  std::uint64_t max_events = 5'000'000;
  // A validator-set change through the cores (docs/governance.md): one more
  // node (index n, honest, never crashed) runs as a follower, joins the set
  // from set_change_join_height and leaves it again from
  // set_change_leave_height; the set is fed per height via CommitApplied.
  bool set_change = false;
};
inline constexpr std::uint64_t set_change_join_height = 3;
inline constexpr std::uint64_t set_change_leave_height = 9;

enum class FailureKind : std::uint8_t {
  none,
  safety,            // two different blocks committed at one height by honest nodes
  double_sign,       // an honest validator signed two different messages for one (height, round, step)
  unpersisted_send,  // an honest signed message left before the sign state covering it was persisted
  bad_certificate,   // a Commit whose certificate does not verify
  bad_evidence,      // evidence against an honest validator, or evidence that does not hold up
  liveness,          // honest nodes did not commit enough heights in time after the network healed
  contract,          // the core broke its documented contract (see the message)
  event_budget,      // too many events: a message storm or a livelock
};
const char* failure_name(FailureKind kind);

struct Counters {
  std::uint64_t events = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_delivered = 0;
  std::uint64_t dropped_partition = 0;
  std::uint64_t dropped_loss = 0;
  std::uint64_t dropped_node_down = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t crashes = 0;
  std::uint64_t persists_lost = 0;
  std::uint64_t byzantine_messages = 0;
  std::uint64_t evidence = 0;
  std::uint64_t catch_up_blocks = 0;
  std::uint64_t validate_without_parent = 0;
  std::uint64_t invalid_blocks_refused = 0;
  std::uint64_t max_round = 0;
  std::uint64_t signature_checks = 0;      // real BIP340 verifications
  std::uint64_t signature_cache_hits = 0;  // answered from the shared cache
};

struct Outcome {
  FailureKind failure = FailureKind::none;
  std::string message;
  std::uint64_t sim_time_ms = 0;
  std::uint64_t min_honest_height = 0;  // lowest last applied height among honest nodes
  std::uint64_t max_honest_height = 0;
  std::uint64_t trace_digest = 0;
  Counters counters;
  bool ok() const { return failure == FailureKind::none; }
};

// One network regime: before or after the global stabilization time (GST).
struct NetworkParams {
  std::uint64_t delay_min_ms = 1;
  std::uint64_t delay_max_ms = 10;
  double loss = 0.0;
  double duplicate = 0.0;
};

// Byzantine behaviours, a bit mask per validator (0 = honest).
enum Behavior : std::uint32_t {
  behavior_silent = 1u << 0,          // crashed forever: never sends anything
  behavior_equivocate = 1u << 1,      // proposes different blocks to different peers
  behavior_double_vote = 1u << 2,     // signs conflicting prevotes and precommits
  behavior_invalid_blocks = 1u << 3,  // proposes (and votes for) blocks that fail validation
  behavior_bad_signatures = 1u << 4,  // random signature bytes, impersonation
  behavior_replay = 1u << 5,          // re-sends old messages from earlier heights and rounds
  behavior_wrong_chain = 1u << 6,     // signs votes for another chain id
  // A targeted attack on the locking rule: as proposer, sends everyone a fresh
  // block together with its prevote and precommit for it; otherwise sends a
  // precommit for a block to one peer only (nil to the others).
  behavior_fork = 1u << 7,
};
std::string behavior_names(std::uint32_t behaviors);

// Everything a seed decides up front. Further random choices (delays, losses,
// crash-on-persist, Byzantine coin flips) are drawn as the run goes, from the
// same generator, in event order.
struct Scenario {
  std::uint32_t validators = 4;
  NetworkParams before_gst;
  NetworkParams after_gst;
  std::uint64_t gst_ms = 0;
  std::vector<std::uint32_t> behaviors;  // per validator
  struct Partition {
    std::uint64_t start_ms = 0;
    std::uint64_t end_ms = 0;
    std::uint32_t side_mask = 0;  // bit i set: validator i is on side B
  };
  std::vector<Partition> partitions;
  struct Crash {
    std::uint32_t node = 0;
    std::uint64_t at_ms = 0;
    std::uint64_t down_ms = 0;
  };
  std::vector<Crash> crashes;
  double crash_on_persist = 0.0;  // chance that a crash hits while a Persist is pending (before GST)
  std::uint32_t crashes_max = 0;
  std::uint64_t app_delay_max_ms = 5;
  std::uint64_t disk_delay_max_ms = 5;
  std::uint32_t heights_after_heal = 4;
  std::uint64_t liveness_bound_ms = 120'000;
  consensus::Timeouts timeouts;

  static Scenario generate(const Options& options, Rng& rng);
  std::string describe() const;
};

class Cluster {
 public:
  explicit Cluster(const Options& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  Outcome run();

  const Scenario& scenario() const { return scenario_; }
  const Trace& trace() const { return trace_; }

 private:
  struct Node;
  struct Event;
  struct QueueEntry;

  // The event queue.
  void schedule(std::uint64_t at_ms, Event event);
  void dispatch(Event& event);

  // Driving a core and carrying out its outputs.
  void start_core(Node& node, bool restart);
  void feed(Node& node, consensus::Input input);
  void execute(Node& node, consensus::Output& output);
  void on_broadcast(Node& node, pb::Envelope envelope);
  void release(Node& node, const pb::Envelope& envelope);
  void on_persist(Node& node, pb::SignState state);
  void on_persist_done(Node& node);
  void on_commit(Node& node, consensus::Commit& commit);
  void on_commit_done(Node& node, pb::CommittedBlock committed);
  void on_evidence(Node& node, const pb::DuplicateVoteEvidence& evidence);
  void fetch_committed_block(Node& node, std::uint64_t height, std::uint32_t attempt);
  void crash(Node& node, std::uint64_t down_ms);
  void restart(Node& node);

  // The application.
  bool validate_block(Node& node, const pb::Block& block, std::uint64_t height);
  pb::Block build_block(Node& node, std::uint64_t height, const pb::CommitCertificate& last_commit);
  void add_fake_transaction(pb::Block& block, std::string_view prefix);

  // The network.
  bool connected(std::uint32_t from, std::uint32_t to) const;
  void send(std::uint32_t from, std::uint32_t to, const pb::Envelope& envelope);
  const NetworkParams& network() const;
  void deliver(Node& node, std::uint32_t from, pb::Envelope& envelope);

  // Byzantine validators.
  void byzantine_broadcast(Node& node, const pb::Envelope& envelope);
  void equivocate(Node& node, const pb::ProposalMessage& proposal);
  void double_vote(Node& node, const pb::Vote& vote);
  void send_bad_signature(Node& node, const pb::Envelope& envelope);
  void send_wrong_chain(Node& node, const pb::Vote& vote);
  void send_replay(Node& node);
  void send_future_vote(Node& node, const pb::Vote& vote);
  void fork(Node& node, const pb::ProposalMessage& proposal);
  void split_precommit(Node& node, const pb::Vote& vote);
  void remember(Node& node, const pb::Envelope& envelope);

  // Invariants.
  void check_signed(Node& node, const pb::Envelope& envelope, bool leaving);
  void check_node(Node& node);
  void check_liveness_progress();
  void maybe_start_liveness_clock();
  void fail(FailureKind kind, std::string message);

  void record(TraceKind kind, std::uint32_t node, std::uint64_t height = 0, std::uint32_t round = 0,
              std::uint32_t peer = 0, std::uint32_t block = 0, std::uint8_t detail = 0,
              std::int64_t extra = 0);

  Options options_;
  Rng rng_;
  Scenario scenario_;
  Trace trace_;
  // The set in charge of `height` (the genesis set unless options_.set_change).
  consensus::ValidatorSet validators_at(std::uint64_t height) const;
  bool in_tenure(std::uint32_t node, std::uint64_t height) const;  // node is a validator at height

  consensus::ValidatorSet validators_;   // the genesis set: nodes 0..n-1
  consensus::ValidatorSet with_joiner_;  // nodes 0..n (set_change only)
  std::vector<crypto::PublicKey> node_keys_;
  bool joiner_signed_in_tenure_ = false;
  std::unique_ptr<MemoVerifier> verifier_;
  std::vector<std::unique_ptr<Node>> nodes_;

  std::vector<QueueEntry> queue_;  // a binary heap on (time, sequence)
  std::uint64_t sequence_ = 0;
  std::uint64_t now_ms_ = 0;

  std::vector<std::uint32_t> active_partitions_;  // side masks
  bool gst_reached_ = false;
  bool liveness_clock_started_ = false;
  std::uint64_t liveness_target_height_ = 0;
  bool done_ = false;
  std::uint32_t crashes_left_ = 0;

  // Invariant state, over honest nodes only.
  struct CommittedAt {
    Hash32 id;
    std::uint32_t node = 0;  // the first honest node that committed it
    std::uint64_t time_ms = 0;
  };
  std::map<std::uint64_t, CommittedAt> committed_;  // height -> the block committed there
  struct SignedKey {
    std::uint64_t height;
    std::uint32_t round;
    std::uint32_t validator;
    std::uint32_t step;
    bool operator==(const SignedKey&) const = default;
  };
  struct SignedKeyHasher {
    std::size_t operator()(const SignedKey& k) const noexcept;
  };
  std::unordered_map<SignedKey, std::string, SignedKeyHasher> signed_;  // -> block id signed

  Outcome outcome_;
};

// First four bytes of a block id as a number, for the trace (0 for nil).
std::uint32_t short_id(const std::string& block_id);

}  // namespace cityledger::sim
