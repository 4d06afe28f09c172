// PPP contracts: the stateless rules (proto/contracts.hpp), the ledger rules
// (node/contract_book.hpp), the mempool's handling of conflicting pending
// actions, and the sealed-field commitment (audit/contracts.hpp).
#include "node/contract_book.hpp"

#include <gtest/gtest.h>

#include "audit/contracts.hpp"
#include "crypto/sha256.hpp"
#include "node/mempool.hpp"
#include "proto/codec.hpp"
#include "proto/contracts.hpp"
#include "proto/objects.hpp"

namespace cityledger::node {
namespace {

constexpr const char* book_chain = "city-test";

struct Parties {
  crypto::SecretKey city = crypto::SecretKey::from_seed_for_testing(11);
  crypto::SecretKey partner = crypto::SecretKey::from_seed_for_testing(12);
  crypto::SecretKey contractor = crypto::SecretKey::from_seed_for_testing(13);
  crypto::SecretKey outsider = crypto::SecretKey::from_seed_for_testing(14);
};

void cosign(pb::ContractAction& action, const std::vector<const crypto::SecretKey*>& keys) {
  std::vector<const crypto::SecretKey*> sorted = keys;
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->public_key().to_string() < b->public_key().to_string(); });
  action.clear_cosignatures();
  const Hash32 digest = proto::contract_cosign_digest(action, book_chain);
  for (const auto* k : sorted) {
    auto* c = action.add_cosignatures();
    c->set_signer(k->public_key().to_string());
    c->set_signature(k->sign(digest).to_string());
  }
}

// "tram-line-4": a cost-share change needs the city and the partner, a
// milestone needs the contractor, a payment needs the city.
pb::ContractAction registration(const Parties& p, const std::string& id = "tram-line-4") {
  pb::ContractAction action;
  auto* r = action.mutable_registration();
  r->set_contract_id(id);
  r->set_title("Tram line 4: design, build, operate");
  auto party = [r](const std::string& name, const crypto::SecretKey& k) {
    auto* x = r->add_parties();
    x->set_name(name);
    x->set_pubkey(k.public_key().to_string());
  };
  party("city", p.city);
  party("contractor", p.contractor);
  party("partner", p.partner);
  auto rule = [r](const std::string& kind, std::vector<std::string> names) {
    auto* x = r->add_rules();
    x->set_event_kind(kind);
    for (auto& n : names) x->add_parties(n);
  };
  rule("cost-share", {"city", "partner"});
  rule("milestone", {"contractor"});
  rule("payment", {"city"});
  cosign(action, {&p.city, &p.partner, &p.contractor});
  return action;
}

pb::ContractAction event(const std::string& kind, const std::string& payload = "doc") {
  pb::ContractAction action;
  auto* e = action.mutable_event();
  e->set_contract_id("tram-line-4");
  e->set_kind(kind);
  e->set_payload_hash(crypto::sha256(payload).to_string());
  if (kind == "payment") {
    e->mutable_amount()->set_currency("EUR");
    e->mutable_amount()->set_units(125'000'00);
    e->mutable_amount()->set_scale(2);
  }
  if (kind == "cost-share") {
    auto* a = e->add_cost_shares();
    a->set_party("city");
    a->set_basis_points(6000);
    auto* b = e->add_cost_shares();
    b->set_party("partner");
    b->set_basis_points(4000);
  }
  return action;
}

void expect_refused(const Status& s, ErrorCode code, const std::string& text) {
  ASSERT_FALSE(s.ok()) << "expected a refusal mentioning: " << text;
  EXPECT_EQ(s.code(), code) << s.to_string();
  EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
}

TEST(ContractShape, AValidRegistrationAndEventPass) {
  Parties p;
  EXPECT_TRUE(proto::validate_contract_action(registration(p)).ok());
  auto e = event("payment");
  cosign(e, {&p.city});
  EXPECT_TRUE(proto::validate_contract_action(e).ok()) << proto::validate_contract_action(e).to_string();
}

