#include "ledger/store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_set>

#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"
#include "ledger/merkle_tree.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::ledger {

namespace {

using records::Head;
using records::StoreKind;

// Column families, in the order they are opened.
enum Cf : std::size_t {
  cf_default = 0,  // RocksDB's own; always empty
  cf_blocks,
  cf_commits,
  cf_leaves,
  cf_entries,
  cf_nodes,
  cf_content,
  cf_tx,
  cf_meta,
  cf_checkpoints,
  cf_count,
};

const std::array<const char*, cf_count> cf_names = {
    "default",
    records::cf_blocks,
    records::cf_commits,
    records::cf_log_leaves,
    records::cf_log_entries,
    records::cf_log_nodes,
    records::cf_content_index,
    records::cf_tx_index,
    records::cf_metadata,
    records::cf_checkpoints,
};

// Stored blocks are bounded by consensus, not here; this only stops a corrupt
// length from asking for absurd memory.
constexpr std::size_t max_stored_message_bytes = 1u << 30;

Status corruption(std::string message) { return error(ErrorCode::corruption, std::move(message)); }
Status invalid(std::string message) { return error(ErrorCode::invalid_argument, std::move(message)); }

Status from_rocks(const rocksdb::Status& status, const std::string& what) {
  if (status.ok()) return {};
  const ErrorCode code = status.IsCorruption() ? ErrorCode::corruption : ErrorCode::io_error;
  return error(code, what + ": " + status.ToString());
}

std::string node_name(const NodeId& node) {
  if (node.level == 0) return "leaf hash " + std::to_string(node.index);
  return "subtree node (level " + std::to_string(node.level) + ", index " + std::to_string(node.index) + ")";
}

std::string children_names(const NodeId& parent) {
  const std::uint8_t level = static_cast<std::uint8_t>(parent.level - 1);
  return node_name({level, 2 * parent.index}) + " and " + node_name({level, 2 * parent.index + 1});
}

rocksdb::Slice slice(const Hash32& hash) { return {reinterpret_cast<const char*>(hash.data()), 32}; }
std::string_view view(const rocksdb::Slice& s) { return {s.data(), s.size()}; }

std::string short_hex(const Hash32& hash) { return hash.hex(); }

template <typename M>
Result<M> decode_stored(const std::string& bytes, const std::string& what) {
  auto message = proto::decode<M>(as_bytes(bytes), max_stored_message_bytes);
  if (!message.ok()) return corruption(what + " does not decode: " + message.status().message());
  return message;
}

}  // namespace

struct Store::Impl {
  StoreOptions options;
  std::filesystem::path path;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;
  rocksdb::WriteOptions write_options;
  rocksdb::ReadOptions read_options;
  StoreKind kind = StoreKind::chain;
  std::uint8_t memory_level = 6;  // lowest level of the in-memory node cache

  std::mutex writer;          // serializes apply_block/append_leaves
  bool needs_resume = false;  // guarded by writer: a failed write left RocksDB stopped

  // The published state. Written only by the writer, after its batch is on
  // disk, under the exclusive lock; readers take the shared lock.
  mutable std::shared_mutex state_mutex;
  Head head;
  Frontier frontier;
  std::vector<std::vector<Hash32>> upper;  // upper[level - memory_level][index]

  ~Impl() {
    if (db == nullptr) return;
    for (auto* handle : cfs) {
      if (handle != nullptr) (void)db->DestroyColumnFamilyHandle(handle);
    }
    (void)db->Close();
  }

  rocksdb::ColumnFamilyHandle* cf(Cf which) const { return cfs[which]; }

  Head published_head() const {
    std::shared_lock lock(state_mutex);
    return head;
  }

  // nullopt when the key is absent.
  Result<std::optional<std::string>> get(Cf which, const std::string& key, const std::string& what) const {
    std::string value;
    const rocksdb::Status status = db->Get(read_options, cf(which), key, &value);
    if (status.IsNotFound()) return std::optional<std::string>{};
    if (!status.ok()) return from_rocks(status, "reading " + what);
    return std::optional<std::string>{std::move(value)};
  }

  Result<std::string> get_required(Cf which, const std::string& key, const std::string& what) const {
    auto value = get(which, key, what);
    if (!value.ok()) return value.status();
    if (!value->has_value()) return corruption(what + " is missing");
    return std::move(**value);
  }

