#include "ledger/records.hpp"

#include <algorithm>

namespace cityledger::ledger::records {

namespace {

void put_be(std::string& out, std::uint64_t value, int width) {
  for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

std::uint64_t get_be(std::string_view bytes, std::size_t offset, int width) {
  std::uint64_t value = 0;
  for (int i = 0; i < width; ++i) {
    value = (value << 8) | static_cast<std::uint8_t>(bytes[offset + static_cast<std::size_t>(i)]);
  }
  return value;
}

Hash32 get_hash(std::string_view bytes, std::size_t offset) {
  return Hash32::from_span(as_bytes(bytes.substr(offset, 32)));
}

}  // namespace

std::string u64_key(std::uint64_t value) {
  std::string out;
  out.reserve(8);
  put_be(out, value, 8);
  return out;
}

std::array<char, 8> u64_key_bytes(std::uint64_t value) {
  std::array<char, 8> out;
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (56 - 8 * i)) & 0xff);
  return out;
}

std::optional<std::uint64_t> decode_u64_key(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return get_be(bytes, 0, 8);
}

std::string u32_value(std::uint32_t value) {
  std::string out;
  put_be(out, value, 4);
  return out;
}

std::optional<std::uint32_t> decode_u32_value(std::string_view bytes) {
  if (bytes.size() != 4) return std::nullopt;
  return static_cast<std::uint32_t>(get_be(bytes, 0, 4));
}

std::optional<Hash32> decode_hash(std::string_view bytes) {
  if (bytes.size() != 32) return std::nullopt;
  return get_hash(bytes, 0);
}

std::string node_key(const NodeId& node) {
  CL_CHECK(node.level >= 1 && node.level <= max_node_level);
  CL_CHECK(node.index < (std::uint64_t{1} << (max_node_level + 1 - node.level)));
  std::string out;
  out.reserve(9);
  out.push_back(static_cast<char>(node.level));
  put_be(out, node.index, 8);
  return out;
}

std::optional<NodeId> decode_node_key(std::string_view bytes) {
  if (bytes.size() != 9) return std::nullopt;
  const auto level = static_cast<std::uint8_t>(bytes[0]);
  if (level < 1 || level > max_node_level) return std::nullopt;
  const std::uint64_t index = get_be(bytes, 1, 8);
  // The node must lie inside a log of fewer than 2^63 leaves.
  if (index >= (std::uint64_t{1} << (max_node_level + 1 - level))) return std::nullopt;
  return NodeId{level, index};
}

std::string content_key(const Hash32& content_hash, std::uint64_t leaf_index) {
  std::string out = content_hash.to_string();
  put_be(out, leaf_index, 8);
  return out;
}

std::array<char, 40> content_key_bytes(const Hash32& content_hash, std::uint64_t leaf_index) {
  std::array<char, 40> out;
  std::copy(content_hash.bytes.begin(), content_hash.bytes.end(),
            reinterpret_cast<std::uint8_t*>(out.data()));
  const auto index = u64_key_bytes(leaf_index);
  std::copy(index.begin(), index.end(), out.begin() + 32);
  return out;
}

std::optional<ContentKey> decode_content_key(std::string_view bytes) {
  if (bytes.size() != 40) return std::nullopt;
  return ContentKey{get_hash(bytes, 0), get_be(bytes, 32, 8)};
}

std::string tx_location_value(const TxLocation& location) {
  std::string out;
  out.reserve(12);
  put_be(out, location.height, 8);
  put_be(out, location.position, 4);
  return out;
}

std::optional<TxLocation> decode_tx_location(std::string_view bytes) {
  if (bytes.size() != 12) return std::nullopt;
  const TxLocation location{get_be(bytes, 0, 8), static_cast<std::uint32_t>(get_be(bytes, 8, 4))};
  if (location.height == 0) return std::nullopt;  // heights start at 1
  return location;
}

std::string head_value(const Head& head) {
  std::string out;
  out.reserve(80);
  put_be(out, head.height, 8);
  put_be(out, head.log_size, 8);
  out += head.log_root.to_string();
  out += head.block_hash.to_string();
  return out;
}

std::optional<Head> decode_head(std::string_view bytes) {
  if (bytes.size() != 80) return std::nullopt;
  Head head;
  head.height = get_be(bytes, 0, 8);
  head.log_size = get_be(bytes, 8, 8);
  head.log_root = get_hash(bytes, 16);
  head.block_hash = get_hash(bytes, 48);
  if (head.log_size >= (std::uint64_t{1} << max_node_level)) return std::nullopt;
  if (head.height == 0 && !head.block_hash.is_zero()) return std::nullopt;
  return head;
}

std::string_view kind_value(StoreKind kind) { return kind == StoreKind::chain ? "chain" : "log"; }

std::optional<StoreKind> decode_kind(std::string_view bytes) {
  if (bytes == "chain") return StoreKind::chain;
  if (bytes == "log") return StoreKind::bare_log;
  return std::nullopt;
}

}  // namespace cityledger::ledger::records
