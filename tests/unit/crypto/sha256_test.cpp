#include "crypto/sha256.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace cityledger::crypto {
namespace {

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(sha256(std::string_view("")).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256(std::string_view("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, StreamingEqualsOneShotForEverySplit) {
  std::string data(300, '\0');
  std::mt19937 rng(7);
  for (auto& c : data) c = static_cast<char>(rng());
  const Hash32 expected = sha256(data);
  Sha256 h;
  for (std::size_t split = 0; split <= data.size(); split += 13) {
    h.update(std::string_view(data).substr(0, split));
    h.update(std::string_view(data).substr(split));
    EXPECT_EQ(h.finish(), expected) << "split at " << split;  // finish() resets for reuse
  }
}

TEST(Sha256, MillionAs) {
  Sha256 h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(chunk);
  EXPECT_EQ(h.finish().hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FileInChunksMatchesOneShot) {
  const auto path = std::filesystem::temp_directory_path() / ("cl_sha_" + std::to_string(::getpid()));
  std::string data(3 * 65536 + 17, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  std::ofstream(path, std::ios::binary) << data;
  auto digest = sha256_file(path);
  ASSERT_TRUE(digest.ok()) << digest.status().to_string();
  EXPECT_EQ(*digest, sha256(data));
  std::filesystem::remove(path);
}

TEST(Sha256, MissingFileIsAnError) {
  auto digest = sha256_file("/nonexistent/cityledger/file");
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.status().code(), ErrorCode::io_error);
  EXPECT_NE(digest.status().message().find("/nonexistent/cityledger/file"), std::string::npos);
}

}  // namespace
}  // namespace cityledger::crypto
