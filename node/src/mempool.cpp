#include "node/mempool.hpp"

#include <algorithm>

#include "audit/genesis.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"

namespace cityledger::node {

std::vector<std::string> required_roles(const pb::TxBody& body) {
  switch (body.action_case()) {
    case pb::TxBody::kAnchor:
      return {audit::role_submitter};
    case pb::TxBody::kContract:
      return {audit::role_partner};
    case pb::TxBody::kGovernance:
      // The approvals carry the authority; the carrier only has to be known
      // to the consortium (docs/governance.md).
      return {audit::role_validator, audit::role_admin};
    case pb::TxBody::ACTION_NOT_SET:
      break;
  }
  return {};
}

bool holds_required_role(const AccountState& account, const pb::TxBody& body) {
  for (const auto& role : required_roles(body)) {
    if (account.roles.contains(role)) return true;
  }
  return false;
}

std::string required_roles_text(const pb::TxBody& body) {
  std::string out;
  for (const auto& role : required_roles(body)) out += (out.empty() ? "'" : " or '") + role + "'";
  return out;
}

std::string contract_conflict_key(const pb::ContractAction& action) {
  if (action.has_registration()) return "registration:" + action.registration().contract_id();
  return "event:" + proto::contract_subject_hash(action).hex();
}

Mempool::Mempool(std::string chain_id, const AccountView& accounts, MempoolLimits limits)
    : chain_id_(std::move(chain_id)), accounts_(accounts), limits_(limits) {}

Result<Hash32> Mempool::refuse(Status status) {
  std::lock_guard lock(mutex_);
  ++stats_.refused;
  return status;
}

void Mempool::note_signature_verified(const Hash32& tx_hash) {
  std::lock_guard lock(mutex_);
  if (!signature_verified_.insert(tx_hash).second) return;
  signature_verified_order_.push_back(tx_hash);
  while (signature_verified_order_.size() > signature_verified_max) {
    signature_verified_.erase(signature_verified_order_.front());
    signature_verified_order_.pop_front();
  }
}

Result<Hash32> Mempool::add(const pb::Transaction& tx, std::uint64_t admitted_ms) {
  // The cheap refusals come before the signature check (the expensive part):
  // a transaction gossiped by a peer after this node already has it pending,
  // or resubmitted after a block committed it, costs a hash, a decode and a
  // lookup or two.
  const Hash32 hash = proto::tx_hash(tx);
  bool signature_verified = false;
  {
    std::lock_guard lock(mutex_);
    if (by_hash_.contains(hash)) {
      ++stats_.refused;
      return error(ErrorCode::already_exists, "transaction already in the mempool");
    }
    // Left in the set: erasing from the middle of its order is not worth it;
    // it ages out.
    signature_verified = signature_verified_.contains(hash);
  }
  auto verified = proto::check_transaction(tx, chain_id_, limits_.tx_limits);
  if (!verified) return refuse(verified.status());
  verified->hash = hash;
  const std::uint64_t nonce = verified->body.nonce();
  auto account = accounts_.account(verified->signer);
  if (account && nonce < account->next_nonce) {
    if (accounts_.is_committed(hash))
      return refuse(error(ErrorCode::already_exists, "transaction already committed"));
    return refuse(error(ErrorCode::already_exists, "nonce " + std::to_string(nonce) +
                                                       " already used (next is " +
                                                       std::to_string(account->next_nonce) + "): a replay"));
  }
  if (!signature_verified) {
    if (Status s = proto::check_transaction_signature(tx, chain_id_, verified->signer); !s.ok())
      return refuse(s);
  }

  if (!account) {
    return refuse(error(ErrorCode::permission_denied,
                        "signer " + verified->signer.hex() + " is not an account of this network"));
  }
  if (!holds_required_role(*account, verified->body)) {
    return refuse(error(ErrorCode::permission_denied, "signer " + verified->signer.hex() + " lacks the " +
                                                          required_roles_text(verified->body) +
                                                          " role this action needs"));
  }
  if (verified->body.has_governance()) {
    if (Status s = accounts_.check_governance(verified->body.governance()); !s.ok()) {
      return refuse(error(s.code(), "governance: " + s.message()));
    }
  }
  std::string contract_key;
  if (verified->body.has_contract()) {
    const auto& action = verified->body.contract();
    if (Status s = accounts_.check_contract(action, /*verify_signatures=*/true); !s.ok()) return refuse(s);
    contract_key = contract_conflict_key(action);
  }
  if (nonce - account->next_nonce > limits_.max_nonce_gap) {
    return refuse(error(ErrorCode::invalid_argument, "nonce " + std::to_string(nonce) +
                                                         " is too far ahead (next is " +
                                                         std::to_string(account->next_nonce) + ")"));
  }

  const std::size_t size = tx.ByteSizeLong();
  std::lock_guard lock(mutex_);
  if (by_hash_.contains(hash)) {
    ++stats_.refused;
    return error(ErrorCode::already_exists, "transaction already in the mempool");
  }
  auto& queue = by_account_[verified->signer];
  if (queue.contains(nonce)) {
    ++stats_.refused;
    return error(ErrorCode::already_exists, "another transaction with nonce " + std::to_string(nonce) +
                                                " is already pending for this signer");
  }
  if (!contract_key.empty() && pending_contract_keys_.contains(contract_key)) {
    if (queue.empty()) by_account_.erase(verified->signer);
    ++stats_.refused;
    return error(ErrorCode::already_exists, verified->body.contract().has_registration()
                                                ? "a registration of this contract id is already pending"
                                                : "this exact contract event is already pending");
  }
  if (by_hash_.size() >= limits_.max_txs || bytes_ + size > limits_.max_bytes) {
    if (queue.empty()) by_account_.erase(verified->signer);
    ++stats_.refused;
    return error(ErrorCode::unavailable, "mempool is full; retry later");
  }
  queue.emplace(nonce, hash);
  if (!contract_key.empty()) pending_contract_keys_.emplace(contract_key, hash);
  by_hash_.emplace(
      hash, Entry{tx, verified->signer, nonce, size, arrivals_++, admitted_ms, std::move(contract_key)});
  bytes_ += size;
  ++stats_.accepted;
  if (signature_verified) ++stats_.signature_checks_skipped;
  return hash;
}

std::vector<pb::Transaction> Mempool::reap(std::size_t max_txs, std::size_t max_bytes) const {
  std::lock_guard lock(mutex_);
  // Per account, the runnable run of consecutive nonces from the next nonce.
  struct Run {
    std::uint64_t first_arrival;
    std::vector<const Entry*> entries;
  };
  std::vector<Run> runs;
  for (const auto& [signer, queue] : by_account_) {
    auto account = accounts_.account(signer);
    if (!account) continue;
    Run run{0, {}};
    std::uint64_t expected = account->next_nonce;
    for (const auto& [nonce, hash] : queue) {
      if (nonce < expected) continue;
      if (nonce != expected) break;
      run.entries.push_back(&by_hash_.at(hash));
      ++expected;
    }
    if (run.entries.empty()) continue;
    run.first_arrival = run.entries.front()->arrival;
    runs.push_back(std::move(run));
  }
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.first_arrival < b.first_arrival; });
  std::vector<pb::Transaction> out;
  std::size_t bytes = 0;
  // Round-robin over accounts so one busy submitter cannot starve the others.
  for (std::size_t depth = 0;; ++depth) {
    bool any = false;
    for (const auto& run : runs) {
      if (depth >= run.entries.size()) continue;
      any = true;
      const Entry* e = run.entries[depth];
      if (out.size() >= max_txs || bytes + e->size_bytes > max_bytes) return out;
      out.push_back(e->tx);
      bytes += e->size_bytes;
    }
    if (!any) return out;
  }
}

