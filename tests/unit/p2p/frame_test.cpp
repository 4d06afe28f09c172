// The frame codec, the send queue and the reconnect backoff: pure code, no sockets.
#include "node/p2p/frame.hpp"

#include <gtest/gtest.h>

#include <set>

#include "node/p2p/send_queue.hpp"
#include "proto/codec.hpp"

namespace cityledger::node::p2p {
namespace {

pb::Envelope tx_envelope(const std::string& body) {
  pb::Envelope envelope;
  envelope.mutable_tx()->set_body(body);
  envelope.mutable_tx()->set_signature(std::string(64, '\x07'));
  return envelope;
}

pb::Envelope hello_envelope(std::uint64_t height) {
  pb::Envelope envelope;
  envelope.mutable_hello()->set_chain_id("test-chain");
  envelope.mutable_hello()->set_validator(std::string(32, '\x01'));
  envelope.mutable_hello()->set_height(height);
  return envelope;
}

pb::Envelope vote_envelope() {
  pb::Envelope envelope;
  envelope.mutable_vote()->set_type(pb::VOTE_TYPE_PREVOTE);
  envelope.mutable_vote()->set_height(7);
  envelope.mutable_vote()->set_block_id(std::string(32, '\x02'));
  return envelope;
}

std::string frame_of(const pb::Envelope& envelope, std::size_t max = max_frame_bytes_default) {
  auto frame = encode_frame(envelope, max);
  EXPECT_TRUE(frame.ok()) << frame.status().to_string();
  return frame.ok() ? *frame : std::string();
}

ByteSpan span_of(std::string_view s) { return as_bytes(s); }

std::string header(std::uint32_t length) {
  std::string out(4, '\0');
  out[0] = static_cast<char>(length >> 24);
  out[1] = static_cast<char>(length >> 16);
  out[2] = static_cast<char>(length >> 8);
  out[3] = static_cast<char>(length);
  return out;
}

TEST(FrameCodec, RoundTrip) {
  const std::vector<pb::Envelope> sent = {hello_envelope(3), tx_envelope("anchor me"), vote_envelope(),
                                          tx_envelope(std::string(100'000, 'x'))};
  std::string stream;
  for (const auto& envelope : sent) stream += frame_of(envelope);

  const std::string first = frame_of(sent[0]);
  ASSERT_EQ(first.size(), 4 + sent[0].ByteSizeLong());
  EXPECT_EQ(first.substr(0, 4), header(static_cast<std::uint32_t>(sent[0].ByteSizeLong())));

  FrameDecoder decoder;
  std::vector<pb::Envelope> received;
  ASSERT_TRUE(decoder.feed(span_of(stream), received).ok());
  ASSERT_EQ(received.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(proto::encode(received[i]), proto::encode(sent[i]));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_FALSE(decoder.failed());
}

TEST(FrameCodec, SplitAtEveryByteBoundary) {
  const std::vector<pb::Envelope> sent = {hello_envelope(1), vote_envelope(), tx_envelope("abc")};
  std::string stream;
  for (const auto& envelope : sent) stream += frame_of(envelope);
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    FrameDecoder decoder;
    std::vector<pb::Envelope> received;
    ASSERT_TRUE(decoder.feed(span_of(std::string_view(stream).substr(0, split)), received).ok());
    ASSERT_TRUE(decoder.feed(span_of(std::string_view(stream).substr(split)), received).ok());
    ASSERT_EQ(received.size(), sent.size()) << "split at " << split;
    for (std::size_t i = 0; i < sent.size(); ++i)
      EXPECT_EQ(proto::encode(received[i]), proto::encode(sent[i]));
  }
  // One byte at a time.
  FrameDecoder decoder;
  std::vector<pb::Envelope> received;
  for (const char c : stream) ASSERT_TRUE(decoder.feed(span_of(std::string_view(&c, 1)), received).ok());
  EXPECT_EQ(received.size(), sent.size());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameCodec, RefusesZeroLengthFrame) {
  FrameDecoder decoder;
  std::vector<pb::Envelope> received;
  const std::string stream = frame_of(vote_envelope()) + header(0);
  const Status status = decoder.feed(span_of(stream), received);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(decoder.error(), FrameError::zero_length);
  EXPECT_STREQ(frame_error_name(decoder.error()), "decode_zero_length");
  EXPECT_EQ(received.size(), 1u);  // the good frame before it is still delivered
}

TEST(FrameCodec, RefusesOversizedFrameFromItsHeaderAlone) {
  FrameDecoder decoder(1024);
  std::vector<pb::Envelope> received;
  // Only the 4-byte header arrives: the decoder must not wait for (or buffer) the body.
  const Status status = decoder.feed(span_of(header(1025)), received);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(decoder.error(), FrameError::oversized);
  EXPECT_EQ(std::string(frame_error_name(decoder.error())), "decode_oversized");

  FrameDecoder huge;
  EXPECT_FALSE(huge.feed(span_of(header(0xFFFFFFFFu)), received).ok());
  EXPECT_EQ(huge.error(), FrameError::oversized);

  // Exactly at the limit is fine.
  const pb::Envelope envelope = tx_envelope(std::string(900, 'y'));
  const std::size_t size = envelope.ByteSizeLong();
  FrameDecoder exact(size);
  EXPECT_TRUE(exact.feed(span_of(frame_of(envelope)), received).ok());
  EXPECT_FALSE(encode_frame(envelope, size - 1).ok());
}

TEST(FrameCodec, RefusesBytesThatAreNotACanonicalEnvelope) {
  const std::vector<std::string> bodies = {
      std::string("\xff\xff\xff\xff\xff", 5),  // not protobuf at all
      std::string("\x78\x01", 2),              // unknown field 15
      std::string("\x1a\x02\x10\x00", 4),      // vote with an explicit default height: not canonical
      std::string("\x22\x05\x0a", 3),          // tx whose length runs past the end
  };
  for (const auto& body : bodies) {
    FrameDecoder decoder;
    std::vector<pb::Envelope> received;
    const std::string stream = header(static_cast<std::uint32_t>(body.size())) + body;
    EXPECT_FALSE(decoder.feed(span_of(stream), received).ok()) << to_hex(span_of(body));
    EXPECT_EQ(decoder.error(), FrameError::not_canonical) << to_hex(span_of(body));
    EXPECT_TRUE(received.empty());
  }
}

TEST(FrameCodec, FailedDecoderStaysFailed) {
  FrameDecoder decoder;
  std::vector<pb::Envelope> received;
  EXPECT_FALSE(decoder.feed(span_of(header(0)), received).ok());
  EXPECT_FALSE(decoder.feed(span_of(frame_of(vote_envelope())), received).ok());
  EXPECT_TRUE(received.empty());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameCodec, EncodeRefusesEmptyEnvelope) {
  EXPECT_FALSE(encode_frame(pb::Envelope{}).ok());
  EXPECT_EQ(kind_of(pb::Envelope{}), MessageKind::none);
  EXPECT_EQ(kind_of(vote_envelope()), MessageKind::vote);
  EXPECT_STREQ(message_kind_name(MessageKind::checkpoint_signature), "checkpoint_signature");
}

TEST(FrameCodec, BufferIsBoundedByOneFrame) {
  FrameDecoder decoder(4096);
  std::vector<pb::Envelope> received;
  const std::string frame = frame_of(tx_envelope(std::string(4000, 'z')), 4096);
  // Feed many frames except for the last byte of the last one.
  std::string stream;
  for (int i = 0; i < 50; ++i) stream += frame;
  ASSERT_TRUE(decoder.feed(span_of(std::string_view(stream).substr(0, stream.size() - 1)), received).ok());
  EXPECT_EQ(received.size(), 49u);
  EXPECT_EQ(decoder.buffered_bytes(), frame.size() - 1);
  ASSERT_TRUE(decoder.feed(span_of(std::string_view(stream).substr(stream.size() - 1)), received).ok());
  EXPECT_EQ(received.size(), 50u);
}

OutgoingFrame outgoing(std::size_t size, char fill) {
  return OutgoingFrame{std::make_shared<const std::string>(size, fill), MessageKind::tx};
}

TEST(SendQueue, DropsOldestWhenFullByCount) {
  SendQueue queue(3, 1000);
  for (char c = 'a'; c <= 'c'; ++c) EXPECT_EQ(queue.push(outgoing(10, c)).dropped, 0u);
  const auto result = queue.push(outgoing(10, 'd'));
  EXPECT_TRUE(result.accepted);
  EXPECT_EQ(result.dropped, 1u);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ((*queue.pop()->frame)[0], 'b');  // 'a', the oldest, was dropped
  EXPECT_EQ(queue.bytes(), 20u);
}

TEST(SendQueue, DropsOldestWhenFullByBytes) {
  SendQueue queue(100, 100);
  EXPECT_EQ(queue.push(outgoing(40, 'a')).dropped, 0u);
  EXPECT_EQ(queue.push(outgoing(40, 'b')).dropped, 0u);
  const auto result = queue.push(outgoing(70, 'c'));  // needs both older frames gone
  EXPECT_TRUE(result.accepted);
  EXPECT_EQ(result.dropped, 2u);
  EXPECT_EQ(queue.bytes(), 70u);
  const auto too_big = queue.push(outgoing(101, 'd'));
  EXPECT_FALSE(too_big.accepted);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(queue.clear(), 1u);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(Backoff, DoublesToTheMaximumWithJitter) {
  Backoff backoff(std::chrono::milliseconds(100), std::chrono::milliseconds(5000), 42);
  std::set<long> distinct;
  long nominal = 100;
  for (int i = 0; i < 20; ++i) {
    const auto delay = backoff.next().count();
    EXPECT_GE(delay, nominal / 2);
    EXPECT_LE(delay, nominal);
    distinct.insert(delay);
    nominal = std::min(5000L, nominal * 2);
  }
  EXPECT_EQ(backoff.current().count(), 5000);
  EXPECT_GT(distinct.size(), 5u);
  backoff.reset();
  EXPECT_LE(backoff.next().count(), 100);
}

}  // namespace
}  // namespace cityledger::node::p2p
