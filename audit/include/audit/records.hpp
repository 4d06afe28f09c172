// Record-level proofs: one line of a CSV or JSON-lines file is one record.
//
// A record is a line's bytes without its terminator ("\n" or "\r\n"); a final
// line without a terminator is a record too, and an empty line in the middle
// is an empty record (so line N is always record N-1). The records form an
// RFC 9162 tree with leaf hash SHA-256(0x00 || record bytes); its root is what
// an entry of kind "record-set" anchors as content_hash (docs/proof-format.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::audit {

struct RecordFile {
  std::vector<Hash32> leaf_hashes;  // one per record, in line order
  Hash32 root;                      // RFC 9162 root over leaf_hashes
  Hash32 file_sha256;               // SHA-256 of the whole file
  std::uint64_t file_bytes = 0;
};

// Reads the file once, in bounded chunks (memory: 32 bytes per record plus
// the longest line). invalid_argument for a file with no record.
Result<RecordFile> read_record_file(const std::filesystem::path& path);

// Splits text held in memory the same way (tests, small inputs).
std::vector<std::string> split_records(std::string_view text);

// The bytes of record `index` (line index + 1); not_found past the end.
Result<std::string> read_record(const std::filesystem::path& path, std::uint64_t index);

}  // namespace cityledger::audit
