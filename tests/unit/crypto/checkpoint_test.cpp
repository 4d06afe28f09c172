#include "crypto/checkpoint.hpp"

#include <gtest/gtest.h>

#include "crypto/sha256.hpp"

namespace cityledger::crypto {
namespace {

CheckpointBody sample() {
  CheckpointBody b;
  b.origin = "city-test";
  b.tree_size = 1234;
  b.root = sha256(std::string_view("root"));
  b.height = 77;
  b.block_hash = sha256(std::string_view("block"));
  return b;
}

TEST(Checkpoint, TextRoundTripInC2spShape) {
  const auto b = sample();
  const std::string text = b.to_text();
  EXPECT_EQ(text.substr(0, 15), "city-test\n1234\n");
  EXPECT_NE(text.find("\nheight 77\nblock " + b.block_hash.hex() + "\n"), std::string::npos);
  auto parsed = CheckpointBody::parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(*parsed, b);
}

TEST(Checkpoint, NonCanonicalTextIsRefused) {
  const std::string text = sample().to_text();
  auto refuse = [](const std::string& t) { EXPECT_FALSE(CheckpointBody::parse(t).ok()) << t; };
  refuse(text.substr(0, text.size() - 1));         // no final newline
  refuse("city-test\n01234\n" + text.substr(15));  // leading zero
  refuse(text + "extra\n");                        // sixth line
  std::string upper = text;
  for (auto i = upper.find("block ") + 6; i < upper.size() - 1; ++i)
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  refuse(upper);
  std::string bad_root = text;
  bad_root[text.find('\n', 10) + 1] = '*';
  refuse(bad_root);
}

TEST(Checkpoint, QuorumCountsDistinctValidMembersOnly) {
  std::vector<SecretKey> keys;
  std::vector<PublicKey> set;
  for (int i = 0; i < 4; ++i) {
    keys.push_back(SecretKey::from_seed_for_testing(100 + i));
    set.push_back(keys.back().public_key());
  }
  EXPECT_EQ(checkpoint_quorum(4), 3u);
  EXPECT_EQ(checkpoint_quorum(7), 5u);
  EXPECT_EQ(checkpoint_quorum(1), 1u);
  EXPECT_EQ(checkpoint_digest("x\n"), sha256(std::string_view("x\n")));
  const std::string body = sample().to_text();
  const Hash32 digest = checkpoint_digest(body);
  std::vector<CheckpointSignature> sigs;
  for (int i = 0; i < 2; ++i) sigs.push_back({set[i], keys[i].sign(digest)});
  sigs.push_back(sigs[0]);  // duplicate
  auto outsider = SecretKey::from_seed_for_testing(999);
  sigs.push_back({outsider.public_key(), outsider.sign(digest)});
  CheckpointBody other_chain = sample();
  other_chain.origin = "other-chain";
  sigs.push_back(
      {set[2], keys[2].sign(checkpoint_digest(other_chain.to_text()))});  // another chain's checkpoint
  std::vector<std::string> problems;
  EXPECT_EQ(count_valid_checkpoint_signatures(body, sigs, set, &problems), 2u);
  EXPECT_EQ(problems.size(), 3u);
  sigs.push_back({set[3], keys[3].sign(digest)});
  EXPECT_EQ(count_valid_checkpoint_signatures(body, sigs, set), 3u);
}

TEST(Base64, StrictDecoding) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    const auto enc = base64_encode(as_bytes(s));
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(std::string(dec->begin(), dec->end()), s);
  }
  EXPECT_EQ(base64_encode(as_bytes("foobar")), "Zm9vYmFy");
  EXPECT_FALSE(base64_decode("Zm9vYmF").has_value());
  EXPECT_FALSE(base64_decode("Zm9v YmFy").has_value());
  EXPECT_FALSE(base64_decode("Zm9=").has_value());  // non-canonical padding bits
}

}  // namespace
}  // namespace cityledger::crypto
