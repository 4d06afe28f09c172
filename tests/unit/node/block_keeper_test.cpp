#include "node/block_keeper.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {
namespace {

namespace fs = std::filesystem;

class BlockKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cl_keeper_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

pb::Block block(std::uint64_t height, std::uint64_t time) {
  pb::Block b;
  b.mutable_header()->set_chain_id("keeper-test");
  b.mutable_header()->set_height(height);
  b.mutable_header()->set_time_unix_ms(time);
  return b;
}

std::string bytes(const pb::Block& b) { return proto::encode(b); }

TEST_F(BlockKeeperTest, KeepsBlocksPerHeightAcrossReopenAndPrunes) {
  {
    BlockKeeper keeper(dir_);
    ASSERT_TRUE(keeper.open().ok());
    ASSERT_TRUE(keeper.keep(block(7, 1)).ok());
    ASSERT_TRUE(keeper.keep(block(7, 2)).ok());  // another proposal at the same height
    ASSERT_TRUE(keeper.keep(block(7, 2)).ok());  // the same again: no-op
    ASSERT_TRUE(keeper.keep(block(8, 3)).ok());
  }
  BlockKeeper keeper(dir_);
  ASSERT_TRUE(keeper.open().ok());
  auto at7 = keeper.load(7);
  ASSERT_EQ(at7.size(), 2u);
  std::set<std::string> got = {bytes(at7[0]), bytes(at7[1])};
  EXPECT_EQ(got, (std::set<std::string>{bytes(block(7, 1)), bytes(block(7, 2))}));
  EXPECT_EQ(keeper.load(8).size(), 1u);
  EXPECT_TRUE(keeper.load(9).empty());

  keeper.prune_through(7);
  EXPECT_TRUE(keeper.load(7).empty());
  EXPECT_EQ(keeper.load(8).size(), 1u);
}

// Committed heights free their slots, which the next blocks reuse in place.
TEST_F(BlockKeeperTest, SlotsOfCommittedHeightsAreReused) {
  BlockKeeper keeper(dir_);
  ASSERT_TRUE(keeper.open().ok());
  for (std::uint64_t h = 1; h <= 50; ++h) {
    ASSERT_TRUE(keeper.keep(block(h, 2 * h)).ok());
    ASSERT_TRUE(keeper.keep(block(h, 2 * h + 1)).ok());  // a second round's proposal
    ASSERT_EQ(keeper.load(h).size(), 2u);
    keeper.prune_through(h);
  }
  EXPECT_EQ(keeper.slot_count(), 2u);
  // Blocks of a height not committed yet are never overwritten.
  ASSERT_TRUE(keeper.keep(block(51, 1)).ok());
  ASSERT_TRUE(keeper.keep(block(52, 1)).ok());
  ASSERT_TRUE(keeper.keep(block(51, 2)).ok());
  EXPECT_EQ(keeper.slot_count(), 3u);
  BlockKeeper reopened(dir_);
  ASSERT_TRUE(reopened.open().ok());
  EXPECT_EQ(reopened.load(51).size(), 2u);
  EXPECT_EQ(reopened.load(52).size(), 1u);
  EXPECT_TRUE(reopened.load(50).empty());  // its slots hold other blocks now
}

TEST_F(BlockKeeperTest, DamagedSlotsAndFilesAreIgnored) {
  {
    BlockKeeper keeper(dir_);
    ASSERT_TRUE(keeper.open().ok());
    ASSERT_TRUE(keeper.keep(block(5, 1)).ok());
    ASSERT_TRUE(keeper.keep(block(5, 2)).ok());
  }
  // Damage the slot of block (5, 1): flip a byte of its record.
  fs::path damaged;
  for (const auto& e : fs::directory_iterator(dir_)) {
    auto record = RecordFile::read(e.path());
    ASSERT_TRUE(record.ok() && record->has_value());
    if ((*record)->payload == bytes(block(5, 1))) damaged = e.path();
  }
  ASSERT_FALSE(damaged.empty());
  std::string content;
  {
    std::ifstream in(damaged, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  content.back() = static_cast<char>(content.back() ^ 0x01);
  std::ofstream(damaged, std::ios::binary | std::ios::trunc) << content;
  // A slot whose record is whole but holds a block of another height.
  const pb::Block six = block(6, 9);
  ASSERT_TRUE(RecordFile::create(dir_ / "slot-2.blk", Record{7, bytes(six)}).ok());
  // Files of the earlier layout: one right, one under another height's name, and a stray file.
  const pb::Block legacy = block(5, 3);
  std::ofstream(dir_ / ("5-" + proto::block_hash(legacy.header()).hex() + ".block"), std::ios::binary)
      << bytes(legacy);
  std::ofstream(dir_ / ("6-" + proto::block_hash(legacy.header()).hex() + ".block"), std::ios::binary)
      << bytes(legacy);
  std::ofstream(dir_ / "notes.txt") << "hello";

  BlockKeeper keeper(dir_);
  ASSERT_TRUE(keeper.open().ok());
  auto at5 = keeper.load(5);
  std::set<std::string> got;
  for (const auto& b : at5) got.insert(bytes(b));
  EXPECT_EQ(got, (std::set<std::string>{bytes(block(5, 2)), bytes(legacy)}));
  EXPECT_TRUE(keeper.load(6).empty());
  EXPECT_TRUE(keeper.load(7).empty());
  // The damaged slot is reused first.
  ASSERT_TRUE(keeper.keep(block(5, 4)).ok());
  EXPECT_EQ(keeper.slot_count(), 3u);
  keeper.prune_through(100);
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));  // only kept-block files are removed
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_FALSE(e.path().string().ends_with(".block"));
}

}  // namespace
}  // namespace cityledger::node
