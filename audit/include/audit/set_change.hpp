// Validator-set changes as an auditor follows them (docs/proof-format.md,
// "validator_sets"): the set-change part of a canonical GovernanceProposal
// read without the Protobuf library, the hash of a validator set, and the set
// a change produces. The node's rules (node/governance.hpp) are the reference;
// the differential fuzz target tests/fuzz/set_change_proposal.cpp checks the
// reader against the Protobuf library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/genesis.hpp"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::audit {

enum class SetChangeKind { add_validator, remove_validator, rotate_validator_keys };

struct SetChangeProposal {
  std::string chain_id;
  Hash32 validator_set_hash;  // of the set that must approve it
  std::uint64_t effective_height = 0;
  std::string memo;
  SetChangeKind kind = SetChangeKind::remove_validator;
  GenesisValidator added;                       // add_validator
  crypto::PublicKey pubkey;                     // remove_validator, rotate_validator_keys
  std::optional<crypto::PublicKey> new_pubkey;  // rotate_validator_keys
  std::optional<Hash32> new_tls_pubkey;         // rotate_validator_keys
};

// Strict canonical reader of GovernanceProposal bytes whose action is
// add_validator, remove_validator or rotate_validator_keys. Fields in
// ascending order, each at most once, minimal varints, no default values, no
// unknown fields, UTF-8 strings; validator_set_hash, keys and pins are 32
// bytes; an added validator has all four fields. Any other action (roles,
// block limits) or no action is an error: it is not a set change.
Result<SetChangeProposal> decode_set_change_proposal(ByteSpan proposal_bytes);

// SHA-256 over the consensus keys in index order: consensus::ValidatorSet::hash(),
// the BlockHeader.validator_set_hash and GovernanceProposal.validator_set_hash.
Hash32 validator_set_hash(const std::vector<GenesisValidator>& validators);

// The set `change` produces from `validators` (node/governance.cpp's
// changed_validator_set): add appends, remove erases (later indexes shift
// down), rotate replaces the key and/or pin in place. Refused: removing or
// rotating a non-member, an invalid x-only key, an empty result, a consensus
// key, TLS pin or name twice.
Result<std::vector<GenesisValidator>> apply_set_change(const std::vector<GenesisValidator>& validators,
                                                       const SetChangeProposal& change);

}  // namespace cityledger::audit
