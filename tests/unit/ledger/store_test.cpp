// Store: apply/read round trips, every refusal of apply_block, reopen and the
// identity checks, concurrent readers.
#include "ledger/store.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <thread>

#include "block_builder.hpp"
#include "crypto/merkle.hpp"

namespace cityledger::ledger {
namespace {

using testing::BlockBuilder;
using testing::CommittedBlock;
using testing::TempDir;
using testing::test_options;

std::unique_ptr<Store> open_store(const std::filesystem::path& path, StoreOptions options = test_options()) {
  auto store = Store::open(path, options);
  EXPECT_TRUE(store.ok()) << store.status().to_string();
  return store.ok() ? std::move(store).value() : nullptr;
}

void apply(Store& store, const CommittedBlock& block) {
  const Status status = store.apply_block(block.block, block.commit);
  ASSERT_TRUE(status.ok()) << status.to_string();
}

TEST(Store, NewStoreIsEmpty) {
  TempDir dir;
  auto store = open_store(dir.store());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_height(), 0u);
  EXPECT_EQ(store->log_size(), 0u);
  EXPECT_EQ(*store->root_at(0), crypto::merkle::empty_root());
  EXPECT_EQ(store->get_block(1).status().code(), ErrorCode::not_found);
  EXPECT_EQ(store->leaf_hash(0).status().code(), ErrorCode::not_found);
  EXPECT_EQ(store->root_at(1).status().code(), ErrorCode::not_found);
}

TEST(Store, OpenWithoutCreateRefusesAMissingStore) {
  TempDir dir;
  auto store = Store::open(dir.store(), test_options(false));
  EXPECT_EQ(store.status().code(), ErrorCode::not_found);
}

TEST(Store, DeriveLogEntriesFollowsBlockAndBatchOrder) {
  TempDir dir;
  auto store = open_store(dir.store());
  const CommittedBlock b = BlockBuilder().next(*store, {2, 0, 3});
  auto entries = derive_log_entries(b.block);
  ASSERT_TRUE(entries.ok()) << entries.status().to_string();
  ASSERT_EQ(entries->size(), 5u);
  const Hash32 tx0 = proto::tx_hash(b.block.txs(0));
  const Hash32 tx2 = proto::tx_hash(b.block.txs(2));
  EXPECT_EQ((*entries)[0].tx_hash(), tx0.to_string());
  EXPECT_EQ((*entries)[1].index_in_tx(), 1u);
  EXPECT_EQ((*entries)[2].tx_hash(), tx2.to_string());  // the governance tx adds nothing
  EXPECT_EQ((*entries)[4].index_in_tx(), 2u);
  EXPECT_EQ((*entries)[4].height(), 1u);
  EXPECT_EQ((*entries)[4].time_unix_ms(), b.block.header().time_unix_ms());
  const auto signer = proto::decode<pb::TxBody>(as_bytes(b.block.txs(2).body()))->signer();
  EXPECT_EQ((*entries)[3].submitter(), signer);
  // The copy-free leaf hashes are the hashes of the derived entries.
  auto hashes = log_leaf_hashes(b.block);
  ASSERT_TRUE(hashes.ok()) << hashes.status().to_string();
  ASSERT_EQ(hashes->size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ((*hashes)[i], proto::log_leaf_hash((*entries)[i])) << i;
  // Each entry is its own, though one message is reused to make them.
  EXPECT_NE((*entries)[0].entry().content_hash(), (*entries)[1].entry().content_hash());

  pb::Block bad = b.block;
  bad.mutable_txs(1)->set_body("\x0a\x01");  // truncated body
  EXPECT_EQ(derive_log_entries(bad).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(log_leaf_hashes(bad).status().to_string(), derive_log_entries(bad).status().to_string());
}

TEST(Store, ApplyAndReadBack) {
  TempDir dir;
  auto store = open_store(dir.store());
  BlockBuilder builder;
  builder.content_space = 4;  // content hashes repeat across leaves
  std::vector<CommittedBlock> blocks;
  for (const auto& spec : std::vector<std::vector<int>>{{3}, {0}, {1, 4}, {2, 0, 2}}) {
    blocks.push_back(builder.next(*store, spec));
    apply(*store, blocks.back());
  }
  EXPECT_EQ(store->last_height(), 4u);
  EXPECT_EQ(store->log_size(), 12u);
  const ChainHead head = store->head();
  EXPECT_EQ(head.block_hash, proto::block_hash(blocks.back().block.header()));
  EXPECT_EQ(head.log.root.to_string(), blocks.back().block.header().log_root());

  for (std::uint64_t h = 1; h <= 4; ++h) {
    auto block = store->get_block(h);
    ASSERT_TRUE(block.ok());
    EXPECT_EQ(proto::encode(*block), proto::encode(blocks[h - 1].block));
    EXPECT_EQ(proto::encode(*store->get_commit(h)), proto::encode(blocks[h - 1].commit));
    EXPECT_EQ(store->root_at(block->header().log_size())->to_string(), block->header().log_root());
    for (int p = 0; p < block->txs_size(); ++p) {
      auto location = store->find_tx(proto::tx_hash(block->txs(p)));
      ASSERT_TRUE(location.ok());
      EXPECT_EQ(*location, (TxLocation{h, static_cast<std::uint32_t>(p)}));
    }
  }
  std::vector<Hash32> leaves;
  for (std::uint64_t i = 0; i < 12; ++i) {
    auto entry = store->log_entry(i);
    ASSERT_TRUE(entry.ok());
    EXPECT_EQ(*store->leaf_hash(i), proto::log_leaf_hash(*entry));
    EXPECT_EQ(entry->entry().content_hash(), testing::test_content_hash(i, 4).to_string());
    leaves.push_back(*store->leaf_hash(i));
  }
  EXPECT_EQ(*store->root_at(12), crypto::merkle::root(leaves));
  auto proof = store->inclusion_proof(5, 12);
  ASSERT_TRUE(proof.ok());
  EXPECT_EQ(*proof, *crypto::merkle::inclusion_path(leaves, 5));
  EXPECT_EQ(*store->consistency_proof(3, 12), *crypto::merkle::consistency_proof(leaves, 3, 12));
  EXPECT_EQ(*store->leaves_for_content(testing::test_content_hash(1, 4)),
            (std::vector<std::uint64_t>{1, 5, 9}));
  EXPECT_EQ(*store->leaves_for_content(testing::test_content_hash(1, 4), 2),
            (std::vector<std::uint64_t>{1, 5}));
  EXPECT_TRUE(store->leaves_for_content(crypto::sha256(std::string_view("nothing")))->empty());
  EXPECT_EQ(store->find_tx(crypto::sha256(std::string_view("no tx"))).status().code(), ErrorCode::not_found);

  EXPECT_EQ(store->inclusion_proof(12, 12).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(store->inclusion_proof(1, 13).status().code(), ErrorCode::not_found);
  EXPECT_EQ(store->consistency_proof(0, 5).status().code(), ErrorCode::invalid_argument);
  EXPECT_EQ(store->consistency_proof(6, 5).status().code(), ErrorCode::invalid_argument);
  EXPECT_TRUE(store->consistency_proof(5, 5)->empty());

  // Everything survives a reopen.
  store.reset();
  store = open_store(dir.store(), test_options(false));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_height(), 4u);
  EXPECT_EQ(store->head().block_hash, head.block_hash);
  EXPECT_EQ(*store->inclusion_proof(5, 12), *crypto::merkle::inclusion_path(leaves, 5));
  apply(*store, builder.next(*store, {1}));
  EXPECT_EQ(store->log_size(), 13u);
}

// Applies `block`, expects invalid_argument, and checks nothing changed.
void expect_refused(Store& store, const pb::Block& block, const pb::CommitCertificate& commit,
                    const std::string& message_part) {
  const ChainHead before = store.head();
  const Status status = store.apply_block(block, commit);
  EXPECT_EQ(status.code(), ErrorCode::invalid_argument) << status.to_string();
  EXPECT_NE(status.message().find(message_part), std::string::npos) << status.to_string();
  const ChainHead after = store.head();
  EXPECT_EQ(after.height, before.height);
  EXPECT_EQ(after.block_hash, before.block_hash);
  EXPECT_EQ(after.log, before.log);
  EXPECT_EQ(store.get_block(before.height + 1).status().code(), ErrorCode::not_found);
  EXPECT_EQ(store.leaf_hash(before.log.size).status().code(), ErrorCode::not_found);
  for (const auto& tx : block.txs()) {
    const auto found = store.find_tx(proto::tx_hash(tx));
    if (found.ok()) {
      EXPECT_LE(found->height, before.height);
    }
  }
}

// Re-derives header fields after a change so that only the intended check fails.
void reseal(const BlockBuilder& builder, CommittedBlock& b) { b.commit = builder.commit_for(b.block); }

// The content index's memtable is hashed by content hash (a prefix). Lookups
// must find every leaf, in order, whether its key is in the memtable, in the
// WAL replayed at open, or in table files written without that prefix
// setting (as by a build before it), and across those at once.
TEST(Store, ContentLookupsSpanMemtableWalAndTableFiles) {
  TempDir dir;
  BlockBuilder builder;
  builder.content_space = 5;  // leaf i anchors content hash i % 5
  {
    auto store = open_store(dir.store());
    for (int i = 0; i < 4; ++i) apply(*store, builder.next(*store, {3, 2}));  // leaves 0..19
  }
  {
    // Into table files, by a RocksDB with default options (no prefix extractor).
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir.store().string(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.store().string(), families, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (auto* handle : handles) {
      ASSERT_TRUE(db->CompactRange(rocksdb::CompactRangeOptions(), handle, nullptr, nullptr).ok());
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
    }
  }
  auto store = open_store(dir.store());
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 3; ++i) apply(*store, builder.next(*store, {5}));  // leaves 20..34, memtable
  const auto check = [&](const Store& s) {
    for (std::uint64_t c = 0; c < 5; ++c) {
      std::vector<std::uint64_t> expected;
      for (std::uint64_t leaf = c; leaf < 35; leaf += 5) expected.push_back(leaf);
      EXPECT_EQ(*s.leaves_for_content(testing::test_content_hash(c, 5)), expected) << "content " << c;
      // A limit that ends in the table files, and one past the boundary.
      EXPECT_EQ(*s.leaves_for_content(testing::test_content_hash(c, 5), 3),
                (std::vector<std::uint64_t>{c, c + 5, c + 10}));
      EXPECT_EQ(s.leaves_for_content(testing::test_content_hash(c, 5), 5)->back(), c + 20);
    }
    EXPECT_TRUE(s.leaves_for_content(crypto::sha256(std::string_view("nothing")))->empty());
  };
  check(*store);
  store.reset();
  store = open_store(dir.store());  // leaves 20..34 come back from the WAL
  ASSERT_NE(store, nullptr);
  check(*store);
  StoreOptions full = test_options(false);
  full.full_check_on_open = true;
  store.reset();
  EXPECT_NE(open_store(dir.store(), full), nullptr);
}

TEST(Store, RefusesBadBlocksAndStaysUnchanged) {
  TempDir dir;
  auto store = open_store(dir.store());
  BlockBuilder builder;
  apply(*store, builder.next(*store, {2}));
  const CommittedBlock good = builder.next(*store, {1, 0, 2});

  CommittedBlock b = good;
  b.block.mutable_header()->set_height(3);
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "expected height 2");

  b = good;
  b.block.mutable_header()->set_height(1);
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "expected height 2");

  b = good;
  b.block.mutable_header()->set_chain_id("other-chain");
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "chain id");

