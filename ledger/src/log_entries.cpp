// The leaves a block adds to the global log (store.hpp: derive_log_entries).
#include "ledger/store.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

namespace cityledger::ledger {

std::uint64_t log_leaf_count(const pb::TxBody& body) {
  if (body.has_anchor()) return static_cast<std::uint64_t>(body.anchor().entries_size());
  return body.has_contract() ? 1 : 0;
}

Result<std::vector<pb::LogEntry>> derive_log_entries(const pb::Block& block) {
  const pb::BlockHeader& header = block.header();
  std::vector<pb::LogEntry> entries;
  for (int position = 0; position < block.txs_size(); ++position) {
    const pb::Transaction& tx = block.txs(position);
    auto body = proto::decode<pb::TxBody>(as_bytes(tx.body()));
    if (!body.ok()) {
      return error(ErrorCode::invalid_argument,
                   "transaction " + std::to_string(position) + ": body: " + body.status().message());
    }
    if (body->has_contract()) {
      // One leaf per contract action (proto/contracts.hpp).
      pb::LogEntry& entry = entries.emplace_back();
      *entry.mutable_entry() = proto::contract_anchor_entry(body->contract());
      entry.set_submitter(body->signer());
      entry.set_tx_hash(proto::to_field(proto::tx_hash(tx)));
      entry.set_index_in_tx(0);
      entry.set_height(header.height());
      entry.set_time_unix_ms(header.time_unix_ms());
      continue;
    }
    if (!body->has_anchor()) continue;
    const Hash32 hash = proto::tx_hash(tx);
    const auto& batch = body->anchor().entries();
    for (int i = 0; i < batch.size(); ++i) {
      // The content index is keyed by the 32-byte hash; nothing else about the
      // entry is the ledger's to judge (proto::verify_transaction is).
      if (batch[i].content_hash().size() != 32) {
        return error(ErrorCode::invalid_argument, "transaction " + std::to_string(position) + " entry " +
                                                      std::to_string(i) + ": content_hash must be 32 bytes");
      }
      pb::LogEntry& entry = entries.emplace_back();
      *entry.mutable_entry() = batch[i];
      entry.set_submitter(body->signer());
      entry.set_tx_hash(proto::to_field(hash));
      entry.set_index_in_tx(static_cast<std::uint32_t>(i));
      entry.set_height(header.height());
      entry.set_time_unix_ms(header.time_unix_ms());
    }
  }
  return entries;
}

}  // namespace cityledger::ledger
