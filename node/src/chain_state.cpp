#include "node/chain_state.hpp"

#include <mutex>

#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

ChainState::ChainState(const audit::Genesis& genesis, const ledger::Store& store)
    : store_(store), contracts_(genesis.chain_id) {
  for (const auto& account : genesis.accounts) {
    auto& state = accounts_[account.pubkey];
    state.roles.insert(account.roles.begin(), account.roles.end());
  }
}

Status ChainState::load() {
  std::unique_lock lock(mutex_);
  const std::uint64_t last = store_.last_height();
  for (std::uint64_t h = 1; h <= last; ++h) {
    auto block = store_.get_block(h);
    if (!block) return block.status();
    apply_locked(*block);
  }
  return {};
}

void ChainState::apply(const pb::Block& block) {
  std::unique_lock lock(mutex_);
  apply_locked(block);
}

void ChainState::apply_locked(const pb::Block& block) {
  struct ContractTx {
    pb::TxBody body;
    Hash32 tx_hash;
    std::uint64_t offset;  // of its leaf among the block's leaves
  };
  std::vector<ContractTx> contract_txs;
  std::uint64_t leaves = 0;  // added by the block's transactions so far
  for (const auto& tx : block.txs()) {
    // Stored blocks were validated before they were committed: bodies decode.
    auto body = proto::decode<pb::TxBody>(tx.body());
    if (!body || body->signer().size() != 32) continue;
    auto& state = accounts_[Hash32::from_span(as_bytes(body->signer()))];
    state.next_nonce = std::max(state.next_nonce, body->nonce() + 1);
    const std::uint64_t n = ledger::log_leaf_count(*body);
    if (body->has_contract()) contract_txs.push_back({std::move(*body), proto::tx_hash(tx), leaves});
    leaves += n;
  }
  const std::uint64_t first_leaf = block.header().log_size() - leaves;
  for (const auto& c : contract_txs) {
    contracts_.apply(c.body.contract(), block.header().height(), first_leaf + c.offset, c.tx_hash);
  }
}

std::optional<AccountState> ChainState::account(const crypto::PublicKey& key) const {
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(key);
  if (it == accounts_.end() || it->second.roles.empty()) return std::nullopt;
  return it->second;
}

bool ChainState::is_committed(const Hash32& tx_hash) const { return store_.find_tx(tx_hash).ok(); }

Status ChainState::check_contract(const pb::ContractAction& action, bool verify_signatures) const {
  return contracts_.check(action, verify_signatures);
}

}  // namespace cityledger::node
