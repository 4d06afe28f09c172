#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include "cli.hpp"
#include "crypto/sha256.hpp"

namespace cityledger::cli {

int fail(const std::string& message) {
  std::cerr << "cityledger: " << message << "\n";
  return exit_error;
}

int fail(const Status& status) { return fail(status.message()); }

void print_json(const nlohmann::json& value) { std::cout << value.dump(2) << "\n"; }

std::vector<Result<Hash32>> sha256_files(const std::vector<std::filesystem::path>& paths, unsigned threads) {
  std::vector<Result<Hash32>> out(paths.size(), Result<Hash32>(error(ErrorCode::internal, "not hashed")));
  if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  threads = static_cast<unsigned>(std::min<std::size_t>(threads, paths.size()));
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < paths.size(); i = next++) out[i] = crypto::sha256_file(paths[i]);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return out;
}

std::string format_unix_ms(std::uint64_t unix_ms) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  const unsigned ms = static_cast<unsigned>(unix_ms % 1000);
  std::string out(text, n);
  out += '.';
  out += static_cast<char>('0' + ms / 100);
  out += static_cast<char>('0' + ms / 10 % 10);
  out += static_cast<char>('0' + ms % 10);
  out += 'Z';
  return out;
}

namespace {

// Writes all of `content` to a new (truncated) file, fsynced when `sync`.
Status write_whole_file(const std::filesystem::path& path, const std::string& content, unsigned mode,
                        bool sync) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0)
    return error(ErrorCode::io_error, "cannot create " + path.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n == 0 ? "no progress" : std::strerror(errno);
      ::close(fd);
      return error(ErrorCode::io_error, "cannot write " + path.string() + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (sync && ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return error(ErrorCode::io_error, "cannot sync " + path.string() + ": " + why);
  }
  if (::close(fd) != 0)
    return error(ErrorCode::io_error, "cannot close " + path.string() + ": " + std::strerror(errno));
  return {};
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, const std::string& content, unsigned mode) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  if (Status s = write_whole_file(tmp, content, mode, true); !s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return error(ErrorCode::io_error, "cannot rename to " + path.string() + ": " + why);
  }
  // The rename itself must survive a power loss too.
  const std::filesystem::path parent =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
  return {};
}

Status write_files_atomic(std::span<const FileToWrite> files, unsigned mode) {
  if (files.empty()) return {};
  // One open directory per file system, opened before any file is written:
  // syncfs on a descriptor reports a write-back error of its file system that
  // happened after the descriptor was opened (Linux 5.8 and later). Only one
  // per file system stays open, so a batch spread over many directories does
  // not run out of descriptors.
  std::set<std::filesystem::path> dirs;  // distinct parents
  std::map<dev_t, std::pair<int, std::filesystem::path>> file_systems;
  auto close_file_systems = [&] {
    for (auto& [_, fs] : file_systems) ::close(fs.first);
  };
  for (const auto& f : files) {
    const std::filesystem::path parent = f.path.has_parent_path() ? f.path.parent_path() : ".";
    if (!dirs.insert(parent).second) continue;
    struct stat st {};
    const bool found = ::stat(parent.c_str(), &st) == 0;
    if (!found || !S_ISDIR(st.st_mode)) {
      const std::string why = found ? "not a directory" : std::strerror(errno);
      close_file_systems();
      return error(ErrorCode::io_error, "cannot open directory " + parent.string() + ": " + why);
    }
    if (file_systems.contains(st.st_dev)) continue;
    const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      const std::string why = std::strerror(errno);
      close_file_systems();
      return error(ErrorCode::io_error, "cannot open directory " + parent.string() + ": " + why);
    }
    file_systems.emplace(st.st_dev, std::make_pair(fd, parent));
  }
  std::size_t written = 0;
  auto remove_temps = [&] {
    for (std::size_t i = 0; i < written; ++i) ::unlink((files[i].path.string() + ".tmp").c_str());
  };
  for (const auto& f : files) {
    Status s = write_whole_file(f.path.string() + ".tmp", f.content, mode, false);
    if (!s.ok()) {
      ::unlink((f.path.string() + ".tmp").c_str());
      remove_temps();
      close_file_systems();
      return s;
    }
    ++written;
  }
  for (const auto& [_, fs] : file_systems) {
    if (::syncfs(fs.first) != 0) {
      const std::string why = std::strerror(errno);
      remove_temps();
      close_file_systems();
      return error(ErrorCode::io_error, "cannot sync the file system of " + fs.second.string() + ": " + why);
    }
  }
  close_file_systems();
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string tmp = files[i].path.string() + ".tmp";
    if (::rename(tmp.c_str(), files[i].path.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      for (std::size_t j = i; j < files.size(); ++j) ::unlink((files[j].path.string() + ".tmp").c_str());
      return error(ErrorCode::io_error, "cannot rename to " + files[i].path.string() + ": " + why + " (" +
                                            std::to_string(i) + " of " + std::to_string(files.size()) +
                                            " files were renamed into place)");
    }
  }
  // The renames must survive a power loss too: each directory, one at a time.
  for (const auto& dir : dirs) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      const std::string why = std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return error(ErrorCode::io_error, "cannot sync directory " + dir.string() + ": " + why +
                                            " (every file was renamed into place)");
    }
    ::close(fd);
  }
  return {};
}