  // Hashes of complete subtrees: from memory for level >= memory_level, else
  // one MultiGet from log_leaves / log_nodes. Callers ask only for nodes inside
  // the published log, so a missing one means the store is damaged.
  Result<std::vector<Hash32>> read_nodes(std::span<const NodeId> ids) const {
    std::vector<Hash32> out(ids.size());
    std::vector<std::size_t> pending;
    {
      std::shared_lock lock(state_mutex);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const NodeId& id = ids[i];
        CL_CHECK(id.first_leaf() + id.leaf_count() <= head.log_size);
        if (id.level >= memory_level) {
          const auto& level = upper[id.level - memory_level];
          CL_CHECK(id.index < level.size());
          out[i] = level[id.index];
        } else {
          pending.push_back(i);
        }
      }
    }
    if (pending.empty()) return out;
    std::vector<std::string> keys(pending.size());
    std::vector<rocksdb::Slice> key_slices(pending.size());
    std::vector<rocksdb::ColumnFamilyHandle*> families(pending.size());
    for (std::size_t j = 0; j < pending.size(); ++j) {
      const NodeId& id = ids[pending[j]];
      keys[j] = id.level == 0 ? records::u64_key(id.index) : records::node_key(id);
      key_slices[j] = keys[j];
      families[j] = id.level == 0 ? cf(cf_leaves) : cf(cf_nodes);
    }
    std::vector<rocksdb::PinnableSlice> values(pending.size());
    std::vector<rocksdb::Status> statuses(pending.size());
    db->MultiGet(read_options, pending.size(), families.data(), key_slices.data(), values.data(),
                 statuses.data());
    for (std::size_t j = 0; j < pending.size(); ++j) {
      const NodeId& id = ids[pending[j]];
      if (statuses[j].IsNotFound()) return corruption(node_name(id) + " is missing from the store");
      CL_TRY(from_rocks(statuses[j], "reading " + node_name(id)));
      auto hash = records::decode_hash(view(values[j]));
      if (!hash)
        return corruption(node_name(id) + " is " + std::to_string(values[j].size()) + " bytes, not 32");
      out[pending[j]] = *hash;
    }
    return out;
  }

  // MTH(D[begin:end]) for each range, from stored complete subtrees.
  Result<std::vector<Hash32>> hash_ranges(std::span<const LeafRange> ranges) const {
    std::vector<NodeId> ids;
    std::vector<std::size_t> starts;
    starts.reserve(ranges.size() + 1);
    for (const LeafRange& range : ranges) {
      starts.push_back(ids.size());
      append_complete_subtrees(range, ids);
    }
    starts.push_back(ids.size());
    auto hashes = read_nodes(ids);
    if (!hashes.ok()) return hashes.status();
    std::vector<Hash32> out;
    out.reserve(ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      out.push_back(
          fold_subtrees(std::span<const Hash32>(*hashes).subspan(starts[i], starts[i + 1] - starts[i])));
    }
    return out;
  }

  struct StagedLog {
    Frontier after;
    std::vector<std::pair<NodeId, Hash32>> nodes;  // level >= 1, in creation order
  };

  // The log write path shared by apply_block and append_leaves: puts the
  // leaves and every subtree they complete into `batch`.
  StagedLog stage_leaves(std::span<const Hash32> leaves, rocksdb::WriteBatch& batch) const {
    StagedLog staged{frontier, {}};  // frontier is only changed by the writer, which is us
    staged.nodes.reserve(leaves.size() + 64);
    for (const Hash32& leaf : leaves) {
      const auto key = records::u64_key_bytes(staged.after.size());
      batch.Put(cf(cf_leaves), rocksdb::Slice(key.data(), key.size()), slice(leaf));
      staged.after.append(leaf,
                          [&](const NodeId& id, const Hash32& hash) { staged.nodes.emplace_back(id, hash); });
    }
    for (const auto& [id, hash] : staged.nodes) batch.Put(cf(cf_nodes), records::node_key(id), slice(hash));
    return staged;
  }

  // Writes the batch (one atomic, synced RocksDB write), then publishes.
  Status commit(rocksdb::WriteBatch& batch, const Head& new_head, StagedLog&& staged,
                const std::string& what) {
    batch.Put(cf(cf_meta), std::string(records::meta_head), records::head_value(new_head));
    if (needs_resume) {
      // Busy: RocksDB is recovering by itself (e.g. waiting for disk space);
      // the write below then fails or succeeds on its own merits.
      const rocksdb::Status resumed = db->Resume();
      if (!resumed.ok() && !resumed.IsBusy()) {
        return error(ErrorCode::io_error, "store cannot take writes since a failed write (resume: " +
                                              resumed.ToString() + "); nothing was applied");
      }
    }
    // RocksDB's per-thread perf counters (on by default) cost a thread-local
    // lookup per key inserted; nothing reads them here.
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    const rocksdb::Status status = db->Write(write_options, &batch);
    if (!status.ok()) {
      // RocksDB stops accepting writes after a failed write; Resume() flushes
      // what was written before and switches to a new WAL, so the failed batch
      // is never replayed and the store can take the next write. If it cannot
      // resume now (the disk is still full), the next write tries again.
      const rocksdb::Status resumed = db->Resume();
      needs_resume = !resumed.ok();
      std::string message = "writing " + what + " failed: " + status.ToString();
      message += resumed.ok() ? " (nothing was applied)"
                              : " (nothing was applied; resume: " + resumed.ToString() + ")";
      return error(status.IsCorruption() ? ErrorCode::corruption : ErrorCode::io_error, message);
    }
    needs_resume = false;
    std::unique_lock lock(state_mutex);
    for (const auto& [id, hash] : staged.nodes) {
      if (id.level < memory_level) continue;
      auto& level = upper[id.level - memory_level];
      CL_CHECK(level.size() == id.index);
      level.push_back(hash);
    }
    frontier = staged.after;
    head = new_head;
    return {};
  }

  Status open_checks();
  Status initialize_metadata();
  Status check_metadata(const std::vector<std::string>& missing_families);
  Status check_nothing_past_head();
  Status load_upper_levels();
  Status load_frontier();
  Status full_check();
  Status full_check_levels();
  Status full_check_leaves();
  Status full_check_blocks();
};

