#include "audit/proof_bundle.hpp"

#include <gtest/gtest.h>

#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::audit {
namespace {

using nlohmann::json;

// A log of 11 real LogEntry leaves, a checkpoint over it signed by 3 of 4
// validators, and the bundle for one leaf, built by hand from the spec.
class ProofBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    genesis.chain_id = "city-test";
    for (int i = 0; i < 4; ++i) {
      keys.push_back(crypto::SecretKey::from_seed_for_testing(10 + i));
      genesis.validators.push_back(
          {"v" + std::to_string(i), keys.back().public_key(), Hash32{}, "127.0.0.1:1"});
    }
    for (int i = 0; i < 11; ++i) {
      pb::LogEntry e;
      e.mutable_entry()->set_content_hash(crypto::sha256("file " + std::to_string(i)).to_string());
      e.mutable_entry()->set_kind(pb::ENTRY_KIND_FILE);
      e.mutable_entry()->set_dataset_id("traffic/2026-11");
      auto* m = e.mutable_entry()->add_metadata();
      m->set_key("sensor");
      m->set_value("loop");
      auto* m2 = e.mutable_entry()->add_metadata();
      m2->set_key("source");
      m2->set_value("s3://x");
      e.set_submitter(keys[0].public_key().to_string());
      e.set_tx_hash(crypto::sha256("tx").to_string());
      e.set_index_in_tx(static_cast<std::uint32_t>(i));
      e.set_height(5);
      e.set_time_unix_ms(1'790'000'000'000);
      leaf_bytes.push_back(proto::log_entry_bytes(e));
      leaves.push_back(proto::log_leaf_hash(e));
    }
  }

  json make_bundle(std::uint64_t index, int signers) const {
    crypto::CheckpointBody body{"city-test", leaves.size(), crypto::merkle::root(leaves), 5,
                                crypto::sha256(std::string_view("block 5"))};
    const std::string text = body.to_text();
    json sigs = json::array();
    for (int i = 0; i < signers; ++i) {
      sigs.push_back(
          {{"validator", keys[static_cast<std::size_t>(i)].public_key().hex()},
           {"signature", keys[static_cast<std::size_t>(i)].sign(crypto::checkpoint_digest(text)).hex()}});
    }
    json path = json::array();
    for (const auto& p : crypto::merkle::inclusion_path(leaves, index).value()) path.push_back(p.hex());
    const auto& bytes = leaf_bytes[index];
    auto decoded = decode_log_entry(as_bytes(bytes));
    EXPECT_TRUE(decoded.ok()) << decoded.status().to_string();
    return {{"format", "cityledger-proof/1"},
            {"chain_id", "city-test"},
            {"entry", json::parse(entry_json(as_bytes(bytes), *decoded).dump())},
            {"leaf_index", index},
            {"inclusion", {{"tree_size", leaves.size()}, {"path", path}}},
            {"checkpoint", {{"body", text}, {"signatures", sigs}}},
            {"validator_sets", json::array()}};
  }

  Genesis genesis;
  std::vector<crypto::SecretKey> keys;
  std::vector<std::string> leaf_bytes;
  std::vector<Hash32> leaves;
};

TEST_F(ProofBundleTest, ValidBundlesVerifyForEveryLeaf) {
  for (std::uint64_t i = 0; i < leaves.size(); ++i) {
    const Verdict v =
        verify_proof_bundle(make_bundle(i, 3), genesis, crypto::sha256("file " + std::to_string(i)));
    EXPECT_TRUE(v.verified) << i << ": " << v.first_failure();
    EXPECT_EQ(v.signers, 3u);
    EXPECT_EQ(v.quorum, 3u);
    EXPECT_EQ(v.height, 5u);
  }
}

TEST_F(ProofBundleTest, DecodedFieldsMatchTheProtobufLibrary) {
  auto decoded = decode_log_entry(as_bytes(leaf_bytes[3]));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->index_in_tx, 3u);
  EXPECT_EQ(decoded->dataset_id, "traffic/2026-11");
  ASSERT_EQ(decoded->metadata.size(), 2u);
  EXPECT_EQ(decoded->metadata[1].second, "s3://x");
  EXPECT_EQ(decoded->submitter, keys[0].public_key());
  // Non-canonical leaves are refused: a trailing unknown field, truncation.
  EXPECT_FALSE(decode_log_entry(as_bytes(leaf_bytes[3] + std::string("\x38\x01", 2))).ok());
  EXPECT_FALSE(decode_log_entry(as_bytes(leaf_bytes[3].substr(0, 20))).ok());
}

