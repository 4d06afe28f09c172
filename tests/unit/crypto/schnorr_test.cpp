#include "crypto/schnorr.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "../test_data.hpp"
#include "crypto/signing.hpp"

namespace cityledger::crypto {
namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::stringstream s(line);
  while (std::getline(s, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Every row of the BIP340 test vectors: signing rows reproduce the signature
// exactly, and every row's verification result matches.
TEST(Bip340, OfficialTestVectors) {
  std::stringstream csv(testing::read_testdata("bip340-test-vectors.csv"));
  std::string line;
  ASSERT_TRUE(std::getline(csv, line));  // header
  int rows = 0;
  while (std::getline(csv, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto f = split(line, ',');
    ASSERT_GE(f.size(), 7u) << line;
    SCOPED_TRACE("vector " + f[0]);
    const std::string secret = lower(f[1]), pubkey = lower(f[2]), aux = lower(f[3]), msg = lower(f[4]),
                      sig = lower(f[5]);
    const bool expected = f[6] == "TRUE";
    auto message = Hash32::from_hex(msg);
    ASSERT_TRUE(message) << "all vectors in this file have 32-byte messages";
    if (!secret.empty()) {
      auto key = SecretKey::from_bytes(*from_hex(secret));
      ASSERT_TRUE(key.ok());
      EXPECT_EQ(key->public_key().hex(), pubkey);
      EXPECT_EQ(key->sign(*message, *Hash32::from_hex(aux)).hex(), sig);
    }
    // Public keys not on the curve do not parse: verification must say false.
    const auto pk_bytes = from_hex(pubkey);
    ASSERT_TRUE(pk_bytes && pk_bytes->size() == 32);
    EXPECT_EQ(verify(Hash32::from_span(*pk_bytes), *message, *from_hex(sig)), expected);
    ++rows;
  }
  EXPECT_EQ(rows, 15);
}

TEST(Bip340, SignVerifyRoundTripAndTampering) {
  auto key = SecretKey::generate();
  ASSERT_TRUE(key.ok());
  const Hash32 digest = signing_digest(purpose::transaction, "test-chain", as_bytes("hello"));
  const Signature sig = key->sign(digest);
  EXPECT_TRUE(verify(key->public_key(), digest, sig));
  for (std::size_t i = 0; i < 64; i += 7) {
    Signature bad = sig;
    bad.bytes[i] ^= 0x01;
    EXPECT_FALSE(verify(key->public_key(), digest, bad)) << "flipped byte " << i;
  }
  Hash32 other = digest;
  other.bytes[0] ^= 1;
  EXPECT_FALSE(verify(key->public_key(), other, sig));
  EXPECT_FALSE(verify(key->public_key(), digest, ByteSpan{sig.bytes.data(), 63}));
}

// verify() keeps parsed keys per thread: many keys sharing its slots, keys
// that do not parse, and a key swapped for another must all get the verdict
// the uncached verification gives.
TEST(Bip340, ParsedKeyCacheNeverChangesAVerdict) {
  std::vector<SecretKey> keys;
  for (std::uint64_t i = 0; i < 300; ++i) keys.push_back(SecretKey::from_seed_for_testing(i));
  const Hash32 digest = signing_digest(purpose::transaction, "test-chain", as_bytes("cache"));
  std::vector<Signature> sigs;
  for (const auto& k : keys) sigs.push_back(k.sign(digest));
  // Not an x coordinate on the curve (from the BIP340 vectors, row 5).
  const auto off_curve =
      *Hash32::from_hex("eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34");
  ASSERT_FALSE(is_valid_public_key(off_curve));
  for (int pass = 0; pass < 3; ++pass) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& key = keys[i].public_key();
      const std::size_t j = (i * 7 + 3) % keys.size();  // someone else's signature
      EXPECT_TRUE(verify(key, digest, sigs[i])) << i;
      EXPECT_EQ(verify(key, digest, sigs[j]), i == j) << i;
      EXPECT_EQ(verify(key, digest, sigs[j]), verify_uncached(key, digest, sigs[j])) << i;
      EXPECT_FALSE(verify(off_curve, digest, sigs[i]));
      EXPECT_TRUE(verify(key, digest, sigs[i])) << i;  // after the invalid key took a slot
    }
  }
}

TEST(Bip340, InvalidSecretsAreRefused) {
  EXPECT_FALSE(SecretKey::from_bytes(Hash32{}.span()).ok());  // zero
  Hash32 order = *Hash32::from_hex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
  EXPECT_FALSE(SecretKey::from_bytes(order.span()).ok());
  std::array<std::uint8_t, 31> short_key{};
  short_key[0] = 1;
  EXPECT_FALSE(SecretKey::from_bytes(short_key).ok());
}

TEST(SigningDigest, SeparatesPurposeChainAndMessage) {
  const auto m = as_bytes("payload");
  const Hash32 base = signing_digest(purpose::vote, "chain-a", m);
  EXPECT_NE(base, signing_digest(purpose::proposal, "chain-a", m));
  EXPECT_NE(base, signing_digest(purpose::vote, "chain-b", m));
  EXPECT_NE(base, signing_digest(purpose::vote, "chain-a", as_bytes("payloae")));
  // Lengths are encoded: moving bytes between chain id and message changes the digest.
  EXPECT_NE(signing_digest(purpose::vote, "ab", as_bytes("c")),
            signing_digest(purpose::vote, "a", as_bytes("bc")));
  EXPECT_EQ(base, signing_digest(purpose::vote, "chain-a", m));
  // A signature for one chain does not verify for another.
  auto key = SecretKey::from_seed_for_testing(1);
  EXPECT_FALSE(verify(key.public_key(), signing_digest(purpose::vote, "chain-b", m), key.sign(base)));
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cl_keys_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(KeyFileTest, WriteReadRoundTripWithMode0600) {
  auto key = SecretKey::from_seed_for_testing(42);
  const auto path = dir_ / "validator.key";
  ASSERT_TRUE(write_key_file(path, key).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = read_key_file(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->public_key(), key.public_key());
}

TEST_F(KeyFileTest, GroupOrWorldReadableKeyIsRefused) {
  const auto path = dir_ / "loose.key";
  ASSERT_TRUE(write_key_file(path, SecretKey::from_seed_for_testing(1)).ok());
  for (mode_t mode : {0640, 0604, 0660, 0644}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto loaded = read_key_file(path);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), ErrorCode::permission_denied);
    EXPECT_NE(loaded.status().message().find("chmod 600"), std::string::npos);
  }
}

TEST_F(KeyFileTest, MalformedKeyFilesAreRefusedClearly) {
  const auto path = dir_ / "bad.key";
  for (const std::string& content : {std::string("not hex at all"), std::string(63, 'a'),
                                     std::string(64, '0') /* zero scalar */, std::string("")}) {
    std::filesystem::remove(path);
    std::ofstream(path) << content;
    ::chmod(path.c_str(), 0600);
    auto loaded = read_key_file(path);
    EXPECT_FALSE(loaded.ok()) << content;
    EXPECT_EQ(loaded.status().code(), ErrorCode::invalid_argument);
  }
  EXPECT_EQ(read_key_file(dir_ / "missing.key").status().code(), ErrorCode::io_error);
}

}  // namespace
}  // namespace cityledger::crypto
