// Offline verification of a proof bundle (docs/proof-format.md): the only
// trusted input is genesis.json. Needs crypto and JSON, nothing else — no
// network, no store, no Protobuf library.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "audit/genesis.hpp"
#include "audit/log_entry.hpp"
#include "common/bytes.hpp"
#include "common/result.hpp"

namespace cityledger::audit {

inline constexpr const char* proof_format_v1 = "cityledger-proof/1";

struct Check {
  std::string name;
  bool passed = false;
  std::string detail;
};

struct Verdict {
  bool verified = false;  // every check passed
  std::vector<Check> checks;
  // What the bundle claims (filled as far as it could be parsed).
  Hash32 content_hash;
  std::uint64_t leaf_index = 0;
  std::uint64_t tree_size = 0;
  std::uint64_t height = 0;
  Hash32 block_hash;
  std::size_t signers = 0;
  std::size_t quorum = 0;
  // With a "record" (record-level proof): which record of how many, its bytes.
  bool has_record = false;
  std::uint64_t record_index = 0;
  std::uint64_t record_count = 0;
  std::string record_data;

  nlohmann::ordered_json to_json() const;
  std::string first_failure() const;
};

// The bundle's "entry" object for people: leaf_data, and every field decoded
// from it (content_hash, kind, dataset_id, metadata, submitter, tx_hash,
// index_in_tx, height, time_unix_ms).
nlohmann::ordered_json entry_json(ByteSpan leaf_data, const DecodedEntry& entry);

// Verifies every link: leaf -> inclusion -> checkpoint root and size ->
// 2f+1 signatures of the validator set in charge -> (with a file) its SHA-256.
// With a "record": the record's RFC 9162 inclusion in the entry's record-set
// root (its content_hash); `record_line` must then equal the record's bytes,
// and a file's SHA-256 is compared with the entry's "sha256" metadata (the
// whole file that was split into records).
// Every field of "entry" must agree with leaf_data: nothing a person reads in
// the bundle is unverified. Never throws; a malformed bundle is a failed check.
Verdict verify_proof_bundle(const nlohmann::json& bundle, const Genesis& genesis,
                            const std::optional<Hash32>& file_sha256 = std::nullopt,
                            const std::optional<std::string>& record_line = std::nullopt);

// The entry kind for record-level proofs, and its metadata keys.
inline constexpr const char* record_set_kind = "record-set";
inline constexpr const char* record_meta_count = "records";
inline constexpr const char* record_meta_sha256 = "sha256";

}  // namespace cityledger::audit
