#include "node/chain_state.hpp"

#include <spdlog/spdlog.h>

#include <mutex>

#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

ChainState::ChainState(const audit::Genesis& genesis, const ledger::Store& store)
    : chain_id_(genesis.chain_id), genesis_hash_(genesis.hash), store_(store), contracts_(genesis.chain_id) {
  for (const auto& account : genesis.accounts) {
    auto& state = accounts_[account.pubkey];
    state.roles.insert(account.roles.begin(), account.roles.end());
  }
  schedule_[1] = genesis.validators;
}

Status ChainState::load() {
  std::unique_lock lock(mutex_);
  return replay_locked(1);
}

Status ChainState::replay_locked(std::uint64_t from_height) {
  const std::uint64_t last = store_.last_height();
  for (std::uint64_t h = from_height; h <= last; ++h) {
    auto block = store_.get_block(h);
    if (!block) return block.status();
    apply_locked(*block);
  }
  return {};
}

Status ChainState::load(const pb::StateSnapshot& snapshot, bool* used) {
  if (used != nullptr) *used = false;
  std::unique_lock lock(mutex_);
  CL_CHECK(height_ == 0);  // on a fresh ChainState only
  const auto fits = [&]() -> Status {
    if (snapshot.format() != 1)
      return error(ErrorCode::invalid_argument, "format " + std::to_string(snapshot.format()) + ", not 1");
    if (snapshot.chain_id() != chain_id_ || snapshot.genesis_hash() != genesis_hash_.to_string())
      return error(ErrorCode::invalid_argument, "another chain or genesis");
    if (snapshot.height() == 0 || snapshot.height() > store_.last_height())
      return error(ErrorCode::invalid_argument, "height " + std::to_string(snapshot.height()) +
                                                    " is not in the store (last " +
                                                    std::to_string(store_.last_height()) + ")");
    auto block = store_.get_block(snapshot.height());
    if (!block) return block.status();
    if (snapshot.block_hash() != proto::block_hash(block->header()).to_string())
      return error(ErrorCode::invalid_argument,
                   "its block hash is not the stored block's at height " + std::to_string(snapshot.height()));
    return {};
  };
  Status fit = fits();
  if (fit.ok()) fit = restore_locked(snapshot);
  if (!fit.ok()) {
    spdlog::warn("state snapshot not used ({}): replaying all {} blocks", fit.message(),
                 store_.last_height());
    return replay_locked(1);
  }
  if (used != nullptr) *used = true;
  return replay_locked(snapshot.height() + 1);
}

pb::StateSnapshot ChainState::snapshot(const Hash32& block_hash) const {
  std::shared_lock lock(mutex_);
  pb::StateSnapshot out;
  out.set_format(1);
  out.set_chain_id(chain_id_);
  out.set_genesis_hash(genesis_hash_.to_string());
  out.set_height(height_);
  out.set_block_hash(block_hash.to_string());
  for (const auto& [key, state] : accounts_) {
    auto* a = out.add_accounts();
    a->set_pubkey(key.to_string());
    for (const auto& role : state.roles) a->add_roles(role);
    a->set_next_nonce(state.next_nonce);
  }
  for (const auto& [from, validators] : schedule_) {
    auto* set = out.add_schedule();
    set->set_from_height(from);
    for (const auto& v : validators) {
      auto* entry = set->add_validators();
      entry->set_name(v.name);
      entry->set_pubkey(v.pubkey.to_string());
      entry->set_tls_pubkey(v.tls_pubkey.to_string());
      entry->set_p2p(v.p2p);
    }
    if (auto it = set_change_actions_.find(from); it != set_change_actions_.end()) {
      *set->mutable_action() = it->second;
    }
  }
  for (const auto& hash : applied_proposals_) out.add_applied_proposals(hash.to_string());
  if (block_limits_) {
    out.set_has_block_limits(true);
    out.set_block_max_txs(block_limits_->max_txs);
    out.set_block_max_bytes(block_limits_->max_bytes);
  }
  contracts_.export_to(out);
  return out;
}

// Builds every part first and assigns them only when the whole snapshot holds
// together, so a bad snapshot leaves the genesis state untouched.
Status ChainState::restore_locked(const pb::StateSnapshot& snapshot) {
  auto key32 = [](const std::string& bytes, const std::string& what) -> Result<Hash32> {
    if (bytes.size() != 32) return error(ErrorCode::invalid_argument, what + " is not 32 bytes");
    return Hash32::from_span(as_bytes(bytes));
  };
  std::map<crypto::PublicKey, AccountState> accounts;
  for (const auto& a : snapshot.accounts()) {
    auto key = key32(a.pubkey(), "an account key");
    if (!key) return key.status();
    AccountState state;
    state.roles.insert(a.roles().begin(), a.roles().end());
    state.next_nonce = a.next_nonce();
    if (!accounts.emplace(*key, std::move(state)).second)
      return error(ErrorCode::invalid_argument, "account " + key->hex() + " is listed twice");
  }
  std::map<std::uint64_t, std::vector<audit::GenesisValidator>> schedule;
  std::map<std::uint64_t, pb::GovernanceAction> actions;
  for (const auto& set : snapshot.schedule()) {
    std::vector<audit::GenesisValidator> validators;
    for (const auto& v : set.validators()) {
      auto pubkey = key32(v.pubkey(), "a validator key");
      if (!pubkey) return pubkey.status();
      auto pin = key32(v.tls_pubkey(), "a TLS pin");
      if (!pin) return pin.status();
      validators.push_back({v.name(), *pubkey, *pin, v.p2p()});
    }
    if (validators.empty() || !schedule.emplace(set.from_height(), std::move(validators)).second)
      return error(ErrorCode::invalid_argument, "the validator schedule is empty or lists a height twice");
    if (set.has_action()) actions[set.from_height()] = set.action();
  }
  // Genesis's set from height 1, as this node's genesis.json says it.
  if (!schedule.contains(1) || schedule.at(1) != schedule_.at(1) || actions.contains(1))
    return error(ErrorCode::invalid_argument, "its first validator set is not genesis's");
  if (actions.size() + 1 != schedule.size())
    return error(ErrorCode::invalid_argument, "a scheduled set lacks the action that scheduled it");
  std::set<Hash32> applied;
  for (const auto& hash : snapshot.applied_proposals()) {
    auto h = key32(hash, "a proposal hash");
    if (!h) return h.status();
    applied.insert(*h);
  }
  CL_TRY(contracts_.restore(snapshot));
  accounts_ = std::move(accounts);
  schedule_ = std::move(schedule);
  set_change_actions_ = std::move(actions);
  applied_proposals_ = std::move(applied);
  block_limits_.reset();
  if (snapshot.has_block_limits())
    block_limits_ = GovernedBlockLimits{snapshot.block_max_txs(), snapshot.block_max_bytes()};
  height_ = snapshot.height();
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
