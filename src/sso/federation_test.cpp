// federate() on a real (SQLite) database: JIT creation, linking only by a verified email, the
// subject as the identity, and mapping rules granted, re-applied and taken back (hand-made
// memberships untouched).
#include "sso/federation.hpp"

#include <gtest/gtest.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "identity/account.hpp"
#include "identity/orgs.hpp"

namespace atrium::sso {
namespace {

class FederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    ASSERT_TRUE(db_->migrate("identity", identity::migrations()));
    ASSERT_TRUE(db_->migrate("sso", migrations()));
    ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
      org_ = TRY(identity::create_org(tx, admin_, "physics", "Physics", now_));
      group_ = TRY(identity::create_group(tx, admin_, org_.id, "hpc", "HPC", now_));
      return {};
    }));
  }
  Result<identity::User> fed(const ExternalIdentity& who, const LinkPolicy& p) {
    return db_->write([&](db::Tx& tx) { return federate(tx, admin_, p, who, now_); });
  }
  std::optional<std::string> role_of(const std::string& user) {
    return *db_->read([&](db::Tx& tx) { return identity::org_role_of(tx, org_.id, user); });
  }
  bool in_group(const std::string& user) {
    return db_->read([&](db::Tx& tx) { return identity::group_member_version(tx, group_.id, user); })->has_value();
  }

  std::unique_ptr<db::SqliteDatabase> db_;
  Actor admin_{.username = "test"};
  Millis now_ = 1'700'000'000'000;
  identity::Org org_;
  identity::Group group_;
};

ExternalIdentity person(std::string sub, std::string email, bool verified, std::vector<std::string> groups = {}) {
  return {.provider = "uni", .subject = sub, .email = email, .email_verified = verified, .username_hint = sub,
          .display_name = sub, .groups = std::move(groups)};
}

TEST_F(FederationTest, CreatesOnceAndKeepsTheSubject) {
  auto a = fed(person("Ann Lee", "ann@uni.example", true), {});
  ASSERT_TRUE(a) << a.error().detail;
  EXPECT_EQ(a->username, "ann-lee");
  auto again = fed(person("Ann Lee", "changed@elsewhere.example", true), {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, a->id);  // a changed email does not move the account
  auto other = fed(person("ann lee", "x@y.z", false), {});  // another subject, same name: unique
  ASSERT_TRUE(other);
  EXPECT_NE(other->username, a->username);
  EXPECT_EQ(other->email, "");  // an unverified address is not kept
  EXPECT_EQ(a->email, "ann@uni.example");
  EXPECT_TRUE(a->email_verified);  // the provider vouched for it
  EXPECT_FALSE(other->email_verified);
  auto none = fed(person("nobody", "n@uni.example", true), {.create_users = false});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().type, "sso-no-account");
}

TEST_F(FederationTest, NeverTakesTheServersOwnName) {
  // "system" is the server's actor in the audit log: a provider's "System" becomes system-2.
  auto s = fed(person("System", "sys@uni.example", true), {});
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(s->username, "system-2");
  auto direct = db_->write([&](db::Tx& tx) { return identity::create_user(tx, admin_, "system", "", "", "", now_); });
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().type, "reserved-username");
}