  b = good;
  b.block.mutable_header()->set_previous_block_hash(std::string(32, '\x07'));
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "previous_block_hash");

  b = good;
  b.block.mutable_header()->set_log_root(std::string(32, '\x07'));
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "log_root");

  b = good;
  b.block.mutable_header()->set_log_size(good.block.header().log_size() + 1);
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "log_size");

  b = good;
  b.block.mutable_header()->set_txs_root(std::string(32, '\x07'));
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "txs_root");

  b = good;  // a transaction dropped: txs_root and tx_count no longer match
  b.block.mutable_txs()->RemoveLast();
  expect_refused(*store, b.block, b.commit, "tx_count");

  b = good;
  b.block.mutable_header()->set_tx_count(2);
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "tx_count");

  b = good;  // commit certificate for another block
  b.commit.set_block_id(std::string(32, '\x07'));
  expect_refused(*store, b.block, b.commit, "commit certificate");

  b = good;  // commit certificate for another height
  b.commit.set_height(3);
  expect_refused(*store, b.block, b.commit, "commit certificate");

  b = good;  // a transaction body that does not decode (header resealed around it)
  b.block.mutable_txs(0)->set_body(b.block.txs(0).body() + "\x01");
  b.block.mutable_header()->set_txs_root(proto::txs_root(b.block.txs()).to_string());
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "transaction 0");

  b = good;  // a transaction already stored at height 1
  *b.block.mutable_txs(1) = store->get_block(1)->txs(0);
  b.block.mutable_header()->set_txs_root(proto::txs_root(b.block.txs()).to_string());
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit, "transaction 1 is already stored at height 1");

  b = good;  // the same transaction twice in one block: the second one is named
  *b.block.add_txs() = b.block.txs(0);
  b.block.mutable_header()->set_tx_count(static_cast<std::uint32_t>(b.block.txs_size()));
  b.block.mutable_header()->set_txs_root(proto::txs_root(b.block.txs()).to_string());
  reseal(builder, b);
  expect_refused(*store, b.block, b.commit,
                 "transaction " + std::to_string(b.block.txs_size() - 1) + " appears twice");

  // After all that, the good block still applies.
  apply(*store, good);
  EXPECT_EQ(store->last_height(), 2u);
  EXPECT_EQ(store->log_size(), 5u);
}

