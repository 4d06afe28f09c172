// The shape of the global Merkle log (RFC 9162), as pure functions: which
// stored complete subtrees a root or a proof is made of, and the frontier
// (right edge) that appending leaves updates. No I/O here: the store reads
// the hashes these functions name, and tests check them against
// crypto::merkle's reference implementation over a plain list of leaves.
//
// Every hash the log stores is a *complete aligned subtree*: NodeId{level,
// index} covers leaves [index * 2^level, (index + 1) * 2^level). Any range an
// RFC 9162 root or proof needs, MTH(D[begin:end]), is either one such subtree
// or the right edge of a tree; the right edge splits into at most 64 complete
// subtrees (the binary digits of its length), so every root and proof takes
// O(log N) stored hashes.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <span>
#include <vector>

#include "common/bytes.hpp"
#include "common/check.hpp"
#include "crypto/merkle.hpp"

namespace cityledger::ledger {

// Largest level a node can have: sizes are below 2^63 leaves.
inline constexpr int max_node_level = 62;

struct NodeId {
  std::uint8_t level = 0;  // 0 = a leaf
  std::uint64_t index = 0;

  std::uint64_t first_leaf() const { return index << level; }
  std::uint64_t leaf_count() const { return std::uint64_t{1} << level; }
  auto operator<=>(const NodeId&) const = default;
};

// The leaves [begin, end) of the log; MTH(D[begin:end]) in RFC 9162 terms.
struct LeafRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  auto operator<=>(const LeafRange&) const = default;
};

// Appends to `out` the complete aligned subtrees that tile `range`, left to
// right (for the ranges RFC 9162 uses, largest first).
void append_complete_subtrees(LeafRange range, std::vector<NodeId>& out);

// MTH of a range from the hashes of the subtrees append_complete_subtrees()
// named, in that order: folded from the right, as RFC 9162's recursive split
// does. `subtrees` must not be empty.
Hash32 fold_subtrees(std::span<const Hash32> subtrees);

// The ranges whose hashes form RFC 9162 PATH(index, D[0:tree_size]) and
// PROOF(first, D[0:second]), in proof order. Preconditions (CL_CHECK):
// index < tree_size; 0 < first <= second.
std::vector<LeafRange> inclusion_ranges(std::uint64_t index, std::uint64_t tree_size);
std::vector<LeafRange> consistency_ranges(std::uint64_t first, std::uint64_t second);

// The right edge of the log: for every set bit j of size, the hash of the
// complete subtree of 2^j leaves that ends the tiling of [0, size). That is
// all appending needs, and it gives the root without any read.
class Frontier {
 public:
  Frontier() = default;  // the empty log

  // From the hashes of append_complete_subtrees({0, size}), in that order.
  // CL_CHECKs that there is one hash per set bit of size.
  static Frontier from_subtrees(std::uint64_t size, std::span<const Hash32> subtrees);

  std::uint64_t size() const { return size_; }
  Hash32 root() const;

  // Appends one leaf hash. Calls on_node(NodeId, const Hash32&) for every
  // complete subtree of level >= 1 that this leaf completes, lowest first.
  template <typename OnNode>
  void append(const Hash32& leaf, OnNode&& on_node) {
    CL_CHECK(size_ < (std::uint64_t{1} << max_node_level));
    Hash32 carry = leaf;
    std::uint8_t level = 0;
    while (((size_ >> level) & 1) != 0) {
      carry = crypto::merkle::node_hash(by_level_[level], carry);
      ++level;
      on_node(NodeId{level, size_ >> level}, carry);
    }
    by_level_[level] = carry;
    ++size_;
  }
  void append(const Hash32& leaf) {
    append(leaf, [](const NodeId&, const Hash32&) {});
  }

 private:
  std::uint64_t size_ = 0;
  std::array<Hash32, 64> by_level_{};  // by_level_[j] is meaningful iff bit j of size_ is set
};

}  // namespace cityledger::ledger
