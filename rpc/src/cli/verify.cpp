// `cityledger verify`: fully offline. Trusts genesis.json alone; reads the
// bundle (and the file) from disk and opens no socket.
#include <iostream>

#include "audit/contracts.hpp"
#include "audit/genesis.hpp"
#include "audit/proof_bundle.hpp"
#include "cli.hpp"
#include "crypto/sha256.hpp"

namespace cityledger::cli {

namespace {
constexpr std::size_t bundle_limit_bytes = 16u << 20;

// A record for a terminal: at most 120 characters, control bytes escaped.
std::string printable(const std::string& record) {
  std::string out;
  for (const char ch : record) {
    if (out.size() >= 120) return out + "…";
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) {
      static const char* digits = "0123456789abcdef";
      out += "\\x";
      out += digits[u >> 4];
      out += digits[u & 15];
    } else {
      out += ch;
    }
  }
  return out;
}
int verify_reveal_file(const Global& g, const audit::Genesis& genesis, const std::string& path) {
  auto text = read_text_file(path, bundle_limit_bytes);
  if (!text) return fail("verify: " + text.status().message());
  audit::Verdict verdict;
  const auto reveal = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (reveal.is_discarded()) {
    verdict.checks.push_back({"reveal is JSON", false, path + " is not valid JSON"});
  } else {
    verdict = audit::verify_reveal(reveal, genesis);
  }
  if (g.json) {
    auto out = verdict.to_json();
    out["reveal"] = path;
    std::cout << out.dump(2) << "\n";
  } else if (verdict.verified) {
    std::cout << "VERIFIED  " << path << "\n"
              << "  contract      " << reveal.value("contract_id", "") << "\n"
              << "  field         " << reveal.value("field", "") << " = "
              << printable(reveal.value("value", "")) << "  (matches the sealed commitment)\n"
              << "  event         leaf " << verdict.leaf_index << " of " << verdict.tree_size << ", block "
              << verdict.height << "\n"
              << "  checkpoint    signed by " << verdict.signers << " validators (quorum " << verdict.quorum
              << ")\n";
  } else {
    std::cout << "FAILED  " << path << "\n  " << verdict.first_failure() << "\n";
  }
  return verdict.verified ? exit_ok : exit_verify_failed;
}

}  // namespace

int run_verify(const Global& g, const VerifyOptions& o) {
  auto genesis = audit::Genesis::load(o.genesis);
  if (!genesis) return fail("verify: genesis " + o.genesis + ": " + genesis.status().message());
  if (!o.reveal.empty()) return verify_reveal_file(g, *genesis, o.reveal);
  auto text = read_text_file(o.proof, bundle_limit_bytes);
  if (!text) return fail("verify: " + text.status().message());
  std::optional<Hash32> file_hash;
  if (!o.file.empty()) {
    auto digest = crypto::sha256_file(o.file);
    if (!digest) return fail("verify: " + digest.status().message());
    file_hash = *digest;
  }

  audit::Verdict verdict;
  const auto bundle = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (bundle.is_discarded()) {
    verdict.checks.push_back({"bundle is JSON", false, o.proof + " is not valid JSON"});
  } else {
    verdict = audit::verify_proof_bundle(bundle, *genesis, file_hash, o.record_line);
  }

  if (g.json) {
    auto out = verdict.to_json();
    out["proof"] = o.proof;
    if (!o.file.empty()) out["file"] = o.file;
    std::cout << out.dump(2) << "\n";
  } else if (verdict.verified) {
    std::cout << "VERIFIED  " << (o.file.empty() ? verdict.content_hash.hex() : o.file) << "\n"
              << "  content hash  " << verdict.content_hash.hex() << (file_hash ? "  (matches the file)" : "")
              << "\n"
              << "  log entry     leaf " << verdict.leaf_index << " of " << verdict.tree_size << " on chain "
              << genesis->chain_id << "\n"
              << "  block         " << verdict.height << "  " << verdict.block_hash.hex() << "\n"
              << (verdict.has_record ? "  record        line " + std::to_string(verdict.record_index + 1) +
                                           " of " + std::to_string(verdict.record_count) +
                                           (o.record_line ? " (matches the line given)" : "") + ": " +
                                           printable(verdict.record_data) + "\n"
                                     : std::string())
              << "  checkpoint    signed by " << verdict.signers << " validators (quorum " << verdict.quorum
              << " of " << genesis->validators.size() << ")\n";
    if (bundle.contains("entry") && bundle["entry"].is_object()) {
      const auto& e = bundle["entry"];
      if (e.contains("time_unix_ms") && e["time_unix_ms"].is_number_unsigned()) {
        std::cout << "  anchored at   " << format_unix_ms(e["time_unix_ms"].get<std::uint64_t>())
                  << " (block time)\n";
      }
      if (e.contains("submitter") && e["submitter"].is_string())
        std::cout << "  submitted by  " << e["submitter"].get<std::string>() << "\n";
      // A contract's leaf: what was agreed, as the verified metadata says.
      const std::string kind =
          e.value("kind", nlohmann::json()).is_string() ? e["kind"].get<std::string>() : "";
      if ((kind == audit::contract_event_kind || kind == audit::contract_registration_kind) &&
          e.contains("metadata") && e["metadata"].is_object()) {
        const auto& m = e["metadata"];
        auto text = [&m](const char* key) {
          return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
        };
        std::cout << "  contract      "
                  << (e.contains("dataset_id") && e["dataset_id"].is_string()
                          ? e["dataset_id"].get<std::string>()
                          : std::string())
                  << (kind == audit::contract_registration_kind ? ": registration \"" + text("title") + "\""
                                                                : ": " + text("kind") + " event")
                  << (text("amount").empty() ? "" : ", " + text("amount")) << "\n";
        if (!text("cosigners").empty()) std::cout << "  co-signed by  " << text("cosigners") << "\n";
      }
    }
  } else {
    std::cout << "FAILED  " << o.proof << "\n  " << verdict.first_failure() << "\n";
  }
  return verdict.verified ? exit_ok : exit_verify_failed;
}

}  // namespace cityledger::cli