void Mempool::erase_locked(const Hash32& hash) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return;
  auto queue = by_account_.find(it->second.signer);
  if (queue != by_account_.end()) {
    queue->second.erase(it->second.nonce);
    if (queue->second.empty()) by_account_.erase(queue);
  }
  if (!it->second.contract_key.empty()) pending_contract_keys_.erase(it->second.contract_key);
  bytes_ -= it->second.size_bytes;
  by_hash_.erase(it);
}

std::vector<std::uint64_t> Mempool::remove_committed(const std::vector<Hash32>& tx_hashes) {
  std::lock_guard lock(mutex_);
  std::set<crypto::PublicKey> touched;
  std::vector<std::uint64_t> admitted;
  admitted.reserve(tx_hashes.size());
  for (const auto& h : tx_hashes) {
    auto it = by_hash_.find(h);
    if (it == by_hash_.end()) continue;
    touched.insert(it->second.signer);
    admitted.push_back(it->second.admitted_ms);
    erase_locked(h);
    ++stats_.removed_committed;
  }
  // Transactions whose nonce the block used up can never commit any more.
  for (const auto& signer : touched) {
    auto queue = by_account_.find(signer);
    if (queue == by_account_.end()) continue;
    auto account = accounts_.account(signer);
    const std::uint64_t next = account ? account->next_nonce : 0;
    std::vector<Hash32> stale;
    for (auto it = queue->second.begin(); it != queue->second.end() && it->first < next; ++it) {
      stale.push_back(it->second);
    }
    for (const auto& h : stale) erase_locked(h);
  }
  // Queued contract actions the block made invalid.
  std::vector<Hash32> invalid;
  for (const auto& [key, hash] : pending_contract_keys_) {
    auto body = proto::decode<pb::TxBody>(by_hash_.at(hash).tx.body());
    if (!body || !accounts_.check_contract(body->contract(), /*verify_signatures=*/false).ok()) {
      invalid.push_back(hash);
    }
  }
  for (const auto& h : invalid) erase_locked(h);
  return admitted;
}

std::uint64_t Mempool::next_pending_nonce(const crypto::PublicKey& signer, std::uint64_t next_nonce) const {
  std::lock_guard lock(mutex_);
  auto queue = by_account_.find(signer);
  if (queue == by_account_.end()) return next_nonce;
  std::uint64_t expected = next_nonce;
  for (const auto& [nonce, hash] : queue->second) {
    if (nonce < expected) continue;
    if (nonce != expected) break;
    ++expected;
  }
  return expected;
}

bool Mempool::remove(const Hash32& tx_hash) {
  std::lock_guard lock(mutex_);
  if (!by_hash_.contains(tx_hash)) return false;
  erase_locked(tx_hash);
  return true;
}

bool Mempool::contains(const Hash32& tx_hash) const {
  std::lock_guard lock(mutex_);
  return by_hash_.contains(tx_hash);
}

std::size_t Mempool::size() const {
  std::lock_guard lock(mutex_);
  return by_hash_.size();
}

std::size_t Mempool::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

MempoolStats Mempool::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace cityledger::node
