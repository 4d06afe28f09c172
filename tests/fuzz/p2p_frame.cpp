// P2P frame decoder: any byte stream a peer sends, cut into reads of any size.
// Decoding must never crash or buffer more than one frame; the result must not
// depend on how the stream was cut; and every accepted envelope re-encodes to
// exactly the frame bytes it was read from (frames are canonical).
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "node/p2p/frame.hpp"

using namespace cityledger;
using namespace cityledger::node::p2p;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A small limit so the oversized path is reached by short inputs too.
  constexpr std::size_t max_frame_bytes = 1 << 16;
  const ByteSpan input{data, size};

  FrameDecoder whole(max_frame_bytes);
  std::vector<pb::Envelope> whole_out;
  const Status whole_status = whole.feed(input, whole_out);

  // The same bytes in pieces whose sizes are derived from the input itself.
  FrameDecoder pieces(max_frame_bytes);
  std::vector<pb::Envelope> pieces_out;
  Status pieces_status;
  std::size_t step = size == 0 ? 1 : 1 + data[0] % 13;
  for (std::size_t offset = 0; offset < size && pieces_status.ok();) {
    const std::size_t n = std::min(step, size - offset);
    pieces_status = pieces.feed(input.subspan(offset, n), pieces_out);
    offset += n;
    step = step * 7 % 31 + 1;
  }

  FUZZ_ASSERT(whole_status.ok() == pieces_status.ok());
  FUZZ_ASSERT(whole.error() == pieces.error());
  FUZZ_ASSERT(whole_out.size() == pieces_out.size());
  FUZZ_ASSERT(whole.buffered_bytes() < frame_header_bytes + max_frame_bytes);

  std::string again;
  for (const auto& envelope : whole_out) {
    FUZZ_ASSERT(kind_of(envelope) != MessageKind::none);
    auto frame = encode_frame(envelope, max_frame_bytes);
    FUZZ_ASSERT(frame.ok());
    again += *frame;
  }
  FUZZ_ASSERT(again.size() <= size &&
              std::equal(again.begin(), again.end(), reinterpret_cast<const char*>(data)));
  if (whole_status.ok()) FUZZ_ASSERT(again.size() + whole.buffered_bytes() == size);
  return 0;
}
