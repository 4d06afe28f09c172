// Decoders of bytes the ledger reads back from RocksDB (ledger/records.hpp):
// keys, the tx-index value, the metadata head and kind, and the stored
// Protobuf records (Block, CommitCertificate, LogEntry) and the transaction
// bodies derive_log_entries() decodes from a block. A decoder must never
// crash, and whatever it accepts must re-encode to exactly the input bytes
// (one byte form per record, so a damaged record cannot pass as another).
#include <string>

#include "fuzz_common.hpp"
#include "ledger/records.hpp"
#include "ledger/store.hpp"
#include "proto/codec.hpp"
#include "proto/objects.hpp"

using namespace cityledger;
using namespace cityledger::ledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  if (auto v = records::decode_u64_key(bytes)) FUZZ_ASSERT(records::u64_key(*v) == bytes);
  if (auto v = records::decode_u32_value(bytes)) FUZZ_ASSERT(records::u32_value(*v) == bytes);
  if (auto v = records::decode_hash(bytes)) FUZZ_ASSERT(v->to_string() == bytes);
  if (auto v = records::decode_node_key(bytes)) {
    FUZZ_ASSERT(v->level >= 1 && v->level <= max_node_level);
    FUZZ_ASSERT(records::node_key(*v) == bytes);
  }
  if (auto v = records::decode_content_key(bytes)) {
    FUZZ_ASSERT(records::content_key(v->content_hash, v->leaf_index) == bytes);
  }
  if (auto v = records::decode_tx_location(bytes)) FUZZ_ASSERT(records::tx_location_value(*v) == bytes);
  if (auto v = records::decode_head(bytes)) FUZZ_ASSERT(records::head_value(*v) == bytes);
  if (auto v = records::decode_kind(bytes)) FUZZ_ASSERT(records::kind_value(*v) == bytes);

  // Stored Protobuf records go through the canonical decoder.
  if (auto block = proto::decode<pb::Block>(bytes)) {
    FUZZ_ASSERT(proto::encode(*block) == bytes);
    (void)proto::block_hash(block->header());
    // The transactions inside: every body decoded canonically, or refused.
    auto entries = derive_log_entries(*block);
    if (entries.ok()) {
      for (const auto& entry : *entries) FUZZ_ASSERT(entry.entry().content_hash().size() == 32);
    }
  }
  if (auto commit = proto::decode<pb::CommitCertificate>(bytes)) FUZZ_ASSERT(proto::encode(*commit) == bytes);
  if (auto entry = proto::decode<pb::LogEntry>(bytes)) {
    FUZZ_ASSERT(proto::log_entry_bytes(*entry) == bytes);
    (void)proto::log_leaf_hash(*entry);
  }
  return 0;
}