TEST(ContractShape, EachMalformedFieldIsRefusedWithItsReason) {
  Parties p;
  auto check = [&](pb::ContractAction a, const std::string& text) {
    if (a.cosignatures().empty()) cosign(a, {&p.city});
    expect_refused(proto::validate_contract_action(a), ErrorCode::invalid_argument, text);
  };
  auto a = registration(p);
  a.mutable_registration()->set_contract_id("bad id");
  check(a, "contract id");
  a = registration(p);
  a.mutable_registration()->mutable_rules(1)->set_parties(0, "mayor");
  check(a, "'mayor' is not a party");
  a = registration(p);
  a.mutable_registration()->mutable_parties()->SwapElements(0, 1);
  check(a, "ascending");
  a = registration(p);
  a.mutable_registration()->mutable_parties(1)->set_pubkey(p.city.public_key().to_string());
  check(a, "same key");
  auto e = event("payment");
  e.mutable_event()->clear_amount();
  check(e, "payment event needs an amount");
  e = event("payment");
  e.mutable_event()->mutable_amount()->set_currency("euro");
  check(e, "ISO 4217");
  e = event("cost-share");
  e.mutable_event()->mutable_cost_shares(1)->set_basis_points(3000);
  check(e, "sum to 10000");
  e = event("milestone");
  e.mutable_event()->set_payload_hash("short");
  check(e, "payload_hash must be 32 bytes");
  e = event("milestone");
  auto* f = e.mutable_event()->add_fields();
  f->set_name("budget");
  auto* s = e.mutable_event()->add_sealed_fields();
  s->set_name("budget");
  s->set_commitment(std::string(32, '\x01'));
  check(e, "both a field and a sealed field");
  e = event("milestone");
  auto* doc = e.mutable_event()->add_documents();
  doc->set_name("Report");
  doc->set_sha256(std::string(32, '\x03'));
  check(e, "document name 'Report'");
}

TEST(ContractShape, AnchorBatchesCannotForgeContractLeaves) {
  Parties p;
  crypto::SecretKey submitter = crypto::SecretKey::from_seed_for_testing(1);
  pb::TxBody body;
  body.set_chain_id(book_chain);
  body.set_signer(submitter.public_key().to_string());
  body.set_nonce(1);
  auto* e = body.mutable_anchor()->add_entries();
  e->set_content_hash(crypto::sha256("x").to_string());
  e->set_kind(pb::ENTRY_KIND_CONTRACT_EVENT);
  e->set_dataset_id("tram-line-4");
  auto r = proto::verify_transaction(proto::sign_transaction(body, submitter), book_chain);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("anchored by a contract transaction"), std::string::npos);
}

TEST(ContractShape, TheLeafCarriesTheEventForAuditors) {
  Parties p;
  auto e = event("payment");
  auto* s = e.mutable_event()->add_sealed_fields();
  s->set_name("iban");
  const Hash32 salt = crypto::sha256("salt");
  s->set_commitment(audit::sealed_field_commitment(salt, "iban", "DE89 3704").to_string());
  cosign(e, {&p.city});
  const auto entry = proto::contract_anchor_entry(e);
  EXPECT_EQ(entry.kind(), pb::ENTRY_KIND_CONTRACT_EVENT);
  EXPECT_EQ(entry.dataset_id(), "tram-line-4");
  EXPECT_EQ(entry.content_hash(), proto::hash_message(e.event()).to_string());
  std::map<std::string, std::string> meta;
  for (const auto& m : entry.metadata()) meta[m.key()] = m.value();
  EXPECT_EQ(meta["amount"], "125000.00 EUR");
  EXPECT_EQ(meta["kind"], "payment");
  EXPECT_EQ(meta["cosigners"], p.city.public_key().hex());
  EXPECT_EQ(meta["sealed.iban"], audit::sealed_field_commitment(salt, "iban", "DE89 3704").hex());
  EXPECT_TRUE(proto::validate_anchor_entry(entry).ok());
}

TEST(SealedField, CommitmentBindsSaltNameAndValue) {
  const Hash32 salt = crypto::sha256("salt");
  const Hash32 c = audit::sealed_field_commitment(salt, "iban", "DE89");
  EXPECT_NE(c, audit::sealed_field_commitment(crypto::sha256("salt2"), "iban", "DE89"));
  EXPECT_NE(c, audit::sealed_field_commitment(salt, "iban", "DE88"));
  EXPECT_NE(c, audit::sealed_field_commitment(salt, "iba", "nDE89"));  // the name's length is bound
  // The definition, spelled out.
  std::string message = "cityledger/v1/sealed-field";
  message.push_back('\0');
  message += salt.to_string();
  message.push_back(static_cast<char>(4));
  message += "ibanDE89";
  EXPECT_EQ(c, crypto::sha256(message));
}

class ContractBookTest : public ::testing::Test {
 protected:
  void register_contract() {
    auto r = registration(p);
    ASSERT_TRUE(book.check(r, true).ok()) << book.check(r, true).to_string();
    book.apply(r, 5, 100, crypto::sha256("tx-reg"));
  }
  Parties p;
  ContractBook book{book_chain};
};

