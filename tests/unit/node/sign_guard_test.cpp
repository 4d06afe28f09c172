#include "node/sign_guard.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "crypto/sha256.hpp"
#include "proto/codec.hpp"

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
  EXPECT_FALSE(fs::exists(dir_ / "sign_state.a.tmp"));
  EXPECT_FALSE(fs::exists(dir_ / "sign_state.b.tmp"));
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

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Three saves: the newest record is in one file, the one before it in the other.
TEST_F(SignGuardTest, ADamagedNewestRecordFallsBackToThePreviousOne) {
  SignStateFile file(dir_ / "sign_state");
  ASSERT_TRUE(file.save(state(7, 0, 1)).ok());
  ASSERT_TRUE(file.save(state(7, 0, 2)).ok());
  ASSERT_TRUE(file.save(state(7, 0, 3)).ok());
  EXPECT_TRUE(fs::exists(file.slot_path(0)));
  EXPECT_TRUE(fs::exists(file.slot_path(1)));
  EXPECT_FALSE(fs::exists(dir_ / "sign_state"));
  EXPECT_FALSE(fs::exists(dir_ / "sign_state.a.tmp"));
  fs::path newest, previous;
  for (int slot = 0; slot < 2; ++slot) {
    auto record = RecordFile::read(file.slot_path(slot));
    ASSERT_TRUE(record.ok() && record->has_value());
    auto decoded = proto::decode<pb::SignState>((*record)->payload);
    ASSERT_TRUE(decoded.ok());
    (decoded->step() == 3 ? newest : previous) = file.slot_path(slot);
  }
  ASSERT_FALSE(newest.empty());
  ASSERT_FALSE(previous.empty());
  const std::string newest_bytes = read_all(newest);
  const std::string previous_bytes = read_all(previous);
  // A save cut short anywhere (a flipped byte, or fewer bytes written): the
  // state before it, never anything else.
  for (std::size_t i = 0; i < newest_bytes.size(); i += 3) {
    std::string bad = newest_bytes;
    bad[i] ^= 0x20;
    write_all(newest, bad);
    auto loaded = SignStateFile(dir_ / "sign_state").load();
    ASSERT_TRUE(loaded.ok()) << "flipped byte " << i << ": " << loaded.status().to_string();
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ((*loaded)->step(), 2u) << "flipped byte " << i;
  }
  write_all(newest, newest_bytes.substr(0, newest_bytes.size() - 3));
  auto truncated = SignStateFile(dir_ / "sign_state").load();
  ASSERT_TRUE(truncated.ok());
  EXPECT_EQ((*truncated)->step(), 2u);
  // After the fallback the guard goes on from the state it read: a save
  // rewrites the damaged file and is read back.
  SignStateFile resumed(dir_ / "sign_state");
  EXPECT_FALSE(resumed.save(state(7, 0, 1)).ok());
  ASSERT_TRUE(resumed.save(state(7, 0, 3)).ok());
  auto after = SignStateFile(dir_ / "sign_state").load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->step(), 3u);
  EXPECT_EQ(read_all(previous), previous_bytes);
}

TEST_F(SignGuardTest, NoValidRecordStopsTheNode) {
  SignStateFile file(dir_ / "sign_state");
  ASSERT_TRUE(file.save(state(7, 0, 2)).ok());
  ASSERT_TRUE(file.save(state(7, 0, 3)).ok());
  const std::string a = read_all(file.slot_path(0));
  const std::string b = read_all(file.slot_path(1));
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); i += 7) {
    std::string bad_a = a, bad_b = b;
    bad_a[i] ^= 0x01;
    bad_b[(i * 13) % b.size()] ^= 0x01;
    write_all(file.slot_path(0), bad_a);
    write_all(file.slot_path(1), bad_b);
    auto loaded = SignStateFile(dir_ / "sign_state").load();
    ASSERT_FALSE(loaded.ok()) << "flipped byte " << i;
    EXPECT_EQ(loaded.status().code(), ErrorCode::corruption);
    EXPECT_FALSE(SignStateFile(dir_ / "sign_state").save(state(8, 0, 1)).ok());
  }
  // One file gone and the other damaged: refused as well (never "nothing signed").
  fs::remove(file.slot_path(1));
  EXPECT_FALSE(SignStateFile(dir_ / "sign_state").load().ok());
}

// The file of earlier versions is read, and replaced by the record files at
// the first save; a crash between creating the two record files loses nothing.
TEST_F(SignGuardTest, TheEarlierFormatIsReadThenReplaced) {
  const pb::SignState old = state(9, 1, 3);
  const std::string payload = proto::encode(old);
  write_all(dir_ / "sign_state", "CLSIGN1\n" + crypto::sha256(payload).to_string() + payload);
  SignStateFile file(dir_ / "sign_state");
  auto loaded = file.load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->height(), 9u);
  EXPECT_FALSE(file.save(state(9, 1, 2)).ok());  // behind the old file's state
  ASSERT_TRUE(file.save(state(10, 0, 1)).ok());
  EXPECT_FALSE(fs::exists(dir_ / "sign_state"));

  // A crash during that first save, right after the first record file was
  // made: it and the old file hold the old state, the second file is missing.
  fs::remove(file.slot_path(0));
  fs::remove(file.slot_path(1));
  write_all(dir_ / "sign_state", "CLSIGN1\n" + crypto::sha256(payload).to_string() + payload);
  ASSERT_TRUE(RecordFile::create(file.slot_path(0), Record{0, payload}).ok());
  SignStateFile after_crash(dir_ / "sign_state");
  auto resumed = after_crash.load();
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE(resumed->has_value());
  EXPECT_EQ((*resumed)->height(), 9u);
  EXPECT_FALSE(after_crash.save(state(9, 1, 2)).ok());
  ASSERT_TRUE(after_crash.save(state(10, 0, 2)).ok());
  EXPECT_TRUE(fs::exists(after_crash.slot_path(1)));
  EXPECT_FALSE(fs::exists(dir_ / "sign_state"));
  EXPECT_EQ((*SignStateFile(dir_ / "sign_state").load())->step(), 2u);

  // A damaged file of the earlier format is refused, as it always was.
  fs::remove(file.slot_path(0));
  fs::remove(file.slot_path(1));
  write_all(dir_ / "sign_state", "CLSIGN1\n" + std::string(32, 'x') + payload);
  auto damaged = SignStateFile(dir_ / "sign_state").load();
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), ErrorCode::corruption);
}

}  // namespace
}  // namespace cityledger::node
