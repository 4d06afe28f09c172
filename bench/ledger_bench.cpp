// ledger micro-benchmarks: log append (one leaf per synced write, and batches
// of 1,000), full block application, and proofs and roots at N = 1,000,000.
//
// The log benchmarks use a bare-log store (Store::append_leaves), which goes
// through the same staging and write code as apply_block without building
// blocks. The 1,000,000-leaf store is built once, unsynced, in a temp dir.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <time.h>

#include <cstdlib>
#include <random>

#include "../tests/unit/ledger/block_builder.hpp"
#include "crypto/merkle.hpp"
#include "ledger/store.hpp"

namespace cityledger::ledger {
namespace {

// The read benchmarks' log size: 1,000,000 leaves, or CITYLEDGER_BENCH_LOG_LEAVES
// (e.g. 10000000 for the 10M-leaf proof target; building it takes minutes).
std::uint64_t big_log_size() {
  static const std::uint64_t size = [] {
    const char* env = std::getenv("CITYLEDGER_BENCH_LOG_LEAVES");
    const std::uint64_t value = env != nullptr ? std::strtoull(env, nullptr, 10) : 0;
    return value > 0 ? value : std::uint64_t{1'000'000};
  }();
  return size;
}

std::vector<Hash32> make_leaves(std::uint64_t first, std::uint64_t count) {
  std::vector<Hash32> leaves;
  leaves.reserve(count);
  for (std::uint64_t i = first; i < first + count; ++i) {
    leaves.push_back(crypto::merkle::leaf_hash(as_bytes("leaf " + std::to_string(i))));
  }
  return leaves;
}

StoreOptions bare_options(bool sync) {
  StoreOptions options = testing::test_options();
  options.bare_log = true;
  options.sync_writes = sync;
  return options;
}

std::unique_ptr<Store> open_or_die(const std::filesystem::path& path, const StoreOptions& options) {
  auto store = Store::open(path, options);
  CL_CHECK(store.ok());
  return std::move(store).value();
}

// Args: leaves per write (1 or 1,000), and whether each write is synced. The
// unsynced runs show the CPU cost alone; durability needs the synced ones.
void BM_LogAppend(benchmark::State& state) {
  testing::TempDir dir("bench-append");
  auto store = open_or_die(dir.store(), bare_options(state.range(1) != 0));
  const auto batch_size = static_cast<std::uint64_t>(state.range(0));
  std::uint64_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto leaves = make_leaves(next, batch_size);
    next += batch_size;
    state.ResumeTiming();
    CL_CHECK(store->append_leaves(leaves).ok());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(next));
}
BENCHMARK(BM_LogAppend)
    ->ArgNames({"leaves_per_write", "sync"})
    ->Args({1, 1})
    ->Args({1000, 1})
    ->Args({1000, 0})
    ->UseRealTime()
    ->MinTime(3.0);

// The real block path: one anchor transaction of Arg entries per block.
void BM_ApplyBlock(benchmark::State& state) {
  testing::TempDir dir("bench-apply");
  auto store = open_or_die(dir.store(), testing::test_options());
  const testing::BlockBuilder builder;
  std::uint64_t leaves = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto block = builder.next(*store, {static_cast<int>(state.range(0))});
    state.ResumeTiming();
    CL_CHECK(store->apply_block(block.block, block.commit).ok());
    leaves += static_cast<std::uint64_t>(state.range(0));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(leaves));
}
BENCHMARK(BM_ApplyBlock)->Arg(1)->Arg(1000)->UseRealTime()->MinTime(3.0);

// The network benchmark's batch-100 shape: Args = transactions per block,
// entries per transaction (10 x 100: 1,000 entries from 10 signers' batches).
void BM_ApplyBlockTxs(benchmark::State& state) {
  testing::TempDir dir("bench-apply-txs");
  auto store = open_or_die(dir.store(), testing::test_options());
  const testing::BlockBuilder builder;
  const std::vector<int> shape(static_cast<std::size_t>(state.range(0)), static_cast<int>(state.range(1)));
  std::uint64_t leaves = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const auto block = builder.next(*store, shape);
    state.ResumeTiming();
    CL_CHECK(store->apply_block(block.block, block.commit).ok());
    leaves += static_cast<std::uint64_t>(state.range(0) * state.range(1));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(leaves));
}
BENCHMARK(BM_ApplyBlockTxs)->ArgNames({"txs", "entries"})->Args({10, 100})->UseRealTime()->MinTime(3.0);

