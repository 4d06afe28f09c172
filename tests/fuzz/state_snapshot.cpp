// The committed-state snapshot a node reads from data/state_snapshot at start
// (docs/node.md, "State snapshots"): bytes from disk, possibly damaged. The
// contract book's restore must refuse what does not hold together and leave
// the book as it was; what it accepts must export to a snapshot that restores
// to the same book.
#include "fuzz_common.hpp"
#include "node/contract_book.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pb::StateSnapshot snapshot;
  if (!snapshot.ParseFromArray(data, static_cast<int>(size))) return 0;
  node::ContractBook book(fuzz::chain_id);
  if (!book.restore(snapshot).ok()) {
    FUZZ_ASSERT(book.size() == 0);  // a refused snapshot changes nothing
    return 0;
  }
  pb::StateSnapshot exported;
  book.export_to(exported);
  FUZZ_ASSERT(static_cast<std::size_t>(exported.contracts_size()) == book.size());
  node::ContractBook again(fuzz::chain_id);
  FUZZ_ASSERT(again.restore(exported).ok());
  pb::StateSnapshot twice;
  again.export_to(twice);
  FUZZ_ASSERT(twice.SerializeAsString() == exported.SerializeAsString());
  for (const auto& id : book.ids()) {
    const auto record = book.contract(id);
    FUZZ_ASSERT(record.has_value());
    for (const auto& event : record->events) {
      // Every restored event is known as anchored: its repeat would be refused.
      FUZZ_ASSERT(event.subject_hash.span().size() == 32);
    }
  }
  return 0;
}
