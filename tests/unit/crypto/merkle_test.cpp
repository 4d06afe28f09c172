#include "crypto/merkle.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "../test_data.hpp"
#include "crypto/sha256.hpp"

namespace cityledger::crypto::merkle {
namespace {

using nlohmann::json;

Hash32 h(const std::string& hex) { return *Hash32::from_hex(hex); }

std::vector<Hash32> hashes(const json& list) {
  std::vector<Hash32> out;
  for (const auto& x : list) out.push_back(h(x.get<std::string>()));
  return out;
}

class Rfc9162Vectors : public ::testing::Test {
 protected:
  void SetUp() override {
    vectors_ = json::parse(testing::read_testdata("rfc9162-vectors.json"));
    for (const auto& leaf : vectors_["leaves"])
      leaves_.push_back(leaf_hash(*from_hex(leaf.get<std::string>())));
  }
  json vectors_;
  std::vector<Hash32> leaves_;
};

TEST_F(Rfc9162Vectors, LeafHashes) {
  ASSERT_EQ(leaves_.size(), 8u);
  EXPECT_EQ(leaves_, hashes(vectors_["leaf_hashes"]));
}

TEST_F(Rfc9162Vectors, RootsAtEverySize) {
  int checked = 0;
  for (const auto& r : vectors_["roots"]) {
    const auto size = r["tree_size"].get<std::size_t>();
    EXPECT_EQ(root(std::span(leaves_).subspan(0, size)), h(r["root"])) << "size " << size;
    ++checked;
  }
  EXPECT_EQ(checked, 9);
}

TEST_F(Rfc9162Vectors, EveryInclusionPath) {
  int checked = 0;
  for (const auto& v : vectors_["inclusion"]) {
    const auto index = v["leaf_index"].get<std::uint64_t>();
    const auto size = v["tree_size"].get<std::uint64_t>();
    const auto expected = hashes(v["path"]);
    auto tree = std::span(leaves_).subspan(0, size);
    auto path = inclusion_path(tree, index);
    ASSERT_TRUE(path.ok());
    EXPECT_EQ(*path, expected) << index << "/" << size;
    EXPECT_TRUE(verify_inclusion(index, size, leaves_[index], expected, root(tree)));
    ++checked;
  }
  EXPECT_EQ(checked, 36);
}

TEST_F(Rfc9162Vectors, EveryConsistencyProof) {
  int checked = 0;
  for (const auto& v : vectors_["consistency"]) {
    const auto first = v["first"].get<std::uint64_t>();
    const auto second = v["second"].get<std::uint64_t>();
    const auto expected = hashes(v["path"]);
    auto proof = consistency_proof(leaves_, first, second);
    ASSERT_TRUE(proof.ok());
    EXPECT_EQ(*proof, expected) << first << "->" << second;
    EXPECT_TRUE(verify_consistency(first, second, root(std::span(leaves_).subspan(0, first)),
                                   root(std::span(leaves_).subspan(0, second)), expected));
    ++checked;
  }
  EXPECT_EQ(checked, 36);
}

// Random trees: every proof verifies, and any change to the proof, the leaf,
// the index, the size or the roots makes it fail.
TEST(Merkle, RandomTreesProofsVerifyAndTamperingFails) {
  std::mt19937_64 rng(2024);
  for (int round = 0; round < 40; ++round) {
    const std::uint64_t n = 1 + rng() % 300;
    std::vector<Hash32> leaves;
    for (std::uint64_t i = 0; i < n; ++i) leaves.push_back(leaf_hash(as_bytes(std::to_string(rng()))));
    const Hash32 r = root(leaves);
    const std::uint64_t m = rng() % n;
    auto path = inclusion_path(leaves, m);
    ASSERT_TRUE(path.ok());
    EXPECT_TRUE(verify_inclusion(m, n, leaves[m], *path, r));
    if (m + 1 < n) {
      EXPECT_FALSE(verify_inclusion(m + 1, n, leaves[m], *path, r));
    }
    for (std::size_t i = 0; i < path->size(); ++i) {
      auto bad = *path;
      bad[i].bytes[rng() % 32] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      EXPECT_FALSE(verify_inclusion(m, n, leaves[m], bad, r));
    }
    if (!path->empty()) {
      auto shorter = *path;
      shorter.pop_back();
      EXPECT_FALSE(verify_inclusion(m, n, leaves[m], shorter, r));
    }
    auto longer = *path;
    longer.push_back(r);
    EXPECT_FALSE(verify_inclusion(m, n, leaves[m], longer, r));

    const std::uint64_t first = 1 + rng() % n;
    const Hash32 first_root = root(std::span(leaves).subspan(0, first));
    auto proof = consistency_proof(leaves, first, n);
    ASSERT_TRUE(proof.ok());
    EXPECT_TRUE(verify_consistency(first, n, first_root, r, *proof));
    for (std::size_t i = 0; i < proof->size(); ++i) {
      auto bad = *proof;
      bad[i].bytes[rng() % 32] ^= 0x80;
      EXPECT_FALSE(verify_consistency(first, n, first_root, r, bad));
    }
    Hash32 wrong_root = first_root;
    wrong_root.bytes[5] ^= 1;
    EXPECT_FALSE(verify_consistency(first, n, wrong_root, r, *proof));
  }
}

TEST(Merkle, EdgeCasesAreRefused) {
  std::vector<Hash32> leaves{leaf_hash(as_bytes("a")), leaf_hash(as_bytes("b"))};
  EXPECT_FALSE(inclusion_path(leaves, 2).ok());
  EXPECT_FALSE(consistency_proof(leaves, 0, 2).ok());
  EXPECT_FALSE(consistency_proof(leaves, 2, 1).ok());
  EXPECT_FALSE(consistency_proof(leaves, 1, 3).ok());
  EXPECT_FALSE(verify_inclusion(0, 0, leaves[0], {}, empty_root()));
  EXPECT_FALSE(verify_consistency(0, 2, empty_root(), root(leaves), {}));
  EXPECT_TRUE(verify_consistency(2, 2, root(leaves), root(leaves), {}));
  EXPECT_FALSE(verify_consistency(1, 2, leaves[0], root(leaves), {}));
  EXPECT_EQ(empty_root().hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(split_point(2), 1u);
  EXPECT_EQ(split_point(5), 4u);
  EXPECT_EQ(split_point(8), 4u);
  EXPECT_EQ(split_point(9), 8u);
}

}  // namespace
}  // namespace cityledger::crypto::merkle
