// Reads a log leaf (the canonical bytes of a pb::LogEntry) without the
// Protobuf library, so the auditor's verifier depends on nothing but crypto
// and the wire format written down in docs/proof-format.md. Strict: fields in
// ascending order, each at most once, minimal varints, no unknown fields, no
// default values written — exactly the canonical form, or an error.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::audit {

struct DecodedEntry {
  Hash32 content_hash;
  std::uint64_t kind = 0;  // pb::EntryKind
  std::string dataset_id;
  std::vector<std::pair<std::string, std::string>> metadata;
  Hash32 submitter;
  Hash32 tx_hash;
  std::uint64_t index_in_tx = 0;
  std::uint64_t height = 0;
  std::uint64_t time_unix_ms = 0;
};

// "file", "dataset-root", "record-set", "contract-event", or "unknown".
std::string entry_kind_name(std::uint64_t kind);

Result<DecodedEntry> decode_log_entry(ByteSpan leaf_data);

}  // namespace cityledger::audit
