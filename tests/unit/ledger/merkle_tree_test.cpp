// The pure shape functions of the log (ledger/merkle_tree.hpp) and the stored
// record encodings (ledger/records.hpp), against crypto::merkle's reference.
#include "ledger/merkle_tree.hpp"

#include <gtest/gtest.h>

#include <map>

#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "ledger/records.hpp"

namespace cityledger::ledger {
namespace {

std::vector<Hash32> make_leaves(std::uint64_t n) {
  std::vector<Hash32> leaves;
  for (std::uint64_t i = 0; i < n; ++i)
    leaves.push_back(crypto::merkle::leaf_hash(as_bytes(std::to_string(i))));
  return leaves;
}

// Every complete subtree of the leaves, as a store would hold them.
std::map<NodeId, Hash32> all_nodes(const std::vector<Hash32>& leaves) {
  std::map<NodeId, Hash32> nodes;
  Frontier frontier;
  for (std::uint64_t i = 0; i < leaves.size(); ++i) {
    nodes[NodeId{0, i}] = leaves[i];
    frontier.append(leaves[i], [&](const NodeId& id, const Hash32& hash) { nodes[id] = hash; });
  }
  return nodes;
}

std::vector<Hash32> resolve(const std::map<NodeId, Hash32>& nodes, const std::vector<LeafRange>& ranges) {
  std::vector<Hash32> out;
  for (const LeafRange& range : ranges) {
    std::vector<NodeId> ids;
    append_complete_subtrees(range, ids);
    std::vector<Hash32> hashes;
    for (const NodeId& id : ids) hashes.push_back(nodes.at(id));
    out.push_back(fold_subtrees(hashes));
  }
  return out;
}

TEST(MerkleTree, FrontierEmitsEveryCompleteSubtreeWithTheReferenceHash) {
  const auto leaves = make_leaves(70);
  const auto nodes = all_nodes(leaves);
  for (const auto& [id, hash] : nodes) {
    const std::span<const Hash32> span(leaves);
    EXPECT_EQ(hash, crypto::merkle::root(span.subspan(id.first_leaf(), id.leaf_count())));
  }
  // Exactly n - popcount(n) nodes above the leaves for n leaves.
  EXPECT_EQ(nodes.size() - 70, 70u - 3u);
}

TEST(MerkleTree, FrontierRootMatchesReferenceAtEverySize) {
  const auto leaves = make_leaves(130);
  Frontier frontier;
  EXPECT_EQ(frontier.root(), crypto::merkle::empty_root());
  for (std::size_t n = 1; n <= leaves.size(); ++n) {
    frontier.append(leaves[n - 1]);
    ASSERT_EQ(frontier.size(), n);
    ASSERT_EQ(frontier.root(), crypto::merkle::root(std::span<const Hash32>(leaves).first(n))) << n;
  }
}

TEST(MerkleTree, FrontierFromStoredSubtreesContinuesLikeTheOriginal) {
  const auto leaves = make_leaves(100);
  const auto nodes = all_nodes(leaves);
  for (std::uint64_t size = 0; size <= 90; ++size) {
    std::vector<NodeId> ids;
    append_complete_subtrees({0, size}, ids);
    std::vector<Hash32> hashes;
    for (const NodeId& id : ids) hashes.push_back(nodes.at(id));
    Frontier frontier = Frontier::from_subtrees(size, hashes);
    for (std::uint64_t i = size; i < 100; ++i) frontier.append(leaves[i]);
    EXPECT_EQ(frontier.root(), crypto::merkle::root(leaves)) << size;
  }
}

TEST(MerkleTree, CompleteSubtreesTileTheRangeLargestFirst) {
  std::vector<NodeId> ids;
  append_complete_subtrees({0, 13}, ids);  // 8 + 4 + 1
  EXPECT_EQ(ids, (std::vector<NodeId>{{3, 0}, {2, 2}, {0, 12}}));
  ids.clear();
  append_complete_subtrees({8, 15}, ids);  // 4 + 2 + 1
  EXPECT_EQ(ids, (std::vector<NodeId>{{2, 2}, {1, 6}, {0, 14}}));
  ids.clear();
  append_complete_subtrees({0, 0}, ids);
  EXPECT_TRUE(ids.empty());
}

TEST(MerkleTree, ProofRangesGiveTheReferenceProofsForAllSmallTrees) {
  const auto leaves = make_leaves(70);
  const auto nodes = all_nodes(leaves);
  for (std::uint64_t size = 1; size <= leaves.size(); ++size) {
    const std::span<const Hash32> tree = std::span<const Hash32>(leaves).first(size);
    EXPECT_EQ(resolve(nodes, {{0, size}}).front(), crypto::merkle::root(tree));
    for (std::uint64_t index = 0; index < size; ++index) {
      ASSERT_EQ(resolve(nodes, inclusion_ranges(index, size)), *crypto::merkle::inclusion_path(tree, index))
          << index << " in " << size;
    }
    for (std::uint64_t first = 1; first <= size; ++first) {
      ASSERT_EQ(resolve(nodes, consistency_ranges(first, size)),
                *crypto::merkle::consistency_proof(leaves, first, size))
          << first << " to " << size;
    }
  }
}

TEST(MerkleTree, ProofRangesStayLogarithmicForHugeTrees) {
  const std::uint64_t size = (std::uint64_t{1} << 61) + 12345;
  EXPECT_LE(inclusion_ranges(size - 1, size).size(), 62u);
  EXPECT_LE(consistency_ranges(size / 3, size).size(), 124u);
  std::vector<NodeId> ids;
  append_complete_subtrees({0, size}, ids);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(std::popcount(size)));
}

TEST(Records, KeysRoundTripAndSortNumerically) {
  EXPECT_LT(records::u64_key(255), records::u64_key(256));
  EXPECT_EQ(records::decode_u64_key(records::u64_key(0x0102030405060708)), 0x0102030405060708u);
  EXPECT_FALSE(records::decode_u64_key("1234567"));

  const NodeId node{5, 123456789};
  EXPECT_EQ(records::decode_node_key(records::node_key(node)), node);
  EXPECT_LT(records::node_key({1, 999}), records::node_key({2, 0}));  // level-major order
  EXPECT_FALSE(records::decode_node_key(std::string(9, '\0')));       // level 0 lives in log_leaves
  EXPECT_FALSE(records::decode_node_key(std::string("\x3f") + std::string(8, '\0')));  // level 63

  const Hash32 content = crypto::sha256(std::string_view("x"));
  const auto key = records::decode_content_key(records::content_key(content, 77));
  ASSERT_TRUE(key);
  EXPECT_EQ(key->content_hash, content);
  EXPECT_EQ(key->leaf_index, 77u);
  EXPECT_LT(records::content_key(content, 9), records::content_key(content, 10));

  const records::TxLocation location{42, 7};
  EXPECT_EQ(records::decode_tx_location(records::tx_location_value(location)), location);
  EXPECT_FALSE(records::decode_tx_location(records::tx_location_value({0, 1})));  // heights start at 1

  records::Head head{3, 10, crypto::sha256(std::string_view("r")), crypto::sha256(std::string_view("b"))};
  EXPECT_EQ(records::decode_head(records::head_value(head)), head);
  EXPECT_FALSE(records::decode_head(records::head_value(head).substr(1)));
  head.height = 0;  // no block, yet a block hash
  EXPECT_FALSE(records::decode_head(records::head_value(head)));
  EXPECT_FALSE(records::decode_kind("chains"));
}

}  // namespace
}  // namespace cityledger::ledger
