// Committed account and governance state: who holds which role (seeded by
// genesis, changed by governance), each account's next nonce, the validator
// set in charge, the governed block limits and the governance proposals
// already applied.
//
// Rebuilt at start from the stored blocks, then advanced block by block after
// each synced commit. Thread-safe: readers (the mempool on RPC threads) and
// the single writer (the consensus thread) share one lock.
#pragma once

#include <map>
#include <shared_mutex>

#include "audit/genesis.hpp"
#include "ledger/store.hpp"
#include "node/governance.hpp"
#include "node/mempool.hpp"

namespace cityledger::node {

class ChainState final : public AccountView {
 public:
  ChainState(const audit::Genesis& genesis, const ledger::Store& store);

  // Replays every stored block (nonces, governance). Fails on a block that does not decode.
  Status load();
  // After `block` was durably applied to the store.
  void apply(const pb::Block& block);

  std::optional<AccountState> account(const crypto::PublicKey& key) const override;
  bool is_committed(const Hash32& tx_hash) const override;
  // The governance rules for an action in the next block (the store's last height + 1).
  Status check_governance(const pb::GovernanceAction& action) const override;

  // The same rules for an action in the block at `height`, after the block's
  // earlier governance actions `in_block` (which this call extends on success).
  Status check_governance_in_block(const pb::GovernanceAction& action, std::uint64_t height,
                                   BlockGovernance& in_block) const;

  std::optional<GovernedBlockLimits> governed_block_limits() const;
  GovernanceState governance() const;

 private:
  void apply_locked(const pb::Block& block);
  void apply_governance_locked(const pb::GovernanceAction& action);

  const std::string chain_id_;
  const ledger::Store& store_;
  mutable std::shared_mutex mutex_;
  std::map<crypto::PublicKey, AccountState> accounts_;
  GovernanceState governance_;
  std::uint64_t height_ = 0;  // the last block applied
};

}  // namespace cityledger::node
