// The anchoring agent's state: an append-only journal of JSON lines, each
// appended with fsync before the agent acts on it, so a `kill -9` at any
// moment loses nothing and repeats nothing (docs/agent.md):
//
//   {"op":"pending", "tx_hash", "tx", "nonce", "files":[{path,sha256,size,mtime_ns,index}]}
//       written before the transaction is first submitted; after a crash the
//       same bytes are submitted again, which the node treats idempotently
//   {"op":"committed", "tx_hash", "height", "first_leaf"}
//   {"op":"proved", "tx_hash"}         every proof of the batch is written
//   {"op":"abandoned", "tx_hash", "reason"}   its nonce went to another
//       transaction of this key: it can never commit; its files go back to
//       the queue
//   {"op":"known", path, sha256, size, mtime_ns}   a file seen again with the
//       same content (touched): nothing to anchor
//   {"op":"chain", "chain_id"}         first line: the chain it anchors into
//
// A torn last line (a crash in the middle of an append) is ignored on load
// and cut off by the next rewrite. When the journal grows, it is rewritten
// (temp file, fsync, rename) to one "file" line per file plus the lines of
// unfinished batches.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace cityledger::cli {

struct AgentFile {
  std::string path;  // relative to the watched directory
  std::string sha256;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint32_t index = 0;  // position in its batch
};

struct AgentBatch {
  std::string tx_hash;
  std::string tx;  // hex of the signed transaction
  std::uint64_t nonce = 0;
  std::vector<AgentFile> files;
  bool committed = false;
  std::uint64_t height = 0;
  std::uint64_t first_leaf = 0;
};

// What is known about one path: its newest anchored (or anchoring) version.
struct AgentKnown {
  std::string sha256;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::string tx_hash;  // empty for "known" lines about content anchored before
  std::uint64_t leaf_index = 0;
  std::uint64_t height = 0;
  std::uint64_t versions = 0;  // how many versions this agent anchored
};

class AgentJournal {
 public:
  explicit AgentJournal(std::filesystem::path path) : path_(std::move(path)) {}
  ~AgentJournal();
  AgentJournal(const AgentJournal&) = delete;
  AgentJournal& operator=(const AgentJournal&) = delete;

  // Replays the journal (a missing file is an empty one) and opens it for appending.
  Status open();

  Status add_pending(const AgentBatch& batch);
  Status add_committed(const std::string& tx_hash, std::uint64_t height, std::uint64_t first_leaf);
  Status add_proved(const std::string& tx_hash);
  Status add_abandoned(const std::string& tx_hash, const std::string& reason);
  Status add_known(const AgentFile& file);
  // The chain the journal's batches are for (empty until set once).
  Status set_chain_id(const std::string& chain_id);
  const std::string& chain_id() const { return chain_id_; }

  // Batches not yet proved, oldest first.
  std::vector<AgentBatch> unfinished() const;
  const std::map<std::string, AgentKnown>& files() const { return files_; }
  // The highest nonce any journaled batch used (0: none).
  std::uint64_t max_nonce() const { return max_nonce_; }
  std::uint64_t lines() const { return lines_; }
  std::uint64_t torn_lines() const { return torn_; }

  // Rewrites the journal compactly when it has more than `threshold` lines.
  Status compact_if_longer_than(std::uint64_t threshold);

 private:
  Status append(const nlohmann::json& line);
  Status apply(const nlohmann::json& line);
  Status reopen_for_append();

  std::filesystem::path path_;
  int fd_ = -1;
  std::string chain_id_;
  std::map<std::string, AgentKnown> files_;
  std::map<std::string, AgentBatch> batches_;  // unfinished, by tx hash
  std::vector<std::string> batch_order_;
  std::uint64_t max_nonce_ = 0;
  std::uint64_t lines_ = 0;
  std::uint64_t torn_ = 0;
};

}  // namespace cityledger::cli
