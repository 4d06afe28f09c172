#include "node/sign_guard.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace cityledger::node {
namespace {

namespace fs = std::filesystem;

class SignGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cl_sign_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

pb::SignState state(std::uint64_t h, std::uint32_t r, std::uint32_t step) {
  pb::SignState s;
  s.set_height(h);
  s.set_round(r);
  s.set_step(step);
  s.set_block_id(std::string(32, static_cast<char>(h)));
  s.set_locked_round(-1);
  s.set_valid_round(-1);
  return s;
}

TEST_F(SignGuardTest, FreshFileIsEmptyThenRoundTrips) {
  SignStateFile file(dir_ / "sign_state");
  auto empty = file.load();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  ASSERT_TRUE(file.save(state(5, 1, 2)).ok());
  ASSERT_TRUE(file.save(state(5, 1, 3)).ok());
  SignStateFile reopened(dir_ / "sign_state");
  auto loaded = reopened.load();
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->height(), 5u);
  EXPECT_EQ((*loaded)->step(), 3u);
  EXPECT_FALSE(fs::exists(dir_ / "sign_state.tmp"));
}

TEST_F(SignGuardTest, NeverMovesBackwards) {
  SignStateFile file(dir_ / "sign_state");
  ASSERT_TRUE(file.save(state(5, 2, 2)).ok());
  EXPECT_FALSE(file.save(state(5, 1, 3)).ok());
  EXPECT_FALSE(file.save(state(4, 9, 3)).ok());
  // Also across a restart.
  SignStateFile reopened(dir_ / "sign_state");
  EXPECT_FALSE(reopened.save(state(5, 2, 1)).ok());
  EXPECT_TRUE(reopened.save(state(5, 2, 2)).ok());
  EXPECT_TRUE(reopened.save(state(6, 0, 1)).ok());
}

TEST_F(SignGuardTest, CorruptOrTruncatedFileStopsTheNode) {
  SignStateFile file(dir_ / "sign_state");
  ASSERT_TRUE(file.save(state(7, 0, 3)).ok());
  std::string bytes;
  {
    std::ifstream in(dir_ / "sign_state", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (std::size_t i = 0; i < bytes.size(); i += 5) {
    std::string bad = bytes;
    bad[i] ^= 0x20;
    std::ofstream(dir_ / "sign_state", std::ios::binary | std::ios::trunc) << bad;
    auto loaded = SignStateFile(dir_ / "sign_state").load();
    EXPECT_FALSE(loaded.ok()) << "flipped byte " << i;
    if (!loaded.ok()) {
      EXPECT_EQ(loaded.status().code(), ErrorCode::corruption);
    }
  }
  std::ofstream(dir_ / "sign_state", std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 3);
  EXPECT_FALSE(SignStateFile(dir_ / "sign_state").load().ok());
}

}  // namespace
}  // namespace cityledger::node
