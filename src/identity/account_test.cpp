#include "identity/account.hpp"

#include <gtest/gtest.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "identity/orgs.hpp"

namespace atrium::identity {
namespace {

constexpr Millis kTtl = 30 * 60 * 1000;

TEST(Recovery, OfferedOnlyWhereMailIsOn) {
  EXPECT_FALSE(password_reset_available(Mailer{}));
  Mailer off{[] { return false; }, [](db::Tx&, const mail::Message&, Millis) { return Result<std::string>(""); }};
  EXPECT_FALSE(password_reset_available(off));
  Mailer on{[] { return true; }, [](db::Tx&, const mail::Message&, Millis) { return Result<std::string>("tsk"); }};
  EXPECT_EQ(recovery_features(on), (nlohmann::json{{"password_reset", true}, {"email_verification", true}}));
  // The token goes in the fragment, never in the path or the query.
  EXPECT_EQ(link_url("https://atrium.example/", "/reset-password", "art_1.s3cr3t"),
            "https://atrium.example/reset-password#art_1.s3cr3t");
}

class Account : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    ASSERT_TRUE(db_->migrate("identity", migrations()));
    user_ = make_user("alice", "alice@example.org");
  }
  User make_user(const std::string& name, const std::string& email) {
    return *db_->write([&](db::Tx& tx) { return create_user(tx, {}, name, "hash", email, "", clock_.now_ms()); });
  }
  User reload(const std::string& id) {
    return *db_->read([&](db::Tx& tx) { return get_user(tx, id); });
  }
  IssuedLink issue(LinkPurpose p = LinkPurpose::kPasswordReset) {
    return *db_->write([&](db::Tx& tx) { return issue_link(tx, {}, user_, p, kTtl, clock_.now_ms()); });
  }
  Status use(const std::string& token, LinkPurpose p = LinkPurpose::kPasswordReset) {
    return db_->write_tx([&](db::Tx& tx) { return use_link(tx, token, p, clock_.now_ms()); });
  }
  Result<User> check(const std::string& token, LinkPurpose p = LinkPurpose::kPasswordReset) {
    return db_->read([&](db::Tx& tx) { return check_link(tx, token, p, clock_.now_ms()); });
  }
  ManualClock clock_;
  std::unique_ptr<db::SqliteDatabase> db_;
  User user_;
};

TEST_F(Account, LinkIsUsedOnceAndStoredHashed) {
  auto l = issue();
  ASSERT_TRUE(check(l.token));
  EXPECT_EQ(check(l.token)->id, user_.id);
  ASSERT_TRUE(use(l.token));
  auto again = use(l.token);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().type, "invalid-link");
  EXPECT_FALSE(check(l.token));
  // The secret is nowhere in the table.
  auto secret = l.token.substr(l.token.find('.') + 1);
  auto rows = *db_->read([&](db::Tx& tx) { return tx.query("SELECT secret_hash FROM account_tokens"); });
  for (auto& r : rows) EXPECT_EQ(r.str(0).find(secret), std::string::npos);
}

TEST_F(Account, LinkExpires) {
  auto l = issue();
  clock_.advance_ms(kTtl - 1);
  EXPECT_TRUE(check(l.token));
  clock_.advance_ms(1);
  auto r = check(l.token);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, "invalid-link");  // one answer for wrong, used and expired
  EXPECT_FALSE(use(l.token));
}

TEST_F(Account, WrongSecretPurposeOrShapeIsRefused) {
  auto l = issue();
  std::string tampered = l.token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  for (const std::string& t : {tampered, std::string("garbage"), std::string("art_x.y"), l.id, l.id + "."})
    EXPECT_FALSE(check(t)) << t;
  EXPECT_FALSE(check(l.token, LinkPurpose::kVerifyEmail));  // a reset link does not verify an email
  EXPECT_TRUE(check(l.token));
}

TEST_F(Account, UsingOneLinkEndsTheOthers) {
  auto a = issue(), b = issue();
  EXPECT_EQ(*db_->read([&](db::Tx& tx) {
    return live_links(tx, user_.id, LinkPurpose::kPasswordReset, clock_.now_ms());
  }), 2);
  ASSERT_TRUE(use(b.token));
  EXPECT_FALSE(check(a.token));
}

TEST_F(Account, VerificationHoldsForTheAddressItWasSentTo) {
  auto l = issue(LinkPurpose::kVerifyEmail);
  ASSERT_TRUE(db_->write([&](db::Tx& tx) {
    return update_user(tx, {}, reload(user_.id), std::nullopt, std::string("new@example.org"), std::nullopt,
                       clock_.now_ms());
  }));
  EXPECT_FALSE(check(l.token, LinkPurpose::kVerifyEmail));
}

TEST_F(Account, ChangingTheEmailClearsItsVerification) {
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return set_email_verified(tx, {}, user_.id, true, clock_.now_ms()); }));
  EXPECT_TRUE(reload(user_.id).email_verified);
  ASSERT_TRUE(db_->write([&](db::Tx& tx) {
    return update_user(tx, {}, reload(user_.id), std::string("Alice"), std::nullopt, std::nullopt, clock_.now_ms());
  }));
  EXPECT_TRUE(reload(user_.id).email_verified);  // another field: stays
  ASSERT_TRUE(db_->write([&](db::Tx& tx) {
    return update_user(tx, {}, reload(user_.id), std::nullopt, std::string("b@example.org"), std::nullopt,
                       clock_.now_ms());
  }));
  EXPECT_FALSE(reload(user_.id).email_verified);
}

TEST_F(Account, DisabledOrPasswordlessAccountsGetNoReset) {
  auto l = issue();
  ASSERT_TRUE(db_->write([&](db::Tx& tx) {
    return update_user(tx, {}, reload(user_.id), std::nullopt, std::nullopt, true, clock_.now_ms());
  }));
  EXPECT_FALSE(check(l.token));
  auto sso = make_user("sso", "sso@example.org");
  sso.password_hash = "";
  EXPECT_FALSE(sso.has_password());
}

TEST_F(Account, DeleteTombstonesAndFreesTheName) {
  auto bob = make_user("bob", "bob@example.org");
  auto org = *db_->write([&](db::Tx& tx) { return create_org(tx, {}, "lab", "Lab", clock_.now_ms()); });
  ASSERT_TRUE(db_->write_tx(
      [&](db::Tx& tx) { return add_org_member(tx, {}, org.id, user_.id, "role_org-admin", clock_.now_ms()); }));
  ASSERT_TRUE(db_->write_tx(
      [&](db::Tx& tx) { return add_org_member(tx, {}, org.id, bob.id, "role_member", clock_.now_ms()); }));
  auto last = db_->write_tx([&](db::Tx& tx) { return delete_user(tx, {}, reload(user_.id), clock_.now_ms()); });
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().type, "last-org-admin");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return delete_user(tx, {}, reload(bob.id), clock_.now_ms()); }));
  auto gone = reload(bob.id);
  EXPECT_TRUE(gone.deleted);
  EXPECT_TRUE(gone.disabled);
  EXPECT_EQ(gone.username, "deleted:" + bob.id);
  EXPECT_EQ(gone.email, "");
  EXPECT_TRUE(db_->read([&](db::Tx& tx) { return user_org_ids(tx, bob.id); })->empty());
  make_user("bob", "bob@example.org");  // the name is free again
  auto found = *db_->read([&](db::Tx& tx) { return find_users_by_email(tx, "BOB@example.org", 5); });
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].id, bob.id);
}

}  // namespace
}  // namespace atrium::identity
