// `cityledger prove-record`: from the bundle of a record-set entry and the
// file it was made from, a bundle that proves one line — which an auditor
// verifies without the rest of the file.
#include "audit/records.hpp"

#include <iostream>

#include "audit/proof_bundle.hpp"
#include "cli.hpp"
#include "crypto/merkle.hpp"

namespace cityledger::cli {

using nlohmann::json;

int run_prove_record(const Global& g, const ProveRecordOptions& o) {
  auto text = read_text_file(o.proof, 16u << 20);
  if (!text) return fail("prove-record: " + text.status().message());
  json bundle = json::parse(*text, nullptr, false);
  if (bundle.is_discarded() || !bundle.is_object() || !bundle.contains("entry") ||
      !bundle["entry"].is_object()) {
    return fail("prove-record: " + o.proof + " is not a proof bundle");
  }
  const json& entry = bundle["entry"];
  if (entry.value("kind", "") != audit::record_set_kind) {
    return fail("prove-record: " + o.proof + " proves an entry of kind \"" + entry.value("kind", "") +
                "\"; record proofs need one anchored with `anchor --records`");
  }
  if (o.line == 0) return fail("prove-record: --line counts from 1");

  auto records = audit::read_record_file(o.records);
  if (!records) return fail("prove-record: " + records.status().message());
  if (records->root.hex() != entry.value("content_hash", "")) {
    return fail("prove-record: the records of " + o.records + " give the root " + records->root.hex() +
                ", the bundle anchors " + entry.value("content_hash", "?") + " (another file or version)");
  }
  const std::uint64_t index = o.line - 1;
  if (index >= records->leaf_hashes.size()) {
    return fail("prove-record: " + o.records + " has " + std::to_string(records->leaf_hashes.size()) +
                " records; there is no line " + std::to_string(o.line));
  }
  auto record = audit::read_record(o.records, index);
  if (!record) return fail("prove-record: " + record.status().message());
  auto path = crypto::merkle::inclusion_path(records->leaf_hashes, index);
  if (!path) return fail(path.status());
  json path_json = json::array();
  for (const auto& h : *path) path_json.push_back(h.hex());
  bundle["record"] = {{"leaf_data", to_hex(as_bytes(*record))},
                      {"index", index},
                      {"size", records->leaf_hashes.size()},
                      {"path", path_json}};
  if (Status s = write_file_atomic(o.out, bundle.dump(2) + "\n"); !s.ok()) return fail(s);
  if (g.json) {
    print_json({{"out", o.out}, {"line", o.line}, {"index", index}, {"size", records->leaf_hashes.size()}});
  } else {
    std::cout << "wrote " << o.out << ": line " << o.line << " of " << records->leaf_hashes.size()
              << " records of " << o.records << "\n";
  }
  return exit_ok;
}

}  // namespace cityledger::cli
