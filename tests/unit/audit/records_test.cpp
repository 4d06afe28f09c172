// Record-level proofs: splitting files into records, and bundles that prove
// one line of a file anchored as a record set.
#include "audit/records.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "audit/proof_bundle.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "proto/objects.hpp"

namespace cityledger::audit {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class RecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cl_records_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    genesis_.chain_id = "city-test";
    for (int i = 0; i < 4; ++i) {
      keys_.push_back(crypto::SecretKey::from_seed_for_testing(20 + i));
      genesis_.validators.push_back(
          {"v" + std::to_string(i), keys_.back().public_key(), Hash32{}, "127.0.0.1:1"});
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  // A one-leaf log whose entry anchors `root` as a record set of `count`
  // records of a file with SHA-256 `file_sha`, and the bundle for it with a
  // "record" for record `index`.
  json record_bundle(const std::vector<Hash32>& record_leaves, std::uint64_t index, const std::string& record,
                     const Hash32& file_sha) {
    pb::LogEntry e;
    e.mutable_entry()->set_content_hash(crypto::merkle::root(record_leaves).to_string());
    e.mutable_entry()->set_kind(pb::ENTRY_KIND_RECORD_SET_ROOT);
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"name", "readings.csv"},
             {record_meta_count, std::to_string(record_leaves.size())},
             {record_meta_sha256, file_sha.hex()}}) {
      auto* m = e.mutable_entry()->add_metadata();
      m->set_key(k);
      m->set_value(v);
    }
    e.set_submitter(keys_[0].public_key().to_string());
    e.set_tx_hash(crypto::sha256("tx").to_string());
    e.set_height(3);
    e.set_time_unix_ms(1'790'000'000'000);
    const std::string leaf = proto::log_entry_bytes(e);
    const Hash32 leaf_hash = proto::log_leaf_hash(e);
    crypto::CheckpointBody body{"city-test", 1, leaf_hash, 3, crypto::sha256(std::string_view("block 3"))};
    const std::string text = body.to_text();
    json sigs = json::array();
    for (int i = 0; i < 3; ++i) {
      const auto& key = keys_[static_cast<std::size_t>(i)];
      sigs.push_back({{"validator", key.public_key().hex()},
                      {"signature", key.sign(crypto::checkpoint_digest(text)).hex()}});
    }
    json path = json::array();
    for (const auto& h : crypto::merkle::inclusion_path(record_leaves, index).value())
      path.push_back(h.hex());
    auto decoded = decode_log_entry(as_bytes(leaf));
    EXPECT_TRUE(decoded.ok());
    return {{"format", proof_format_v1},
            {"chain_id", "city-test"},
            {"entry", json::parse(entry_json(as_bytes(leaf), *decoded).dump())},
            {"leaf_index", 0},
            {"inclusion", {{"tree_size", 1}, {"path", json::array()}}},
            {"checkpoint", {{"body", text}, {"signatures", sigs}}},
            {"validator_sets", json::array()},
            {"record",
             {{"leaf_data", to_hex(as_bytes(record))},
              {"index", index},
              {"size", record_leaves.size()},
              {"path", path}}}};
  }

  fs::path dir_;
  Genesis genesis_;
  std::vector<crypto::SecretKey> keys_;
};

TEST(Records, SplitFollowsLineTerminators) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_records(""), V{});
  EXPECT_EQ(split_records("a"), V{"a"});
  EXPECT_EQ(split_records("a\n"), V{"a"});
  EXPECT_EQ(split_records("a\nb"), (V{"a", "b"}));
  EXPECT_EQ(split_records("a\r\nb\r\n"), (V{"a", "b"}));
  EXPECT_EQ(split_records("a\n\nb\n"), (V{"a", "", "b"}));  // line 2 is an empty record
  EXPECT_EQ(split_records("\n"), V{""});
  EXPECT_EQ(split_records("a\rb\n"), V{"a\rb"});  // a lone CR ends no line
  EXPECT_EQ(split_records("a\r"), V{"a\r"});
}

