// Differential fuzzing of the auditor's hand-written LogEntry reader against
// the Protobuf library: on any bytes, audit::decode_log_entry must accept
// exactly the canonical LogEntries with a 32-byte content hash, and read the
// same values.
#include "audit/log_entry.hpp"

#include "cityledger.pb.h"
#include "fuzz_common.hpp"
#include "proto/codec.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan bytes{data, size};
  auto ours = audit::decode_log_entry(bytes);
  auto reference = proto::decode<pb::LogEntry>(bytes);
  const bool reference_ok = reference.ok() && reference->has_entry() &&
                            reference->entry().content_hash().size() == 32 &&
                            reference->entry().kind() >= 0 &&
                            (reference->submitter().empty() || reference->submitter().size() == 32) &&
                            (reference->tx_hash().empty() || reference->tx_hash().size() == 32);
  FUZZ_ASSERT(ours.ok() == reference_ok);
  if (!ours.ok()) return 0;
  const auto& e = reference->entry();
  FUZZ_ASSERT(ours->content_hash.to_string() == e.content_hash());
  FUZZ_ASSERT(ours->kind == static_cast<std::uint64_t>(static_cast<std::uint32_t>(e.kind())));
  FUZZ_ASSERT(ours->dataset_id == e.dataset_id());
  FUZZ_ASSERT(ours->metadata.size() == static_cast<std::size_t>(e.metadata_size()));
  for (int i = 0; i < e.metadata_size(); ++i) {
    FUZZ_ASSERT(ours->metadata[static_cast<std::size_t>(i)].first == e.metadata(i).key());
    FUZZ_ASSERT(ours->metadata[static_cast<std::size_t>(i)].second == e.metadata(i).value());
  }
  FUZZ_ASSERT(ours->height == reference->height());
  FUZZ_ASSERT(ours->time_unix_ms == reference->time_unix_ms());
  FUZZ_ASSERT(ours->index_in_tx == reference->index_in_tx());
  return 0;
}
