#include "proto/codec.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>

namespace cityledger::proto {

std::string encode(const google::protobuf::Message& message) {
  std::string out;
  encode_append(message, out);
  return out;
}

void encode_append(const google::protobuf::Message& message, std::string& out) {
  out.reserve(out.size() + message.ByteSizeLong());
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  CL_CHECK(message.SerializeToCodedStream(&coded));
}

Bytes encode_bytes(const google::protobuf::Message& message) {
  const std::string s = encode(message);
  return Bytes(s.begin(), s.end());
}

bool has_unknown_fields(const google::protobuf::Message& message) {
  const auto* reflection = message.GetReflection();
  if (!reflection->GetUnknownFields(message).empty()) return true;
  // Over the descriptor's message fields rather than ListFields, which
  // allocates a vector per message (per entry of a batch, per metadata field).
  const auto* descriptor = message.GetDescriptor();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const auto* field = descriptor->field(f);
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      const int count = reflection->FieldSize(message, field);
      for (int i = 0; i < count; ++i) {
        if (has_unknown_fields(reflection->GetRepeatedMessage(message, field, i))) return true;
      }
    } else if (reflection->HasField(message, field) &&
               has_unknown_fields(reflection->GetMessage(message, field))) {
      return true;
    }
  }
  return false;
}

namespace {
// Protobuf logs parse problems (e.g. invalid UTF-8) to stderr on its own;
// hostile input must not be able to flood a node's log that way. Our callers
// get the reason as a Status and decide what to log.
void silence_protobuf_logging() {
  static const bool silenced = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)silenced;
}
}  // namespace

Status decode_into(ByteSpan bytes, google::protobuf::Message& out, std::size_t max_size_bytes) {
  silence_protobuf_logging();
  const std::string& type = out.GetDescriptor()->name();
  if (bytes.size() > max_size_bytes) {
    return error(ErrorCode::invalid_argument, type + ": " + std::to_string(bytes.size()) +
                                                  " bytes is over the limit of " +
                                                  std::to_string(max_size_bytes));
  }
  out.Clear();
  google::protobuf::io::CodedInputStream input(bytes.data(), static_cast<int>(bytes.size()));
  // Bounded nesting: a hostile message cannot exhaust the stack.
  input.SetRecursionLimit(32);
  if (!out.ParseFromCodedStream(&input) || !input.ConsumedEntireMessage()) {
    return error(ErrorCode::invalid_argument, type + ": malformed Protobuf bytes");
  }
  if (has_unknown_fields(out)) {
    return error(ErrorCode::invalid_argument, type + ": unknown fields are not accepted");
  }
  const std::string again = encode(out);
  if (again.size() != bytes.size() ||
      !std::equal(again.begin(), again.end(), reinterpret_cast<const char*>(bytes.data()))) {
    return error(ErrorCode::invalid_argument, type + ": bytes are not in canonical form");
  }
  return {};
}

}  // namespace cityledger::proto
