// Who is in charge when (docs/proof-format.md, "validator_sets"): a chain of
// governance set changes followed from genesis, and checkpoints counted
// against the set in charge at their height. Proof bundles
// (audit/proof_bundle.hpp) and `cityledger watch` both use these, so there is
// one implementation of the rules.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "audit/genesis.hpp"
#include "audit/proof_bundle.hpp"
#include "common/result.hpp"
#include "crypto/checkpoint.hpp"

namespace cityledger::audit {

// Genesis's set from height 1, then each verified change's set from its
// effective height on.
struct ValidatorSchedule {
  // (from height, set), strictly ascending heights; the first is (1, genesis's).
  std::vector<std::pair<std::uint64_t, std::vector<GenesisValidator>>> sets;

  // The set in charge of `height` (genesis's for heights 0 and 1).
  const std::vector<GenesisValidator>& at(std::uint64_t height) const;
};

// Follows a bundle's "validator_sets" array from genesis: each change in order
// of strictly increasing effective height (after 1, at most `max_height`), for
// this chain, naming the hash of the set before it, approved by a quorum of
// distinct members of that set over the governance signing digest, applied by
// the node's rules (apply_set_change), equal to its listed "validators" when
// listed. Appends every check made to `checks` when given (the names
// verify_proof_bundle reports: validator_sets, set_change_*). Returns the
// schedule, or the first failure as "check: detail". Never throws.
Result<ValidatorSchedule> follow_validator_sets(const nlohmann::json& sets, const Genesis& genesis,
                                                std::uint64_t max_height,
                                                std::vector<Check>* checks = nullptr);

// A checkpoint as nodes serve it ({body, signatures, ...}) that parses, names
// genesis's chain and carries valid signatures by at least the quorum of
// distinct members of the set in charge at its height. Signatures by others
// (a removed validator, an unknown key) and invalid or malformed ones are not
// counted; they are listed in `ignored`.
struct CountedCheckpoint {
  crypto::CheckpointBody body;
  std::string body_text;
  std::size_t signers = 0;
  std::size_t quorum = 0;
  std::vector<std::string> ignored;
};
Result<CountedCheckpoint> count_checkpoint_signatures(const nlohmann::json& checkpoint,
                                                      const Genesis& genesis,
                                                      const ValidatorSchedule& schedule);

// Whether `served` (validator_sets a node gives for a checkpoint of `height`)
// tells the same history as `kept` (a chain verified before): every change
// both list is identical, and every change of `kept` that `served` lacks
// takes effect after `height`. Otherwise the node's set history forks from
// the one already verified: the reason.
Status check_same_set_history(const nlohmann::json& kept, const nlohmann::json& served, std::uint64_t height);

}  // namespace cityledger::audit
