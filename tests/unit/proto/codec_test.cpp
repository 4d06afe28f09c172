#include "proto/codec.hpp"

#include <gtest/gtest.h>

#include "proto/objects.hpp"

namespace cityledger::proto {
namespace {

pb::Vote sample_vote() {
  pb::Vote v;
  v.set_type(pb::VOTE_TYPE_PREVOTE);
  v.set_height(7);
  v.set_round(2);
  v.set_block_id(std::string(32, '\x11'));
  v.set_validator_index(3);
  return v;
}

TEST(Codec, RoundTrip) {
  const pb::Vote v = sample_vote();
  const std::string bytes = encode(v);
  auto back = decode<pb::Vote>(bytes);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(encode(*back), bytes);
}

TEST(Codec, UnknownFieldsAreRefused) {
  std::string bytes = encode(sample_vote());
  bytes += std::string("\xf8\x06\x01", 3);  // field 111, varint 1
  auto back = decode<pb::Vote>(bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("unknown fields"), std::string::npos);
}

TEST(Codec, UnknownFieldsInsideNestedMessagesAreRefused) {
  pb::Envelope e;
  *e.mutable_vote() = sample_vote();
  std::string inner = encode(sample_vote()) + std::string("\xf8\x06\x01", 3);
  // Envelope field 3 (vote), length-delimited.
  std::string bytes = std::string("\x1a", 1) + static_cast<char>(inner.size()) + inner;
  auto back = decode<pb::Envelope>(bytes);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("unknown fields"), std::string::npos);
}

TEST(Codec, NonCanonicalBytesAreRefused) {
  // Same fields in descending order: parses, but is not the canonical encoding.
  pb::Vote a;
  a.set_height(7);
  a.set_round(2);
  const std::string canonical = encode(a);  // 10 07 18 02 ... height is field 2 (0x10), round field 3 (0x18)
  ASSERT_EQ(canonical, std::string("\x10\x07\x18\x02", 4));
  EXPECT_FALSE(decode<pb::Vote>(std::string("\x18\x02\x10\x07", 4)).ok());
  // A non-minimal varint (7 written in two bytes).
  EXPECT_FALSE(decode<pb::Vote>(std::string("\x10\x87\x00\x18\x02", 5)).ok());
  // A default value written explicitly (round = 0).
  EXPECT_FALSE(decode<pb::Vote>(std::string("\x10\x07\x18\x00", 4)).ok());
  // The same field twice (last one wins in Protobuf; not canonical here).
  EXPECT_FALSE(decode<pb::Vote>(std::string("\x10\x01\x10\x07\x18\x02", 6)).ok());
  EXPECT_TRUE(decode<pb::Vote>(canonical).ok());
}

TEST(Codec, MalformedAndOversizedBytesAreRefused) {
  EXPECT_FALSE(decode<pb::Vote>(std::string("\x22\x05\x01", 3)).ok());  // truncated bytes field
  EXPECT_FALSE(decode<pb::Vote>(std::string("\xff\xff\xff\xff\xff\xff", 6)).ok());
  const std::string bytes = encode(sample_vote());
  auto small = decode<pb::Vote>(bytes, bytes.size() - 1);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("over the limit"), std::string::npos);
}

TEST(Codec, DeepNestingIsRefusedNotFatal) {
  // Envelope -> block_response -> blocks -> block -> last_commit ... is shallow by
  // design; a hostile message nesting 10,000 levels of groups must not crash.
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "\x0b";  // start group, field 1
  EXPECT_FALSE(decode<pb::Envelope>(deep).ok());
}

}  // namespace
}  // namespace cityledger::proto
