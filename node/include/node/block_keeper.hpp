// The blocks this validator built or declared valid at heights it has not
// committed yet, kept on disk beside the double-sign guard.
//
// Why: the sign state keeps the id of the block a validator is locked on, not
// the block. If every validator holding a locked block crashes, the lock
// survives and the block does not, and the height can stall. Kept blocks are
// handed back to the consensus core on restart (consensus::Config::
// restored_blocks), which then takes them as valid and can re-propose them.
//
// Slots: record files `slot-<n>.blk` (node/record_file.hpp), each holding one
// block's canonical bytes with its height as the record's sequence, written
// before the core is told "built" or "valid". A slot whose block is at a
// committed height is free and is rewritten in place by the next block (one
// pwrite and one fdatasync; no new file, rename or directory fsync per block);
// a new slot file is made only when every slot holds a block of a height not
// yet committed (several rounds' proposals at one height), at most
// slots_max of them. A slot that fails its checksum (a rewrite cut short by a
// crash) or does not decode to a block of its height is reported and
// ignored: a kept block is an aid to liveness, never trusted blindly.
//
// Files of the earlier layout, "<height>-<block hash hex>.block", are still
// read and are removed once their height is committed.
//
// Not thread-safe: the node's consensus strand only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "cityledger.pb.h"
#include "common/bytes.hpp"
#include "common/result.hpp"
#include "node/record_file.hpp"

namespace cityledger::node {

class BlockKeeper {
 public:
  static constexpr std::size_t slots_max = 64;

  explicit BlockKeeper(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the directory if needed and reads which block each slot holds.
  Status open();
  // Stores `block` durably (a no-op when this block is already kept).
  Status keep(const pb::Block& block);
  // The kept blocks of `height`; damaged slots are skipped and named in the log.
  std::vector<pb::Block> load(std::uint64_t height) const;
  // Frees every slot holding a block at or below `height` (files of the
  // earlier layout at or below it are removed, best effort).
  void prune_through(std::uint64_t height);

  const std::filesystem::path& dir() const { return dir_; }
  std::size_t slot_count() const { return slots_.size(); }

 private:
  struct Slot {
    RecordFile file;
    std::optional<std::uint64_t> height;  // nullopt: free
    Hash32 block_hash;
  };
  std::filesystem::path slot_path(std::size_t index) const;

  std::filesystem::path dir_;
  std::vector<Slot> slots_;
  std::uint64_t pruned_through_ = 0;
  bool legacy_files_ = false;  // files of the earlier layout may remain
};

}  // namespace cityledger::node
