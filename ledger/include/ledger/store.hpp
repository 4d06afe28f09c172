// The ledger's append-only store on RocksDB: blocks, commit certificates, the
// global Merkle log (leaves, entries, complete-subtree hashes), the content and
// transaction indexes, and the metadata that ties them together. Layout, key
// encodings and the crash-safety argument: docs/ledger.md.
//
// Threads: one writer (apply_block) at a time — calls are serialized
// internally — and any number of concurrent readers. A reader sees a block
// only after its synced write returned, and then sees all of it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "ledger/records.hpp"

namespace rocksdb {
class Env;
}

namespace cityledger::ledger {

struct StoreOptions {
  std::string chain_id;  // recorded on creation; a store of another chain is refused
  Hash32 genesis_hash;   // previous_block_hash of block 1; recorded and checked likewise
  bool create_if_missing = false;
  // Every write waits for fsync (WriteOptions::sync). Durability is promised
  // only with true; tests that do not need it may turn it off.
  bool sync_writes = true;
  std::size_t block_cache_bytes = 64u << 20;
  // Subtree hashes of this level and above are also kept in memory (loaded and
  // checked at open): about N / 2^(level - 1) hashes, so at level 6 one byte
  // per leaf (1 MiB per million leaves). A proof then reads at most `level`
  // hashes from RocksDB, in one MultiGet.
  int memory_levels_from = 6;
  // Besides the open-time checks always made (docs/ledger.md), verify every
  // block checksum in every file, every stored subtree hash against its
  // children, every leaf hash against its entry, every index record and every
  // block's log root. O(size of the store).
  bool full_check_on_open = false;
  // A bare Merkle log with no blocks (benchmarks, tools): append_leaves()
  // instead of apply_block(); the head record carries the root that the
  // open-time check compares with. Recorded on creation; a mismatch is refused.
  bool bare_log = false;
  // Test hook: the RocksDB environment to use (fault injection). Null: default.
  rocksdb::Env* env = nullptr;
};

struct LogHead {
  std::uint64_t size = 0;
  Hash32 root;
  auto operator<=>(const LogHead&) const = default;
};

struct ChainHead {
  std::uint64_t height = 0;  // 0: no block yet
  Hash32 block_hash;         // zero when height is 0
  LogHead log;
};

using TxLocation = records::TxLocation;

// The leaves a block adds to the global log, in block order: an anchor
// transaction's entries in batch order, one leaf per contract action
// (proto/contracts.hpp); governance transactions add none. Each
// body is decoded canonically; invalid_argument names the transaction (and
// entry) when a body does not decode or a content hash is not 32 bytes.
Result<std::vector<pb::LogEntry>> derive_log_entries(const pb::Block& block);
// The same leaves without copies: calls `visit` once per leaf, in order, with
// a LogEntry that is reused for the next leaf (copy what must outlive the
// call). Stops at the first error, from decoding or from `visit`.
Status for_each_log_entry(const pb::Block& block, const std::function<Status(const pb::LogEntry&)>& visit);
// The leaf hashes of those leaves, in order (what log_head_after takes), with
// no copy of any entry: the same as proto::log_leaf_hash over
// derive_log_entries(block), and the same errors.
Result<std::vector<Hash32>> log_leaf_hashes(const pb::Block& block);
// How many leaves one transaction adds (the rule above).
std::uint64_t log_leaf_count(const pb::TxBody& body);

class Store {
 public:
  // Opens (or, with create_if_missing, creates) the store at `path` and checks
  // it (docs/ledger.md, "Open-time checks"). corruption names what failed and
  // where; invalid_argument when the store belongs to another chain/genesis.
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& path, const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- writing
  // The log head the store would have after appending these leaf hashes, from
  // the in-memory frontier, without writing: fills header.log_size/log_root.
  LogHead log_head_after(std::span<const Hash32> new_leaf_hashes) const;

  // Checks `block` against the chain (height, chain id, previous hash,
  // tx_count, txs_root, log_size/log_root, no transaction already stored) and
  // `commit` against the block (height, block_id); not signatures, which are
  // consensus's job. Then writes everything the block adds in one synced
  // RocksDB batch. invalid_argument: refused, nothing written. io_error: the
  // write failed (e.g. full disk); the store is unchanged and stays usable.
  Status apply_block(const pb::Block& block, const pb::CommitCertificate& commit);

  // Bare-log stores only: appends leaf hashes through the same log write path
  // (leaves, new subtree nodes and head in one synced batch).
  Status append_leaves(std::span<const Hash32> leaf_hashes);

  // Final checkpoints (node/checkpoints), stored as they gain signatures so
  // a restarted node still serves them. Replaces the one stored for `height`;
  // the size index points at the newest height of that size.
  Status put_checkpoint(std::uint64_t height, const pb::Checkpoint& checkpoint, std::uint64_t tree_size);

  // ---- reading (thread-safe)
  ChainHead head() const;
  std::uint64_t last_height() const;
  std::uint64_t log_size() const;

  // not_found beyond the last height; corruption when stored bytes do not decode.
  Result<pb::Block> get_block(std::uint64_t height) const;
  Result<pb::CommitCertificate> get_commit(std::uint64_t height) const;

  // Log reads. Sizes and indexes beyond the current log are not_found.
  Result<Hash32> root_at(std::uint64_t tree_size) const;  // 0 gives the empty-tree root
  Result<Hash32> leaf_hash(std::uint64_t index) const;
  Result<pb::LogEntry> log_entry(std::uint64_t index) const;
  // RFC 9162 PATH(index, D[0:tree_size]): invalid_argument unless index < tree_size.
  Result<std::vector<Hash32>> inclusion_proof(std::uint64_t index, std::uint64_t tree_size) const;
  // RFC 9162 PROOF(first, D[0:second]): invalid_argument unless 0 < first <= second.
  Result<std::vector<Hash32>> consistency_proof(std::uint64_t first, std::uint64_t second) const;

  // Leaf indexes that anchor this content hash, ascending, at most max_results.
  Result<std::vector<std::uint64_t>> leaves_for_content(const Hash32& content_hash,
                                                        std::size_t max_results = 10'000) const;
  // not_found when none is stored.
  Result<pb::Checkpoint> checkpoint_at_height(std::uint64_t height) const;
  Result<pb::Checkpoint> checkpoint_at_size(std::uint64_t tree_size) const;
  Result<pb::Checkpoint> latest_checkpoint() const;

  // not_found when no stored block holds the transaction.
  Result<TxLocation> find_tx(const Hash32& tx_hash) const;

  // Bytes of every file in the store's directory (SST files, WAL, manifest):
  // what the ledger takes on disk. Files that vanish while counting (a
  // compaction) are skipped.
  std::uint64_t disk_usage_bytes() const;

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cityledger::ledger
