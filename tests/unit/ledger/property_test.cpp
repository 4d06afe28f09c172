// The stored log against a naive model: crypto::merkle's reference functions
// over an in-memory vector of the same leaf hashes. Random leaf counts per
// block up to 10,000 leaves; random (index, size) and (first, second) pairs;
// every stored proof equals the reference, verifies, and stops verifying when
// any byte of it (or of the root, or of the leaf) is flipped.
#include <gtest/gtest.h>

#include <random>

#include "block_builder.hpp"
#include "crypto/merkle.hpp"
#include "ledger/store.hpp"

namespace cityledger::ledger {
namespace {

using testing::BlockBuilder;
using testing::TempDir;

constexpr std::uint64_t max_leaves = 10'000;

struct Model {
  std::vector<Hash32> leaves;
  std::vector<std::uint64_t> block_sizes;  // log size after each block
  Hash32 root(std::uint64_t size) const {
    return crypto::merkle::root(std::span<const Hash32>(leaves).first(size));
  }
};

// Random blocks: 1-4 transactions of 0 (governance) to 300 entries, some
// blocks with no leaf at all.
Model build_chain(Store& store, std::mt19937_64& rng) {
  Model model;
  BlockBuilder builder;
  builder.content_space = 2'000;  // content hashes repeat every 2,000 leaves
  while (model.leaves.size() < max_leaves) {
    std::vector<int> spec(1 + rng() % 4);
    for (int& entries : spec)
      entries = rng() % 5 == 0 ? 0 : static_cast<int>(1 + rng() % (rng() % 2 ? 300 : 8));
    const auto block = builder.next(store, spec);
    auto entries = derive_log_entries(block.block);
    EXPECT_TRUE(entries.ok());
    if (model.leaves.size() + entries->size() > max_leaves) break;
    for (const auto& entry : *entries) model.leaves.push_back(proto::log_leaf_hash(entry));
    const Status status = store.apply_block(block.block, block.commit);
    EXPECT_TRUE(status.ok()) << status.to_string();
    if (!status.ok()) break;
    model.block_sizes.push_back(model.leaves.size());
  }
  return model;
}

std::vector<Hash32> flipped(std::vector<Hash32> hashes, std::size_t byte) {
  hashes[byte / 32].bytes[byte % 32] ^= 0x01;
  return hashes;
}

Hash32 flipped(Hash32 hash, std::size_t byte) {
  hash.bytes[byte % 32] ^= 0x80;
  return hash;
}

void check_inclusion(const Store& store, const Model& model, std::uint64_t index, std::uint64_t size,
                     bool flip_every_byte) {
  const auto tree = std::span<const Hash32>(model.leaves).first(size);
  auto proof = store.inclusion_proof(index, size);
  ASSERT_TRUE(proof.ok()) << proof.status().to_string();
  ASSERT_EQ(*proof, *crypto::merkle::inclusion_path(tree, index)) << index << " in " << size;
  const Hash32 root = crypto::merkle::root(tree);
  ASSERT_EQ(*store.root_at(size), root);
  const Hash32& leaf = model.leaves[index];
  ASSERT_TRUE(crypto::merkle::verify_inclusion(index, size, leaf, *proof, root));
  if (!flip_every_byte) return;
  for (std::size_t byte = 0; byte < proof->size() * 32; ++byte) {
    ASSERT_FALSE(crypto::merkle::verify_inclusion(index, size, leaf, flipped(*proof, byte), root)) << byte;
  }
  for (std::size_t byte = 0; byte < 32; ++byte) {
    ASSERT_FALSE(crypto::merkle::verify_inclusion(index, size, leaf, *proof, flipped(root, byte)));
    ASSERT_FALSE(crypto::merkle::verify_inclusion(index, size, flipped(leaf, byte), *proof, root));
  }
}

void check_consistency(const Store& store, const Model& model, std::uint64_t first, std::uint64_t second,
                       bool flip_every_byte) {
  auto proof = store.consistency_proof(first, second);
  ASSERT_TRUE(proof.ok()) << proof.status().to_string();
  ASSERT_EQ(*proof, *crypto::merkle::consistency_proof(model.leaves, first, second))
      << first << " to " << second;
  const Hash32 first_root = model.root(first);
  const Hash32 second_root = model.root(second);
  ASSERT_TRUE(crypto::merkle::verify_consistency(first, second, first_root, second_root, *proof));
  if (!flip_every_byte) return;
  for (std::size_t byte = 0; byte < proof->size() * 32; ++byte) {
    ASSERT_FALSE(
        crypto::merkle::verify_consistency(first, second, first_root, second_root, flipped(*proof, byte)))
        << byte;
  }
  if (first == second) return;  // an empty proof has no bytes; roots still must match
  for (std::size_t byte = 0; byte < 32; ++byte) {
    ASSERT_FALSE(
        crypto::merkle::verify_consistency(first, second, flipped(first_root, byte), second_root, *proof));
    ASSERT_FALSE(
        crypto::merkle::verify_consistency(first, second, first_root, flipped(second_root, byte), *proof));
  }
}

void check_random_pairs(const Store& store, const Model& model, std::mt19937_64& rng, int pairs) {
  const std::uint64_t n = model.leaves.size();
  for (int i = 0; i < pairs; ++i) {
    // Half the sizes are block boundaries (what checkpoints sign), half arbitrary.
    const std::uint64_t size =
        i % 2 == 0 ? model.block_sizes[rng() % model.block_sizes.size()] : 1 + rng() % n;
    if (size == 0) continue;
    check_inclusion(store, model, rng() % size, size, i % 20 == 0);
    const std::uint64_t first = 1 + rng() % size;
    check_consistency(store, model, first, size, i % 20 == 1);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(StoreProperty, StoredProofsEqualTheNaiveModel) {
  TempDir dir;
  std::mt19937_64 rng(0x5eed1ed9e4ULL);
  StoreOptions options = testing::test_options();
  options.sync_writes = false;  // durability is the crash test's subject, not this one's
  options.memory_levels_from = 4;
  auto store = std::move(Store::open(dir.store(), options)).value();
  const Model model = build_chain(*store, rng);
  ASSERT_GT(model.leaves.size(), max_leaves / 2);
  ASSERT_EQ(store->log_size(), model.leaves.size());

  // Every block's header root is the model's root at its size.
  for (std::size_t h = 0; h < model.block_sizes.size(); h += 1 + h / 8) {
    const auto block = store->get_block(h + 1);
    ASSERT_TRUE(block.ok());
    EXPECT_EQ(block->header().log_size(), model.block_sizes[h]);
    EXPECT_EQ(block->header().log_root(), model.root(model.block_sizes[h]).to_string());
  }
  for (std::uint64_t i = 0; i < model.leaves.size(); ++i) ASSERT_EQ(*store->leaf_hash(i), model.leaves[i]);
  // Content hashes repeat every 2,000 leaves: the index finds all of them.
  const auto leaves = store->leaves_for_content(testing::test_content_hash(17, 2'000));
  ASSERT_TRUE(leaves.ok());
  std::vector<std::uint64_t> expected;
  for (std::uint64_t i = 17; i < model.leaves.size(); i += 2'000) expected.push_back(i);
  EXPECT_EQ(*leaves, expected);

  check_random_pairs(*store, model, rng, testing::sanitized_build ? 40 : 160);
  // Edges: first and last leaf, sizes 1 and n, powers of two.
  const std::uint64_t n = model.leaves.size();
  for (std::uint64_t size : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{1024}, n - 1, n}) {
    check_inclusion(*store, model, 0, size, false);
    check_inclusion(*store, model, size - 1, size, false);
    check_consistency(*store, model, 1, size, false);
    check_consistency(*store, model, size, n, false);
  }

  // The same answers with no in-memory levels, and with most levels in memory.
  for (int memory_levels_from : {1, 63}) {
    store.reset();
    options.create_if_missing = false;
    options.memory_levels_from = memory_levels_from;
    auto reopened = Store::open(dir.store(), options);
    ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
    store = std::move(reopened).value();
    check_random_pairs(*store, model, rng, testing::sanitized_build ? 10 : 30);
  }
}

}  // namespace
}  // namespace cityledger::ledger