// ------------------------------------------------------------------ open

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& path, const StoreOptions& options) {
  if (options.memory_levels_from < 1 || options.memory_levels_from > max_node_level + 1) {
    return invalid("memory_levels_from must be 1.." + std::to_string(max_node_level + 1));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->path = path;
  impl->kind = options.bare_log ? StoreKind::bare_log : StoreKind::chain;
  impl->memory_level = static_cast<std::uint8_t>(options.memory_levels_from);
  impl->write_options.sync = options.sync_writes;
  impl->read_options.verify_checksums = true;

  rocksdb::DBOptions db_options;
  db_options.paranoid_checks = true;
  // A torn record at the end of the WAL is a write that never returned (a
  // crash mid-write): dropped. Damage anywhere else is refused, never skipped:
  // point-in-time recovery would silently drop blocks that were acknowledged.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Recovered writes stay in the WAL and the memtables instead of being
  // flushed to one new file per column family on every open.
  db_options.avoid_flush_during_recovery = true;
  // One writer at a time anyway; and insert hints (below) need it off.
  db_options.allow_concurrent_memtable_write = false;
  db_options.create_if_missing = options.create_if_missing;
  // Families missing from an initialized store are still refused (below);
  // this only lets a family added by a later version (checkpoints) appear.
  db_options.create_missing_column_families = true;
  if (options.env != nullptr) db_options.env = options.env;

  // Which of our column families exist already: one missing from an
  // initialized store is corruption (checked once the metadata is read).
  std::vector<std::string> missing_families;
  std::vector<std::string> existing;
  const rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(db_options, path.string(), &existing);
  if (listed.ok()) {
    for (const char* name : cf_names) {
      if (std::string_view(name) == records::cf_checkpoints) continue;  // added later: created on open
      if (std::find(existing.begin(), existing.end(), name) == existing.end())
        missing_families.push_back(name);
    }
  } else if (!options.create_if_missing) {
    return error(std::filesystem::exists(path) ? ErrorCode::io_error : ErrorCode::not_found,
                 "no ledger store at " + path.string() + ": " + listed.ToString());
  }

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.format_version = 5;
  // Point lookups (proof nodes) find their key in a data block by hash
  // instead of by binary search.
  table.data_block_index_type = rocksdb::BlockBasedTableOptions::kDataBlockBinaryAndHash;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (std::size_t i = 0; i < cf_count; ++i) {
    rocksdb::ColumnFamilyOptions cf_options;
    rocksdb::BlockBasedTableOptions cf_table = table;
    // Hash families are read by point lookups only: a short restart interval
    // means fewer keys scanned after the in-block hash index finds the run.
    if (i == cf_leaves || i == cf_nodes) cf_table.block_restart_interval = 4;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(cf_table));
    // Hashes do not compress; blocks and entries do.
    if (i == cf_leaves || i == cf_nodes || i == cf_content || i == cf_tx) {
      cf_options.compression = rocksdb::kNoCompression;
    }
    // Keys of these families arrive in ascending order (per level for the
    // nodes): the memtable keeps a hint per first key byte and inserts next to
    // the previous key instead of searching the skip list from the top.
    if (i == cf_blocks || i == cf_commits || i == cf_leaves || i == cf_entries || i == cf_nodes) {
      cf_options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
    }
    if (i == cf_content || i == cf_tx) {
      // Keys are random hashes, so each insert into the memtable's skip list
      // searches it from the top. apply_block puts a block's keys of these
      // families in sorted order, and with a hint per first key byte each
      // insert starts from the previous one's place in its range; a 16 MiB
      // memtable (instead of 64) keeps the searched list small enough to stay
      // in cache. Measured with BM_ApplyBlocksSustained (all threads' CPU,
      // flushes included): 6.2 us per entry, against 7.3 us with one plain
      // skip list and 9.0 us with the hash-skip-list memtable this family had
      // before, whose inserts were cheap but whose every flush had to sort
      // the whole memtable into a new skip list (docs/storage.md).
      cf_options.write_buffer_size = 16u << 20;
      cf_options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
    }
    if (i == cf_content) {
      // Lookups are by content hash (leaves_for_content), i.e. by prefix: the
      // table files carry prefix Bloom filters. Capped, not fixed: a key
      // shorter than 32 bytes (never written by this store) is its own prefix
      // instead of being read past its end.
      cf_options.prefix_extractor.reset(rocksdb::NewCappedPrefixTransform(32));
    }
    descriptors.emplace_back(cf_names[i], cf_options);
  }
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status opened = rocksdb::DB::Open(db_options, path.string(), descriptors, &impl->cfs, &raw);
  if (!opened.ok()) return from_rocks(opened, "opening ledger store " + path.string());
  impl->db.reset(raw);

  Status status = impl->check_metadata(missing_families);
  if (status.ok()) status = impl->open_checks();
  if (!status.ok()) return error(status.code(), "ledger store " + path.string() + ": " + status.message());
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Status Store::Impl::initialize_metadata() {
  // An empty store (fresh, or created by a run that died before this batch).
  // Total order: the content index is hashed by prefix, and a prefix
  // iterator's SeekToFirst would not see its memtable.
  rocksdb::ReadOptions scan = read_options;
  scan.total_order_seek = true;
  for (std::size_t i = 0; i < cf_count; ++i) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(scan, cfs[i]));
    it->SeekToFirst();
    CL_TRY(from_rocks(it->status(), std::string("scanning ") + cf_names[i]));
    if (it->Valid()) {
      return corruption("metadata is missing but column family '" + std::string(cf_names[i]) +
                        "' holds data");
    }
  }
  rocksdb::WriteBatch batch;
  batch.Put(cf(cf_meta), std::string(records::meta_schema_version),
            records::u32_value(records::schema_version));
  batch.Put(cf(cf_meta), std::string(records::meta_chain_id), options.chain_id);
  batch.Put(cf(cf_meta), std::string(records::meta_genesis_hash), slice(options.genesis_hash));
  batch.Put(cf(cf_meta), std::string(records::meta_kind), std::string(records::kind_value(kind)));
  Head empty;
  empty.log_root = crypto::merkle::empty_root();
  batch.Put(cf(cf_meta), std::string(records::meta_head), records::head_value(empty));
  rocksdb::WriteOptions sync_options;
  sync_options.sync = true;
  return from_rocks(db->Write(sync_options, &batch), "writing initial metadata");
}

Status Store::Impl::check_metadata(const std::vector<std::string>& missing_families) {
  auto version = get(cf_meta, std::string(records::meta_schema_version), "metadata 'schema_version'");
  if (!version.ok()) return version.status();
  if (!version->has_value()) {
    if (!options.create_if_missing) return corruption("metadata 'schema_version' is missing");
    CL_TRY(initialize_metadata());
    version = get(cf_meta, std::string(records::meta_schema_version), "metadata 'schema_version'");
    if (!version.ok()) return version.status();
  } else if (!missing_families.empty()) {
    return corruption("column family '" + missing_families.front() + "' is missing");
  }
  const auto schema = records::decode_u32_value(**version);
  if (!schema) return corruption("metadata 'schema_version' is malformed");
  if (*schema != records::schema_version) {
    return invalid("store has schema version " + std::to_string(*schema) + "; this build reads version " +
                   std::to_string(records::schema_version));
  }

  auto chain_id = get_required(cf_meta, std::string(records::meta_chain_id), "metadata 'chain_id'");
  if (!chain_id.ok()) return chain_id.status();
  if (*chain_id != options.chain_id) {
    return invalid("store belongs to chain '" + *chain_id + "', not '" + options.chain_id + "'");
  }
  auto genesis_bytes =
      get_required(cf_meta, std::string(records::meta_genesis_hash), "metadata 'genesis_hash'");
  if (!genesis_bytes.ok()) return genesis_bytes.status();
  const auto genesis = records::decode_hash(*genesis_bytes);
  if (!genesis) return corruption("metadata 'genesis_hash' is not 32 bytes");
  if (*genesis != options.genesis_hash) {
    return invalid("store was created for genesis " + genesis->hex() + ", not " + options.genesis_hash.hex());
  }
  auto kind_bytes = get_required(cf_meta, std::string(records::meta_kind), "metadata 'kind'");
  if (!kind_bytes.ok()) return kind_bytes.status();
  const auto stored_kind = records::decode_kind(*kind_bytes);
  if (!stored_kind) return corruption("metadata 'kind' is malformed");
  if (*stored_kind != kind) {
    return invalid(std::string("store is a ") +
                   (*stored_kind == StoreKind::chain ? "chain store" : "bare log") + ", opened as a " +
                   (kind == StoreKind::chain ? "chain store" : "bare log"));
  }
  auto head_bytes = get_required(cf_meta, std::string(records::meta_head), "metadata 'head'");
  if (!head_bytes.ok()) return head_bytes.status();
  const auto stored_head = records::decode_head(*head_bytes);
  if (!stored_head) {
    return corruption("metadata 'head' is malformed (" + std::to_string(head_bytes->size()) + " bytes)");
  }
  head = *stored_head;
  return {};
}

