// The record files a validator rewrites in place (node/record_file.hpp): the
// double-sign guard's two files and the kept-block slots, read back from disk
// at start, where a crash may have left a record cut short or damaged. What
// decode accepts is exactly a record encode writes (bytes after it are
// ignored), and it never accepts a record whose bytes were changed.
#include "node/record_file.hpp"

#include "cityledger.pb.h"
#include "fuzz_common.hpp"
#include "proto/codec.hpp"

using namespace cityledger;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto record = node::RecordFile::decode(bytes);
  if (!record) {
    FUZZ_ASSERT(record.status().code() == ErrorCode::corruption);
    return 0;
  }
  const std::string encoded = node::RecordFile::encode(*record);
  FUZZ_ASSERT(encoded.size() <= bytes.size());
  FUZZ_ASSERT(bytes.substr(0, encoded.size()) == encoded);
  // A change of any byte of the record is refused (the checksum covers the
  // sequence, the length and the payload).
  std::string flipped = encoded;
  flipped[size % encoded.size()] ^= 0x01;
  FUZZ_ASSERT(!node::RecordFile::decode(flipped).ok());
  // What the node does with a payload: a sign state or a block, canonically.
  if (auto state = proto::decode<pb::SignState>(record->payload)) {
    FUZZ_ASSERT(proto::encode(*state) == record->payload);
  }
  if (auto block = proto::decode<pb::Block>(record->payload)) {
    FUZZ_ASSERT(proto::encode(*block) == record->payload);
  }
  return 0;
}
