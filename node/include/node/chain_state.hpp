// Committed account and governance state: who holds which role (seeded by
// genesis, changed by governance), each account's next nonce, the validator
// set in charge, the governed block limits, the governance proposals already
// applied, and the PPP contracts (node/contract_book.hpp).
//
// Rebuilt at start from the stored blocks, then advanced block by block after
// each synced commit. Thread-safe: readers (the mempool on RPC threads) and
// the single writer (the consensus thread) share one lock.
#pragma once

#include <map>
#include <set>
#include <shared_mutex>

#include "audit/genesis.hpp"
#include "ledger/store.hpp"
#include "node/contract_book.hpp"
#include "node/governance.hpp"
#include "node/mempool.hpp"
#include "state.pb.h"

namespace cityledger::node {

class ChainState final : public AccountView {
 public:
  ChainState(const audit::Genesis& genesis, const ledger::Store& store);

  // Replays every stored block (nonces, governance). Fails on a block that does not decode.
  Status load();
  // The same state from `snapshot` plus the blocks after it (docs/node.md,
  // "State snapshots"). A snapshot of another chain or genesis, of a height
  // beyond the store, or whose block hash is not the store's at its height is
  // not used: every block is replayed and `used` (if given) says false.
  Status load(const pb::StateSnapshot& snapshot, bool* used = nullptr);
  // The committed state after the last applied block, whose hash is `block_hash`.
  pb::StateSnapshot snapshot(const Hash32& block_hash) const;
  // After `block` was durably applied to the store.
  void apply(const pb::Block& block);

  std::optional<AccountState> account(const crypto::PublicKey& key) const override;
  bool is_committed(const Hash32& tx_hash) const override;
  Status check_contract(const pb::ContractAction& action, bool verify_signatures) const override;
  const ContractBook& contracts() const { return contracts_; }
  // The governance rules for an action in the next block (the store's last height + 1).
  Status check_governance(const pb::GovernanceAction& action) const override;

  // The same rules for an action in the block at `height`, after the block's
  // earlier governance actions `in_block` (which this call extends on success).
  Status check_governance_in_block(const pb::GovernanceAction& action, std::uint64_t height,
                                   BlockGovernance& in_block) const;

  std::optional<GovernedBlockLimits> governed_block_limits() const;
  // The governance state as the block at `height` sees it: the set in charge
  // of that height, a set change scheduled after it, applied proposals, limits.
  GovernanceState governance_at(std::uint64_t height) const;
  // The next block's view (the last applied height + 1).
  GovernanceState governance() const;

  // The validator schedule: the set in charge of committing `height` (>= 1),
  // from genesis and every applied set change. Every height has exactly one.
  std::vector<audit::GenesisValidator> validators_at(std::uint64_t height) const;
  consensus::ValidatorSet validator_set_at(std::uint64_t height) const;
  // Heights at which a new set took charge (after genesis), with that set.
  std::map<std::uint64_t, std::vector<audit::GenesisValidator>> set_changes() const;
  std::uint64_t height() const;

  // A committed set change as proof bundles carry it (docs/proof-format.md,
  // "validator_sets"): the approved action and the set it produced.
  struct SetChangeRecord {
    std::uint64_t effective_height = 0;
    pb::GovernanceAction action;  // the proposal bytes and approvals, as committed
    std::vector<audit::GenesisValidator> validators;
  };
  // Every set change with effective height <= `height`, in order.
  std::vector<SetChangeRecord> set_changes_up_to(std::uint64_t height) const;

 private:
  void apply_locked(const pb::Block& block);
  Status replay_locked(std::uint64_t from_height);
  Status restore_locked(const pb::StateSnapshot& snapshot);
  void apply_governance_locked(const pb::GovernanceAction& action, std::uint64_t height);
  GovernanceState governance_at_locked(std::uint64_t height) const;
  const std::vector<audit::GenesisValidator>& validators_at_locked(std::uint64_t height) const;

  const std::string chain_id_;
  const Hash32 genesis_hash_;
  const ledger::Store& store_;
  mutable std::shared_mutex mutex_;
  std::map<crypto::PublicKey, AccountState> accounts_;
  ContractBook contracts_;
  // From-height -> the set in charge from that height on; key 1 is genesis's.
  std::map<std::uint64_t, std::vector<audit::GenesisValidator>> schedule_;
  // Effective height -> the committed action that scheduled that set (for proof bundles).
  std::map<std::uint64_t, pb::GovernanceAction> set_change_actions_;
  std::set<Hash32> applied_proposals_;
  std::optional<GovernedBlockLimits> block_limits_;
  std::uint64_t height_ = 0;  // the last block applied
};

}  // namespace cityledger::node
