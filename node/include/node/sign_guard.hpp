// The double-sign guard's storage: the last SignState the consensus core asked
// to persist (its last signed proposal or vote, and its lock). Written durably
// before the signed message leaves the process; read once at start.
//
// Two record files, `<path>.a` and `<path>.b` (node/record_file.hpp), each
// holding a sequence number and a canonical pb::SignState (an empty payload:
// nothing signed yet). A save rewrites, in place, the file that does not hold
// the newest record, with the next sequence number: one pwrite and one
// fdatasync, where a fresh file, a rename and a directory fsync cost a
// validator about a fifth of its CPU on a network of small blocks. Load takes
// the valid record with the highest sequence number.
//
// A crash during a save leaves that file's record failing its checksum; the
// other file still holds the state before the save, and the message of the
// interrupted save was never sent (it leaves only after save() returns), so
// falling back to it is safe. This is the assumption RocksDB makes of its
// WAL's last record: a record that fails its checksum is one whose write never
// completed. When no file holds a valid record the node stops with a clear
// error: silently starting without the guard could sign a conflicting vote.
// Both files are created before the first rewrite (each atomically, with
// write_file_durably), so a power loss can never leave both damaged.
//
// `<path>` itself is the format of earlier versions ("CLSIGN1\n" ||
// SHA-256(payload) || payload): read when neither record file exists, and
// removed once both do.
#pragma once

#include <filesystem>
#include <optional>

#include "cityledger.pb.h"
#include "common/result.hpp"
#include "node/record_file.hpp"

namespace cityledger::node {

class SignStateFile {
 public:
  explicit SignStateFile(std::filesystem::path path) : path_(std::move(path)) {}

  // nullopt when this validator never signed anything.
  Result<std::optional<pb::SignState>> load() const;
  // Refuses to move backwards: a state below the stored one (height, round,
  // step) is a programming error upstream and is reported, not written.
  Status save(const pb::SignState& state);

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path slot_path(int slot) const;

 private:
  struct Stored {
    std::optional<pb::SignState> state;
    std::uint64_t sequence = 0;
    std::optional<int> newest_slot;  // nullopt: no record file yet (maybe the legacy file)
    bool slots_exist[2] = {false, false};
  };
  Result<Stored> read_stored() const;
  Status open_slots();

  std::filesystem::path path_;
  std::optional<Stored> stored_;  // after the first save
  RecordFile slots_[2];
};

}  // namespace cityledger::node
