// The blocks this validator built or declared valid at heights it has not
// committed yet, kept on disk beside the double-sign guard.
//
// Why: the sign state keeps the id of the block a validator is locked on, not
// the block. If every validator holding a locked block crashes, the lock
// survives and the block does not, and the height can stall. Kept blocks are
// handed back to the consensus core on restart (consensus::Config::
// restored_blocks), which then takes them as valid and can re-propose them.
//
// One file per block, "<height>-<block hash hex>.block", the canonical
// pb::Block bytes, written durably (temp file, fsync, rename, directory fsync)
// before the core is told "built" or "valid". On load a file whose bytes do
// not hash to its name is reported and ignored: a kept block is an aid to
// liveness, never trusted blindly. Files at committed heights are removed.
//
// Not thread-safe: the node's consensus strand only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "cityledger.pb.h"
#include "common/result.hpp"

namespace cityledger::node {

class BlockKeeper {
 public:
  explicit BlockKeeper(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the directory if needed.
  Status open();
  // Stores `block` durably (a no-op when this block is already kept).
  Status keep(const pb::Block& block);
  // The kept blocks of `height`; damaged files are skipped and named in the log.
  std::vector<pb::Block> load(std::uint64_t height) const;
  // Removes every kept block at or below `height` (best effort).
  void prune_through(std::uint64_t height);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace cityledger::node