TEST(Store, LogHeadAfterDoesNotWrite) {
  TempDir dir;
  auto store = open_store(dir.store());
  const std::vector<Hash32> leaves{crypto::sha256(std::string_view("a")),
                                   crypto::sha256(std::string_view("b"))};
  const LogHead head = store->log_head_after(leaves);
  EXPECT_EQ(head.size, 2u);
  EXPECT_EQ(head.root, crypto::merkle::root(leaves));
  EXPECT_EQ(store->log_size(), 0u);
  EXPECT_EQ(store->log_head_after({}).root, crypto::merkle::empty_root());
}

TEST(Store, RefusesAnotherChainOrGenesisOrKind) {
  TempDir dir;
  {
    auto store = open_store(dir.store());
    apply(*store, BlockBuilder().next(*store, {1}));
  }
  StoreOptions other = test_options(false);
  other.genesis_hash = crypto::sha256(std::string_view("another genesis"));
  auto refused = Store::open(dir.store(), other);
  EXPECT_EQ(refused.status().code(), ErrorCode::invalid_argument);
  EXPECT_NE(refused.status().message().find("genesis"), std::string::npos) << refused.status().to_string();

  other = test_options(false);
  other.chain_id = "another-chain";
  refused = Store::open(dir.store(), other);
  EXPECT_EQ(refused.status().code(), ErrorCode::invalid_argument);
  EXPECT_NE(refused.status().message().find("another-chain"), std::string::npos);

  other = test_options(false);
  other.bare_log = true;
  EXPECT_EQ(Store::open(dir.store(), other).status().code(), ErrorCode::invalid_argument);

  EXPECT_TRUE(Store::open(dir.store(), test_options(false)).ok());
}