double process_cpu_s() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The cost of sustained block application, RocksDB's background work
// included: 2,000 blocks of 10 x 100 entries (2,000,000 entries, several
// memtable flushes per column family). BM_ApplyBlockTxs times only the
// writer's thread; the memtable flushes and compactions it causes run on
// RocksDB's threads, and a memtable that is cheap to insert into can be dear
// to flush. Counter store_cpu_us_per_entry: the whole process's CPU time,
// less the time spent building the blocks, per entry.
void BM_ApplyBlocksSustained(benchmark::State& state) {
  testing::TempDir dir("bench-apply-sustained");
  auto store = open_or_die(dir.store(), testing::test_options());
  const testing::BlockBuilder builder;
  const std::vector<int> shape(10, 100);
  double building_s = 0;
  const double cpu_before = process_cpu_s();
  std::uint64_t entries = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const double t0 = thread_cpu_s();
    const auto block = builder.next(*store, shape);
    building_s += thread_cpu_s() - t0;
    state.ResumeTiming();
    CL_CHECK(store->apply_block(block.block, block.commit).ok());
    entries += 1000;
  }
  store.reset();  // waits for running background work
  const double store_s = process_cpu_s() - cpu_before - building_s;
  state.counters["store_cpu_us_per_entry"] = store_s * 1e6 / static_cast<double>(entries);
  state.SetItemsProcessed(static_cast<std::int64_t>(entries));
}
BENCHMARK(BM_ApplyBlocksSustained)->Iterations(2000)->UseRealTime();

// What a validator computes to check a proposal's log_size/log_root (and the
// proposer to fill them in): the leaf hashes of a 10 x 100-entry block. Arg 0:
// proto::log_leaf_hash over derive_log_entries (copies every entry), Arg 1:
// ledger::log_leaf_hashes (no copies).
void BM_BlockLeafHashes(benchmark::State& state) {
  testing::TempDir dir("bench-leaf-hashes");
  auto store = open_or_die(dir.store(), testing::test_options());
  const auto block = testing::BlockBuilder().next(*store, std::vector<int>(10, 100));
  for (auto _ : state) {
    std::vector<Hash32> leaves;
    if (state.range(0) == 0) {
      auto entries = derive_log_entries(block.block);
      CL_CHECK(entries.ok());
      leaves.reserve(entries->size());
      for (const auto& entry : *entries) leaves.push_back(proto::log_leaf_hash(entry));
    } else {
      auto hashes = log_leaf_hashes(block.block);
      CL_CHECK(hashes.ok());
      leaves = std::move(*hashes);
    }
    benchmark::DoNotOptimize(leaves);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 1000);
}
BENCHMARK(BM_BlockLeafHashes)->ArgName("copy_free")->Arg(0)->Arg(1);

// A node serving proofs gives its block cache room for the log's hashes
// (about 100 MB of leaves and nodes at 1,000,000 leaves).
StoreOptions read_options() {
  StoreOptions options = bare_options(true);
  options.create_if_missing = false;
  options.block_cache_bytes = 256u << 20;
  return options;
}

// One bare log of 1,000,000 leaves for all read benchmarks, reopened (and so
// checked) with the default options after it was built.
struct BigLog {
  testing::TempDir dir{"bench-big"};
  std::unique_ptr<Store> store;
  BigLog() {
    {
      auto builder = open_or_die(dir.store(), bare_options(false));
      for (std::uint64_t at = 0; at < big_log_size(); at += 10'000) {
        CL_CHECK(builder->append_leaves(make_leaves(at, std::min<std::uint64_t>(10'000, big_log_size() - at)))
                     .ok());
      }
    }
    store = open_or_die(dir.store(), read_options());
    CL_CHECK(store->log_size() == big_log_size());
  }
};

BigLog& big_log() {
  static BigLog log;
  return log;
}

void BM_InclusionProof(benchmark::State& state) {
  const Store& store = *big_log().store;
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto proof = store.inclusion_proof(rng() % big_log_size(), big_log_size());
    CL_CHECK(proof.ok());
    benchmark::DoNotOptimize(proof);
  }
}
BENCHMARK(BM_InclusionProof);

// Any past size: the right-edge ranges are read from stored nodes too.
void BM_InclusionProofAtPastSize(benchmark::State& state) {
  const Store& store = *big_log().store;
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    const std::uint64_t size = 1 + rng() % big_log_size();
    auto proof = store.inclusion_proof(rng() % size, size);
    CL_CHECK(proof.ok());
    benchmark::DoNotOptimize(proof);
  }
}
BENCHMARK(BM_InclusionProofAtPastSize);

void BM_ConsistencyProof(benchmark::State& state) {
  const Store& store = *big_log().store;
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    auto proof = store.consistency_proof(1 + rng() % big_log_size(), big_log_size());
    CL_CHECK(proof.ok());
    benchmark::DoNotOptimize(proof);
  }
}
BENCHMARK(BM_ConsistencyProof);

void BM_RootAtPastSize(benchmark::State& state) {
  const Store& store = *big_log().store;
  std::mt19937_64 rng(4);
  for (auto _ : state) {
    auto root = store.root_at(1 + rng() % big_log_size());
    CL_CHECK(root.ok());
    benchmark::DoNotOptimize(root);
  }
}
BENCHMARK(BM_RootAtPastSize);

// Open with its checks (frontier root, in-memory levels) at 1,000,000 leaves.
void BM_OpenMillionLeafLog(benchmark::State& state) {
  BigLog& log = big_log();
  const StoreOptions options = read_options();
  for (auto _ : state) {
    log.store.reset();
    log.store = open_or_die(log.dir.store(), options);
  }
}
BENCHMARK(BM_OpenMillionLeafLog)->Iterations(5)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cityledger::ledger

BENCHMARK_MAIN();
