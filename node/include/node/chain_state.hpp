// Committed account state: who holds which role (from genesis; governance
// changes arrive later), each account's next nonce, and the PPP contracts.
//
// Rebuilt at start from the stored blocks, then advanced block by block after
// each synced commit. Thread-safe: readers (the mempool on RPC threads) and
// the single writer (the consensus thread) share one lock.
#pragma once

#include <map>
#include <shared_mutex>

#include "audit/genesis.hpp"
#include "ledger/store.hpp"
#include "node/contract_book.hpp"
#include "node/mempool.hpp"

namespace cityledger::node {

class ChainState final : public AccountView {
 public:
  ChainState(const audit::Genesis& genesis, const ledger::Store& store);

  // Replays every stored block (nonces). Fails on a block that does not decode.
  Status load();
  // After `block` was durably applied to the store.
  void apply(const pb::Block& block);

  std::optional<AccountState> account(const crypto::PublicKey& key) const override;
  bool is_committed(const Hash32& tx_hash) const override;
  Status check_contract(const pb::ContractAction& action, bool verify_signatures) const override;
  const ContractBook& contracts() const { return contracts_; }

 private:
  void apply_locked(const pb::Block& block);

  const ledger::Store& store_;
  mutable std::shared_mutex mutex_;
  std::map<crypto::PublicKey, AccountState> accounts_;
  ContractBook contracts_;
};

}  // namespace cityledger::node
