// The core's internal state, shared by its three source files:
//   core.cpp      inputs: checking and storing proposals and votes, evidence,
//                 the future-height buffer, Persisted/release, catch-up blocks
//   safety.cpp    what may be signed: the Tendermint upon-rules for prevote,
//                 precommit, locking and commit, and the double-sign guard
//   pacemaker.cpp rounds: start of a round, proposer duty, timeouts, round
//                 skip, retransmission, catch-up requests, the next height
#pragma once

#include <compare>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "consensus/core.hpp"

namespace cityledger::consensus {

namespace limits {
// Votes and proposals further ahead than this many rounds are not stored; a
// valid signature on one still counts towards the round skip (f+1 rule).
inline constexpr std::uint32_t rounds_ahead_max = 64;
// Distinct blocks kept per round: the round's proposal plus one conflicting
// proposal of an equivocating proposer (enough to commit either).
inline constexpr std::size_t blocks_per_round_max = 2;
// Distinct votes kept (and counted, each for its block) per (validator,
// round, type) for blocks we do not hold; every one after the first is also
// evidence. Votes for nil or for a held block are always kept (bounded by
// the blocks held).
inline constexpr std::size_t votes_per_slot_max = 4;
inline constexpr std::size_t evidence_max = 1024;
// The upon-rules fire a bounded number of times per input: three steps per
// round plus round skips. Far more than this is a bug (a livelock).
inline constexpr int advance_iterations_max = 10'000;
}  // namespace limits

// (height, round, step) of a signed message; the guard orders them.
struct SignKey {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  std::uint32_t step = 0;
  auto operator<=>(const SignKey&) const = default;
};

// The votes of one type in one round.
struct VoteTally {
  // Per validator: the distinct votes seen (more than one is equivocation).
  // Each counts for its own block; a validator appears in a block's count at
  // most once because the votes in a slot name distinct blocks.
  std::vector<std::vector<pb::Vote>> by_validator;
  std::map<std::string, std::uint32_t> count_by_block;  // block_id bytes ("" = nil) -> validators
  std::uint32_t total = 0;                              // validators with any vote

  std::uint32_t count(const std::string& block_id) const {
    auto it = count_by_block.find(block_id);
    return it == count_by_block.end() ? 0 : it->second;
  }
};

struct RoundState {
  VoteTally prevotes;
  VoteTally precommits;
  // The first valid proposal of the round's proposer (without its block,
  // which is in State::blocks).
  std::optional<pb::Proposal> proposal;
  std::size_t blocks = 0;  // distinct proposal blocks stored for this round
  bool timeout_propose_scheduled = false;
  bool timeout_prevote_scheduled = false;
  bool timeout_precommit_scheduled = false;
  bool polka_rule_done = false;  // Algorithm 1 line 36 fires once per round
  bool build_requested = false;
  bool proposal_signed = false;
  // This validator's own messages once released (persisted), for retransmission.
  std::optional<pb::Envelope> own_proposal;
  std::optional<pb::Envelope> own_prevote;
  std::optional<pb::Envelope> own_precommit;
};

enum class Validity : std::uint8_t { unknown, pending, valid, invalid };

struct BlockEntry {
  pb::Block block;
  Validity validity = Validity::unknown;
};

// A signed message waiting for its SignState to be persisted.
struct Held {
  SignKey key;
  pb::Envelope envelope;
};

struct FutureMessage {
  std::uint32_t sender = 0;
  std::variant<pb::ProposalMessage, pb::Vote> message;
};

enum class MessageOrigin : std::uint8_t { peer, own };

struct Core::State {
  State(Config config_in, SignatureVerifier& verifier_in);

  Config config;
  SignatureVerifier& verifier;
  std::vector<Output>* out = nullptr;  // the outputs of the input being handled
  bool started = false;

