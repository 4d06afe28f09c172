// Tendermint-style BFT consensus as a pure state machine:
//   handle(input) -> outputs
// Protocol, safety and liveness arguments: docs/consensus.md.
//
// Safety rules (what may be signed) live apart from the pacemaker (rounds,
// timeouts, proposer rotation), following libhotstuff's split.
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
  ValidatorSet validators;  // in charge of `height`
  std::uint64_t height = 1;  // the first height not yet committed
  // The previous height's commit certificate (empty when height == 1): goes
  // into the next block this validator proposes.
  pb::CommitCertificate last_commit;
  // The last SignState this validator persisted, restored after a restart.
  std::optional<pb::SignState> restored;
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
