// The mempool: signed transactions waiting for a block.
//
// Each transaction is checked once, on entry: canonical decoding, chain id,
// size and content limits, signature, the signer's role, and its nonce. Block
// validation then skips the signature check of transactions it finds here
// (was_verified), so no transaction is verified twice on this node.
//
// Bounded in count and bytes; a full mempool refuses new transactions
// (ErrorCode::unavailable) rather than silently evicting accepted ones.
// Thread-safe: every method takes the one internal lock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "crypto/schnorr.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {

// What the committed ledger state says about an account.
struct AccountState {
  std::set<std::string> roles;
  std::uint64_t next_nonce = 1;  // the nonce its next transaction must carry
};

// Read access to committed state, supplied by the node (backed by the ledger).
class AccountView {
 public:
  virtual ~AccountView() = default;
  virtual std::optional<AccountState> account(const crypto::PublicKey& key) const = 0;
  virtual bool is_committed(const Hash32& tx_hash) const = 0;
  // The ledger-dependent rules of a contract action (node/contract_book.hpp).
  virtual Status check_contract(const pb::ContractAction& action, bool verify_signatures) const = 0;
  // The governance rules (docs/governance.md) for an action in the next block.
  virtual Status check_governance(const pb::GovernanceAction& action) const = 0;
};

// The role a transaction's action needs: one of these (a governance
// transaction may be carried by a validator or an admin account).
std::vector<std::string> required_roles(const pb::TxBody& body);
bool holds_required_role(const AccountState& account, const pb::TxBody& body);
// "'submitter'", "'validator' or 'admin'": for error messages.
std::string required_roles_text(const pb::TxBody& body);
// Two pending contract actions with the same key cannot both commit: the
// registration of one contract id, or one exact event.
std::string contract_conflict_key(const pb::ContractAction& action);

struct MempoolLimits {
  std::size_t max_txs = 50'000;
  std::size_t max_bytes = 256u << 20;
  // How far beyond an account's next nonce a transaction may be queued, so a
  // client can pipeline without waiting for each commit.
  std::uint64_t max_nonce_gap = 10'000;
  proto::Limits tx_limits;
};

struct MempoolStats {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  std::uint64_t removed_committed = 0;
  // Admitted without a signature check of their own: block validation had
  // verified these exact transactions (note_signature_verified).
  std::uint64_t signature_checks_skipped = 0;
};

class Mempool {
 public:
  Mempool(std::string chain_id, const AccountView& accounts, MempoolLimits limits = {});

  // Admits a transaction or says exactly why not: invalid_argument (malformed,
  // wrong chain, bad entries), permission_denied (bad signature, unknown signer,
  // missing role, missing co-signature), already_exists (duplicate, nonce
  // reused/replayed, a contract registration or event already anchored or
  // already pending), not_found (an event of an unknown contract),
  // unavailable (full).
  // `admitted_ms` is kept with the transaction and handed back by
  // remove_committed (the node passes a monotonic clock; the mempool reads none).
  Result<Hash32> add(const pb::Transaction& tx, std::uint64_t admitted_ms = 0);
  // Block validation verified this exact transaction (hash over body and
  // signature) because its proposal outran the gossip: when the gossiped copy
  // arrives, add() skips its signature check, which would only repeat this
  // one. Bounded (the oldest are forgotten); changes no verdict.
  void note_signature_verified(const Hash32& tx_hash);

  // Up to the limits, transactions in per-account nonce order, only runs of
  // consecutive nonces starting at each account's next nonce; accounts
  // interleaved fairly in order of their oldest transaction.
  std::vector<pb::Transaction> reap(std::size_t max_txs, std::size_t max_bytes) const;

  // The transactions of a committed block leave; queued transactions whose
  // nonce is now below their account's next nonce are dropped too, and so
  // are queued contract actions the block made invalid (the same contract
  // registered by another transaction, say). Returns
  // the admitted_ms of the committed transactions this mempool held.
  std::vector<std::uint64_t> remove_committed(const std::vector<Hash32>& tx_hashes);

  // Drops a transaction that can no longer be committed (a governance action
  // made inapplicable by a later commit). True when it was here.
  bool remove(const Hash32& tx_hash);

  bool contains(const Hash32& tx_hash) const;
  // The nonce after the account's last consecutive queued transaction, or
  // `next_nonce` when none is queued: what a client signing its next
  // transaction should use while earlier ones wait for a block.
  std::uint64_t next_pending_nonce(const crypto::PublicKey& signer, std::uint64_t next_nonce) const;
  // True when this exact transaction passed the full entry check here.
  bool was_verified(const Hash32& tx_hash) const { return contains(tx_hash); }

  std::size_t size() const;
  std::size_t bytes() const;
  MempoolStats stats() const;

 private:
  struct Entry {
    pb::Transaction tx;
    crypto::PublicKey signer;
    std::uint64_t nonce = 0;
    std::size_t size_bytes = 0;
    std::uint64_t arrival = 0;
    std::uint64_t admitted_ms = 0;
    std::string contract_key;  // contract actions: what two pending ones may not share
  };
  void erase_locked(const Hash32& hash);
  Result<Hash32> refuse(Status status);

  const std::string chain_id_;
  const AccountView& accounts_;
  const MempoolLimits limits_;

  mutable std::mutex mutex_;
  std::unordered_map<Hash32, Entry, Hash32Hasher> by_hash_;
  std::map<crypto::PublicKey, std::map<std::uint64_t, Hash32>> by_account_;  // signer -> nonce -> hash
  std::unordered_map<std::string, Hash32> pending_contract_keys_;            // contract_key -> tx
  // note_signature_verified(): at most signature_verified_max, oldest first out.
  static constexpr std::size_t signature_verified_max = 65'536;
  std::unordered_set<Hash32, Hash32Hasher> signature_verified_;
  std::deque<Hash32> signature_verified_order_;
  std::size_t bytes_ = 0;
  std::uint64_t arrivals_ = 0;
  MempoolStats stats_;
};

}  // namespace cityledger::node