  // ---- height
  std::uint64_t height = 1;
  ValidatorSet validators;
  std::optional<std::uint32_t> own_index;  // this validator's index in `validators`
  pb::CommitCertificate last_commit;
  bool decided = false;  // Commit output; waiting for CommitApplied
  pb::CommitCertificate decided_certificate;
  std::map<BlockId, BlockEntry> blocks;
  std::map<std::uint32_t, RoundState> rounds;
  // The first round and block that reached 2f+1 precommits.
  std::optional<std::pair<std::uint32_t, BlockId>> precommit_quorum;
  std::vector<std::int64_t> highest_round_seen;  // per validator, -1 = none
  std::vector<bool> ahead;                       // per validator: sent a valid message for a higher height
  std::uint32_t ahead_count = 0;
  std::optional<std::uint32_t> catch_up_requested_round;
  bool peer_behind = false;  // someone sent a message for height - 1 since our last retransmission

  // ---- round
  std::uint32_t round = 0;
  Step step = Step::propose;
  std::int32_t locked_round = -1;
  std::optional<BlockId> locked_block;
  std::int32_t valid_round = -1;
  std::optional<BlockId> valid_block;

  // ---- double-sign guard
  std::optional<SignKey> last_signed;
  pb::Envelope last_signed_message;
  std::deque<Held> held;

  // ---- buffers and records
  std::deque<FutureMessage> future;
  std::vector<std::size_t> future_by_sender;
  std::set<std::string> future_signatures;  // exact duplicates are not buffered twice
  std::vector<pb::DuplicateVoteEvidence> evidence;
  Stats stats;

  // core.cpp: inputs
  void on_start();
  void on_proposal(const pb::ProposalMessage& message, MessageOrigin origin);
  void on_vote(const pb::Vote& vote, MessageOrigin origin);
  void on_block_validated(const BlockValidated& input);
  void on_block_built(const BlockBuilt& input);
  void on_persisted(const pb::SignState& state);
  void on_committed_block(const pb::CommittedBlock& committed);
  void on_future_message(std::uint32_t sender, std::uint64_t message_height, const std::string& signature,
                         bool signature_ok, FutureMessage message);
  void release(const Held& held_message);
  void record_evidence(const pb::Vote& first, const pb::Vote& second);
  void drop(DropReason reason) { ++stats.dropped[static_cast<std::size_t>(reason)]; }
  bool verify_vote_signature(const pb::Vote& vote);
  bool verify_proposal_signature(const pb::Proposal& proposal);
  RoundState& round_state(std::uint32_t r);

  // safety.cpp: the upon-rules and the guard
  void advance();
  bool advance_once();
  bool try_commit();
  bool try_prevote();
  bool try_precommit_on_polka();
  bool try_precommit_nil();
  bool lock_allows(const BlockId& block_id, std::int32_t pol_round) const;
  void commit(std::uint32_t commit_round, const BlockId& block_id);
  void sign_vote_and_hold(pb::VoteType type, std::uint32_t vote_round,
                          const std::optional<BlockId>& block_id);
  void sign_proposal_and_hold(std::int32_t pol_round, const BlockId& block_id, const pb::Block& block);
  // False (and counted) when the guard refuses to sign `key` with this content.
  bool guard_allows(const SignKey& key, const pb::Envelope& unsigned_message);
  void hold(const SignKey& key, pb::Envelope envelope);

  // pacemaker.cpp: rounds, timeouts, catch-up
  void start_round(std::uint32_t r);
  void propose();
  void on_timeout(const TimeoutFired& timeout);
  void schedule_timeout(Step timeout_step);
  bool try_round_skip();
  void try_schedule_timeouts();
  void try_request_catch_up();
  void note_round(std::uint32_t validator, std::uint32_t message_round);
  void note_ahead(std::uint32_t validator);
  void retransmit();
  void relay_polka(std::uint32_t pol_round, const std::string& block_id);
  void on_commit_applied(const CommitApplied& applied);
  void enter_height(std::uint64_t new_height, ValidatorSet new_validators);
  void restore(const pb::SignState& state);

  pb::SignState make_sign_state(const SignKey& key, const pb::Envelope& message) const;
  void emit(Output output) { out->push_back(std::move(output)); }
  bool is_proposer(std::uint32_t r) const {
    return own_index && *own_index == validators.proposer(height, r);
  }
};

std::string block_id_bytes(const std::optional<BlockId>& id);
SignKey key_of(const pb::SignState& state);

}  // namespace cityledger::consensus
