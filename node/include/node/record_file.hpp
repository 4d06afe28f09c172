// A file holding one checksummed record, rewritten in place.
//
// Layout: "CLREC1\n\0" (8 bytes) | sequence (u64, little endian) | payload
// length (u64) | SHA-256(sequence || length || payload) | payload. Bytes past
// the payload (left by a longer earlier record) are ignored.
//
// Why: the double-sign guard and the kept blocks are written at every
// consensus step, and write_file_durably (temp file, fsync, rename, directory
// fsync) costs a new inode and two journal commits each time, about a fifth
// of a validator's CPU on a network of small blocks (docs/performance.md).
// Rewriting an open file in place costs one pwrite and one fdatasync.
//
// The price: a rewrite cut short by a crash leaves a record that fails its
// checksum, and the previous one is gone. Readers report such a record as
// damaged (never as valid), so a caller that must not lose its last good
// record keeps two files and rewrites them in turn (SignStateFile). The file
// is created with write_file_durably, so a file that exists held a whole
// record at least once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cityledger::node {

struct Record {
  std::uint64_t sequence = 0;
  std::string payload;
};

class RecordFile {
 public:
  RecordFile() = default;
  ~RecordFile();
  RecordFile(RecordFile&& other) noexcept;
  RecordFile& operator=(RecordFile&& other) noexcept;
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  // Creates `path` holding one record, durably and atomically (it never
  // exists half-written), replacing any file there, and opens it.
  static Result<RecordFile> create(const std::filesystem::path& path, const Record& record);
  // Opens an existing file for rewrites (not_found when there is none).
  static Result<RecordFile> open(const std::filesystem::path& path);

  // Rewrites the record in place and returns once it is on disk (fdatasync).
  Status rewrite(const Record& record);

  // The record in `path`: nullopt when the file does not exist; corruption
  // when it exists but holds no whole record (a cut-short rewrite, or
  // damage); io_error when it cannot be read.
  static Result<std::optional<Record>> read(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }

  // The bytes of a record as stored (for tests and create()).
  static std::string encode(const Record& record);
  // The record at the start of `bytes` (bytes past it are ignored): corruption
  // when they hold none (bad header, cut short, checksum mismatch).
  static Result<Record> decode(std::string_view bytes);

 private:
  RecordFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace cityledger::node
