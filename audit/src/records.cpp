#include "audit/records.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "crypto/merkle.hpp"
#include "crypto/sha256.hpp"

namespace cityledger::audit {

namespace {

constexpr std::size_t chunk_bytes = 1u << 20;

// Calls on_record(bytes) for every record of the file, in order, and
// on_chunk(bytes) for every chunk read (for the whole-file hash).
template <typename OnRecord, typename OnChunk>
Status for_each_record(const std::filesystem::path& path, OnRecord on_record, OnChunk on_chunk) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(ErrorCode::io_error, "cannot open " + path.string() + ": " + std::strerror(errno));
  std::vector<char> buffer(chunk_bytes);
  std::string carry;  // a line split across chunks
  bool stop = false;
  while (in && !stop) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    on_chunk(std::string_view(buffer.data(), got));
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(buffer.data() + start, '\n', got - start);
      if (nl == nullptr) break;
      const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - buffer.data());
      std::string_view line;
      if (carry.empty()) {
        line = std::string_view(buffer.data() + start, end - start);
      } else {
        carry.append(buffer.data() + start, end - start);
        line = carry;
      }
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      stop = !on_record(line);
      carry.clear();
      start = end + 1;
      if (stop) break;
    }
    if (!stop) carry.append(buffer.data() + start, got - start);
  }
  if (in.bad()) return error(ErrorCode::io_error, "read error on " + path.string());
  // A last line without "\n" is a record as it is ("\r" alone ends no line).
  if (!stop && !carry.empty()) on_record(std::string_view(carry));
  return {};
}

}  // namespace

std::vector<std::string> split_records(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r' && end < text.size()) line.remove_suffix(1);
    out.emplace_back(line);
    start = end + 1;
  }
  return out;
}

Result<RecordFile> read_record_file(const std::filesystem::path& path) {
  RecordFile out;
  crypto::Sha256 whole;
  CL_TRY(for_each_record(
      path,
      [&](std::string_view record) {
        out.leaf_hashes.push_back(crypto::merkle::leaf_hash(as_bytes(record)));
        return true;
      },
      [&](std::string_view chunk) {
        whole.update(chunk);
        out.file_bytes += chunk.size();
      }));
  if (out.leaf_hashes.empty()) {
    return error(ErrorCode::invalid_argument, path.string() + " has no records (it is empty)");
  }
  out.root = crypto::merkle::root(out.leaf_hashes);
  out.file_sha256 = whole.finish();
  return out;
}

Result<std::string> read_record(const std::filesystem::path& path, std::uint64_t index) {
  std::uint64_t i = 0;
  std::optional<std::string> found;
  CL_TRY(for_each_record(
      path,
      [&](std::string_view record) {
        if (i++ == index) {
          found = std::string(record);
          return false;
        }
        return true;
      },
      [](std::string_view) {}));
  if (!found) {
    return error(ErrorCode::not_found, path.string() + " has " + std::to_string(i) + " records; line " +
                                           std::to_string(index + 1) + " does not exist");
  }
  return *found;
}

}  // namespace cityledger::audit
