// The consensus core's vocabulary: validator sets, steps, and the inputs and
// outputs of the pure state machine in consensus/core.hpp.
//
// The core never touches sockets, clocks, threads or disk. Whoever drives it
// (the node in production, the simulator in tests/sim/) feeds it Inputs and
// carries out the Outputs it returns, in order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::consensus {

using BlockId = Hash32;  // proto::block_hash(header); a vote for nil carries no id

enum class Step : std::uint8_t { propose = 1, prevote = 2, precommit = 3 };
const char* step_name(Step step);

// n = 3f + 1 validators with equal voting power. The order is the genesis (or
// governance) order; a validator's index is its position.
class ValidatorSet {
 public:
  ValidatorSet() = default;
  explicit ValidatorSet(std::vector<crypto::PublicKey> keys);

  std::uint32_t size() const { return static_cast<std::uint32_t>(keys_.size()); }
  std::uint32_t max_faulty() const { return (size() - 1) / 3; }   // f
  std::uint32_t quorum() const { return size() - max_faulty(); }  // 2f + 1 when n = 3f + 1
  std::uint32_t weak_quorum() const { return max_faulty() + 1; }  // f + 1: at least one honest
  const crypto::PublicKey& key(std::uint32_t index) const;
  std::optional<std::uint32_t> index_of(const crypto::PublicKey& key) const;
  const std::vector<crypto::PublicKey>& keys() const { return keys_; }
  // Round-robin proposer.
  std::uint32_t proposer(std::uint64_t height, std::uint32_t round) const;
  // SHA-256 over the concatenated keys: BlockHeader.validator_set_hash.
  Hash32 hash() const;

 private:
  std::vector<crypto::PublicKey> keys_;
};

// Round timeouts grow linearly with the round: base + round * delta.
struct Timeouts {
  std::uint64_t propose_ms = 1000;
  std::uint64_t propose_delta_ms = 500;
  std::uint64_t prevote_ms = 500;
  std::uint64_t prevote_delta_ms = 250;
  std::uint64_t precommit_ms = 500;
  std::uint64_t precommit_delta_ms = 250;

  std::uint64_t duration_ms(Step step, std::uint32_t round) const;
};

// Signature checks go through this interface so a driver can plug in a cache
// of already-verified signatures (the node verifies on its network threads;
// the simulator shares one cache between its cores). Implementations must be
// real checks: a cache may only remember true answers of real verification.
class SignatureVerifier {
 public:
  virtual ~SignatureVerifier() = default;
  virtual bool verify(const crypto::PublicKey& key, const Hash32& digest, const std::string& signature) = 0;
};

class Bip340Verifier final : public SignatureVerifier {
 public:
  bool verify(const crypto::PublicKey& key, const Hash32& digest, const std::string& signature) override;
};

// ------------------------------------------------------------------ inputs

// Begin (or, after a restart, resume) consensus at the height the core was
// constructed with. Must be the first input; the core moves on to later
// heights by itself on CommitApplied.
struct Start {};

struct ProposalReceived {
  pb::ProposalMessage message;
};
struct VoteReceived {
  pb::Vote vote;
};
// A timeout the core scheduled has expired. Stale ones are ignored by the core.
struct TimeoutFired {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  Step step = Step::propose;
};
// The application's answer to ValidateBlock.
struct BlockValidated {
  std::uint64_t height = 0;
  BlockId block_id;
  bool valid = false;
};
// The application's answer to BuildBlock: the block to propose.
struct BlockBuilt {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  pb::Block block;
};
// The SignState of a Persist output is durably on disk (synced).
struct Persisted {
  pb::SignState state;
};
// The block of a Commit output is durably applied; consensus moves to the next
// height with the validator set the application says is in charge of it.
struct CommitApplied {
  std::uint64_t height = 0;
  ValidatorSet next_validators;
};
// A committed block with its certificate from a peer (catch-up). The core
// checks 2f+1 valid precommit signatures for the block's hash and, if the
// block is at its current height, outputs Commit for it.
struct CommittedBlockReceived {
  pb::CommittedBlock committed;
};

using Input = std::variant<Start, ProposalReceived, VoteReceived, TimeoutFired, BlockValidated, BlockBuilt,
                           Persisted, CommitApplied, CommittedBlockReceived>;

// ----------------------------------------------------------------- outputs

// Send to every other validator. The driver may retransmit; the core resends
// its latest messages itself when a round times out.
struct Broadcast {
  pb::Envelope envelope;
};
struct ScheduleTimeout {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  Step step = Step::propose;
  std::uint64_t duration_ms = 0;
};
// Ask the application whether the block is valid (transactions, header fields,
// log root). Answer with BlockValidated.
struct ValidateBlock {
  std::uint64_t height = 0;
  BlockId block_id;
  pb::Block block;
};
// This validator proposes at (height, round) and has no valid value from an
// earlier round: answer with BlockBuilt.
struct BuildBlock {
  std::uint64_t height = 0;
  std::uint32_t round = 0;
  pb::CommitCertificate last_commit;  // to put into the block (empty at height 1)
};
// Write durably (sync) before anything signed in `state` leaves the process,
// then answer with Persisted. The double-sign guard: a restarted core given
// this state never signs a conflicting message for (height, round, step) at
// or below it, and keeps its lock.
struct Persist {
  pb::SignState state;
};
// 2f+1 precommits for `block` at its height: store it durably, then answer
// with CommitApplied.
struct Commit {
  pb::Block block;
  pb::CommitCertificate certificate;
};
// Peers are ahead (f+1 validators sent messages for a higher height, or we
// hold a commit certificate for a block we never received): fetch the
// committed block at `height` and give it back as CommittedBlockReceived.
struct RequestCommittedBlock {
  std::uint64_t height = 0;
};
// Two conflicting signed votes from one validator.
struct EvidenceFound {
  pb::DuplicateVoteEvidence evidence;
};

using Output = std::variant<Broadcast, ScheduleTimeout, ValidateBlock, BuildBlock, Persist, Commit,
                            RequestCommittedBlock, EvidenceFound>;

// Why an incoming message was dropped; counted per reason.
enum class DropReason : std::uint8_t {
  malformed,        // missing fields, wrong sizes, unknown vote type
  not_a_validator,  // index out of range for the height's validator set
  wrong_proposer,   // proposal from someone not the round's proposer
  bad_signature,    // includes messages signed for another chain id
  old_height,       // below the current height
  future_height,    // too far ahead to buffer, or the buffer is full
  duplicate,        // already have exactly this message
  block_mismatch,   // proposal's block_id is not the hash of its block
  invalid_block,    // the application said the block is invalid
  bad_certificate,  // a commit certificate without 2f+1 valid precommits

  // Added by the core (see "Contract notes" in core.hpp):
  future_round,          // validly signed, but for a round too far ahead to store; still moves the pacemaker
  conflicting_proposal,  // a second, different proposal from the round's proposer: only its block is kept
  count_,
};
const char* drop_reason_name(DropReason reason);

}  // namespace cityledger::consensus
