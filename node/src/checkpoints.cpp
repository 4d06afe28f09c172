#include "node/checkpoints.hpp"

namespace cityledger::node {

CheckpointCollector::CheckpointCollector(std::string chain_id) : chain_id_(std::move(chain_id)) {}

bool CheckpointCollector::add_verified(Pending& p, const crypto::PublicKey& validator,
                                       const crypto::Signature& signature, Signer signer) {
  if (!p.validators.index_of(validator)) return false;
  if (p.signatures.contains(validator)) return false;
  if (signer == Signer::peer && !crypto::verify(validator, crypto::checkpoint_digest(p.body), signature))
    return false;
  p.signatures.emplace(validator, signature);
  if (!p.final && p.signatures.size() >= crypto::checkpoint_quorum(p.validators.size())) {
    p.final = true;
    changed_.insert(p.height);
    return true;
  }
  if (p.final) changed_.insert(p.height);
  return false;
}

std::optional<pb::CheckpointSignature> CheckpointCollector::on_commit(
    std::uint64_t height, std::uint64_t tree_size, const Hash32& root, const Hash32& block_hash,
    const consensus::ValidatorSet& validators, const crypto::SecretKey* key) {
  Pending& p = by_height_[height];
  p.validators = validators;
  p.body = crypto::CheckpointBody{chain_id_, tree_size, root, height, block_hash}.to_text();
  p.height = height;
  p.tree_size = tree_size;
  std::optional<pb::CheckpointSignature> own;
  if (key != nullptr && validators.index_of(key->public_key())) {
    const crypto::Signature sig = key->sign(crypto::checkpoint_digest(p.body));
    if (add_verified(p, key->public_key(), sig, Signer::own)) final_by_size_[tree_size] = height;
    pb::CheckpointSignature out;
    out.set_height(height);
    out.set_tree_size(tree_size);
    out.set_validator(key->public_key().to_string());
    out.set_signature(sig.to_string());
    own = out;
  }
  if (auto early = early_.find(height); early != early_.end()) {
    for (const auto& s : early->second) add(s);
    early_.erase(early);
  }
  while (by_height_.size() > kept_heights) by_height_.erase(by_height_.begin());
  return own;
}

bool CheckpointCollector::add(const pb::CheckpointSignature& s) {
  if (s.validator().size() != 32 || s.signature().size() != 64) return false;
  auto it = by_height_.find(s.height());
  if (it == by_height_.end()) {
    // Not committed here yet: keep a bounded number of heights for later.
    if (!by_height_.empty() && s.height() < by_height_.begin()->first) return false;
    if (early_.size() >= early_max_heights && !early_.contains(s.height())) return false;
    auto& list = early_[s.height()];
    if (list.size() < early_max_per_height) list.push_back(s);
    return false;
  }
  if (it->second.tree_size != s.tree_size()) return false;
  const auto validator = Hash32::from_span(as_bytes(s.validator()));
  const auto signature = crypto::Signature::from_span(as_bytes(s.signature()));
  if (!signature) return false;
  const bool became_final = add_verified(it->second, validator, *signature, Signer::peer);
  if (became_final) final_by_size_[it->second.tree_size] = s.height();
  return became_final;
}

pb::Checkpoint CheckpointCollector::to_proto(const Pending& p) const {
  pb::Checkpoint out;
  out.set_body(p.body);
  // In validator-set order, so every node serves the same bytes.
  for (const auto& key : p.validators.keys()) {
    auto it = p.signatures.find(key);
    if (it == p.signatures.end()) continue;
    auto* s = out.add_signatures();
    s->set_validator(key.to_string());
    s->set_signature(it->second.to_string());
    s->set_tree_size(p.tree_size);
  }
  return out;
}

std::optional<pb::Checkpoint> CheckpointCollector::at_height(std::uint64_t height) const {
  auto it = by_height_.find(height);
  if (it == by_height_.end()) return std::nullopt;
  return to_proto(it->second);
}

std::optional<pb::Checkpoint> CheckpointCollector::final_at_height(std::uint64_t height) const {
  auto it = by_height_.find(height);
  if (it == by_height_.end() || !it->second.final) return std::nullopt;
  return to_proto(it->second);
}

std::optional<pb::Checkpoint> CheckpointCollector::final_at_size(std::uint64_t tree_size) const {
  auto it = final_by_size_.find(tree_size);
  if (it == final_by_size_.end()) return std::nullopt;
  return final_at_height(it->second);
}

std::vector<CheckpointCollector::Changed> CheckpointCollector::take_changed() {
  std::vector<Changed> out;
  for (const std::uint64_t height : changed_) {
    auto it = by_height_.find(height);
    if (it == by_height_.end() || !it->second.final) continue;
    out.push_back({height, it->second.tree_size, to_proto(it->second)});
  }
  changed_.clear();
  return out;
}

std::optional<pb::Checkpoint> CheckpointCollector::latest_final() const {
  for (auto it = by_height_.rbegin(); it != by_height_.rend(); ++it) {
    if (it->second.final) return to_proto(it->second);
  }
  return std::nullopt;
}

}  // namespace cityledger::node
