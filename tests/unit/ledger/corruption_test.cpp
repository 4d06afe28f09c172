// Damaged stores are refused at open with ErrorCode::corruption and a message
// that names what failed and where. Damage is made through a raw RocksDB
// handle (a changed or extra record) or by flipping bytes in a table file.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <fstream>

#include "block_builder.hpp"
#include "crypto/merkle.hpp"
#include "ledger/records.hpp"
#include "ledger/store.hpp"

namespace cityledger::ledger {
namespace {

using testing::BlockBuilder;
using testing::TempDir;

// Column family positions in RawStore::handles.
enum { blocks = 1, commits, leaves, entries, nodes, content, tx, meta, checkpoints };

// The store's RocksDB, opened directly, to damage it.
class RawStore {
 public:
  explicit RawStore(const std::filesystem::path& path) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const char* name : {"default", records::cf_blocks, records::cf_commits, records::cf_log_leaves,
                             records::cf_log_entries, records::cf_log_nodes, records::cf_content_index,
                             records::cf_tx_index, records::cf_metadata, records::cf_checkpoints}) {
      families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status status =
        rocksdb::DB::Open(rocksdb::DBOptions(), path.string(), families, &handles_, &raw);
    CL_CHECK(status.ok());
    db_.reset(raw);
  }
  ~RawStore() {
    for (auto* handle : handles_) (void)db_->DestroyColumnFamilyHandle(handle);
  }
  std::string get(int cf, const std::string& key) {
    std::string value;
    CL_CHECK(db_->Get(rocksdb::ReadOptions(), handles_[cf], key, &value).ok());
    return value;
  }
  void put(int cf, const std::string& key, const std::string& value) {
    CL_CHECK(db_->Put(rocksdb::WriteOptions(), handles_[cf], key, value).ok());
  }
  void remove(int cf, const std::string& key) {
    CL_CHECK(db_->Delete(rocksdb::WriteOptions(), handles_[cf], key).ok());
  }
  void flip(int cf, const std::string& key, std::size_t byte = 0) {
    std::string value = get(cf, key);
    value[byte] = static_cast<char>(value[byte] ^ 0x01);
    put(cf, key, value);
  }
  // Everything into table files, compacted: the WAL holds nothing afterwards.
  void compact() {
    for (auto* handle : handles_)
      CL_CHECK(db_->CompactRange(rocksdb::CompactRangeOptions(), handle, nullptr, nullptr).ok());
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

constexpr std::uint64_t chain_height = 20;
constexpr std::uint64_t memory_level = 3;

class Corruption : public ::testing::Test {
 protected:
  // 20 blocks, 300 leaves (256 + 32 + 8 + 4: frontier nodes (8,0), (5,8), (3,36), (2,74)).
  void SetUp() override {
    StoreOptions create = options(true);
    create.sync_writes = false;  // durability is the crash test's subject
    auto store = std::move(Store::open(dir_.store(), create)).value();
    BlockBuilder builder;
    for (std::uint64_t h = 1; h <= chain_height; ++h) {
      const auto block = builder.next(*store, {15, 0});
      ASSERT_TRUE(store->apply_block(block.block, block.commit).ok());
    }
    ASSERT_EQ(store->log_size(), 300u);
  }

  StoreOptions options(bool create = false, bool full_check = false) const {
    StoreOptions o = testing::test_options(create);
    o.memory_levels_from = static_cast<int>(memory_level);
    o.full_check_on_open = full_check;
    return o;
  }

  void expect_corruption(const std::string& message_part, bool full_check = false) {
    auto store = Store::open(dir_.store(), options(false, full_check));
    ASSERT_FALSE(store.ok()) << "opened a damaged store";
    EXPECT_EQ(store.status().code(), ErrorCode::corruption) << store.status().to_string();
    EXPECT_NE(store.status().message().find(message_part), std::string::npos) << store.status().to_string();
    EXPECT_NE(store.status().message().find(dir_.store().string()), std::string::npos);  // says which store
  }

  void expect_opens(bool full_check = false) {
    auto store = Store::open(dir_.store(), options(false, full_check));
    EXPECT_TRUE(store.ok()) << store.status().to_string();
  }

  TempDir dir_;
};

TEST_F(Corruption, IntactStorePassesEveryCheck) { expect_opens(true); }

TEST_F(Corruption, FlippedFrontierNodeChangesTheRoot) {
  RawStore(dir_.store()).flip(nodes, records::node_key({2, 74}), 5);
  expect_corruption("log root recomputed from stored subtree nodes at size 300");
}

TEST_F(Corruption, FlippedFrontierLeafChangesTheRoot) {
  // Size 301 after one more single-leaf block: leaf 300 is on the frontier.
  {
    auto store = std::move(Store::open(dir_.store(), options())).value();
    const auto block = BlockBuilder().next(*store, {1});
    ASSERT_TRUE(store->apply_block(block.block, block.commit).ok());
  }
  RawStore(dir_.store()).flip(leaves, records::u64_key(300), 31);
  expect_corruption("log root recomputed from stored subtree nodes at size 301");
}

TEST_F(Corruption, FlippedCachedNodeDisagreesWithItsParent) {
  RawStore(dir_.store()).flip(nodes, records::node_key({3, 5}));
  expect_corruption("subtree node (level 4, index 2) differs from the hash of its children");
}

TEST_F(Corruption, MissingCachedNode) {
  RawStore(dir_.store()).remove(nodes, records::node_key({4, 1}));
  expect_corruption("subtree node (level 4, index 1) is missing");
}

TEST_F(Corruption, WrongNodeWrittenPastTheLogSize) {
  RawStore(dir_.store()).put(nodes, records::node_key({1, 150}), std::string(32, 'x'));
  expect_corruption("subtree node (level 1, index 150) lies past the log size 300");
}

TEST_F(Corruption, DeepDamageIsFoundByTheFullCheck) {
  // Below the in-memory levels and off the frontier: only the full check reads it.
  RawStore(dir_.store()).flip(leaves, records::u64_key(10));
  expect_opens(false);
  expect_corruption("leaf hash 10 is not the hash of log entry 10", true);
}

TEST_F(Corruption, DeepNodeIsFoundByTheFullCheck) {
  RawStore(dir_.store()).flip(nodes, records::node_key({1, 7}));
  expect_corruption("subtree node (level 1, index 7) differs from the hash of its children leaf hash 14",
                    true);
}

TEST_F(Corruption, MissingContentIndexRecord) {
  auto entry = proto::decode<pb::LogEntry>(RawStore(dir_.store()).get(entries, records::u64_key(42)));
  ASSERT_TRUE(entry.ok());
  RawStore(dir_.store())
      .remove(content, records::content_key(Hash32::from_span(as_bytes(entry->entry().content_hash())), 42));
  expect_corruption("content index lacks log entry 42", true);
}

TEST_F(Corruption, HeadRecordWithAnotherLogSize) {
  {
    RawStore raw(dir_.store());
    auto head = records::decode_head(raw.get(meta, std::string(records::meta_head)));
    ASSERT_TRUE(head);
    head->log_size = 299;
    raw.put(meta, std::string(records::meta_head), records::head_value(*head));
  }
  expect_corruption("block 20: header log_size 300 differs from metadata log size 299");
}

TEST_F(Corruption, MalformedHeadRecord) {
  RawStore(dir_.store()).put(meta, std::string(records::meta_head), "short");
  expect_corruption("metadata 'head' is malformed");
}

TEST_F(Corruption, LastBlockMissing) {
  RawStore(dir_.store()).remove(blocks, records::u64_key(chain_height));
  expect_corruption("block 20 (the last height in metadata) is missing");
}

TEST_F(Corruption, BlockPastTheLastHeight) {
  {
    RawStore raw(dir_.store());
    raw.put(blocks, records::u64_key(chain_height + 1), raw.get(blocks, records::u64_key(chain_height)));
  }
  expect_corruption("block 21 is the last stored, but metadata says the last is 20");
}

TEST_F(Corruption, LastBlockDoesNotDecode) {
  RawStore(dir_.store()).flip(blocks, records::u64_key(chain_height), 0);
  expect_corruption("block 20 does not decode");
}

TEST_F(Corruption, FlippedBytesInATableFileFailTheChecksum) {
  RawStore(dir_.store()).compact();
  // The largest table file holds the blocks; damage the middle of it.
  std::filesystem::path largest;
  std::uintmax_t largest_size = 0;
  for (const auto& file : std::filesystem::directory_iterator(dir_.store())) {
    if (file.path().extension() == ".sst" && file.file_size() > largest_size) {
      largest = file.path();
      largest_size = file.file_size();
    }
  }
  ASSERT_GT(largest_size, 1000u);
  {
    std::fstream f(largest, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(largest_size / 3));
    char byte = 0;
    f.read(&byte, 1);
    f.seekp(static_cast<std::streamoff>(largest_size / 3));
    byte = static_cast<char>(byte ^ 0x10);
    f.write(&byte, 1);
  }
  expect_corruption("checksum", true);
}

}  // namespace
}  // namespace cityledger::ledger
