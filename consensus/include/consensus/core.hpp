// Tendermint-style BFT consensus as a pure state machine:
//   handle(input) -> outputs
// Protocol, safety and liveness arguments: docs/consensus.md.
//
// Safety rules (what may be signed) live apart from the pacemaker (rounds,
// timeouts, proposer rotation), following libhotstuff's split.
//
// Contract notes (how the implementation reads this header; for drivers):
// - Proposer of (height, round): validator (height - 1 + round) mod n.
// - Persist/Persisted: Persisted(state) releases, in order, every held signed
//   message whose (height, round, step) is at or below state's, outputting
//   Broadcast for each; only then does the core count its own vote.
// - Broadcast may carry messages signed by OTHER validators: relays the core
//   sends so lost messages cannot stall it: the prevotes that justify a
//   proposal's pol_round (with its own proposal, and on timeouts for its valid
//   value and for the current round's proposal), and the previous height's
//   commit certificate as precommit votes (on a timeout, after a peer sent
//   something for height - 1). Only envelopes whose vote.validator_index /
//   proposal.proposer_index is this validator's own index were signed by it.
// - Timeouts: each round's timeout_propose is scheduled when the round starts
//   (proposer included). When a timeout of the current round fires the core
//   re-broadcasts its latest proposal of the height, its votes of the round
//   and its latest precommit for a block from an earlier round, and schedules
//   the next step's timeout if it was not yet scheduled (propose -> prevote ->
//   precommit -> next round), so every round ends and retransmits. Each
//   (height, round, step) timeout is scheduled at most once.
// - Restart (Config::restored at the same height): Start resumes in the
//   restored round and step with the restored lock and re-broadcasts the
//   restored message without a new Persist. A restored state for another
//   height only sets the guard. The guard refuses (and counts in
//   Stats::double_sign_refusals) any different message at or below the last
//   signed (height, round, step); the identical one is re-broadcast.
// - Restored blocks (Config::restored_blocks): the SignState keeps the lock's
//   block id but not its content. A driver that wants liveness across a crash
//   of every validator holding the locked block keeps the blocks it built or
//   declared valid at the current height durably (before answering BlockBuilt /
//   BlockValidated) and passes them back on restart; they are taken as valid.
//   A restarted proposer re-proposes its valid value (or, failing that, its
//   locked block) when it holds it, with pol_round -1 if it no longer holds
//   the prevotes that justify the value's round. Votes are counted per block: a validator
//   that equivocates counts once for each distinct block it voted for (as in
//   the paper), and every vote after its first is also evidence.
// - Commit needs 2f+1 precommits for one block in one round and the block's
//   content (from any proposal or the core's own build), not a local
//   BlockValidated: 2f+1 precommits include f+1 honest validators that
//   validated it. Missing content -> RequestCommittedBlock.
// - Inputs before Start are ignored. BlockBuilt for a round or step the core
//   has left is ignored; one whose header height is wrong is dropped as
//   malformed. CommitApplied is acted on only after Commit at that height.
// - Votes/proposals more than 64 rounds ahead are not stored (DropReason::
//   future_round) but a valid signature still counts for the round skip.
//   A second, different proposal of a round's proposer is dropped as
//   conflicting_proposal (its block is kept, in case 2f+1 precommit it).
// - Messages for height + 1 are buffered after a signature check against the
//   current validator set, each validator getting an equal share of
//   future_messages_max; higher heights are dropped (future_height). Both
//   count towards the f+1 "peers are ahead" rule.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "consensus/types.hpp"

namespace cityledger::consensus {

struct Config {
  std::string chain_id;
  // This validator's key; without one the core follows and commits but never signs.
  std::optional<crypto::SecretKey> key;
  ValidatorSet validators;   // in charge of `height`
  std::uint64_t height = 1;  // the first height not yet committed
  // The previous height's commit certificate (empty when height == 1): goes
  // into the next block this validator proposes.
  pb::CommitCertificate last_commit;
  // The last SignState this validator persisted, restored after a restart.
  std::optional<pb::SignState> restored;
  // Blocks of `height` that the driver kept durably before answering
  // BlockBuilt or BlockValidated{valid: true} (see the contract notes): after a
  // restart they let the core re-propose the block it is locked on. Without
  // them a cluster in which every validator that holds the locked block
  // crashes can stall at that height (the lock survives, the block does not).
  std::vector<pb::Block> restored_blocks;
  Timeouts timeouts;
  // Messages for heights above the current one that are kept until we get there.
  std::size_t future_messages_max = 4096;
  // Test-only: ignore the locking rule, so the simulator can show it finds the
  // resulting safety violation. Honoured only by the cl_consensus_testing
  // library (compiled with CITYLEDGER_TEST_HOOKS); the production library
  // refuses a config that sets it.
  bool test_disable_locking = false;
};

struct Stats {
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::count_)> dropped{};
  std::uint64_t proposals_accepted = 0;
  std::uint64_t votes_accepted = 0;
  std::uint64_t commits = 0;
  std::uint64_t double_sign_refusals = 0;  // the guard stopped a conflicting signature
};

class Core {
 public:
  // verifier must outlive the core.
  Core(Config config, SignatureVerifier& verifier);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  [[nodiscard]] std::vector<Output> handle(const Input& input);

  std::uint64_t height() const;
  std::uint32_t round() const;
  Step step() const;
  // -1 when not locked.
  std::int32_t locked_round() const;
  std::optional<BlockId> locked_block() const;
  // -1 when there is no valid value (a block with 2f+1 prevotes in a round).
  std::int32_t valid_round() const;
  std::optional<BlockId> valid_block() const;
  // Commit output for the current height; waiting for CommitApplied.
  bool decided() const;
  // Signed messages waiting for Persisted.
  std::size_t held_messages() const;
  // Messages buffered for height + 1.
  std::size_t future_messages() const;
  const ValidatorSet& validators() const;
  const Stats& stats() const;
  const std::vector<pb::DuplicateVoteEvidence>& evidence() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Checks that `cert` carries valid precommit signatures of at least a quorum
// of distinct validators of `validators` for `block_id` at `height`.
bool verify_commit_certificate(const pb::CommitCertificate& cert, std::string_view chain_id,
                               const ValidatorSet& validators, std::uint64_t height, const BlockId& block_id,
                               SignatureVerifier& verifier);

}  // namespace cityledger::consensus