Status Store::Impl::open_checks() {
  if (kind == StoreKind::bare_log && head.height != 0) return corruption("bare log has a block height");
  if (head.height == 0 && kind == StoreKind::chain) {
    if (head.log_size != 0)
      return corruption("metadata 'head' has no block but a log of " + std::to_string(head.log_size));
  }
  if (head.height > 0) {
    const std::string at = "block " + std::to_string(head.height);
    auto bytes =
        get_required(cf_blocks, records::u64_key(head.height), at + " (the last height in metadata)");
    if (!bytes.ok()) return bytes.status();
    auto block = decode_stored<pb::Block>(*bytes, at);
    if (!block.ok()) return block.status();
    const pb::BlockHeader& header = block->header();
    if (header.height() != head.height) {
      return corruption(at + " has height " + std::to_string(header.height()) + " in its header");
    }
    if (proto::block_hash(header) != head.block_hash) {
      return corruption(at + ": its hash differs from the one in metadata 'head'");
    }
    if (header.log_size() != head.log_size) {
      return corruption(at + ": header log_size " + std::to_string(header.log_size()) +
                        " differs from metadata log size " + std::to_string(head.log_size));
    }
    if (header.log_root() != head.log_root.to_string()) {
      return corruption(at + ": header log_root differs from the one in metadata 'head'");
    }
    auto commit_bytes = get_required(cf_commits, records::u64_key(head.height), "commit of " + at);
    if (!commit_bytes.ok()) return commit_bytes.status();
    auto commit = decode_stored<pb::CommitCertificate>(*commit_bytes, "commit of " + at);
    if (!commit.ok()) return commit.status();
    if (commit->height() != head.height || commit->block_id() != head.block_hash.to_string()) {
      return corruption("commit of " + at + " does not name that block");
    }
  }
  CL_TRY(check_nothing_past_head());
  CL_TRY(load_upper_levels());
  CL_TRY(load_frontier());
  if (options.full_check_on_open) CL_TRY(full_check());
  return {};
}

Status Store::Impl::check_nothing_past_head() {
  // The last key of each height- or index-keyed family must be the head's.
  const auto check_last = [&](Cf which, std::uint64_t count, const std::string& what) -> Status {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, cf(which)));
    it->SeekToLast();
    CL_TRY(from_rocks(it->status(), "scanning " + what));
    if (!it->Valid()) {
      if (count == 0) return {};
      return corruption(what + " " + std::to_string(count) + " is missing (the store holds none)");
    }
    const auto last = records::decode_u64_key(view(it->key()));
    if (!last) return corruption(what + ": malformed key");
    if (count == 0 || *last != count) {
      return corruption(what + " " + std::to_string(*last) +
                        " is the last stored, but metadata says the last is " + std::to_string(count));
    }
    return {};
  };
  CL_TRY(check_last(cf_blocks, head.height, "block"));
  CL_TRY(check_last(cf_commits, head.height, "commit"));
  // Leaves and entries are numbered from 0: the last is log_size - 1. Shift by one.
  const auto check_last_index = [&](Cf which, std::uint64_t size, const std::string& what) -> Status {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, cf(which)));
    it->SeekToLast();
    CL_TRY(from_rocks(it->status(), "scanning " + what));
    if (!it->Valid()) {
      if (size == 0) return {};
      return corruption(what + " " + std::to_string(size - 1) + " is missing (log size " +
                        std::to_string(size) + ", none stored)");
    }
    const auto last = records::decode_u64_key(view(it->key()));
    if (!last) return corruption(what + ": malformed key");
    if (size == 0 || *last != size - 1) {
      return corruption(what + " " + std::to_string(*last) + " is the last stored, but the log size is " +
                        std::to_string(size));
    }
    return {};
  };
  CL_TRY(check_last_index(cf_leaves, head.log_size, "leaf hash"));
  CL_TRY(check_last_index(cf_entries, kind == StoreKind::chain ? head.log_size : 0, "log entry"));
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, cf(cf_nodes)));
  for (std::uint8_t level = 1; level <= max_node_level; ++level) {
    it->Seek(records::node_key(NodeId{level, head.log_size >> level}));
    CL_TRY(from_rocks(it->status(), "scanning log_nodes"));
    if (!it->Valid()) break;
    const auto id = records::decode_node_key(view(it->key()));
    if (!id) return corruption("log_nodes holds a malformed key");
    if (id->level == level) {
      return corruption(node_name(*id) + " lies past the log size " + std::to_string(head.log_size));
    }
  }
  return {};
}

Status Store::Impl::load_upper_levels() {
  upper.assign(static_cast<std::size_t>(max_node_level - memory_level + 1), {});
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, cf(cf_nodes)));
  for (std::uint8_t level = memory_level; level <= max_node_level; ++level) {
    const std::uint64_t count = head.log_size >> level;
    if (count == 0) break;
    auto& hashes = upper[level - memory_level];
    hashes.reserve(count);
    it->Seek(records::node_key(NodeId{level, 0}));
    for (std::uint64_t index = 0; index < count; ++index, it->Next()) {
      const NodeId id{level, index};
      CL_TRY(from_rocks(it->status(), "reading " + node_name(id)));
      if (!it->Valid() || view(it->key()) != records::node_key(id)) {
        return corruption(node_name(id) + " is missing (log size " + std::to_string(head.log_size) + ")");
      }
      auto hash = records::decode_hash(view(it->value()));
      if (!hash) return corruption(node_name(id) + " is not 32 bytes");
      // Levels above the lowest cached one are checked against their children.
      if (level > memory_level) {
        const auto& below = upper[level - memory_level - 1];
        if (crypto::merkle::node_hash(below[2 * index], below[2 * index + 1]) != *hash) {
          return corruption(node_name(id) + " differs from the hash of its children " + children_names(id) +
                            ": one of the three is damaged");
        }
      }
      hashes.push_back(*hash);
    }
  }
  return {};
}

