// The node's JSON-RPC methods (docs/rpc.md): registered in an rpc::Dispatcher,
// answered from the ledger (read side) and the node.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/checkpoint.hpp"
#include "node/node.hpp"
#include "rpc/dispatcher.hpp"

namespace cityledger::node {

// Longest a `submit_tx` with wait=true holds its request.
inline constexpr std::uint64_t submit_wait_max_ms = 60'000;
// Transactions per submit_txs call (the bulk path, docs/rpc.md).
inline constexpr std::size_t submit_txs_max = 1000;

void register_rpc_methods(rpc::Dispatcher& dispatcher, Node& node);

// Proof bundles (docs/proof-format.md) as JSON text, for get_inclusion_proof.
// The checkpoint and validator sets of a bundle are the same for every leaf
// that checkpoint covers, so their text is kept for the last few checkpoints
// asked for; only the entry and the Merkle path are written per request.
// Safe to call from many threads.
class ProofBundles {
 public:
  explicit ProofBundles(const Node& node);

  // The bundle for leaf `leaf_index`, checked by a final checkpoint of
  // `tree_size` leaves (the newest final one covering the leaf when
  // tree_size is absent).
  Result<std::string> bundle(std::uint64_t leaf_index, std::optional<std::uint64_t> tree_size) const;

 private:
  struct Shared {
    pb::Checkpoint checkpoint;  // what the text was written from
    std::string head;           // {"chain_id":…,"checkpoint":{…},"entry":
    std::string tail;           // ,"validator_sets":[…]}
  };
  static constexpr std::size_t recent_max = 8;

  std::shared_ptr<const Shared> shared_for(const pb::Checkpoint& checkpoint,
                                           const crypto::CheckpointBody& body) const;

  const Node& node_;
  mutable std::mutex mutex_;
  mutable std::vector<std::shared_ptr<const Shared>> recent_;
};

nlohmann::json checkpoint_json(const pb::Checkpoint& checkpoint);

// The "validator_sets" of a proof bundle whose checkpoint has `height`: every
// committed set change effective at or before it, in order, with its proposal
// bytes, approvals and resulting set (get_validator_sets answers with it).
nlohmann::json validator_sets_json(const Node& node, std::uint64_t height);

}  // namespace cityledger::node
