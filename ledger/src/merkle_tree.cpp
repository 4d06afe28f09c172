#include "ledger/merkle_tree.hpp"

namespace cityledger::ledger {

void append_complete_subtrees(LeafRange range, std::vector<NodeId>& out) {
  CL_CHECK(range.begin <= range.end);
  std::uint64_t at = range.begin;
  while (at < range.end) {
    // The largest aligned subtree that starts at `at` and fits in the range.
    int level = at == 0 ? max_node_level : std::countr_zero(at);
    while ((std::uint64_t{1} << level) > range.end - at) --level;
    out.push_back(NodeId{static_cast<std::uint8_t>(level), at >> level});
    at += std::uint64_t{1} << level;
  }
}

Hash32 fold_subtrees(std::span<const Hash32> subtrees) {
  CL_CHECK(!subtrees.empty());
  Hash32 hash = subtrees.back();
  for (std::size_t i = subtrees.size() - 1; i-- > 0;) hash = crypto::merkle::node_hash(subtrees[i], hash);
  return hash;
}

namespace {

// RFC 9162 section 2.1.3.1, PATH(m, D[begin:begin+n]), naming ranges instead
// of hashing them.
void path_ranges(std::uint64_t begin, std::uint64_t n, std::uint64_t m, std::vector<LeafRange>& out) {
  if (n <= 1) return;
  const std::uint64_t k = crypto::merkle::split_point(n);
  if (m < k) {
    path_ranges(begin, k, m, out);
    out.push_back({begin + k, begin + n});
  } else {
    path_ranges(begin + k, n - k, m - k, out);
    out.push_back({begin, begin + k});
  }
}

// RFC 9162 section 2.1.4.1, SUBPROOF(m, D[begin:begin+n], complete).
void subproof_ranges(std::uint64_t begin, std::uint64_t n, std::uint64_t m, bool complete,
                     std::vector<LeafRange>& out) {
  if (m == n) {
    if (!complete) out.push_back({begin, begin + n});
    return;
  }
  const std::uint64_t k = crypto::merkle::split_point(n);
  if (m <= k) {
    subproof_ranges(begin, k, m, complete, out);
    out.push_back({begin + k, begin + n});
  } else {
    subproof_ranges(begin + k, n - k, m - k, false, out);
    out.push_back({begin, begin + k});
  }
}

}  // namespace

std::vector<LeafRange> inclusion_ranges(std::uint64_t index, std::uint64_t tree_size) {
  CL_CHECK(index < tree_size);
  std::vector<LeafRange> out;
  out.reserve(64);
  path_ranges(0, tree_size, index, out);
  return out;
}

std::vector<LeafRange> consistency_ranges(std::uint64_t first, std::uint64_t second) {
  CL_CHECK(first > 0 && first <= second);
  std::vector<LeafRange> out;
  if (first == second) return out;
  out.reserve(64);
  subproof_ranges(0, second, first, true, out);
  return out;
}

Frontier Frontier::from_subtrees(std::uint64_t size, std::span<const Hash32> subtrees) {
  CL_CHECK(size < (std::uint64_t{1} << max_node_level));
  CL_CHECK(static_cast<std::size_t>(std::popcount(size)) == subtrees.size());
  Frontier frontier;
  frontier.size_ = size;
  std::size_t next = 0;
  for (int level = 63; level >= 0; --level) {
    if (((size >> level) & 1) != 0) frontier.by_level_[static_cast<std::size_t>(level)] = subtrees[next++];
  }
  return frontier;
}

Hash32 Frontier::root() const {
  if (size_ == 0) return crypto::merkle::empty_root();
  // The tiling of [0, size) is the set bits from high to low; fold from the right.
  Hash32 hash;
  bool have = false;
  for (int level = 0; level < 64; ++level) {
    if (((size_ >> level) & 1) == 0) continue;
    const Hash32& subtree = by_level_[static_cast<std::size_t>(level)];
    hash = have ? crypto::merkle::node_hash(subtree, hash) : subtree;
    have = true;
  }
  return hash;
}

}  // namespace cityledger::ledger
