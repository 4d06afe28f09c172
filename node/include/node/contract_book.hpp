// The committed PPP contracts (docs/contracts.md): each registration with the
// events anchored under it, and the rules that depend on them — a contract id
// is registered once; an event needs a registered contract, a rule for its
// kind, co-signatures from parties only and from every party the rule names,
// and must not repeat an event already anchored.
//
// Rebuilt with ChainState from the stored blocks, advanced after each synced
// commit. Thread-safe: one shared lock; readers are RPC threads and the
// mempool, the writer the consensus thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "state.pb.h"

namespace cityledger::node {

struct ContractEventRecord {
  Hash32 subject_hash;  // SHA-256 of the canonical event: its leaf's content_hash
  std::string kind;
  std::uint64_t height = 0;
  std::uint64_t leaf_index = 0;
  Hash32 tx_hash;
};

struct ContractRecord {
  pb::ContractRegistration registration;
  std::uint64_t height = 0;
  std::uint64_t leaf_index = 0;
  Hash32 tx_hash;
  std::vector<ContractEventRecord> events;  // in log order
};

// What the actions earlier in one block (being built or validated) did, so
// the next action is checked against the ledger as it will be.
struct ContractScratch {
  std::set<std::string> registered;
  std::set<Hash32> events;
};

class ContractBook {
 public:
  explicit ContractBook(std::string chain_id);

  // Every ledger-dependent rule, against committed state plus `scratch`
  // (which records the action when it passes, if given). Co-signatures are
  // verified only when `verify_signatures` (the mempool already did it for
  // the transactions it admitted). permission_denied for a missing, foreign
  // or invalid co-signature; already_exists for a repeat; not_found for an
  // unknown contract; invalid_argument for an event kind without a rule.
  Status check(const pb::ContractAction& action, bool verify_signatures,
               ContractScratch* scratch = nullptr) const;

  // After the block holding the action was durably committed.
  void apply(const pb::ContractAction& action, std::uint64_t height, std::uint64_t leaf_index,
             const Hash32& tx_hash);

  // The whole book for a state snapshot (docs/node.md), ascending by id, and
  // back. restore() replaces the book; invalid_argument for a snapshot that
  // does not hold together (a hash of the wrong size, an id twice).
  void export_to(pb::StateSnapshot& snapshot) const;
  Status restore(const pb::StateSnapshot& snapshot);

  std::optional<ContractRecord> contract(const std::string& id) const;
  std::vector<std::string> ids() const;
  std::size_t size() const;

 private:
  Status check_locked(const pb::ContractAction& action, bool verify_signatures,
                      const ContractScratch* scratch) const;

  const std::string chain_id_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, ContractRecord> contracts_;
  std::unordered_set<Hash32, Hash32Hasher> event_hashes_;
};

}  // namespace cityledger::node
