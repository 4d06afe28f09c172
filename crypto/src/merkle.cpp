#include "crypto/merkle.hpp"

#include <bit>

#include "crypto/sha256.hpp"

namespace cityledger::crypto::merkle {

Hash32 leaf_hash(ByteSpan leaf) {
  const std::uint8_t prefix = 0x00;
  Sha256 h;
  h.update(ByteSpan{&prefix, 1});
  h.update(leaf);
  return h.finish();
}

Hash32 node_hash(const Hash32& left, const Hash32& right) {
  std::array<std::uint8_t, 65> buffer;
  buffer[0] = 0x01;
  std::copy(left.bytes.begin(), left.bytes.end(), buffer.begin() + 1);
  std::copy(right.bytes.begin(), right.bytes.end(), buffer.begin() + 33);
  return sha256(ByteSpan{buffer.data(), buffer.size()});
}

Hash32 empty_root() { return sha256(ByteSpan{}); }

std::uint64_t split_point(std::uint64_t n) {
  CL_CHECK(n >= 2);
  return std::bit_floor(n - 1);
}

Hash32 root(std::span<const Hash32> leaves) {
  if (leaves.empty()) return empty_root();
  if (leaves.size() == 1) return leaves[0];
  // Bottom-up over complete levels; an odd node at the end of a level is
  // promoted unchanged, which gives exactly the RFC's recursive MTH.
  std::vector<Hash32> level(leaves.begin(), leaves.end());
  while (level.size() > 1) {
    std::size_t out = 0;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2) level[out++] = node_hash(level[i], level[i + 1]);
    if (level.size() % 2 == 1) level[out++] = level.back();
    level.resize(out);
  }
  return level[0];
}

namespace {

void path_into(std::span<const Hash32> d, std::uint64_t m, std::vector<Hash32>& out) {
  const std::uint64_t n = d.size();
  if (n <= 1) return;
  const std::uint64_t k = split_point(n);
  if (m < k) {
    path_into(d.subspan(0, k), m, out);
    out.push_back(root(d.subspan(k)));
  } else {
    path_into(d.subspan(k), m - k, out);
    out.push_back(root(d.subspan(0, k)));
  }
}

void subproof_into(std::span<const Hash32> d, std::uint64_t m, bool complete, std::vector<Hash32>& out) {
  const std::uint64_t n = d.size();
  if (m == n) {
    if (!complete) out.push_back(root(d));
    return;
  }
  const std::uint64_t k = split_point(n);
  if (m <= k) {
    subproof_into(d.subspan(0, k), m, complete, out);
    out.push_back(root(d.subspan(k)));
  } else {
    subproof_into(d.subspan(k), m - k, false, out);
    out.push_back(root(d.subspan(0, k)));
  }
}

}  // namespace

Result<std::vector<Hash32>> inclusion_path(std::span<const Hash32> leaves, std::uint64_t index) {
  if (index >= leaves.size()) return error(ErrorCode::invalid_argument, "leaf index beyond tree size");
  std::vector<Hash32> out;
  path_into(leaves, index, out);
  return out;
}

Result<std::vector<Hash32>> consistency_proof(std::span<const Hash32> leaves, std::uint64_t first,
                                              std::uint64_t second) {
  if (first == 0 || first > second || second > leaves.size()) {
    return error(ErrorCode::invalid_argument, "consistency proof needs 0 < first <= second <= size");
  }
  std::vector<Hash32> out;
  if (first == second) return out;
  subproof_into(leaves.subspan(0, second), first, true, out);
  return out;
}

std::optional<Hash32> root_from_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash32& leaf,
                                          std::span<const Hash32> path) {
  // RFC 9162 section 2.1.3.2, step by step.
  if (index >= tree_size) return std::nullopt;
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  Hash32 r = leaf;
  for (const Hash32& p : path) {
    if (sn == 0) return std::nullopt;
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return std::nullopt;
  return r;
}

bool verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash32& leaf,
                      std::span<const Hash32> path, const Hash32& expected_root) {
  auto r = root_from_inclusion(index, tree_size, leaf, path);
  return r.has_value() && *r == expected_root;
}

bool verify_consistency(std::uint64_t first, std::uint64_t second, const Hash32& first_root,
                        const Hash32& second_root, std::span<const Hash32> proof) {
  // RFC 9162 section 2.1.4.2, step by step.
  if (first == 0 || first > second) return false;
  if (first == second) return proof.empty() && first_root == second_root;
  if (proof.empty()) return false;
  std::vector<Hash32> path(proof.begin(), proof.end());
  if (std::has_single_bit(first)) path.insert(path.begin(), first_root);
  std::uint64_t fn = first - 1;
  std::uint64_t sn = second - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash32 fr = path[0];
  Hash32 sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash32& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == first_root && sr == second_root;
}

}  // namespace cityledger::crypto::merkle
