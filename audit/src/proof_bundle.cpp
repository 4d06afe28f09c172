#include "audit/proof_bundle.hpp"

#include <algorithm>
#include <set>

#include "audit/validator_sets.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/signing.hpp"
#include "json_fields.hpp"

namespace cityledger::audit {

using json_fields::hex32;
using json_fields::shape_problem;
using json_fields::u64;
using nlohmann::json;

nlohmann::ordered_json Verdict::to_json() const {
  nlohmann::ordered_json out;
  out["verified"] = verified;
  out["content_hash"] = content_hash.hex();
  out["leaf_index"] = leaf_index;
  out["tree_size"] = tree_size;
  out["height"] = height;
  out["block_hash"] = block_hash.hex();
  out["signers"] = signers;
  out["quorum"] = quorum;
  if (has_record) {
    out["record"] = {{"line", record_index + 1},
                     {"index", record_index},
                     {"size", record_count},
                     {"leaf_data", to_hex(as_bytes(record_data))}};
  }
  out["checks"] = nlohmann::ordered_json::array();
  for (const auto& c : checks)
    out["checks"].push_back({{"check", c.name}, {"passed", c.passed}, {"detail", c.detail}});
  return out;
}

std::string Verdict::first_failure() const {
  for (const auto& c : checks) {
    if (!c.passed) return c.name + ": " + c.detail;
  }
  return "";
}

nlohmann::ordered_json entry_json(ByteSpan leaf_data, const DecodedEntry& e) {
  nlohmann::ordered_json out;
  out["content_hash"] = e.content_hash.hex();
  out["leaf_data"] = to_hex(leaf_data);
  out["kind"] = entry_kind_name(e.kind);
  out["dataset_id"] = e.dataset_id;
  out["metadata"] = nlohmann::ordered_json::object();
  for (const auto& [k, val] : e.metadata) out["metadata"][k] = val;
  out["submitter"] = e.submitter.hex();
  out["tx_hash"] = e.tx_hash.hex();
  out["index_in_tx"] = e.index_in_tx;
  out["height"] = e.height;
  out["time_unix_ms"] = e.time_unix_ms;
  return out;
}

namespace {

// Collects checks; each failed one is recorded with the reason.
class Checker {
 public:
  bool check(const std::string& name, bool passed, const std::string& detail) {
    verdict.checks.push_back({name, passed, detail});
    return passed;
  }
  Verdict verdict;
};

// A Merkle path: an array of at most 64 hashes (64-hex strings).
std::optional<std::vector<Hash32>> hash_path(const json& v) {
  if (!v.is_array() || v.size() > 64) return std::nullopt;
  std::vector<Hash32> path;
  for (const auto& p : v) {
    auto h = hex32(p);
    if (!h) return std::nullopt;
    path.push_back(*h);
  }
  return path;
}

}  // namespace

namespace {

// The "record" of a record-level proof: the record's inclusion in the
// record-set root that the entry anchors.
void check_record(Checker& c, const json& record, const DecodedEntry& decoded,
                  const std::optional<std::string>& record_line) {
  Verdict& v = c.verdict;
  v.has_record = true;
  const std::string shape = shape_problem(record, "record", {"leaf_data", "index", "size", "path"});
  if (!c.check("record_shape", shape.empty(), shape)) return;
  if (!c.check("record_kind", decoded.kind == 3,
               "a record proof needs an entry of kind \"record-set\", this one is \"" +
                   entry_kind_name(decoded.kind) + "\"")) {
    return;
  }
  const auto hex =
      record["leaf_data"].is_string() ? record["leaf_data"].get<std::string>() : std::string("-");
  auto bytes = from_hex(hex);
  auto index = u64(record["index"]);
  auto size = u64(record["size"]);
  const auto path = hash_path(record["path"]);
  const bool path_ok = path.has_value();
  if (!c.check("record_fields",
               bytes.has_value() && to_hex(*bytes) == hex && index && size && *index < *size && path_ok,
               "record needs leaf_data (lowercase hex), index < size, and path (64-hex strings)")) {
    return;
  }
  v.record_index = *index;
  v.record_count = *size;
  v.record_data.assign(bytes->begin(), bytes->end());
  auto root = crypto::merkle::root_from_inclusion(*index, *size, crypto::merkle::leaf_hash(*bytes), *path);
  c.check("record_inclusion", root.has_value() && *root == decoded.content_hash,
          "the record's path does not lead to the entry's record-set root");
  std::string count;
  for (const auto& [k, val] : decoded.metadata) {
    if (k == record_meta_count) count = val;
  }
  c.check("record_count", count == std::to_string(*size),
          "the entry says the file has " + (count.empty() ? std::string("?") : count) +
              " records, the proof " + std::to_string(*size));
  if (record_line) {
    c.check("record_line", *record_line == v.record_data, "the line given is not the record proven");
  }
}

Verdict verify(const json& bundle, const Genesis& genesis, const std::optional<Hash32>& file_sha256,
               const std::optional<std::string>& record_line) {
  Checker c;
  Verdict& v = c.verdict;
  auto done = [&]() -> Verdict {
    v.verified = !v.checks.empty();
    for (const auto& check : v.checks) v.verified = v.verified && check.passed;
    return v;
  };
  if (!c.check("format", bundle.is_object() && bundle.value("format", "") == proof_format_v1,
               std::string("expected \"format\": \"") + proof_format_v1 + "\"")) {
    return done();
  }
  std::string shape = shape_problem(
      bundle, "bundle",
      {"format", "chain_id", "entry", "leaf_index", "inclusion", "checkpoint", "validator_sets"}, {"record"});
  if (shape.empty()) shape = shape_problem(bundle["inclusion"], "inclusion", {"tree_size", "path"});
  if (shape.empty()) shape = shape_problem(bundle["checkpoint"], "checkpoint", {"body", "signatures"});
  if (!c.check("shape", shape.empty(), shape)) return done();
  if (!c.check("chain", bundle.value("chain_id", "") == genesis.chain_id,
               "bundle is for chain '" + bundle.value("chain_id", "") + "', genesis is '" + genesis.chain_id +
                   "'")) {
    return done();
  }

  // The entry and its leaf bytes.
  const json& entry = bundle.contains("entry") ? bundle["entry"] : json();
  const auto leaf_hex = entry.is_object() && entry.contains("leaf_data") && entry["leaf_data"].is_string()
                            ? entry["leaf_data"].get<std::string>()
                            : std::string();
  auto leaf_bytes = from_hex(leaf_hex);
  if (!c.check("leaf_data", leaf_bytes.has_value() && !leaf_bytes->empty() && to_hex(*leaf_bytes) == leaf_hex,
               "entry.leaf_data must be non-empty lowercase hex")) {
    return done();
  }
  auto decoded = decode_log_entry(*leaf_bytes);
  if (!c.check("leaf_decode", decoded.ok(), decoded.ok() ? "" : "leaf_data: " + decoded.status().message())) {
    return done();
  }
  const json expected = json::parse(entry_json(*leaf_bytes, *decoded).dump());
  std::string mismatch;
  for (const auto& [key, value] : entry.items()) {
    if (!expected.contains(key)) {
      mismatch = "unknown field entry." + key;
    } else if (value != expected[key]) {
      mismatch = "entry." + key + " does not match leaf_data (" + expected[key].dump() + ")";
    }
    if (!mismatch.empty()) break;
  }
  if (mismatch.empty() && !entry.contains("content_hash")) mismatch = "entry.content_hash is required";
  if (!c.check("entry_fields", mismatch.empty(), mismatch)) return done();
  v.content_hash = decoded->content_hash;

  // Inclusion in the log.
  const json& inclusion = bundle.value("inclusion", json::object());
  auto leaf_index = u64(bundle.value("leaf_index", json()));
  auto tree_size = u64(inclusion.value("tree_size", json()));
  const auto path = inclusion.contains("path") ? hash_path(inclusion["path"]) : std::nullopt;
  const bool path_ok = path.has_value();
  if (!c.check("inclusion_fields", leaf_index && tree_size && path_ok,
               "leaf_index, inclusion.tree_size and inclusion.path (64-hex strings) are required")) {
    return done();
  }
  v.leaf_index = *leaf_index;
  v.tree_size = *tree_size;
  const Hash32 leaf_hash = crypto::merkle::leaf_hash(*leaf_bytes);
  auto root = crypto::merkle::root_from_inclusion(*leaf_index, *tree_size, leaf_hash, *path);
  if (!c.check("inclusion_path", root.has_value(),
               "the path has the wrong length for leaf " + std::to_string(*leaf_index) + " of " +
                   std::to_string(*tree_size))) {
    return done();
  }

  // The checkpoint.
  const json& checkpoint = bundle.value("checkpoint", json::object());
  const std::string body_text = checkpoint.value("body", "");
  auto body = crypto::CheckpointBody::parse(body_text);
  if (!c.check("checkpoint_body", body.ok(), body.ok() ? "" : body.status().message())) return done();
  v.height = body->height;
  v.block_hash = body->block_hash;
  c.check("checkpoint_origin", body->origin == genesis.chain_id,
          "checkpoint origin is '" + body->origin + "'");
  c.check("checkpoint_size", body->tree_size == *tree_size,
          "checkpoint covers " + std::to_string(body->tree_size) + " leaves, the proof " +
              std::to_string(*tree_size));
  c.check("inclusion_root", *root == body->root,
          "the root the inclusion path gives differs from the checkpoint's root");

  // Who is in charge: genesis's set, then each approved change from its height.
  auto schedule =
      follow_validator_sets(bundle.value("validator_sets", json()), genesis, body->height, &v.checks);
  if (!schedule) return done();
  std::vector<crypto::PublicKey> validators;
  for (const auto& member : schedule->at(body->height)) validators.push_back(member.pubkey);
  std::vector<crypto::CheckpointSignature> signatures;
  bool signatures_ok = checkpoint.contains("signatures") && checkpoint["signatures"].is_array() &&
                       checkpoint["signatures"].size() <= 1024;
  if (signatures_ok) {
    for (const auto& s : checkpoint["signatures"]) {
      if (!shape_problem(s, "signature", {"validator", "signature"}).empty()) {
        signatures_ok = false;
        break;
      }
      auto key = hex32(s["validator"]);
      auto sig = s["signature"].is_string() ? crypto::Signature::from_hex(s["signature"].get<std::string>())
                                            : std::nullopt;
      if (!key || !sig || sig->hex() != s["signature"].get<std::string>()) {
        signatures_ok = false;
        break;
      }
      signatures.push_back({*key, *sig});
    }
  }
  if (!c.check("signature_fields", signatures_ok,
               "checkpoint.signatures must be [{validator: 64 hex, signature: 128 hex}]")) {
    return done();
  }
  std::vector<std::string> problems;
  v.signers = crypto::count_valid_checkpoint_signatures(body_text, signatures, validators, &problems);
  v.quorum = crypto::checkpoint_quorum(validators.size());
  std::string detail = std::to_string(v.signers) + " of " + std::to_string(validators.size()) +
                       " validators signed, " + std::to_string(v.quorum) + " needed";
  for (const auto& p : problems) detail += "; " + p;
  // Every signature a bundle carries must be valid: a tampered one is not
  // ignored even when enough others remain.
  c.check("checkpoint_quorum", v.signers >= v.quorum && problems.empty(), detail);

  if (bundle.contains("record")) {
    check_record(c, bundle["record"], *decoded, record_line);
  } else if (record_line) {
    c.check("record_line", false, "a line was given, but the bundle proves no record (no \"record\")");
  }

  if (file_sha256 && decoded->kind == 3) {
    // A record-set entry anchors the root of the records; the whole file's
    // SHA-256 is in its metadata.
    std::string anchored;
    for (const auto& [k, val] : decoded->metadata) {
      if (k == record_meta_sha256) anchored = val;
    }
    c.check("file", anchored == file_sha256->hex(),
            "the file's SHA-256 is " + file_sha256->hex() + ", the record set was made from a file with " +
                (anchored.empty() ? std::string("no recorded SHA-256") : anchored));
  } else if (file_sha256) {
    c.check("file", *file_sha256 == v.content_hash,
            "the file's SHA-256 is " + file_sha256->hex() + ", the proof is for " + v.content_hash.hex());
  }
  return done();
}

}  // namespace

Verdict verify_proof_bundle(const json& bundle, const Genesis& genesis,
                            const std::optional<Hash32>& file_sha256,
                            const std::optional<std::string>& record_line) {
  try {
    return verify(bundle, genesis, file_sha256, record_line);
  } catch (const json::exception& e) {
    Verdict v;
    v.checks.push_back({"bundle", false, std::string("malformed bundle: ") + e.what()});
    return v;
  }
}

}  // namespace cityledger::audit
