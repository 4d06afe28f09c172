#include "node/chain_state.hpp"

#include <mutex>

#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

ChainState::ChainState(const audit::Genesis& genesis, const ledger::Store& store)
    : chain_id_(genesis.chain_id), store_(store), contracts_(genesis.chain_id) {
  for (const auto& account : genesis.accounts) {
    auto& state = accounts_[account.pubkey];
    state.roles.insert(account.roles.begin(), account.roles.end());
  }
  schedule_[1] = genesis.validators;
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
  height_ = block.header().height();
  for (const auto& tx : block.txs()) {
    // Stored blocks were validated before they were committed: bodies decode.
    auto body = proto::decode<pb::TxBody>(tx.body());
    if (!body || body->signer().size() != 32) continue;
    auto& state = accounts_[Hash32::from_span(as_bytes(body->signer()))];
    state.next_nonce = std::max(state.next_nonce, body->nonce() + 1);
    if (body->has_governance()) apply_governance_locked(body->governance(), block.header().height());
    const std::uint64_t n = ledger::log_leaf_count(*body);
    if (body->has_contract()) contract_txs.push_back({std::move(*body), proto::tx_hash(tx), leaves});
    leaves += n;
  }
  const std::uint64_t first_leaf = block.header().log_size() - leaves;
  for (const auto& c : contract_txs) {
    contracts_.apply(c.body.contract(), block.header().height(), first_leaf + c.offset, c.tx_hash);
  }
}

void ChainState::apply_governance_locked(const pb::GovernanceAction& action, std::uint64_t height) {
  // Committed actions passed check_governance at their height: the proposal decodes.
  auto proposal = proto::decode<pb::GovernanceProposal>(action.proposal());
  CL_CHECK(proposal.ok());
  applied_proposals_.insert(crypto::sha256(as_bytes(action.proposal())));
  switch (proposal->action_case()) {
    case pb::GovernanceProposal::kChangeRoles: {
      const auto& c = proposal->change_roles();
      auto& state = accounts_[Hash32::from_span(as_bytes(c.account()))];
      for (const auto& role : c.grant()) state.roles.insert(role);
      for (const auto& role : c.revoke()) state.roles.erase(role);
      break;
    }
    case pb::GovernanceProposal::kSetBlockLimits:
      block_limits_ = GovernedBlockLimits{proposal->set_block_limits().max_txs(),
                                          proposal->set_block_limits().max_bytes()};
      break;
    case pb::GovernanceProposal::kAddValidator:
    case pb::GovernanceProposal::kRemoveValidator:
    case pb::GovernanceProposal::kRotateValidatorKeys: {
      // Checked against the set in charge at `height`; no other change was
      // pending, so that set is also the one in charge until the new one.
      auto changed = changed_validator_set(validators_at_locked(height), *proposal);
      CL_CHECK(changed.ok());
      CL_CHECK(proposal->effective_height() > height);
      schedule_[proposal->effective_height()] = std::move(changed).value();
      set_change_actions_[proposal->effective_height()] = action;
      break;
    }
    case pb::GovernanceProposal::ACTION_NOT_SET:
      CL_CHECK(false);
  }
}

const std::vector<audit::GenesisValidator>& ChainState::validators_at_locked(std::uint64_t height) const {
  CL_CHECK(height >= 1);
  auto it = schedule_.upper_bound(height);
  CL_CHECK(it != schedule_.begin());
  return std::prev(it)->second;
}

GovernanceState ChainState::governance_at_locked(std::uint64_t height) const {
  GovernanceState out;
  out.validators = validators_at_locked(height);
  out.applied_proposals = applied_proposals_;
  out.block_limits = block_limits_;
  if (auto later = schedule_.upper_bound(height); later != schedule_.end()) {
    out.pending_set_change_height = later->first;
  }
  return out;
}

std::vector<audit::GenesisValidator> ChainState::validators_at(std::uint64_t height) const {
  std::shared_lock lock(mutex_);
  return validators_at_locked(height);
}

consensus::ValidatorSet ChainState::validator_set_at(std::uint64_t height) const {
  std::shared_lock lock(mutex_);
  std::vector<crypto::PublicKey> keys;
  for (const auto& v : validators_at_locked(height)) keys.push_back(v.pubkey);
  return consensus::ValidatorSet(std::move(keys));
}

std::map<std::uint64_t, std::vector<audit::GenesisValidator>> ChainState::set_changes() const {
  std::shared_lock lock(mutex_);
  auto out = schedule_;
  out.erase(1);
  return out;
}

std::vector<ChainState::SetChangeRecord> ChainState::set_changes_up_to(std::uint64_t height) const {
  std::shared_lock lock(mutex_);
  std::vector<SetChangeRecord> out;
  for (const auto& [effective, action] : set_change_actions_) {
    if (effective > height) break;
    out.push_back({effective, action, schedule_.at(effective)});
  }
  return out;
}

std::uint64_t ChainState::height() const {
  std::shared_lock lock(mutex_);
  return height_;
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

Status ChainState::check_governance(const pb::GovernanceAction& action) const {
  BlockGovernance none;
  std::uint64_t next_height = 0;
  {
    std::shared_lock lock(mutex_);
    next_height = height_ + 1;
  }
  return check_governance_in_block(action, next_height, none);
}

Status ChainState::check_governance_in_block(const pb::GovernanceAction& action, std::uint64_t height,
                                             BlockGovernance& in_block) const {
  std::shared_lock lock(mutex_);
  auto checked = node::check_governance(action, chain_id_, governance_at_locked(height), height, &in_block);
  if (!checked) return checked.status();
  if (is_set_change(checked->proposal)) {
    in_block.set_change = true;
  }
  in_block.proposals.insert(checked->proposal_hash);
  return {};
}

std::optional<GovernedBlockLimits> ChainState::governed_block_limits() const {
  std::shared_lock lock(mutex_);
  return block_limits_;
}

GovernanceState ChainState::governance_at(std::uint64_t height) const {
  std::shared_lock lock(mutex_);
  return governance_at_locked(height);
}

GovernanceState ChainState::governance() const {
  std::shared_lock lock(mutex_);
  return governance_at_locked(height_ + 1);
}

}  // namespace cityledger::node