TEST(Store, OnlyOneProcessMayOpenAStore) {
  TempDir dir;
  auto store = open_store(dir.store());
  auto second = Store::open(dir.store(), test_options());
  EXPECT_EQ(second.status().code(), ErrorCode::io_error) << second.status().to_string();
}

TEST(Store, BareLogAppendsAndProves) {
  TempDir dir;
  StoreOptions options = test_options();
  options.bare_log = true;
  options.memory_levels_from = 2;
  std::vector<Hash32> leaves;
  {
    auto store = open_store(dir.store(), options);
    for (int batch = 0; batch < 5; ++batch) {
      std::vector<Hash32> add;
      for (int i = 0; i < 7 * batch + 1; ++i) {
        add.push_back(crypto::merkle::leaf_hash(as_bytes(std::to_string(leaves.size() + add.size()))));
      }
      ASSERT_TRUE(store->append_leaves(add).ok());
      leaves.insert(leaves.end(), add.begin(), add.end());
    }
    EXPECT_EQ(store->apply_block(pb::Block{}, pb::CommitCertificate{}).code(), ErrorCode::invalid_argument);
  }
  options.create_if_missing = false;
  auto store = open_store(dir.store(), options);
  ASSERT_EQ(store->log_size(), leaves.size());
  for (std::uint64_t size = 1; size <= leaves.size(); size += 3) {
    const auto tree = std::span<const Hash32>(leaves).first(size);
    EXPECT_EQ(*store->root_at(size), crypto::merkle::root(tree));
    EXPECT_EQ(*store->inclusion_proof(size / 2, size), *crypto::merkle::inclusion_path(tree, size / 2));
    EXPECT_EQ(*store->consistency_proof(1 + size / 3, size),
              *crypto::merkle::consistency_proof(leaves, 1 + size / 3, size));
  }
  // A chain store refuses raw appends.
  TempDir chain_dir;
  auto chain = open_store(chain_dir.store());
  EXPECT_EQ(chain->append_leaves(leaves).code(), ErrorCode::invalid_argument);
}

