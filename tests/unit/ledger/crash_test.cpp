// Crash safety: a child process appends blocks (synced writes) and reports
// each acknowledged block through a pipe; the parent SIGKILLs it at a random
// moment, reopens the store and checks that it holds a prefix of whole blocks:
// every acknowledged block, at most the one block in flight besides, each with
// all its leaves, entries, subtree nodes and index records, nothing past the
// last height, and every proof verifying against the block headers' roots.
//
// The child is this test binary run again (fork + exec of /proc/self/exe with
// --gtest_filter on StoreCrashChild), so it starts with a clean process rather
// than a fork of one whose RocksDB threads vanished at fork.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "block_builder.hpp"
#include "crypto/merkle.hpp"
#include "ledger/records.hpp"
#include "ledger/store.hpp"

extern char** environ;

namespace cityledger::ledger {
namespace {

using testing::BlockBuilder;
using testing::TempDir;

constexpr const char* env_store = "CITYLEDGER_CRASH_STORE";
constexpr const char* env_seed = "CITYLEDGER_CRASH_SEED";
constexpr const char* env_fd = "CITYLEDGER_CRASH_FD";

// The child: appends random blocks until killed. Byte 'o' once open, 'b' after
// every apply_block that returned ok (the block is durable from then on).
TEST(StoreCrashChild, AppendBlocksUntilKilled) {
  const char* path = std::getenv(env_store);
  if (path == nullptr)
    GTEST_SKIP() << "runs only as the child of StoreCrash.KilledWriterLeavesPrefixOfWholeBlocks";
  const std::uint64_t seed = std::strtoull(std::getenv(env_seed), nullptr, 10);
  const int fd = std::atoi(std::getenv(env_fd));
  auto store = Store::open(path, testing::test_options());
  if (!store.ok()) {
    std::fprintf(stderr, "child: open failed: %s\n", store.status().to_string().c_str());
    std::_Exit(3);
  }
  if (::write(fd, "o", 1) != 1) std::_Exit(5);
  std::mt19937_64 rng(seed);
  BlockBuilder builder;
  builder.content_space = 97;
  for (int i = 0; i < 100'000; ++i) {
    std::vector<int> spec(1 + rng() % 3);
    for (int& entries : spec) entries = static_cast<int>(rng() % 12);  // 0: a governance transaction
    const auto block = builder.next(**store, spec);
    const Status status = (*store)->apply_block(block.block, block.commit);
    if (!status.ok()) {
      std::fprintf(stderr, "child: apply failed: %s\n", status.to_string().c_str());
      std::_Exit(4);
    }
    if (::write(fd, "b", 1) != 1) std::_Exit(5);
  }
  std::_Exit(0);
}

struct Child {
  pid_t pid = -1;
  int read_fd = -1;
};

Child spawn_child(const std::filesystem::path& store, std::uint64_t seed) {
  int fds[2];
  CL_CHECK(::pipe(fds) == 0);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.push_back(std::string(env_store) + "=" + store.string());
  env_strings.push_back(std::string(env_seed) + "=" + std::to_string(seed));
  env_strings.push_back(std::string(env_fd) + "=" + std::to_string(fds[1]));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg0 = "ledger_test";
  std::string arg1 = "--gtest_filter=StoreCrashChild.AppendBlocksUntilKilled";
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  const pid_t pid = ::fork();
  CL_CHECK(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    const int null_fd = ::open("/dev/null", O_WRONLY);  // the child's GoogleTest chatter
    if (null_fd >= 0) ::dup2(null_fd, STDOUT_FILENO);
    ::execve("/proc/self/exe", argv, envp.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  return {pid, fds[0]};
}

// Every index record refers to a stored block or leaf: read straight from
// RocksDB, independently of the Store's own checks.
void check_indexes_raw(const std::filesystem::path& path, std::uint64_t height, std::uint64_t log_size) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name :
       {"default", records::cf_blocks, records::cf_commits, records::cf_log_leaves, records::cf_log_entries,
        records::cf_log_nodes, records::cf_content_index, records::cf_tx_index, records::cf_metadata}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path.string(), families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::uint64_t content_records = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[6]));
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++content_records) {
      const auto key = records::decode_content_key(it->key().ToStringView());
      ASSERT_TRUE(key);
      ASSERT_LT(key->leaf_index, log_size);
    }
  }
  EXPECT_EQ(content_records, log_size);  // one record per leaf, none beyond
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[7]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto location = records::decode_tx_location(it->value().ToStringView());
    ASSERT_TRUE(location);
    ASSERT_LE(location->height, height);
  }
  for (auto* handle : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
}