Result<std::chrono::milliseconds> parse_duration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit.empty() || unit == "s") scale = 1000;
  if (unit == "ms") scale = 1;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (digits == 0 || digits > 9 || scale == 0) {
    return error(ErrorCode::invalid_argument, "\"" + text + "\" is not a duration (like 5s, 500ms, 2m)");
  }
  return std::chrono::milliseconds(std::stoll(text.substr(0, digits)) * scale);
}

Result<std::string> read_text_file(const std::filesystem::path& path, std::size_t limit) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return error(ErrorCode::io_error, "cannot read " + path.string() + ": " + ec.message());
  if (size > limit) {
    return error(ErrorCode::invalid_argument, path.string() + " is " + std::to_string(size) +
                                                  " bytes; the limit is " + std::to_string(limit));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(ErrorCode::io_error, "cannot open " + path.string());
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size)) {
    return error(ErrorCode::io_error, "short read from " + path.string());
  }
  return text;
}

Result<std::uint64_t> next_nonce(rpc::RpcClient& client, const std::string& signer_hex,
                                 const std::string& chain_id, const std::string& needs) {
  auto account = client.call("get_account", {{"pubkey", signer_hex}});
  if (!account) {
    if (account.status().code() == ErrorCode::not_found) {
      return error(ErrorCode::not_found,
                   "key " + signer_hex + " is not an account on chain " + chain_id + " (" + needs + ")");
    }
    return account.status();
  }
  return account->value("next_pending_nonce", (*account)["next_nonce"].get<std::uint64_t>());
}

Result<nlohmann::json> submit_transaction(rpc::RpcClient& client, const std::string& tx_hex, bool wait,
                                          double timeout_s) {
  auto r = client.call("submit_tx", {{"tx", tx_hex}});
  if (!r || !wait) return r;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    r = client.call(
        "submit_tx",
        {{"tx", tx_hex}, {"wait", true}, {"timeout_ms", std::clamp<std::int64_t>(left.count(), 1, 60'000)}});
    if (r && r->contains("height")) return r;
    if ((!r && r.status().code() != ErrorCode::unavailable) || std::chrono::steady_clock::now() >= deadline) {
      return r ? error(ErrorCode::unavailable, "not committed within " + std::to_string(timeout_s) + " s")
               : r.status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

ProofFetch::ProofFetch(std::vector<std::uint64_t> leaves_to_prove)
    : leaves(std::move(leaves_to_prove)),
      bundles(leaves.size(), error(ErrorCode::unavailable, "not asked yet")),
      pending(leaves.size()) {
  std::iota(pending.begin(), pending.end(), std::size_t{0});
}

void ProofFetch::ask(rpc::RpcClient& client) {
  constexpr std::size_t per_batch = 100;
  std::vector<std::size_t> still;
  std::vector<rpc::BatchCall> calls;
  for (std::size_t first = 0; first < pending.size(); first += per_batch) {
    const auto some = std::span(pending).subspan(first, std::min(per_batch, pending.size() - first));
    calls.clear();
    for (std::size_t k : some) calls.push_back({"get_inclusion_proof", {{"leaf_index", leaves[k]}}});
    auto answers = client.call_batch(calls);
    for (std::size_t j = 0; j < some.size(); ++j) {
      bundles[some[j]] = answers ? std::move((*answers)[j]) : Result<nlohmann::json>(answers.status());
      if (!bundles[some[j]]) still.push_back(some[j]);
    }
  }
  pending = std::move(still);
}

}  // namespace cityledger::cli
