#include "node/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cityledger::node {

std::string errno_text() { return std::strerror(errno); }

Status write_file_durably(const std::filesystem::path& path, std::string_view content) {
  const std::string tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return error(ErrorCode::io_error, "cannot create " + tmp + ": " + errno_text());
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return error(ErrorCode::io_error, "cannot write " + tmp + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return error(ErrorCode::io_error, "cannot fsync " + tmp + ": " + why);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return error(ErrorCode::io_error, "cannot rename " + tmp + ": " + why);
  }
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    return error(ErrorCode::io_error, "cannot open directory " + dir.string() + ": " + errno_text());
  const int synced = ::fsync(dir_fd);
  ::close(dir_fd);
  if (synced != 0)
    return error(ErrorCode::io_error, "cannot fsync directory " + dir.string() + ": " + errno_text());
  return {};
}

Result<std::optional<std::string>> read_file_if_exists(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return error(ErrorCode::io_error, "cannot open " + path.string() + ": " + errno_text());
  }
  std::string out;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = errno_text();
      ::close(fd);
      return error(ErrorCode::io_error, "cannot read " + path.string() + ": " + why);
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

}  // namespace cityledger::node