// The store after a crash: a chain of whole blocks with verifying proofs.
void check_store(const std::filesystem::path& path, std::mt19937_64& rng, std::uint64_t& height) {
  // A child killed before it created the store leaves none, or one without
  // metadata: both are the empty prefix, which open() then initializes.
  StoreOptions options = testing::test_options(true);
  options.full_check_on_open = true;  // every node, leaf, entry, index record and header root
  options.memory_levels_from = 3;
  auto opened = Store::open(path, options);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  const Store& store = **opened;
  const ChainHead head = store.head();
  height = head.height;
  std::vector<pb::BlockHeader> headers;
  for (std::uint64_t h = 1; h <= head.height; ++h) {
    auto block = store.get_block(h);
    ASSERT_TRUE(block.ok()) << block.status().to_string();
    headers.push_back(block->header());
    const std::uint64_t begin = h == 1 ? 0 : headers[h - 2].log_size();
    auto entries = derive_log_entries(*block);
    ASSERT_TRUE(entries.ok());
    ASSERT_EQ(begin + entries->size(), block->header().log_size());
    for (std::uint64_t i = begin; i < block->header().log_size(); ++i) {
      ASSERT_EQ(proto::encode(*store.log_entry(i)), proto::encode((*entries)[i - begin]));
    }
    for (int p = 0; p < block->txs_size(); ++p) {
      ASSERT_EQ(*store.find_tx(proto::tx_hash(block->txs(p))),
                (TxLocation{h, static_cast<std::uint32_t>(p)}));
    }
  }
  EXPECT_EQ(store.get_block(head.height + 1).status().code(), ErrorCode::not_found);
  if (head.height > 0) {
    EXPECT_EQ(headers.back().log_size(), head.log.size);
  }
  // Proofs against the roots the headers carry (what validators sign).
  for (int i = 0; i < 12 && !headers.empty(); ++i) {
    const pb::BlockHeader& a = headers[rng() % headers.size()];
    const pb::BlockHeader& b = headers[rng() % headers.size()];
    const pb::BlockHeader& small = a.log_size() <= b.log_size() ? a : b;
    const pb::BlockHeader& large = a.log_size() <= b.log_size() ? b : a;
    if (small.log_size() == 0) continue;
    const Hash32 small_root = Hash32::from_span(as_bytes(small.log_root()));
    const Hash32 large_root = Hash32::from_span(as_bytes(large.log_root()));
    const std::uint64_t index = rng() % large.log_size();
    auto path = store.inclusion_proof(index, large.log_size());
    ASSERT_TRUE(path.ok());
    ASSERT_TRUE(crypto::merkle::verify_inclusion(index, large.log_size(), *store.leaf_hash(index), *path,
                                                 large_root));
    auto proof = store.consistency_proof(small.log_size(), large.log_size());
    ASSERT_TRUE(proof.ok());
    ASSERT_TRUE(crypto::merkle::verify_consistency(small.log_size(), large.log_size(), small_root, large_root,
                                                   *proof));
  }
  opened = Status(ErrorCode::internal, "closed");  // close before the raw read-only open
  check_indexes_raw(path, head.height, head.log.size);
}

TEST(StoreCrash, KilledWriterLeavesPrefixOfWholeBlocks) {
  TempDir dir("crash");
  std::mt19937_64 rng(0xc0ffee);
  // 200 kills in Release; the sanitizer build looks for memory errors on the
  // same paths and runs five times slower, so it kills fewer times.
  const int iterations = testing::sanitized_build ? 50 : 200;
  std::uint64_t acknowledged_height = 0;
  int in_flight_blocks_found = 0;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    if (iteration % 50 == 0) {  // start over now and then: keeps each check small
      std::filesystem::remove_all(dir.store());
      acknowledged_height = 0;
    }
    Child child = spawn_child(dir.store(), rng());
    // Wait for 0-3 progress bytes (open, then blocks), then up to 4 ms more.
    const int wait_bytes = static_cast<int>(rng() % 4);
    std::uint64_t blocks_acknowledged = 0;
    bool child_gone = false;
    for (int i = 0; i < wait_bytes; ++i) {
      char byte = 0;
      if (::read(child.read_fd, &byte, 1) != 1) {
        child_gone = true;
        break;
      }
      if (byte == 'b') ++blocks_acknowledged;
    }
    ASSERT_FALSE(child_gone) << "child died by itself in iteration " << iteration;
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4000));
    ::kill(child.pid, SIGKILL);
    int wait_status = 0;
    ASSERT_EQ(::waitpid(child.pid, &wait_status, 0), child.pid);
    ASSERT_TRUE(WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL)
        << "child ended otherwise in iteration " << iteration << " (status " << wait_status << ")";
    char buffer[4096];
    for (ssize_t n; (n = ::read(child.read_fd, buffer, sizeof buffer)) > 0;) {
      for (ssize_t i = 0; i < n; ++i) blocks_acknowledged += buffer[i] == 'b';
    }
    ::close(child.read_fd);

    SCOPED_TRACE("iteration " + std::to_string(iteration));
    std::uint64_t height = 0;
    check_store(dir.store(), rng, height);
    if (::testing::Test::HasFatalFailure()) return;
    // Every acknowledged block survived; at most the one in flight besides.
    ASSERT_GE(height, acknowledged_height + blocks_acknowledged);
    ASSERT_LE(height, acknowledged_height + blocks_acknowledged + 1);
    in_flight_blocks_found += height == acknowledged_height + blocks_acknowledged + 1;
    acknowledged_height = height;
  }
  // Informative only: how often the kill landed after a write but before its acknowledgement.
  std::printf("blocks found written but not yet acknowledged: %d of %d kills\n", in_flight_blocks_found,
              iterations);
}

}  // namespace
}  // namespace cityledger::ledger
