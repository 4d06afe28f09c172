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

TEST_F(BlockKeeperTest, DamagedOrMisnamedFilesAreIgnored) {
  BlockKeeper keeper(dir_);
  ASSERT_TRUE(keeper.open().ok());
  ASSERT_TRUE(keeper.keep(block(5, 1)).ok());
  const pb::Block good = block(5, 2);
  ASSERT_TRUE(keeper.keep(good).ok());
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 2u);
  // Damage the file of block (5, 1): flip a byte, so it decodes to another block or not at all.
  const fs::path damaged =
      files[0].filename().string().find(proto::block_hash(good.header()).hex()) == std::string::npos
          ? files[0]
          : files[1];
  std::string content = bytes(block(5, 1));
  content.back() = static_cast<char>(content.back() ^ 0x01);
  std::ofstream(damaged, std::ios::binary | std::ios::trunc) << content;
  // A block stored under another height's name, and a stray file.
  std::ofstream(dir_ / ("6-" + proto::block_hash(good.header()).hex() + ".block"), std::ios::binary)
      << bytes(good);
  std::ofstream(dir_ / "notes.txt") << "hello";

  auto at5 = keeper.load(5);
  ASSERT_EQ(at5.size(), 1u);
  EXPECT_EQ(bytes(at5[0]), bytes(good));
  EXPECT_TRUE(keeper.load(6).empty());
  keeper.prune_through(100);
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));  // only kept-block files are removed
}

}  // namespace
}  // namespace cityledger::node
