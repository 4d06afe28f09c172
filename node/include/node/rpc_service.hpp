// The node's JSON-RPC methods (docs/rpc.md): registered in an rpc::Dispatcher,
// answered from the ledger (read side) and the node.
#pragma once

#include <memory>

#include "node/node.hpp"
#include "rpc/dispatcher.hpp"

namespace cityledger::node {

// Longest a `submit_tx` with wait=true holds its request.
inline constexpr std::uint64_t submit_wait_max_ms = 60'000;
// Transactions per submit_txs call (the bulk path, docs/rpc.md).
inline constexpr std::size_t submit_txs_max = 1000;

void register_rpc_methods(rpc::Dispatcher& dispatcher, Node& node);

// The proof bundle (docs/proof-format.md) for leaf `leaf_index`, checked by
// a final checkpoint of `tree_size` leaves (the newest final one covering the
// leaf when tree_size is absent).
Result<nlohmann::json> proof_bundle(const Node& node, std::uint64_t leaf_index,
                                    std::optional<std::uint64_t> tree_size);

nlohmann::json checkpoint_json(const pb::Checkpoint& checkpoint);

// The "validator_sets" of a proof bundle whose checkpoint has `height`: every
// committed set change effective at or before it, in order, with its proposal
// bytes, approvals and resulting set (get_validator_sets answers with it).
nlohmann::json validator_sets_json(const Node& node, std::uint64_t height);

}  // namespace cityledger::node