Status Store::Impl::load_frontier() {
  std::vector<NodeId> ids;
  append_complete_subtrees({0, head.log_size}, ids);
  auto hashes = read_nodes(ids);
  if (!hashes.ok()) return hashes.status();
  frontier = Frontier::from_subtrees(head.log_size, *hashes);
  const Hash32 root = frontier.root();
  if (root != head.log_root) {
    const std::string where = head.height > 0 ? "block " + std::to_string(head.height) + "'s header log_root"
                                              : "the head record's log root";
    return corruption("log root recomputed from stored subtree nodes at size " +
                      std::to_string(head.log_size) + " is " + short_hex(root) + ", but " + where + " is " +
                      short_hex(head.log_root));
  }
  return {};
}

// ------------------------------------------------------------ full check

Status Store::Impl::full_check() {
  CL_TRY(from_rocks(db->VerifyChecksum(), "verifying block checksums"));
  CL_TRY(full_check_leaves());
  CL_TRY(full_check_levels());
  if (kind == StoreKind::chain) CL_TRY(full_check_blocks());
  return {};
}

// Every leaf hash is the hash of its entry, and the entry is indexed by content.
Status Store::Impl::full_check_leaves() {
  if (kind != StoreKind::chain) return {};
  std::unique_ptr<rocksdb::Iterator> leaves(db->NewIterator(read_options, cf(cf_leaves)));
  std::unique_ptr<rocksdb::Iterator> entries(db->NewIterator(read_options, cf(cf_entries)));
  leaves->SeekToFirst();
  entries->SeekToFirst();
  for (std::uint64_t index = 0; index < head.log_size; ++index, leaves->Next(), entries->Next()) {
    const std::string key = records::u64_key(index);
    CL_TRY(from_rocks(leaves->status(), "reading leaf hashes"));
    CL_TRY(from_rocks(entries->status(), "reading log entries"));
    if (!leaves->Valid() || view(leaves->key()) != key)
      return corruption(node_name({0, index}) + " is missing");
    if (!entries->Valid() || view(entries->key()) != key) {
      return corruption("log entry " + std::to_string(index) + " is missing");
    }
    const std::string entry_bytes = entries->value().ToString();
    if (crypto::merkle::leaf_hash(as_bytes(entry_bytes)) != records::decode_hash(view(leaves->value()))) {
      return corruption(node_name({0, index}) + " is not the hash of log entry " + std::to_string(index));
    }
    auto entry = decode_stored<pb::LogEntry>(entry_bytes, "log entry " + std::to_string(index));
    if (!entry.ok()) return entry.status();
    auto content = proto::hash_field(entry->entry().content_hash(), "content_hash");
    if (!content.ok())
      return corruption("log entry " + std::to_string(index) + ": " + content.status().message());
    auto indexed = get(cf_content, records::content_key(*content, index), "content index");
    if (!indexed.ok()) return indexed.status();
    if (!indexed->has_value()) {
      return corruption("content index lacks log entry " + std::to_string(index) + " (" + content->hex() +
                        ")");
    }
  }
  return {};
}

// Every stored subtree node is the hash of its two children.
Status Store::Impl::full_check_levels() {
  for (std::uint8_t level = 1; level <= max_node_level; ++level) {
    const std::uint64_t count = head.log_size >> level;
    if (count == 0) break;
    std::unique_ptr<rocksdb::Iterator> children(
        db->NewIterator(read_options, cf(level == 1 ? cf_leaves : cf_nodes)));
    std::unique_ptr<rocksdb::Iterator> parents(db->NewIterator(read_options, cf(cf_nodes)));
    const auto child_key = [&](std::uint64_t index) {
      return level == 1 ? records::u64_key(index)
                        : records::node_key(NodeId{static_cast<std::uint8_t>(level - 1), index});
    };
    children->Seek(child_key(0));
    parents->Seek(records::node_key(NodeId{level, 0}));
    for (std::uint64_t index = 0; index < count; ++index) {
      std::array<Hash32, 2> pair;
      for (std::uint64_t side = 0; side < 2; ++side, children->Next()) {
        const NodeId child{static_cast<std::uint8_t>(level - 1), 2 * index + side};
        CL_TRY(from_rocks(children->status(), "reading " + node_name(child)));
        if (!children->Valid() || view(children->key()) != child_key(child.index)) {
          return corruption(node_name(child) + " is missing");
        }
        auto hash = records::decode_hash(view(children->value()));
        if (!hash) return corruption(node_name(child) + " is not 32 bytes");
        pair[side] = *hash;
      }
      const NodeId id{level, index};
      CL_TRY(from_rocks(parents->status(), "reading " + node_name(id)));
      if (!parents->Valid() || view(parents->key()) != records::node_key(id)) {
        return corruption(node_name(id) + " is missing");
      }
      if (records::decode_hash(view(parents->value())) != crypto::merkle::node_hash(pair[0], pair[1])) {
        return corruption(node_name(id) + " differs from the hash of its children " + children_names(id) +
                          ": one of the three is damaged");
      }
      parents->Next();
    }
  }
  return {};
}

