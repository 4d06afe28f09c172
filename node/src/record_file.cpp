#include "node/record_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/sha256.hpp"
#include "node/durable_file.hpp"

namespace cityledger::node {

namespace {

constexpr std::string_view magic{"CLREC1\n\0", 8};
constexpr std::size_t header_bytes = 8 + 8 + 8 + 32;

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

Hash32 record_checksum(std::uint64_t sequence, std::string_view payload) {
  crypto::Sha256 h;
  std::string fields;
  put_u64(fields, sequence);
  put_u64(fields, payload.size());
  h.update(fields);
  h.update(payload);
  return h.finish();
}

}  // namespace

std::string RecordFile::encode(const Record& record) {
  std::string out(magic);
  out.reserve(header_bytes + record.payload.size());
  put_u64(out, record.sequence);
  put_u64(out, record.payload.size());
  out += record_checksum(record.sequence, record.payload).to_string();
  out += record.payload;
  return out;
}

RecordFile::~RecordFile() {
  if (fd_ >= 0) ::close(fd_);
}

RecordFile::RecordFile(RecordFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

RecordFile& RecordFile::operator=(RecordFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Result<RecordFile> RecordFile::create(const std::filesystem::path& path, const Record& record) {
  CL_TRY(write_file_durably(path, encode(record)));
  return open(path);
}

Result<RecordFile> RecordFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return error(ErrorCode::not_found, path.string() + " does not exist");
    return error(ErrorCode::io_error, "cannot open " + path.string() + ": " + errno_text());
  }
  return RecordFile(path, fd);
}

Status RecordFile::rewrite(const Record& record) {
  CL_CHECK(fd_ >= 0);
  const std::string bytes = encode(record);
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd_, bytes.data() + written, bytes.size() - written, static_cast<off_t>(written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return error(ErrorCode::io_error, "cannot write " + path_.string() + ": " + errno_text());
    written += static_cast<std::size_t>(n);
  }
  // Data only: the file's size changes only when a record outgrows it, and
  // fdatasync then writes the size too.
  if (::fdatasync(fd_) != 0)
    return error(ErrorCode::io_error, "cannot fdatasync " + path_.string() + ": " + errno_text());
  return {};
}

Result<Record> RecordFile::decode(std::string_view text) {
  const auto damaged = [](const char* why) { return error(ErrorCode::corruption, why); };
  if (text.size() < header_bytes || text.substr(0, magic.size()) != magic) return damaged("bad header");
  Record record;
  record.sequence = get_u64(text.substr(8, 8));
  const std::uint64_t length = get_u64(text.substr(16, 8));
  if (length > text.size() - header_bytes) return damaged("record cut short");
  const std::string_view payload = text.substr(header_bytes, length);
  if (record_checksum(record.sequence, payload).to_string() != text.substr(24, 32)) {
    return damaged("checksum mismatch");
  }
  record.payload = std::string(payload);
  return record;
}

Result<std::optional<Record>> RecordFile::read(const std::filesystem::path& path) {
  auto content = read_file_if_exists(path);
  if (!content) return content.status();
  if (!content->has_value()) return std::optional<Record>{};
  auto record = decode(**content);
  if (!record) return error(record.status().code(), path.string() + ": " + record.status().message());
  return std::optional<Record>(std::move(record).value());
}

}  // namespace cityledger::node