TEST_F(ProofBundleTest, TooFewOrForeignSignaturesFail) {
  auto v = verify_proof_bundle(make_bundle(2, 2), genesis);
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.first_failure().find("2 of 4 validators signed, 3 needed"), std::string::npos)
      << v.first_failure();
  Genesis other = genesis;
  other.validators[1].pubkey = crypto::SecretKey::from_seed_for_testing(77).public_key();
  EXPECT_FALSE(verify_proof_bundle(make_bundle(2, 3), other).verified);
  other = genesis;
  other.chain_id = "other";
  EXPECT_FALSE(verify_proof_bundle(make_bundle(2, 4), other).verified);
}

TEST_F(ProofBundleTest, WrongFileFails) {
  auto v = verify_proof_bundle(make_bundle(4, 3), genesis, crypto::sha256("file 5"));
  EXPECT_FALSE(v.verified);
  EXPECT_NE(v.first_failure().find("file"), std::string::npos);
}

// Every single-byte change of a bundle (compact JSON) is rejected: either it
// no longer parses as JSON, or verification fails. Even with 4 of 4
// signatures, so a tampered signature cannot hide behind a quorum.
TEST_F(ProofBundleTest, EverySingleByteChangeIsRejected) {
  const std::string text = make_bundle(6, 4).dump();
  ASSERT_TRUE(verify_proof_bundle(json::parse(text), genesis).verified);
  std::size_t parsed = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (const char flip : {'\x01', '\x20'}) {
      std::string bad = text;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      const json doc = json::parse(bad, nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded()) continue;
      ++parsed;
      const Verdict v = verify_proof_bundle(doc, genesis);
      ASSERT_FALSE(v.verified) << "byte " << i << " ('" << text[i] << "' -> '" << bad[i]
                               << "') still verifies";
    }
  }
  EXPECT_GT(parsed, text.size());  // most changes keep valid JSON and are caught by verification
}

TEST_F(ProofBundleTest, MalformedBundlesNeverThrow) {
  for (const char* doc : {"null", "[]", "{}", R"({"format":"cityledger-proof/1"})",
                          R"({"format":1,"chain_id":[],"entry":"x"})"}) {
    EXPECT_FALSE(verify_proof_bundle(json::parse(doc), genesis).verified) << doc;
  }
  json b = make_bundle(1, 3);
  b["inclusion"]["path"] = "not a list";
  EXPECT_FALSE(verify_proof_bundle(b, genesis).verified);
  b = make_bundle(1, 3);
  b["leaf_index"] = -1;
  EXPECT_FALSE(verify_proof_bundle(b, genesis).verified);
  b = make_bundle(1, 3);
  b["validator_sets"] = json::array({json::object()});
  EXPECT_FALSE(verify_proof_bundle(b, genesis).verified);
}

}  // namespace
}  // namespace cityledger::audit

namespace cityledger::audit {
namespace {

// Found by fuzz_log_entry: a ten-byte varint whose last byte carries more
// than bit 63 was accepted (its high bits dropped), while Protobuf's
// canonical check refuses it.
TEST(LogEntryReader, RefusesVarintsAbove64Bits) {
  pb::LogEntry e;
  e.mutable_entry()->set_content_hash(crypto::sha256(std::string_view("x")).to_string());
  e.mutable_entry()->set_kind(pb::ENTRY_KIND_FILE);
  e.set_height(3);
  const std::string base = proto::log_entry_bytes(e);  // no time_unix_ms (field 6): it may follow
  ASSERT_TRUE(decode_log_entry(as_bytes(base)).ok());
  const std::string max = base + "\x30" + std::string(9, '\xff') + "\x01";  // 2^64 - 1: fine
  auto ok = decode_log_entry(as_bytes(max));
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->time_unix_ms, ~std::uint64_t{0});
  for (const char last : {'\x02', '\x34', '\x7f'}) {
    const std::string over = base + "\x30" + std::string(9, '\xff') + std::string(1, last);
    EXPECT_FALSE(decode_log_entry(as_bytes(over)).ok()) << "last byte " << static_cast<int>(last);
    EXPECT_FALSE(proto::decode<pb::LogEntry>(as_bytes(over)).ok());
  }
}

}  // namespace
}  // namespace cityledger::audit
