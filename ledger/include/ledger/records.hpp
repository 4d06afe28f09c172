// Byte layout of everything the ledger stores in RocksDB: keys and the small
// records that are not Protobuf messages (docs/ledger.md, "Key encodings").
//
// Integers in keys are big-endian so that RocksDB's bytewise order is numeric
// order. Every decoder takes bytes read back from disk, so it checks lengths
// and ranges and fails (nullopt) instead of trusting them; the store turns a
// failed decode into ErrorCode::corruption.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.hpp"
#include "ledger/merkle_tree.hpp"

namespace cityledger::ledger::records {

inline constexpr std::uint32_t schema_version = 1;

// ---- column family names
inline constexpr const char* cf_blocks = "blocks";                // height -> Block
inline constexpr const char* cf_commits = "commits";              // height -> CommitCertificate
inline constexpr const char* cf_log_leaves = "log_leaves";        // leaf index -> leaf hash
inline constexpr const char* cf_log_entries = "log_entries";      // leaf index -> LogEntry
inline constexpr const char* cf_log_nodes = "log_nodes";          // (level, index) -> subtree hash
inline constexpr const char* cf_content_index = "content_index";  // content hash || leaf index -> ""
inline constexpr const char* cf_tx_index = "tx_index";            // tx hash -> (height, position)
inline constexpr const char* cf_metadata = "metadata";            // name -> value
// 'h' || height -> Checkpoint (final, with every signature collected);
// 's' || tree size -> height of the newest final checkpoint of that size.
inline constexpr const char* cf_checkpoints = "checkpoints";

// ---- metadata keys
inline constexpr std::string_view meta_schema_version = "schema_version";  // u32 big-endian
inline constexpr std::string_view meta_chain_id = "chain_id";              // bytes of the chain id
inline constexpr std::string_view meta_genesis_hash = "genesis_hash";      // 32 bytes
inline constexpr std::string_view meta_kind = "kind";                      // "chain" or "log"
inline constexpr std::string_view meta_head = "head";                      // Head record

// ---- fixed-width integers
std::string u64_key(std::uint64_t value);  // 8 bytes big-endian
// The same bytes without a std::string (write paths that make many keys).
std::array<char, 8> u64_key_bytes(std::uint64_t value);
std::optional<std::uint64_t> decode_u64_key(std::string_view bytes);
std::string u32_value(std::uint32_t value);  // 4 bytes big-endian
std::optional<std::uint32_t> decode_u32_value(std::string_view bytes);

// A 32-byte hash value (leaf hash, subtree hash, genesis hash).
std::optional<Hash32> decode_hash(std::string_view bytes);

// ---- log_nodes key: u8 level (1..63) || u64 index; the node covers leaves
// [index << level, (index + 1) << level). Leaves (level 0) live in log_leaves.
std::string node_key(const NodeId& node);
std::optional<NodeId> decode_node_key(std::string_view bytes);

// ---- content_index key: 32-byte content hash || u64 leaf index.
std::string content_key(const Hash32& content_hash, std::uint64_t leaf_index);
std::array<char, 40> content_key_bytes(const Hash32& content_hash, std::uint64_t leaf_index);
struct ContentKey {
  Hash32 content_hash;
  std::uint64_t leaf_index = 0;
};
std::optional<ContentKey> decode_content_key(std::string_view bytes);

// ---- tx_index value: u64 height || u32 position of the transaction in its block.
struct TxLocation {
  std::uint64_t height = 0;
  std::uint32_t position = 0;
  auto operator<=>(const TxLocation&) const = default;
};
std::string tx_location_value(const TxLocation& location);
std::optional<TxLocation> decode_tx_location(std::string_view bytes);

// ---- metadata "head": the last applied block and the log after it, replaced
// (the only record ever overwritten) in the same batch as each block.
//   u64 height || u64 log_size || 32 log_root || 32 block_hash   (80 bytes)
// height 0 means no block yet; block_hash is then all zero.
struct Head {
  std::uint64_t height = 0;
  std::uint64_t log_size = 0;
  Hash32 log_root;
  Hash32 block_hash;
  auto operator<=>(const Head&) const = default;
};
std::string head_value(const Head& head);
std::optional<Head> decode_head(std::string_view bytes);

// ---- metadata "kind"
enum class StoreKind : std::uint8_t { chain, bare_log };
std::string_view kind_value(StoreKind kind);
std::optional<StoreKind> decode_kind(std::string_view bytes);

}  // namespace cityledger::ledger::records
