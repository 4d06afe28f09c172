// `cityledger anchor`: hash files in bounded memory, submit their hashes in
// signed batch transactions, and with --wait collect a proof bundle per file
// once a final checkpoint covers it.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "audit/proof_bundle.hpp"
#include "audit/records.hpp"
#include "cli.hpp"
#include "crypto/schnorr.hpp"
#include "crypto/sha256.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

namespace cityledger::cli {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Files at least this large show a progress line while hashing (on a terminal).
constexpr std::uint64_t progress_threshold_bytes = 64u << 20;
// Stay well under the node's 1 MiB transaction limit.
constexpr std::size_t batch_bytes_max = 768u << 10;
// One submit_txs call: at most this many transactions, and about this much hex
// (the node's default body limit is 1 MiB).
constexpr std::size_t submit_call_txs = 1000;
constexpr std::size_t submit_call_bytes = 512u << 10;

struct Item {
  fs::path path;
  std::uint64_t size = 0;
  Hash32 content_hash;
  pb::AnchorEntry entry;
  std::size_t batch = 0;
  std::uint32_t index_in_tx = 0;
};

struct Batch {
  pb::Transaction tx;
  Hash32 hash;
  std::uint64_t height = 0;
  std::uint64_t first_leaf = 0;
};

Result<Hash32> hash_file(const fs::path& path, std::uint64_t size) {
  const bool show = size >= progress_threshold_bytes && ::isatty(STDERR_FILENO);
  if (!show) return crypto::sha256_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return error(ErrorCode::io_error, "cannot open " + path.string());
  crypto::Sha256 hasher;
  std::vector<char> buffer(1u << 20);
  std::uint64_t done = 0;
  int last_percent = -1;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    hasher.update(ByteSpan(reinterpret_cast<const std::uint8_t*>(buffer.data()), n));
    done += n;
    const int percent = static_cast<int>(done * 100 / size);
    if (percent != last_percent) {
      std::fprintf(stderr, "\rhashing %s  %3d%%  (%llu of %llu MiB)", path.filename().c_str(), percent,
                   static_cast<unsigned long long>(done >> 20), static_cast<unsigned long long>(size >> 20));
      last_percent = percent;
    }
  }
  std::fprintf(stderr, "\n");
  if (in.bad()) return error(ErrorCode::io_error, "read error in " + path.string());
  return hasher.finish();
}

Result<std::map<std::string, std::string>> parse_meta(const std::vector<std::string>& meta) {
  std::map<std::string, std::string> out;
  for (const auto& kv : meta) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return error(ErrorCode::invalid_argument, "--meta wants key=value, got \"" + kv + "\"");
    }
    if (!out.emplace(kv.substr(0, eq), kv.substr(eq + 1)).second) {
      return error(ErrorCode::invalid_argument, "--meta key \"" + kv.substr(0, eq) + "\" given twice");
    }
  }
  return out;
}

bool retryable(const Status& s) { return s.code() == ErrorCode::unavailable; }

}  // namespace