TEST_F(ContractBookTest, RegistrationNeedsEveryPartysCoSignature) {
  auto r = registration(p);
  cosign(r, {&p.city, &p.partner});
  expect_refused(book.check(r, true), ErrorCode::permission_denied, "co-signature of party 'contractor'");
  cosign(r, {&p.city, &p.partner, &p.contractor, &p.outsider});
  expect_refused(book.check(r, true), ErrorCode::permission_denied, "not a party");
  r = registration(p);
  r.mutable_cosignatures(0)->set_signature(std::string(64, '\x02'));
  expect_refused(book.check(r, true), ErrorCode::permission_denied, "does not verify");
  // The mempool verified it already: only the ledger rules are checked again.
  EXPECT_TRUE(book.check(r, false).ok());
  register_contract();
  expect_refused(book.check(registration(p), true), ErrorCode::already_exists, "already registered");
  auto record = book.contract("tram-line-4");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->height, 5u);
  EXPECT_EQ(record->leaf_index, 100u);
  EXPECT_EQ(book.ids(), std::vector<std::string>{"tram-line-4"});
}

TEST_F(ContractBookTest, EventsNeedTheCoSignaturesTheirRuleNames) {
  auto milestone = event("milestone");
  cosign(milestone, {&p.contractor});
  expect_refused(book.check(milestone, true), ErrorCode::not_found, "not registered");
  register_contract();
  EXPECT_TRUE(book.check(milestone, true).ok());

  auto unsigned_milestone = event("milestone");
  cosign(unsigned_milestone, {&p.city});  // the city, but not the contractor
  expect_refused(book.check(unsigned_milestone, true), ErrorCode::permission_denied,
                 "needs the co-signature of 'contractor'");
  auto share = event("cost-share");
  cosign(share, {&p.city});
  expect_refused(book.check(share, true), ErrorCode::permission_denied, "co-signature of 'partner'");
  cosign(share, {&p.city, &p.partner});
  EXPECT_TRUE(book.check(share, true).ok());
  auto payment = event("payment");
  cosign(payment, {&p.city, &p.outsider});
  expect_refused(book.check(payment, true), ErrorCode::permission_denied, "not a party");
  auto unknown = event("renegotiation");
  cosign(unknown, {&p.city});
  expect_refused(book.check(unknown, true), ErrorCode::invalid_argument, "no rule");
  auto foreign_share = event("cost-share");
  foreign_share.mutable_event()->mutable_cost_shares(1)->set_party("bank");
  cosign(foreign_share, {&p.city, &p.partner});
  expect_refused(book.check(foreign_share, true), ErrorCode::invalid_argument, "'bank', who is not a party");
}

TEST_F(ContractBookTest, AnEventIsAnchoredOnceAcrossBlocksAndWithinOne) {
  register_contract();
  auto milestone = event("milestone");
  cosign(milestone, {&p.contractor});
  ContractScratch block;
  ASSERT_TRUE(book.check(milestone, true, &block).ok());
  expect_refused(book.check(milestone, true, &block), ErrorCode::already_exists, "already anchored");
  book.apply(milestone, 6, 101, crypto::sha256("tx-1"));
  expect_refused(book.check(milestone, true), ErrorCode::already_exists, "already anchored");
  auto another = event("milestone", "second milestone report");
  cosign(another, {&p.contractor});
  EXPECT_TRUE(book.check(another, true).ok());
  const auto record = book.contract("tram-line-4");
  ASSERT_EQ(record->events.size(), 1u);
  EXPECT_EQ(record->events[0].leaf_index, 101u);
  EXPECT_EQ(record->events[0].kind, "milestone");
  // Two registrations of one id in one block: the second is refused.
  ContractScratch block2;
  auto other = registration(p, "bus-depot");
  ASSERT_TRUE(book.check(other, true, &block2).ok());
  expect_refused(book.check(other, true, &block2), ErrorCode::already_exists, "already registered");
}