// Every block links to the previous one, its commit names it, its log root is
// the stored log's root at its log size, and its transactions are indexed.
Status Store::Impl::full_check_blocks() {
  Hash32 previous = options.genesis_hash;
  std::uint64_t previous_log_size = 0;
  for (std::uint64_t height = 1; height <= head.height; ++height) {
    const std::string at = "block " + std::to_string(height);
    auto bytes = get_required(cf_blocks, records::u64_key(height), at);
    if (!bytes.ok()) return bytes.status();
    auto block = decode_stored<pb::Block>(*bytes, at);
    if (!block.ok()) return block.status();
    const pb::BlockHeader& header = block->header();
    const Hash32 hash = proto::block_hash(header);
    if (header.height() != height || header.previous_block_hash() != previous.to_string()) {
      return corruption(at + " does not link to block " + std::to_string(height - 1));
    }
    auto commit_bytes = get_required(cf_commits, records::u64_key(height), "commit of " + at);
    if (!commit_bytes.ok()) return commit_bytes.status();
    auto commit = decode_stored<pb::CommitCertificate>(*commit_bytes, "commit of " + at);
    if (!commit.ok()) return commit.status();
    if (commit->height() != height || commit->block_id() != hash.to_string()) {
      return corruption("commit of " + at + " does not name that block");
    }
    if (header.log_size() < previous_log_size || header.log_size() > head.log_size) {
      return corruption(at + ": header log_size " + std::to_string(header.log_size()) + " is out of order");
    }
    std::vector<LeafRange> whole{{0, header.log_size()}};
    Hash32 root = crypto::merkle::empty_root();
    if (header.log_size() > 0) {
      auto roots = hash_ranges(whole);
      if (!roots.ok()) return roots.status();
      root = roots->front();
    }
    if (header.log_root() != root.to_string()) {
      return corruption(at + ": the stored log's root at size " + std::to_string(header.log_size()) +
                        " differs from the header's log_root");
    }
    for (int position = 0; position < block->txs_size(); ++position) {
      const Hash32 tx = proto::tx_hash(block->txs(position));
      auto location = get(cf_tx, tx.to_string(), "tx index");
      if (!location.ok()) return location.status();
      const auto decoded = location->has_value() ? records::decode_tx_location(**location) : std::nullopt;
      if (!decoded || *decoded != TxLocation{height, static_cast<std::uint32_t>(position)}) {
        return corruption("tx index entry of transaction " + std::to_string(position) + " of " + at +
                          " is missing or wrong");
      }
    }
    previous = hash;
    previous_log_size = header.log_size();
  }
  return {};
}

// ------------------------------------------------------------------ Store

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

LogHead Store::log_head_after(std::span<const Hash32> new_leaf_hashes) const {
  Frontier frontier;
  {
    std::shared_lock lock(impl_->state_mutex);
    frontier = impl_->frontier;
  }
  for (const Hash32& leaf : new_leaf_hashes) frontier.append(leaf);
  return {frontier.size(), frontier.root()};
}

Status Store::apply_block(const pb::Block& block, const pb::CommitCertificate& commit) {
  Impl& s = *impl_;
  if (s.kind != StoreKind::chain) return invalid("a bare log store takes no blocks");
  std::lock_guard writer(s.writer);
  const Head head = s.published_head();
  const pb::BlockHeader& header = block.header();
  const std::uint64_t height = head.height + 1;
  const std::string at = "block " + std::to_string(header.height());

  if (header.height() != height) {
    return invalid(at + ": expected height " + std::to_string(height) + " (last height " +
                   std::to_string(head.height) + ")");
  }
  if (header.chain_id() != s.options.chain_id) {
    return invalid(at + ": chain id '" + header.chain_id() + "', expected '" + s.options.chain_id + "'");
  }
  const Hash32& previous = height == 1 ? s.options.genesis_hash : head.block_hash;
  if (header.previous_block_hash() != previous.to_string()) {
    return invalid(at + ": previous_block_hash is not the hash of " +
                   (height == 1 ? std::string("the genesis") : "block " + std::to_string(head.height)));
  }
  if (header.tx_count() != static_cast<std::uint32_t>(block.txs_size())) {
    return invalid(at + ": tx_count " + std::to_string(header.tx_count()) + " but the block holds " +
                   std::to_string(block.txs_size()));
  }
  if (header.txs_root() != proto::txs_root(block.txs()).to_string()) {
    return invalid(at + ": txs_root does not match its transactions");
  }
  const Hash32 hash = proto::block_hash(header);
  if (commit.height() != height || commit.block_id() != hash.to_string()) {
    return invalid(at + ": the commit certificate is for another block");
  }
  // The block's leaves, straight into the batch: each entry is encoded once
  // into one reused buffer behind a 0x00 byte, so the buffer is the RFC 9162
  // leaf-hash input SHA-256(0x00 || entry) and, past that byte, the stored
  // entry. The batch is reserved for the block's size (the entries are about
  // as large as the block again) so it is not copied as it grows.
  const std::string block_bytes = proto::encode(block);
  const std::uint64_t expected_leaves =
      header.log_size() > head.log_size
          ? std::min<std::uint64_t>(header.log_size() - head.log_size, block_bytes.size() / 32)
          : 0;
  rocksdb::WriteBatch batch(2 * block_bytes.size() + 160 * expected_leaves + 4096);
  std::vector<Hash32> leaves;
  leaves.reserve(expected_leaves);
  std::uint64_t index = head.log_size;
  std::string buffer(1, '\0');
  std::vector<std::array<char, 40>> content_keys;
  content_keys.reserve(expected_leaves);
  const Status derived = for_each_log_entry(block, [&](const pb::LogEntry& entry) -> Status {
    buffer.resize(1);
    proto::encode_append(entry, buffer);
    leaves.push_back(crypto::sha256(as_bytes(buffer)));
    const auto key = records::u64_key_bytes(index);
    batch.Put(s.cf(cf_entries), rocksdb::Slice(key.data(), key.size()),
              rocksdb::Slice(buffer.data() + 1, buffer.size() - 1));
    content_keys.push_back(
        records::content_key_bytes(Hash32::from_span(as_bytes(entry.entry().content_hash())), index));
    ++index;
    return {};
  });
  if (!derived.ok()) return invalid(at + ": " + derived.message());
  // Sorted: see the content family's options in open().
  std::sort(content_keys.begin(), content_keys.end());
  for (const auto& content : content_keys) {
    batch.Put(s.cf(cf_content), rocksdb::Slice(content.data(), content.size()), rocksdb::Slice());
  }

  // Transactions: never stored twice (the tx index is never overwritten).
  // Looked up in key order, in one MultiGet (random keys, as for the content
  // index); a refusal names the first offending transaction in block order.
  std::vector<std::string> tx_keys;
  tx_keys.reserve(static_cast<std::size_t>(block.txs_size()));
  for (const auto& tx : block.txs()) tx_keys.push_back(proto::tx_hash(tx).to_string());
  std::vector<std::uint32_t> tx_order(tx_keys.size());
  for (std::uint32_t i = 0; i < tx_order.size(); ++i) tx_order[i] = i;
  std::sort(tx_order.begin(), tx_order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return tx_keys[a] != tx_keys[b] ? tx_keys[a] < tx_keys[b] : a < b;
  });
  {
    std::optional<std::uint32_t> repeated;  // the first second occurrence, in block order
    for (std::size_t k = 1; k < tx_order.size(); ++k) {
      if (tx_keys[tx_order[k]] == tx_keys[tx_order[k - 1]] && (!repeated || tx_order[k] < *repeated))
        repeated = tx_order[k];
    }
    if (repeated) return invalid(at + ": transaction " + std::to_string(*repeated) + " appears twice");
    std::vector<rocksdb::Slice> keys;
    keys.reserve(tx_order.size());
    for (const std::uint32_t i : tx_order) keys.emplace_back(tx_keys[i]);
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    s.db->MultiGet(s.read_options, s.cf(cf_tx), keys.size(), keys.data(), values.data(), statuses.data(),
                   /*sorted_input=*/true);
    std::optional<std::size_t> stored;  // position in tx_order of the first stored one, in block order
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (statuses[k].IsNotFound()) continue;
      CL_TRY(from_rocks(statuses[k], "reading tx index"));
      if (!stored || tx_order[k] < tx_order[*stored]) stored = k;
    }
    if (stored) {
      const auto location = records::decode_tx_location(view(values[*stored]));
      return invalid(at + ": transaction " + std::to_string(tx_order[*stored]) +
                     " is already stored at height " +
                     (location ? std::to_string(location->height) : std::string("?")));
    }
  }

  Impl::StagedLog staged = s.stage_leaves(leaves, batch);
  if (header.log_size() != staged.after.size()) {
    return invalid(at + ": header log_size " + std::to_string(header.log_size()) + " but appending its " +
                   std::to_string(leaves.size()) + " entries gives " + std::to_string(staged.after.size()));
  }
  const Hash32 log_root = staged.after.root();
  if (header.log_root() != log_root.to_string()) {
    return invalid(at + ": header log_root is not the log's root after appending its entries");
  }
  // In key order, as the content keys (the values keep each one's place in the block).
  for (const std::uint32_t i : tx_order) {
    batch.Put(s.cf(cf_tx), tx_keys[i], records::tx_location_value({height, i}));
  }
  batch.Put(s.cf(cf_blocks), records::u64_key(height), block_bytes);
  batch.Put(s.cf(cf_commits), records::u64_key(height), proto::encode(commit));
  const Head new_head{height, staged.after.size(), log_root, hash};
  return s.commit(batch, new_head, std::move(staged), at);
}