TEST_F(FederationTest, LinksOnlyByVerifiedEmail) {
  std::string existing;
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    existing = TRY(identity::create_user(tx, admin_, "bob", "", "Bob@Uni.example", "Bob", now_)).id;
    return {};
  }));
  LinkPolicy link{.link_by_verified_email = true};
  auto unverified = fed(person("s-unverified", "bob@uni.example", false), {.create_users = false,
                                                                         .link_by_verified_email = true});
  ASSERT_FALSE(unverified);  // never linked to bob's account
  EXPECT_EQ(unverified.error().type, "sso-no-account");
  // The provider vouches for the address but bob never proved it: anyone can type an address
  // into their own profile, so this is no link either.
  auto unproven = fed(person("s-verified", "bob@uni.example", true), {.create_users = false,
                                                                     .link_by_verified_email = true});
  ASSERT_FALSE(unproven);
  EXPECT_EQ(unproven.error().type, "sso-no-account");
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return identity::set_email_verified(tx, admin_, existing, true, now_); }));
  EXPECT_EQ(fed(person("s-verified", "bob@uni.example", true), link)->id, existing);
  EXPECT_NE(fed(person("s-nolink", "bob@uni.example", true), {})->id, existing);
  // A second subject of the same provider with that address: not bob's account (already linked there).
  EXPECT_NE(fed(person("s-verified-2", "bob@uni.example", true), link)->id, existing);
  // Several accounts with that address now: no guessing which one.
  EXPECT_NE(fed(person("s-ambiguous", "bob@uni.example", true), link)->id, existing);
}

TEST_F(FederationTest, RulesGrantAndTakeBack) {
  LinkPolicy p{.rules = {{.provider = "uni", .email_domain = "uni.example", .org = "physics", .role = "member"},
                         {.provider = "uni", .claim_group = "hpc-users", .org = "physics", .group = "hpc"},
                         {.provider = "other", .claim_group = "x", .org = "physics", .role = "org-admin"}}};
  auto u = fed(person("c", "c@uni.example", true, {"hpc-users", "x"}), p);
  ASSERT_TRUE(u) << u.error().detail;
  EXPECT_EQ(role_of(u->id), "role_member");  // the other provider's rule does not apply
  EXPECT_TRUE(in_group(u->id));
  ASSERT_TRUE(fed(person("c", "c@uni.example", true, {}), p));
  EXPECT_FALSE(in_group(u->id));
  EXPECT_EQ(role_of(u->id), "role_member");
  ASSERT_TRUE(fed(person("c", "c@other.example", true, {}), p));
  EXPECT_FALSE(role_of(u->id));
  // An unverified address in the domain grants nothing.
  auto v = fed(person("d", "d@uni.example", false, {}), p);
  EXPECT_FALSE(role_of(v->id));
}

TEST_F(FederationTest, HandMadeMembershipsStay) {
  LinkPolicy p{.rules = {{.provider = "uni", .claim_group = "g", .org = "physics", .role = "viewer", .group = "hpc"}}};
  auto u = fed(person("e", "e@x.example", true, {}), p);
  ASSERT_TRUE(u);
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) -> Status {
    TRY_STATUS(identity::add_org_member(tx, admin_, org_.id, u->id, "role_member", now_));
    return identity::add_group_member(tx, admin_, group_, u->id, now_);
  }));
  ASSERT_TRUE(fed(person("e", "e@x.example", true, {"g"}), p));
  EXPECT_EQ(role_of(u->id), "role_member");  // the rule's viewer never replaces a hand-made role
  ASSERT_TRUE(fed(person("e", "e@x.example", true, {}), p));
  EXPECT_EQ(role_of(u->id), "role_member");
  EXPECT_TRUE(in_group(u->id));
}

TEST(ConfigRules, ParseAndRefuse) {
  auto ok = parse_config_rules(nlohmann::json::parse(R"([{"email_domain":"Uni.Example","org":"p","role":"member"}])"),
                               "uni");
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].email_domain, "uni.example");
  EXPECT_EQ((*ok)[0].provider, "uni");
  for (auto bad : {R"({})", R"([{"org":"p","role":"member"}])", R"([{"email_domain":"a","org":"p"}])",
                   R"([{"email_domain":"a","claim_group":"b","org":"p","role":"r"}])",
                   R"([{"email_domain":"a","role":"r"}])", R"([{"email_domain":"@a","org":"p","role":"r"}])",
                   R"([{"email_domain":"a","org":"p","role":"r","what":"x"}])", R"([{"email_domain":1,"org":"p","role":"r"}])"})
    EXPECT_FALSE(parse_config_rules(nlohmann::json::parse(bad), "uni")) << bad;
}

}  // namespace
}  // namespace atrium::sso