TEST(Store, ReadersRunConcurrentlyWithTheWriter) {
  TempDir dir;
  StoreOptions options = test_options();
  options.sync_writes = false;
  options.memory_levels_from = 3;
  auto store = open_store(dir.store(), options);
  BlockBuilder builder;
  std::vector<CommittedBlock> blocks;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::uint64_t round = 0;
      while (!done.load()) {
        const ChainHead head = store->head();
        if (head.log.size == 0) continue;
        const std::uint64_t size = 1 + (round * 7919 + static_cast<std::uint64_t>(r)) % head.log.size;
        const std::uint64_t index = (round * 104729) % size;
        auto root = store->root_at(size);
        auto leaf = store->leaf_hash(index);
        auto path = store->inclusion_proof(index, size);
        auto consistency = store->consistency_proof(1 + index, head.log.size);
        if (!root.ok() || !leaf.ok() || !path.ok() || !consistency.ok() ||
            !crypto::merkle::verify_inclusion(index, size, *leaf, *path, *root) ||
            !crypto::merkle::verify_consistency(1 + index, head.log.size, *store->root_at(1 + index),
                                                head.log.root, *consistency)) {
          ++failures;
        }
        ++round;
      }
    });
  }
  for (int h = 0; h < 40; ++h) apply(*store, builder.next(*store, {1 + h % 5, h % 3}));
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace cityledger::ledger