Status Store::append_leaves(std::span<const Hash32> leaf_hashes) {
  Impl& s = *impl_;
  if (s.kind != StoreKind::bare_log)
    return invalid("append_leaves is for bare log stores; apply blocks instead");
  std::lock_guard writer(s.writer);
  rocksdb::WriteBatch batch;
  Impl::StagedLog staged = s.stage_leaves(leaf_hashes, batch);
  const Head new_head{0, staged.after.size(), staged.after.root(), Hash32{}};
  return s.commit(batch, new_head, std::move(staged), std::to_string(leaf_hashes.size()) + " leaves");
}

ChainHead Store::head() const {
  const Head head = impl_->published_head();
  return {head.height, head.block_hash, {head.log_size, head.log_root}};
}

std::uint64_t Store::last_height() const { return impl_->published_head().height; }
std::uint64_t Store::log_size() const { return impl_->published_head().log_size; }

std::uint64_t Store::disk_usage_bytes() const {
  std::uint64_t total = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(impl_->path, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto size = it->file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

Result<pb::Block> Store::get_block(std::uint64_t height) const {
  const std::uint64_t last = last_height();
  if (height == 0 || height > last) {
    return error(ErrorCode::not_found, "no block at height " + std::to_string(height) + " (last height " +
                                           std::to_string(last) + ")");
  }
  const std::string at = "block " + std::to_string(height);
  auto bytes = impl_->get_required(cf_blocks, records::u64_key(height), at);
  if (!bytes.ok()) return bytes.status();
  return decode_stored<pb::Block>(*bytes, at);
}

Result<pb::CommitCertificate> Store::get_commit(std::uint64_t height) const {
  const std::uint64_t last = last_height();
  if (height == 0 || height > last) {
    return error(ErrorCode::not_found, "no commit at height " + std::to_string(height) + " (last height " +
                                           std::to_string(last) + ")");
  }
  const std::string at = "commit of block " + std::to_string(height);
  auto bytes = impl_->get_required(cf_commits, records::u64_key(height), at);
  if (!bytes.ok()) return bytes.status();
  return decode_stored<pb::CommitCertificate>(*bytes, at);
}

namespace {
std::string checkpoint_key(char kind, std::uint64_t value) { return kind + records::u64_key(value); }
}  // namespace

Status Store::put_checkpoint(std::uint64_t height, const pb::Checkpoint& checkpoint,
                             std::uint64_t tree_size) {
  if (height == 0 || height > last_height()) {
    return error(ErrorCode::invalid_argument,
                 "checkpoint for height " + std::to_string(height) + ", which is not stored here");
  }
  rocksdb::WriteBatch batch;
  const std::string value = proto::encode(checkpoint);
  batch.Put(impl_->cf(cf_checkpoints), checkpoint_key('h', height), value);
  // The size index names the newest height of that size (empty blocks repeat sizes).
  auto indexed = impl_->get(cf_checkpoints, checkpoint_key('s', tree_size), "checkpoint index");
  if (!indexed.ok()) return indexed.status();
  const auto previous = indexed->has_value() ? records::decode_u64_key(**indexed) : std::nullopt;
  if (!previous || *previous <= height) {
    batch.Put(impl_->cf(cf_checkpoints), checkpoint_key('s', tree_size), records::u64_key(height));
  }
  // Not synced: signatures can be gathered again from peers; the WAL still
  // keeps them across a process crash.
  return from_rocks(impl_->db->Write(rocksdb::WriteOptions(), &batch),
                    "storing checkpoint " + std::to_string(height));
}

Result<pb::Checkpoint> Store::checkpoint_at_height(std::uint64_t height) const {
  const std::string at = "checkpoint of block " + std::to_string(height);
  auto bytes = impl_->get(cf_checkpoints, checkpoint_key('h', height), at);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value())
    return error(ErrorCode::not_found, "no final checkpoint stored for height " + std::to_string(height));
  return decode_stored<pb::Checkpoint>(**bytes, at);
}

Result<pb::Checkpoint> Store::checkpoint_at_size(std::uint64_t tree_size) const {
  const std::string at = "checkpoint index of size " + std::to_string(tree_size);
  auto height = impl_->get(cf_checkpoints, checkpoint_key('s', tree_size), at);
  if (!height.ok()) return height.status();
  if (!height->has_value()) {
    return error(ErrorCode::not_found,
                 "no final checkpoint stored for tree size " + std::to_string(tree_size));
  }
  auto h = records::decode_u64_key(**height);
  if (!h) return error(ErrorCode::corruption, at + " does not decode");
  return checkpoint_at_height(*h);
}

Result<pb::Checkpoint> Store::latest_checkpoint() const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(impl_->read_options, impl_->cf(cf_checkpoints)));
  it->SeekForPrev(checkpoint_key('h', std::numeric_limits<std::uint64_t>::max()));
  if (!it->status().ok()) return from_rocks(it->status(), "reading checkpoints");
  if (!it->Valid() || it->key().size() != 9 || it->key()[0] != 'h') {
    return error(ErrorCode::not_found, "no final checkpoint stored");
  }
  return decode_stored<pb::Checkpoint>(it->value().ToString(), "newest stored checkpoint");
}

