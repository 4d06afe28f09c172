#include "agent_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "cli.hpp"

namespace cityledger::cli {

using nlohmann::json;

namespace {

Status io(const std::string& what) { return error(ErrorCode::io_error, what + ": " + std::strerror(errno)); }

json file_json(const AgentFile& f) {
  return {
      {"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"mtime_ns", f.mtime_ns}, {"index", f.index}};
}

AgentFile file_from(const json& j) {
  AgentFile f;
  f.path = j.at("path").get<std::string>();
  f.sha256 = j.at("sha256").get<std::string>();
  f.size = j.at("size").get<std::uint64_t>();
  f.mtime_ns = j.at("mtime_ns").get<std::int64_t>();
  f.index = j.value("index", 0u);
  return f;
}

}  // namespace

AgentJournal::~AgentJournal() {
  if (fd_ >= 0) ::close(fd_);
}

Status AgentJournal::open() {
  std::ifstream in(path_, std::ios::binary);
  if (in) {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      if (end == std::string::npos) {
        ++torn_;  // a crash in the middle of the last append: it never took effect
        break;
      }
      const auto line = json::parse(std::string_view(text).substr(start, end - start), nullptr, false);
      if (line.is_discarded() || !line.is_object()) {
        return error(ErrorCode::corruption, path_.string() + ": line " + std::to_string(lines_ + 1) +
                                                " is not JSON; the agent will not guess what it did");
      }
      try {
        CL_TRY(apply(line));
      } catch (const json::exception& e) {
        return error(ErrorCode::corruption,
                     path_.string() + ": line " + std::to_string(lines_ + 1) + " is malformed: " + e.what());
      }
      ++lines_;
      start = end + 1;
    }
    if (torn_ > 0) {
      // Cut the torn tail so the next append starts on a line of its own.
      if (::truncate(path_.c_str(), static_cast<off_t>(start)) != 0)
        return io("truncating " + path_.string());
    }
  }
  return reopen_for_append();
}

Status AgentJournal::reopen_for_append() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return io("opening " + path_.string());
  return {};
}

Status AgentJournal::apply(const json& line) {
  const std::string op = line.at("op").get<std::string>();
  if (op == "pending") {
    AgentBatch b;
    b.tx_hash = line.at("tx_hash").get<std::string>();
    b.tx = line.at("tx").get<std::string>();
    b.nonce = line.at("nonce").get<std::uint64_t>();
    for (const auto& f : line.at("files")) b.files.push_back(file_from(f));
    max_nonce_ = std::max(max_nonce_, b.nonce);
    for (const auto& f : b.files) {
      AgentKnown& k = files_[f.path];
      k.sha256 = f.sha256;
      k.size = f.size;
      k.mtime_ns = f.mtime_ns;
      k.tx_hash = b.tx_hash;
      k.leaf_index = 0;
      k.height = 0;
    }
    if (!batches_.contains(b.tx_hash)) batch_order_.push_back(b.tx_hash);
    batches_[b.tx_hash] = std::move(b);
  } else if (op == "committed") {
    auto it = batches_.find(line.at("tx_hash").get<std::string>());
    if (it == batches_.end()) return {};
    it->second.committed = true;
    it->second.height = line.at("height").get<std::uint64_t>();
    it->second.first_leaf = line.at("first_leaf").get<std::uint64_t>();
    for (const auto& f : it->second.files) {
      AgentKnown& k = files_[f.path];
      if (k.tx_hash != it->first) continue;  // a newer version is on its way
      if (k.height == 0) ++k.versions;
      k.height = it->second.height;
      k.leaf_index = it->second.first_leaf + f.index;
    }
  } else if (op == "proved") {
    const std::string hash = line.at("tx_hash").get<std::string>();
    batches_.erase(hash);
    std::erase(batch_order_, hash);
  } else if (op == "abandoned") {
    const std::string hash = line.at("tx_hash").get<std::string>();
    if (auto it = batches_.find(hash); it != batches_.end()) {
      for (const auto& f : it->second.files) {
        auto k = files_.find(f.path);
        if (k != files_.end() && k->second.tx_hash == hash) files_.erase(k);  // anchor it again
      }
      batches_.erase(it);
    }
    std::erase(batch_order_, hash);
  } else if (op == "known") {
    const AgentFile f = file_from(line);
    AgentKnown& k = files_[f.path];
    k.sha256 = f.sha256;
    k.size = f.size;
    k.mtime_ns = f.mtime_ns;
  } else if (op == "chain") {
    chain_id_ = line.at("chain_id").get<std::string>();
  } else if (op == "file") {  // written by compaction
    AgentKnown& k = files_[line.at("path").get<std::string>()];
    k.sha256 = line.at("sha256").get<std::string>();
    k.size = line.at("size").get<std::uint64_t>();
    k.mtime_ns = line.at("mtime_ns").get<std::int64_t>();
    k.tx_hash = line.value("tx_hash", "");
    k.leaf_index = line.value("leaf_index", std::uint64_t{0});
    k.height = line.value("height", std::uint64_t{0});
    k.versions = line.value("versions", std::uint64_t{0});
    max_nonce_ = std::max(max_nonce_, line.value("max_nonce", std::uint64_t{0}));
  } else {
    return error(ErrorCode::corruption, "unknown journal op \"" + op + "\"");
  }
  return {};
}

Status AgentJournal::append(const json& line) {
  const std::string text = line.dump() + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io("appending to " + path_.string());
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return io("syncing " + path_.string());
  CL_TRY(apply(line));
  ++lines_;
  return {};
}

Status AgentJournal::add_pending(const AgentBatch& b) {
  json files = json::array();
  for (const auto& f : b.files) files.push_back(file_json(f));
  return append(
      {{"op", "pending"}, {"tx_hash", b.tx_hash}, {"tx", b.tx}, {"nonce", b.nonce}, {"files", files}});
}

Status AgentJournal::add_committed(const std::string& tx_hash, std::uint64_t height,
                                   std::uint64_t first_leaf) {
  return append({{"op", "committed"}, {"tx_hash", tx_hash}, {"height", height}, {"first_leaf", first_leaf}});
}

Status AgentJournal::add_proved(const std::string& tx_hash) {
  return append({{"op", "proved"}, {"tx_hash", tx_hash}});
}

Status AgentJournal::add_abandoned(const std::string& tx_hash, const std::string& reason) {
  return append({{"op", "abandoned"}, {"tx_hash", tx_hash}, {"reason", reason}});
}

Status AgentJournal::add_known(const AgentFile& f) {
  json line = file_json(f);
  line.erase("index");
  line["op"] = "known";
  return append(line);
}

Status AgentJournal::set_chain_id(const std::string& chain_id) {
  return append({{"op", "chain"}, {"chain_id", chain_id}});
}

std::vector<AgentBatch> AgentJournal::unfinished() const {
  std::vector<AgentBatch> out;
  for (const auto& hash : batch_order_) out.push_back(batches_.at(hash));
  return out;
}

Status AgentJournal::compact_if_longer_than(std::uint64_t threshold) {
  if (lines_ <= threshold) return {};
  std::string text = json{{"op", "chain"}, {"chain_id", chain_id_}}.dump() + "\n";
  std::uint64_t count = 1;
  for (const auto& [path, k] : files_) {
    text += json{{"op", "file"},
                 {"path", path},
                 {"sha256", k.sha256},
                 {"size", k.size},
                 {"mtime_ns", k.mtime_ns},
                 {"tx_hash", k.tx_hash},
                 {"leaf_index", k.leaf_index},
                 {"height", k.height},
                 {"versions", k.versions},
                 {"max_nonce", max_nonce_}}
                .dump() +
            "\n";
    ++count;
  }
  for (const auto& hash : batch_order_) {
    const AgentBatch& b = batches_.at(hash);
    json files = json::array();
    for (const auto& f : b.files) files.push_back(file_json(f));
    text +=
        json{{"op", "pending"}, {"tx_hash", b.tx_hash}, {"tx", b.tx}, {"nonce", b.nonce}, {"files", files}}
            .dump() +
        "\n";
    ++count;
    if (b.committed) {
      text +=
          json{
              {"op", "committed"}, {"tx_hash", b.tx_hash}, {"height", b.height}, {"first_leaf", b.first_leaf}}
              .dump() +
          "\n";
      ++count;
    }
  }
  CL_TRY(write_file_atomic(path_, text));
  lines_ = count;
  return reopen_for_append();
}

}  // namespace cityledger::cli
