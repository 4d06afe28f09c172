#include "node/chain_state.hpp"

#include <mutex>

#include "crypto/sha256.hpp"
#include "proto/codec.hpp"

namespace cityledger::node {

ChainState::ChainState(const audit::Genesis& genesis, const ledger::Store& store)
    : chain_id_(genesis.chain_id), store_(store) {
  for (const auto& account : genesis.accounts) {
    auto& state = accounts_[account.pubkey];
    state.roles.insert(account.roles.begin(), account.roles.end());
  }
  governance_.validators = genesis.validators;
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
  height_ = block.header().height();
  for (const auto& tx : block.txs()) {
    // Stored blocks were validated before they were committed: bodies decode.
    auto body = proto::decode<pb::TxBody>(tx.body());
    if (!body || body->signer().size() != 32) continue;
    auto& state = accounts_[Hash32::from_span(as_bytes(body->signer()))];
    state.next_nonce = std::max(state.next_nonce, body->nonce() + 1);
    if (body->has_governance()) apply_governance_locked(body->governance());
  }
}

void ChainState::apply_governance_locked(const pb::GovernanceAction& action) {
  // Committed actions passed check_governance at their height: the proposal decodes.
  auto proposal = proto::decode<pb::GovernanceProposal>(action.proposal());
  CL_CHECK(proposal.ok());
  governance_.applied_proposals.insert(crypto::sha256(as_bytes(action.proposal())));
  switch (proposal->action_case()) {
    case pb::GovernanceProposal::kChangeRoles: {
      const auto& c = proposal->change_roles();
      auto& state = accounts_[Hash32::from_span(as_bytes(c.account()))];
      for (const auto& role : c.grant()) state.roles.insert(role);
      for (const auto& role : c.revoke()) state.roles.erase(role);
      break;
    }
    case pb::GovernanceProposal::kSetBlockLimits:
      governance_.block_limits = GovernedBlockLimits{proposal->set_block_limits().max_txs(),
                                                     proposal->set_block_limits().max_bytes()};
      break;
    default:
      // Validator-set changes are refused by check_governance_in_block until
      // the node keeps a per-height validator schedule (docs/governance.md).
      CL_CHECK(false);
  }
}

std::optional<AccountState> ChainState::account(const crypto::PublicKey& key) const {
  std::shared_lock lock(mutex_);
  auto it = accounts_.find(key);
  if (it == accounts_.end() || it->second.roles.empty()) return std::nullopt;
  return it->second;
}

bool ChainState::is_committed(const Hash32& tx_hash) const { return store_.find_tx(tx_hash).ok(); }

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
  auto checked = node::check_governance(action, chain_id_, governance_, height, &in_block);
  if (!checked) return checked.status();
  if (is_set_change(checked->proposal)) {
    return error(ErrorCode::invalid_argument,
                 "validator-set changes are not applied by this node version yet (docs/governance.md)");
  }
  in_block.proposals.insert(checked->proposal_hash);
  return {};
}

std::optional<GovernedBlockLimits> ChainState::governed_block_limits() const {
  std::shared_lock lock(mutex_);
  return governance_.block_limits;
}

GovernanceState ChainState::governance() const {
  std::shared_lock lock(mutex_);
  return governance_;
}

}  // namespace cityledger::node