int run_anchor(const Global& g, const AnchorOptions& o) {
  if (o.files.empty()) return fail("anchor: no files given");
  if (o.batch == 0 || o.batch > 10'000) return fail("anchor: --batch must be 1..10000");
  auto user_meta = parse_meta(o.meta);
  if (!user_meta) return fail(user_meta.status());

  // Check every input before touching the network: nothing half-submitted
  // because file 900 of 1000 was missing.
  std::vector<Item> items;
  std::set<std::string> proof_names;
  for (const auto& f : o.files) {
    std::error_code ec;
    if (!fs::is_regular_file(f, ec)) return fail("anchor: " + f + " is not a readable regular file");
    Item item;
    item.path = f;
    item.size = fs::file_size(f, ec);
    if (ec) return fail("anchor: " + f + ": " + ec.message());
    if (!o.proof_dir.empty() && !proof_names.insert(item.path.filename().string()).second) {
      return fail("anchor: two files are named " + item.path.filename().string() +
                  "; their proofs would both be " + o.proof_dir + "/" + item.path.filename().string() +
                  ".proof.json — anchor them separately");
    }
    items.push_back(std::move(item));
  }
  if (!o.proof_dir.empty() && !o.wait)
    return fail("anchor: --proof-dir needs --wait (proofs exist once committed)");
  if (!o.proof_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.proof_dir, ec);
    if (ec) return fail("anchor: cannot create " + o.proof_dir + ": " + ec.message());
  }

  auto key = crypto::read_key_file(o.key);
  if (!key) return fail(key.status());
  const std::string signer = key->public_key().hex();

  rpc::RpcClient client(g.rpc_url);
  auto status = client.call("status");
  if (!status) return fail(status.status());
  const std::string chain_id = (*status)["chain_id"].get<std::string>();
  // After this key's transactions still waiting for a block (another anchor
  // run a moment ago), not on top of them.
  auto next = next_nonce(client, signer, chain_id, "anchoring needs an account with the submitter role");
  if (!next) return fail("anchor: " + next.status().message());
  std::uint64_t nonce = *next;

  // Hash (on every core, unless a progress line is shown) and describe each file.
  std::vector<Result<Hash32>> digests;
  if (!o.records && !::isatty(STDERR_FILENO)) {
    std::vector<fs::path> paths;
    for (const auto& item : items) paths.push_back(item.path);
    digests = sha256_files(paths);
  }
  for (auto& item : items) {
    std::map<std::string, std::string> meta = {{"name", item.path.filename().string()},
                                               {"size", std::to_string(item.size)}};
    if (o.records) {
      // The RFC 9162 root over the file's lines is what gets anchored; the
      // whole file's SHA-256 and the record count go into the metadata.
      auto records = audit::read_record_file(item.path);
      if (!records) return fail("anchor: " + records.status().message());
      item.content_hash = records->root;
      item.entry.set_kind(pb::ENTRY_KIND_RECORD_SET_ROOT);
      meta[audit::record_meta_count] = std::to_string(records->leaf_hashes.size());
      meta[audit::record_meta_sha256] = records->file_sha256.hex();
    } else {
      const std::size_t i = static_cast<std::size_t>(&item - items.data());
      auto digest = digests.empty() ? hash_file(item.path, item.size) : digests[i];
      if (!digest) return fail(digest.status());
      item.content_hash = *digest;
      item.entry.set_kind(pb::ENTRY_KIND_FILE);
    }
    for (const auto& [k, v] : *user_meta) meta[k] = v;  // the user's words win
    item.entry.set_content_hash(proto::to_field(item.content_hash));
    item.entry.set_dataset_id(o.dataset);
    for (const auto& [k, v] : meta) {  // std::map: keys ascending, as the canonical form wants
      auto* field = item.entry.add_metadata();
      field->set_key(k);
      field->set_value(v);
    }
    if (Status s = proto::validate_anchor_entry(item.entry); !s.ok()) {
      return fail("anchor: " + item.path.string() + ": " + s.message());
    }
  }

  // Batches: at most o.batch entries and batch_bytes_max bytes each.
  std::vector<Batch> batches;
  pb::TxBody body;
  std::size_t body_bytes = 0;
  auto seal = [&] {
    if (body.anchor().entries_size() == 0) return;
    body.set_chain_id(chain_id);
    body.set_signer(proto::to_field(key->public_key()));
    body.set_nonce(nonce++);
    Batch b;
    b.tx = proto::sign_transaction(body, *key);
    b.hash = proto::tx_hash(b.tx);
    batches.push_back(std::move(b));
    body.Clear();
    body_bytes = 0;
  };
  for (auto& item : items) {
    const std::size_t size = item.entry.ByteSizeLong() + 8;
    if (static_cast<std::size_t>(body.anchor().entries_size()) >= o.batch ||
        body_bytes + size > batch_bytes_max) {
      seal();
    }
    item.batch = batches.size();
    item.index_in_tx = static_cast<std::uint32_t>(body.anchor().entries_size());
    *body.mutable_anchor()->add_entries() = item.entry;
    body_bytes += size;
  }
  seal();

  // Submit, in order, through the bulk path (submit_txs, docs/rpc.md): calls
  // of up to submit_call_txs transactions and about submit_call_bytes of hex.
  // Resubmitting the same bytes is idempotent on the node.
  std::vector<std::string> hexes;
  hexes.reserve(batches.size());
  for (const auto& b : batches) hexes.push_back(to_hex(as_bytes(proto::encode(b.tx))));
  auto refused = [&](std::size_t i, const std::string& why) {
    std::string done;
    for (std::size_t j = 0; j < i; ++j) done += " " + batches[j].hash.hex();
    return fail("anchor: the node refused batch " + std::to_string(i + 1) + " of " +
                std::to_string(batches.size()) + ": " + why +
                (i > 0 ? "; already submitted:" + done : std::string()));
  };
  for (std::size_t first = 0; first < batches.size();) {
    std::size_t end = first;
    std::size_t bytes = 0;
    json txs = json::array();
    while (end < batches.size() && end - first < submit_call_txs &&
           (end == first || bytes + hexes[end].size() <= submit_call_bytes)) {
      bytes += hexes[end].size();
      txs.push_back(hexes[end++]);
    }
    auto r = client.call("submit_txs", {{"txs", std::move(txs)}});
    if (!r) return refused(first, r.status().message());
    const auto& results = (*r)["results"];
    for (std::size_t i = first; i < end; ++i) {
      const auto& one = results.at(i - first);
      if (one.contains("error")) return refused(i, one["error"].value("message", std::string("refused")));
    }
    first = end;
  }
  if (!g.json) {
    for (const auto& item : items) {
      std::cout << item.content_hash.hex() << "  " << item.path.string() << "  tx "
                << batches[item.batch].hash.hex() << "\n";
    }
    std::cout << "submitted " << items.size() << " entries in " << batches.size() << " transaction"
              << (batches.size() == 1 ? "" : "s") << "\n";
  }

  int exit_code = exit_ok;
  std::vector<json> proofs(items.size());
  if (o.wait) {
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
    auto remaining_ms = [&] {
      return std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    };
    for (auto& b : batches) {
      const std::string hex = to_hex(as_bytes(proto::encode(b.tx)));
      for (;;) {
        auto r = client.call(
            "submit_tx",
            {{"tx", hex}, {"wait", true}, {"timeout_ms", std::min<std::int64_t>(remaining_ms(), 60'000)}});
        if (r && r->contains("height")) {
          b.height = (*r)["height"].get<std::uint64_t>();
          break;
        }
        if ((!r && !retryable(r.status())) || Clock::now() >= deadline) {
          return fail("anchor: transaction " + b.hash.hex() +
                      " not committed: " + (r ? std::string("timed out") : r.status().message()));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      auto t = client.call("get_tx", {{"hash", b.hash.hex()}});
      if (!t) return fail(t.status());
      b.first_leaf = (*t)["first_leaf_index"].get<std::uint64_t>();
    }
    if (!o.proof_dir.empty()) {
      // In chunks of 1000 files: their bundles asked for in JSON-RPC batches
      // (a leaf the node cannot prove yet, with no final checkpoint covering
      // it, is asked again until the deadline), then written together.
      constexpr std::size_t chunk = 1000;
      for (std::size_t first = 0; first < items.size(); first += chunk) {
        const std::size_t count = std::min(chunk, items.size() - first);
        std::vector<std::uint64_t> leaves;
        for (std::size_t i = first; i < first + count; ++i) {
          leaves.push_back(batches[items[i].batch].first_leaf + items[i].index_in_tx);
        }
        ProofFetch fetch(std::move(leaves));
        for (;;) {
          fetch.ask(client);
          std::erase_if(fetch.pending, [&](std::size_t k) { return !retryable(fetch.bundles[k].status()); });
          if (fetch.pending.empty() || Clock::now() >= deadline) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        std::vector<FileToWrite> files;
        files.reserve(count);
        for (std::size_t k = 0; k < count; ++k) {
          const auto& item = items[first + k];
          Result<json>& bundle = fetch.bundles[k];
          if (!bundle)
            return fail("anchor: no proof for " + item.path.string() + ": " + bundle.status().message());
          if ((*bundle)["entry"].value("content_hash", "") != item.content_hash.hex()) {
            return fail("anchor: the node's proof for leaf " + std::to_string(fetch.leaves[k]) +
                        " is not for " + item.path.string() + " (content hash differs)");
          }
          const fs::path out = fs::path(o.proof_dir) / (item.path.filename().string() + ".proof.json");
          files.push_back({out, bundle->dump(2) + "\n"});
          proofs[first + k] = {{"proof", out.string()}, {"tree_size", (*bundle)["inclusion"]["tree_size"]}};
          bundle = error(ErrorCode::unavailable, "written");  // its tree is no longer needed
        }
        if (Status s = write_files_atomic(files); !s.ok()) return fail(s);
      }
    }
  }

  if (g.json) {
    json entries = json::array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& item = items[i];
      const auto& b = batches[item.batch];
      json e = {{"file", item.path.string()},
                {"content_hash", item.content_hash.hex()},
                {"size", item.size},
                {"tx_hash", b.hash.hex()},
                {"index_in_tx", item.index_in_tx}};
      if (o.wait) {
        e["height"] = b.height;
        e["leaf_index"] = b.first_leaf + item.index_in_tx;
      }
      if (proofs[i].is_object()) e.update(proofs[i]);
      entries.push_back(e);
    }
    json txs = json::array();
    for (const auto& b : batches) txs.push_back(b.hash.hex());
    print_json({{"chain_id", chain_id}, {"committed", o.wait}, {"entries", entries}, {"txs", txs}});
  } else if (o.wait) {
    std::uint64_t top = 0;
    for (const auto& b : batches) top = std::max(top, b.height);
    std::cout << "committed by height " << top;
    if (!o.proof_dir.empty()) std::cout << "; proofs in " << o.proof_dir << "/";
    std::cout << "\n";
  }
  return exit_code;
}

}  // namespace cityledger::cli
