// The leaves a block adds to the global log (store.hpp: derive_log_entries).
#include <functional>

#include "crypto/sha256.hpp"
#include "ledger/store.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

namespace cityledger::ledger {

std::uint64_t log_leaf_count(const pb::TxBody& body) {
  if (body.has_anchor()) return static_cast<std::uint64_t>(body.anchor().entries_size());
  return body.has_contract() ? 1 : 0;
}

Status for_each_log_entry(const pb::Block& block, const std::function<Status(const pb::LogEntry&)>& visit) {
  const pb::BlockHeader& header = block.header();
  // One body and one entry, reused: decoding into a cleared message and
  // swapping each batch entry in costs no allocation per entry once warm.
  pb::TxBody body;
  pb::LogEntry entry;
  for (int position = 0; position < block.txs_size(); ++position) {
    const pb::Transaction& tx = block.txs(position);
    if (Status decoded = proto::decode_into(as_bytes(tx.body()), body); !decoded.ok()) {
      return error(ErrorCode::invalid_argument,
                   "transaction " + std::to_string(position) + ": body: " + decoded.message());
    }
    if (body.has_contract()) {
      // One leaf per contract action (proto/contracts.hpp).
      entry.Clear();
      *entry.mutable_entry() = proto::contract_anchor_entry(body.contract());
      entry.set_submitter(body.signer());
      entry.set_tx_hash(proto::to_field(proto::tx_hash(tx)));
      entry.set_index_in_tx(0);
      entry.set_height(header.height());
      entry.set_time_unix_ms(header.time_unix_ms());
      CL_TRY(visit(entry));
      continue;
    }
    if (!body.has_anchor()) continue;
    entry.Clear();
    entry.set_submitter(body.signer());
    entry.set_tx_hash(proto::to_field(proto::tx_hash(tx)));
    entry.set_height(header.height());
    entry.set_time_unix_ms(header.time_unix_ms());
    auto& batch = *body.mutable_anchor()->mutable_entries();
    for (int i = 0; i < batch.size(); ++i) {
      // The content index is keyed by the 32-byte hash; nothing else about the
      // entry is the ledger's to judge (proto::verify_transaction is).
      if (batch[i].content_hash().size() != 32) {
        return error(ErrorCode::invalid_argument, "transaction " + std::to_string(position) + " entry " +
                                                      std::to_string(i) + ": content_hash must be 32 bytes");
      }
      // Moved in, not copied; `body` is ours and decoded afresh for the next
      // transaction, and the previous entry goes back into the batch.
      entry.mutable_entry()->Swap(batch.Mutable(i));
      entry.set_index_in_tx(static_cast<std::uint32_t>(i));
      const Status visited = visit(entry);
      entry.mutable_entry()->Swap(batch.Mutable(i));
      CL_TRY(visited);
    }
  }
  return {};
}

Result<std::vector<pb::LogEntry>> derive_log_entries(const pb::Block& block) {
  std::vector<pb::LogEntry> entries;
  CL_TRY(for_each_log_entry(block, [&](const pb::LogEntry& entry) -> Status {
    entries.push_back(entry);
    return {};
  }));
  return entries;
}

Result<std::vector<Hash32>> log_leaf_hashes(const pb::Block& block) {
  std::vector<Hash32> leaves;
  // SHA-256(0x00 || canonical entry bytes), RFC 9162's leaf hash, over one
  // reused buffer that starts with the 0x00.
  std::string buffer(1, '\0');
  CL_TRY(for_each_log_entry(block, [&](const pb::LogEntry& entry) -> Status {
    buffer.resize(1);
    proto::encode_append(entry, buffer);
    leaves.push_back(crypto::sha256(as_bytes(buffer)));
    return {};
  }));
  return leaves;
}

}  // namespace cityledger::ledger