// A state snapshot carries the book whole: a restored book knows the contract,
// its events, and refuses the same repeats.
TEST_F(ContractBookTest, ExportAndRestoreKeepTheWholeBook) {
  register_contract();
  auto milestone = event("milestone");
  cosign(milestone, {&p.contractor});
  book.apply(milestone, 6, 101, crypto::sha256("tx-1"));
  pb::StateSnapshot snapshot;
  book.export_to(snapshot);
  ASSERT_EQ(snapshot.contracts_size(), 1);

  ContractBook restored{book_chain};
  ASSERT_TRUE(restored.restore(snapshot).ok());
  const auto record = restored.contract("tram-line-4");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->height, 5u);
  EXPECT_EQ(record->tx_hash, crypto::sha256("tx-reg"));
  ASSERT_EQ(record->events.size(), 1u);
  EXPECT_EQ(record->events[0].leaf_index, 101u);
  EXPECT_EQ(record->events[0].tx_hash, crypto::sha256("tx-1"));
  expect_refused(restored.check(milestone, true), ErrorCode::already_exists, "already anchored");
  expect_refused(restored.check(registration(p), true), ErrorCode::already_exists, "already registered");
  pb::StateSnapshot again;
  restored.export_to(again);
  EXPECT_EQ(again.SerializeAsString(), snapshot.SerializeAsString());

  // A snapshot that does not hold together changes nothing.
  pb::StateSnapshot bad = snapshot;
  bad.mutable_contracts(0)->mutable_events(0)->set_tx_hash("short");
  EXPECT_EQ(restored.restore(bad).code(), ErrorCode::invalid_argument);
  *bad.mutable_contracts(0) = snapshot.contracts(0);
  *bad.add_contracts() = snapshot.contracts(0);
  EXPECT_EQ(restored.restore(bad).code(), ErrorCode::invalid_argument);
  EXPECT_EQ(restored.ids(), std::vector<std::string>{"tram-line-4"});
  expect_refused(restored.check(milestone, true), ErrorCode::already_exists, "already anchored");
}

class Accounts : public AccountView {
 public:
  std::optional<AccountState> account(const crypto::PublicKey& key) const override {
    auto it = accounts.find(key);
    if (it == accounts.end()) return std::nullopt;
    return it->second;
  }
  bool is_committed(const Hash32&) const override { return false; }
  Status check_contract(const pb::ContractAction& action, bool verify_signatures) const override {
    return book.check(action, verify_signatures);
  }
  Status check_governance(const pb::GovernanceAction&) const override {
    return error(ErrorCode::permission_denied, "no governance in this test");
  }
  std::map<crypto::PublicKey, AccountState> accounts;
  ContractBook book{book_chain};
};

pb::Transaction contract_tx(const crypto::SecretKey& key, std::uint64_t nonce, const pb::ContractAction& a) {
  pb::TxBody body;
  body.set_chain_id(book_chain);
  body.set_signer(key.public_key().to_string());
  body.set_nonce(nonce);
  *body.mutable_contract() = a;
  return proto::sign_transaction(body, key);
}

TEST(ContractMempool, RefusesAConflictingPendingActionAndDropsWhatACommitInvalidated) {
  Parties p;
  Accounts accounts;
  crypto::SecretKey alice = crypto::SecretKey::from_seed_for_testing(21);
  crypto::SecretKey bob = crypto::SecretKey::from_seed_for_testing(22);
  crypto::SecretKey carol = crypto::SecretKey::from_seed_for_testing(23);
  accounts.accounts[alice.public_key()] = {{"partner"}, 1};
  accounts.accounts[bob.public_key()] = {{"partner"}, 1};
  accounts.accounts[carol.public_key()] = {{"submitter"}, 1};
  Mempool pool(book_chain, accounts);

  // Only partners act in contracts.
  auto refused = pool.add(contract_tx(carol, 1, registration(p)));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'partner' role"), std::string::npos);

  auto first = pool.add(contract_tx(alice, 1, registration(p)));
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  auto second = pool.add(contract_tx(bob, 1, registration(p)));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::already_exists);
  EXPECT_NE(second.status().message().find("already pending"), std::string::npos);

  // Another node's proposer committed bob's registration first; then alice's
  // can never commit and leaves the mempool.
  Mempool elsewhere(book_chain, accounts);
  auto bobs = contract_tx(bob, 1, registration(p));
  ASSERT_TRUE(elsewhere.add(bobs).ok());
  accounts.book.apply(registration(p), 3, 0, proto::tx_hash(bobs));
  accounts.accounts[bob.public_key()].next_nonce = 2;
  pool.remove_committed({proto::tx_hash(bobs)});
  EXPECT_FALSE(pool.contains(*first));
  EXPECT_EQ(pool.size(), 0u);

  // An event with a missing co-signature is refused at the door, with why.
  auto milestone = event("milestone");
  cosign(milestone, {&p.city});
  auto r = pool.add(contract_tx(alice, 1, milestone));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::permission_denied);
  EXPECT_NE(r.status().message().find("needs the co-signature of 'contractor'"), std::string::npos);
  cosign(milestone, {&p.contractor});
  EXPECT_TRUE(pool.add(contract_tx(alice, 1, milestone)).ok());
}

}  // namespace
}  // namespace cityledger::node