namespace cityledger::ledger {
namespace {

// A file system whose WAL writes fail while `full` is set. (A real ENOSPC is
// IOStatus::NoSpace, which RocksDB recovers from by itself once space is
// freed; a plain I/O error needs the store's own Resume(), the harder case.)
class FullDiskFs : public rocksdb::FileSystemWrapper {
 public:
  explicit FullDiskFs(const std::shared_ptr<rocksdb::FileSystem>& target) : FileSystemWrapper(target) {}
  const char* Name() const override { return "FullDiskFs"; }
  std::atomic<bool> full{false};

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* debug) override {
    auto status = target()->NewWritableFile(name, options, result, debug);
    if (status.ok() && name.ends_with(".log")) *result = std::make_unique<File>(std::move(*result), full);
    return status;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile>&& target, std::atomic<bool>& full)
        : FSWritableFileOwnerWrapper(std::move(target)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* debug) override {
      if (full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(data, options, debug);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* debug) override {
      if (full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(data, options, info, debug);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      if (full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Sync(options, debug);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options, rocksdb::IODebugContext* debug) override {
      if (full_) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Fsync(options, debug);
    }

   private:
    std::atomic<bool>& full_;
  };
};

TEST(Store, FailedWriteLeavesStoreUnchangedAndUsable) {
  TempDir dir;
  auto fs = std::make_shared<FullDiskFs>(rocksdb::FileSystem::Default());
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  StoreOptions options = test_options();
  options.env = env.get();
  BlockBuilder builder;
  CommittedBlock retried;
  {
    auto store = open_store(dir.store(), options);
    ASSERT_TRUE(store);
    apply(*store, builder.next(*store, {3}));
    const ChainHead before = store->head();

    fs->full = true;
    const CommittedBlock failed = builder.next(*store, {2, 4});
    for (int attempt = 0; attempt < 2; ++attempt) {
      const Status status = store->apply_block(failed.block, failed.commit);
      EXPECT_EQ(status.code(), ErrorCode::io_error) << status.to_string();
    }
    EXPECT_EQ(store->last_height(), 1u);
    EXPECT_EQ(store->head().log, before.log);
    EXPECT_EQ(store->get_block(2).status().code(), ErrorCode::not_found);
    EXPECT_EQ(store->find_tx(proto::tx_hash(failed.block.txs(0))).status().code(), ErrorCode::not_found);
    EXPECT_TRUE(store->inclusion_proof(1, 3).ok());  // reads still served

    fs->full = false;  // space freed: a different block 2 goes in
    retried = builder.next(*store, {1});
    Status status;
    for (int attempt = 0; attempt < 500; ++attempt) {  // RocksDB's own recovery may still run
      status = store->apply_block(retried.block, retried.commit);
      if (status.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(status.ok()) << status.to_string();
    EXPECT_EQ(store->last_height(), 2u);
    EXPECT_EQ(store->log_size(), 4u);
  }
  // The failed batch never resurfaces: the reopened store holds the retried block.
  options.create_if_missing = false;
  options.full_check_on_open = true;
  auto store = open_store(dir.store(), options);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->last_height(), 2u);
  EXPECT_EQ(proto::encode(*store->get_block(2)), proto::encode(retried.block));
}

TEST(Store, CheckpointsAreKeptByHeightAndSizeAcrossReopen) {
  TempDir dir;
  auto store = open_store(dir.store());
  BlockBuilder builder;
  for (const auto& spec : std::vector<std::vector<int>>{{2}, {0}, {1}})
    apply(*store, builder.next(*store, spec));
  EXPECT_EQ(store->latest_checkpoint().status().code(), ErrorCode::not_found);

  auto checkpoint = [](const std::string& body, int signatures) {
    pb::Checkpoint cp;
    cp.set_body(body);
    for (int i = 0; i < signatures; ++i) {
      auto* s = cp.add_signatures();
      s->set_validator(std::string(32, static_cast<char>('a' + i)));
      s->set_signature(std::string(64, 's'));
    }
    return cp;
  };
  // Heights 1 and 2 have the same tree size (block 2 anchors nothing).
  ASSERT_TRUE(store->put_checkpoint(1, checkpoint("one", 3), 2).ok());
  ASSERT_TRUE(store->put_checkpoint(2, checkpoint("two", 3), 2).ok());
  ASSERT_TRUE(store->put_checkpoint(1, checkpoint("one", 4), 2).ok());  // gained a signature
  EXPECT_EQ(store->put_checkpoint(4, checkpoint("four", 3), 3).code(), ErrorCode::invalid_argument);
  EXPECT_EQ(store->put_checkpoint(0, checkpoint("zero", 3), 0).code(), ErrorCode::invalid_argument);

  store.reset();
  store = open_store(dir.store(), test_options(false));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->checkpoint_at_height(1)->signatures_size(), 4);
  EXPECT_EQ(store->checkpoint_at_height(2)->body(), "two");
  EXPECT_EQ(store->checkpoint_at_height(3).status().code(), ErrorCode::not_found);
  EXPECT_EQ(store->checkpoint_at_size(2)->body(), "two");  // the newest height of that size
  EXPECT_EQ(store->checkpoint_at_size(3).status().code(), ErrorCode::not_found);
  EXPECT_EQ(store->latest_checkpoint()->body(), "two");
}

}  // namespace
}  // namespace cityledger::ledger