namespace {
Status beyond_log(const std::string& what, std::uint64_t value, std::uint64_t size) {
  return error(ErrorCode::not_found,
               what + " " + std::to_string(value) + " is beyond the log size " + std::to_string(size));
}
}  // namespace

Result<Hash32> Store::root_at(std::uint64_t tree_size) const {
  {
    std::shared_lock lock(impl_->state_mutex);
    if (tree_size > impl_->head.log_size) return beyond_log("tree size", tree_size, impl_->head.log_size);
    if (tree_size == impl_->head.log_size) return impl_->head.log_root;
  }
  if (tree_size == 0) return crypto::merkle::empty_root();
  const std::array<LeafRange, 1> whole{LeafRange{0, tree_size}};
  auto roots = impl_->hash_ranges(whole);
  if (!roots.ok()) return roots.status();
  return roots->front();
}

Result<Hash32> Store::leaf_hash(std::uint64_t index) const {
  const std::uint64_t size = log_size();
  if (index >= size) return beyond_log("leaf index", index, size);
  const std::array<NodeId, 1> leaf{NodeId{0, index}};
  auto hashes = impl_->read_nodes(leaf);
  if (!hashes.ok()) return hashes.status();
  return hashes->front();
}

Result<pb::LogEntry> Store::log_entry(std::uint64_t index) const {
  const std::uint64_t size = log_size();
  if (index >= size) return beyond_log("leaf index", index, size);
  const std::string what = "log entry " + std::to_string(index);
  auto bytes = impl_->get_required(cf_entries, records::u64_key(index), what);
  if (!bytes.ok()) return bytes.status();
  return decode_stored<pb::LogEntry>(*bytes, what);
}

Result<std::vector<Hash32>> Store::inclusion_proof(std::uint64_t index, std::uint64_t tree_size) const {
  if (index >= tree_size) {
    return invalid("leaf index " + std::to_string(index) + " is not below tree size " +
                   std::to_string(tree_size));
  }
  const std::uint64_t size = log_size();
  if (tree_size > size) return beyond_log("tree size", tree_size, size);
  const std::vector<LeafRange> ranges = inclusion_ranges(index, tree_size);
  return impl_->hash_ranges(ranges);
}

Result<std::vector<Hash32>> Store::consistency_proof(std::uint64_t first, std::uint64_t second) const {
  if (first == 0 || first > second) {
    return invalid("consistency proof needs 0 < first <= second, got " + std::to_string(first) + " and " +
                   std::to_string(second));
  }
  const std::uint64_t size = log_size();
  if (second > size) return beyond_log("tree size", second, size);
  const std::vector<LeafRange> ranges = consistency_ranges(first, second);
  return impl_->hash_ranges(ranges);
}

Result<std::vector<std::uint64_t>> Store::leaves_for_content(const Hash32& content_hash,
                                                             std::size_t max_results) const {
  const std::uint64_t size = log_size();
  std::vector<std::uint64_t> out;
  const std::string prefix = content_hash.to_string();
  // The family is hashed by the 32-byte content hash (a prefix): the
  // iterator stays within this hash's keys.
  rocksdb::ReadOptions read_options = impl_->read_options;
  read_options.prefix_same_as_start = true;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read_options, impl_->cf(cf_content)));
  for (it->Seek(prefix); it->Valid() && out.size() < max_results; it->Next()) {
    const auto key = records::decode_content_key(view(it->key()));
    if (!key) return corruption("content index holds a malformed key");
    if (key->content_hash != content_hash) break;
    // Entries of a block whose write is not yet published are not visible.
    if (key->leaf_index >= size) break;
    out.push_back(key->leaf_index);
  }
  CL_TRY(from_rocks(it->status(), "reading the content index"));
  return out;
}

Result<TxLocation> Store::find_tx(const Hash32& tx_hash) const {
  const std::uint64_t last = last_height();
  auto value = impl_->get(cf_tx, tx_hash.to_string(), "tx index");
  if (!value.ok()) return value.status();
  if (!value->has_value())
    return error(ErrorCode::not_found, "transaction " + tx_hash.hex() + " is not stored");
  const auto location = records::decode_tx_location(**value);
  if (!location) return corruption("tx index record of " + tx_hash.hex() + " is malformed");
  if (location->height > last)
    return error(ErrorCode::not_found, "transaction " + tx_hash.hex() + " is not stored");
  return *location;
}

}  // namespace cityledger::ledger