TEST_F(RecordsTest, StreamingReaderAgreesWithSplitAcrossChunkBoundaries) {
  std::mt19937_64 rng(5);
  // Lines longer than the reader's 1 MiB chunk, CRLF split across chunks,
  // empty lines, and no final newline.
  std::string text;
  text += std::string((1u << 20) - 1, 'x') + "\r\n";  // "\r" ends chunk 1, "\n" starts chunk 2
  text += "\n";
  text += std::string(3u << 20, 'y') + "\n";
  for (int i = 0; i < 1000; ++i) text += "sensor-" + std::to_string(rng() % 1000) + ",42\r\n";
  text += "last line without newline";
  const fs::path path = write("big.csv", text);
  auto file = read_record_file(path);
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  const auto records = split_records(text);
  ASSERT_EQ(file->leaf_hashes.size(), records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(file->leaf_hashes[i], crypto::merkle::leaf_hash(as_bytes(records[i]))) << "record " << i;
  }
  EXPECT_EQ(file->root, crypto::merkle::root(file->leaf_hashes));
  EXPECT_EQ(file->file_sha256, crypto::sha256(text));
  EXPECT_EQ(file->file_bytes, text.size());
  EXPECT_EQ(*read_record(path, 0), std::string((1u << 20) - 1, 'x'));
  EXPECT_EQ(*read_record(path, 1), "");
  EXPECT_EQ(*read_record(path, records.size() - 1), "last line without newline");
  EXPECT_EQ(read_record(path, records.size()).status().code(), ErrorCode::not_found);
  EXPECT_EQ(read_record_file(write("empty.csv", "")).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(read_record_file(dir_ / "missing.csv").status().code(), ErrorCode::io_error);
}

TEST_F(RecordsTest, ProofsVerifyForFirstLastAndRandomLinesOfFilesOfEverySize) {
  std::mt19937_64 rng(9);
  std::vector<std::string> lines;
  std::vector<Hash32> leaves;
  std::string text;
  for (std::uint64_t n = 1; n <= 1000; ++n) {
    lines.push_back("2026-11-29T10:" + std::to_string(n % 60) + ",no2," + std::to_string(rng() % 100));
    leaves.push_back(crypto::merkle::leaf_hash(as_bytes(lines.back())));
    text += lines.back() + "\n";
    const Hash32 sha = crypto::sha256(text);
    for (const std::uint64_t index : {std::uint64_t{0}, n - 1, rng() % n}) {
      const json bundle = record_bundle(leaves, index, lines[index], sha);
      const Verdict v = verify_proof_bundle(bundle, genesis_, sha, lines[index]);
      ASSERT_TRUE(v.verified) << "n=" << n << " index=" << index << ": " << v.first_failure();
      ASSERT_TRUE(v.has_record);
      ASSERT_EQ(v.record_index, index);
      ASSERT_EQ(v.record_count, n);
    }
  }
}

TEST_F(RecordsTest, AnyChangedRecordByteOrWrongLineOrFileFails) {
  std::vector<std::string> lines = {"id,value", "a,1", "b,2", "c,3", "d,4"};
  std::vector<Hash32> leaves;
  std::string text;
  for (const auto& l : lines) {
    leaves.push_back(crypto::merkle::leaf_hash(as_bytes(l)));
    text += l + "\r\n";
  }
  const Hash32 sha = crypto::sha256(text);
  const json good = record_bundle(leaves, 2, lines[2], sha);
  ASSERT_TRUE(verify_proof_bundle(good, genesis_).verified);

  const std::string hex = good["record"]["leaf_data"];
  for (std::size_t i = 0; i < lines[2].size(); ++i) {
    for (const char flip : {'\x01', '\x20', '\x80'}) {
      std::string record = lines[2];
      record[i] = static_cast<char>(record[i] ^ flip);
      json bad = good;
      bad["record"]["leaf_data"] = to_hex(as_bytes(record));
      const Verdict v = verify_proof_bundle(bad, genesis_);
      EXPECT_FALSE(v.verified) << "byte " << i;
    }
  }
  json longer = good;
  longer["record"]["leaf_data"] = hex + "0a";
  EXPECT_FALSE(verify_proof_bundle(longer, genesis_).verified);
  json other_index = good;
  other_index["record"]["index"] = 3;
  EXPECT_FALSE(verify_proof_bundle(other_index, genesis_).verified);
  json other_size = good;
  other_size["record"]["size"] = 6;
  EXPECT_FALSE(verify_proof_bundle(other_size, genesis_).verified);
  json no_path = good;
  no_path["record"].erase("path");
  EXPECT_FALSE(verify_proof_bundle(no_path, genesis_).verified);

  const Verdict wrong_line = verify_proof_bundle(good, genesis_, std::nullopt, std::string("b,3"));
  EXPECT_FALSE(wrong_line.verified);
  EXPECT_EQ(wrong_line.first_failure(), "record_line: the line given is not the record proven");
  EXPECT_FALSE(verify_proof_bundle(good, genesis_, crypto::sha256(std::string_view("other file"))).verified);
  EXPECT_TRUE(verify_proof_bundle(good, genesis_, sha, std::string("b,2")).verified);

  // A record proof against an entry of kind "file" is refused.
  json file_kind = good;
  file_kind.erase("record");
  EXPECT_FALSE(verify_proof_bundle(file_kind, genesis_, std::nullopt, std::string("b,2")).verified);
}

}  // namespace
}  // namespace cityledger::audit
