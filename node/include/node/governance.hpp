// Governance actions (docs/governance.md): the rules an action must satisfy
// to be admitted and committed, and what applying one does to the state.
//
// Pure functions of (action, committed governance state, height): the mempool
// and block validation call the same check, so a node never admits what its
// block validation would refuse, nor the reverse.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "audit/genesis.hpp"
#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "consensus/types.hpp"
#include "crypto/schnorr.hpp"

namespace cityledger::node {

// Bounds of SetBlockLimits: a block must hold at least one transaction of the
// largest size a transaction may have (proto::Limits, 1 MiB), and must fit in
// one p2p frame (16 MiB) with room for its commit and envelope.
inline constexpr std::uint32_t governed_block_max_txs_ceiling = 100'000;
inline constexpr std::uint64_t governed_block_max_bytes_floor = 1u << 20;
inline constexpr std::uint64_t governed_block_max_bytes_ceiling = 12u << 20;
// How far ahead of the carrying block a set change may be scheduled.
inline constexpr std::uint64_t effective_height_delay_max = 100'000;
inline constexpr std::size_t governance_memo_bytes_max = 256;
inline constexpr std::size_t validator_name_bytes_max = 64;

// Limits voted on chain. Until a SetBlockLimits action is applied there are
// none and each node's configured [block] limits apply (docs/governance.md).
struct GovernedBlockLimits {
  std::uint32_t max_txs = 0;
  std::uint64_t max_bytes = 0;
};

// The committed state governance reads and changes (besides account roles).
struct GovernanceState {
  std::vector<audit::GenesisValidator> validators;  // the set in charge, in index order
  std::set<Hash32> applied_proposals;               // SHA-256 of each applied proposal's bytes
  std::optional<GovernedBlockLimits> block_limits;
  // The effective height of a committed set change that is not in charge yet.
  std::optional<std::uint64_t> pending_set_change_height;

  consensus::ValidatorSet validator_set() const;
};

// What earlier governance transactions of the same block already claimed.
struct BlockGovernance {
  std::set<Hash32> proposals;
  bool set_change = false;
};

struct CheckedGovernance {
  pb::GovernanceProposal proposal;
  Hash32 proposal_hash;  // SHA-256 of the canonical proposal bytes
};

bool is_set_change(const pb::GovernanceProposal& proposal);

// The checks of the proposal alone, without the state: canonical fields,
// known roles, bounds. chain_id must match.
Status validate_proposal(const pb::GovernanceProposal& proposal, std::string_view chain_id);

// Every rule of docs/governance.md for an action carried by the block at
// `height`, against the committed `state` and, when given, the earlier
// transactions of the same block. Refusals are invalid_argument (malformed or
// not applicable) or permission_denied (approvals).
Result<CheckedGovernance> check_governance(const pb::GovernanceAction& action, std::string_view chain_id,
                                           const GovernanceState& state, std::uint64_t height,
                                           const BlockGovernance* in_block = nullptr);

// The set a set-change proposal produces from `validators`, or why it cannot.
Result<std::vector<audit::GenesisValidator>> changed_validator_set(
    const std::vector<audit::GenesisValidator>& validators, const pb::GovernanceProposal& proposal);

}  // namespace cityledger::node
