#include "crypto/checkpoint.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <set>

#include "crypto/sha256.hpp"

namespace cityledger::crypto {

std::string base64_encode(ByteSpan data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '/' || c == '=';
    if (!ok) return std::nullopt;
  }
  Bytes out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  if (!text.empty() && text.back() == '=') --size;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --size;
  out.resize(size);
  // Canonical only: re-encoding must give the same text.
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

std::string CheckpointBody::to_text() const {
  return origin + "\n" + std::to_string(tree_size) + "\n" + base64_encode(root.span()) + "\nheight " +
         std::to_string(height) + "\nblock " + block_hash.hex() + "\n";
}

namespace {

std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<CheckpointBody> CheckpointBody::parse(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    if (nl == std::string_view::npos)
      return error(ErrorCode::invalid_argument, "checkpoint: last line lacks a newline");
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  if (lines.size() != 5) {
    return error(ErrorCode::invalid_argument,
                 "checkpoint: expected 5 lines, got " + std::to_string(lines.size()));
  }
  CheckpointBody body;
  body.origin = std::string(lines[0]);
  if (body.origin.empty()) return error(ErrorCode::invalid_argument, "checkpoint: empty origin");
  auto size = parse_decimal(lines[1]);
  if (!size) return error(ErrorCode::invalid_argument, "checkpoint: tree size is not a canonical decimal");
  body.tree_size = *size;
  auto root = base64_decode(lines[2]);
  if (!root || root->size() != 32) {
    return error(ErrorCode::invalid_argument, "checkpoint: root is not base64 of 32 bytes");
  }
  body.root = Hash32::from_span(*root);
  if (lines[3].substr(0, 7) != "height ")
    return error(ErrorCode::invalid_argument, "checkpoint: missing height line");
  auto height = parse_decimal(lines[3].substr(7));
  if (!height) return error(ErrorCode::invalid_argument, "checkpoint: height is not a canonical decimal");
  body.height = *height;
  if (lines[4].substr(0, 6) != "block ")
    return error(ErrorCode::invalid_argument, "checkpoint: missing block line");
  const auto block_hex = lines[4].substr(6);
  auto block = Hash32::from_hex(block_hex);
  if (!block || block->hex() != block_hex) {
    return error(ErrorCode::invalid_argument, "checkpoint: block hash is not 64 lowercase hex characters");
  }
  body.block_hash = *block;
  return body;
}

Hash32 checkpoint_digest(std::string_view body_text) { return sha256(body_text); }

std::size_t checkpoint_quorum(std::size_t n) { return n == 0 ? 1 : n - (n - 1) / 3; }

std::size_t count_valid_checkpoint_signatures(std::string_view body_text,
                                              const std::vector<CheckpointSignature>& signatures,
                                              const std::vector<PublicKey>& validators,
                                              std::vector<std::string>* problems) {
  const std::set<PublicKey> members(validators.begin(), validators.end());
  const Hash32 digest = checkpoint_digest(body_text);
  std::set<PublicKey> counted;
  for (const auto& s : signatures) {
    if (!members.contains(s.validator)) {
      if (problems)
        problems->push_back("signature by " + s.validator.hex() + ", not a validator of this set");
      continue;
    }
    if (counted.contains(s.validator)) {
      if (problems) problems->push_back("duplicate signature by " + s.validator.hex());
      continue;
    }
    if (!verify(s.validator, digest, s.signature)) {
      if (problems) problems->push_back("invalid signature by " + s.validator.hex());
      continue;
    }
    counted.insert(s.validator);
  }
  return counted.size();
}

}  // namespace cityledger::crypto
