#include <gtest/gtest.h>

#include <filesystem>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"

namespace atrium::audit {
namespace {

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("audit", migrations()));
  }
  void add(int n) {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) {
        Actor a{.user_id = "usr_1", .username = "ann", .request_id = "r" + std::to_string(i), .client_ip = "127.0.0.1"};
        return record(tx, a, {"org_" + std::to_string(i % 2), "project.create", "project", "prj_" + std::to_string(i),
                              {{"i", i}}},
                      1000 + i);
      }));
  }
  VerifyResult check() {
    return *db_->read([](db::Tx& tx) { return verify(tx); });
  }
  std::unique_ptr<db::SqliteDatabase> db_;
};

TEST_F(AuditTest, ChainVerifies) {
  add(25);
  auto v = check();
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.checked, 25);
}

TEST_F(AuditTest, EditedEventIsTheFirstBrokenLink) {
  add(10);
  ASSERT_TRUE(db_->write([](db::Tx& tx) {
    return tx.exec("UPDATE audit_events SET summary = '{\"i\":99}' WHERE seq = 4");
  }));
  auto v = check();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(*v.first_broken_seq, 4);
  EXPECT_EQ(v.checked, 3);
}

TEST_F(AuditTest, DeletedEventIsDetected) {
  add(10);
  ASSERT_TRUE(db_->write([](db::Tx& tx) { return tx.exec("DELETE FROM audit_events WHERE seq = 6"); }));
  auto v = check();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(*v.first_broken_seq, 7);
}

TEST_F(AuditTest, RehashedEditStillBreaksTheNextLink) {
  add(5);
  // An attacker who edits event 2 and recomputes its hash still breaks event 3's prev_hash.
  ASSERT_TRUE(db_->write([](db::Tx& tx) { return tx.exec("UPDATE audit_events SET hash = 'x' WHERE seq = 2"); }));
  auto v = check();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(*v.first_broken_seq, 2);
}

TEST_F(AuditTest, FiltersByOrgActionAndTime) {
  add(10);
  auto all = *db_->read([](db::Tx& tx) { return list(tx, Filter{}); });
  EXPECT_EQ(all.size(), 10u);
  Filter f;
  f.restrict_orgs = true;
  f.org_ids = {"org_1"};
  f.since = 1003;
  auto some = *db_->read([&](db::Tx& tx) { return list(tx, f); });
  ASSERT_EQ(some.size(), 4u);  // org_1 holds odd i; since 1003 leaves i = 3, 5, 7, 9
  for (auto& e : some) EXPECT_EQ(e["org_id"], "org_1");
  Filter none;
  none.restrict_orgs = true;
  EXPECT_TRUE((*db_->read([&](db::Tx& tx) { return list(tx, none); })).empty());
  Filter prefix;
  prefix.action = "project.*";
  EXPECT_EQ((*db_->read([&](db::Tx& tx) { return list(tx, prefix); })).size(), 10u);
}

TEST_F(AuditTest, ActorIsAUserIdOrAUsername) {
  add(3);
  for (const char* who : {"usr_1", "ann"}) {
    Filter f;
    f.actor = who;
    EXPECT_EQ((*db_->read([&](db::Tx& tx) { return list(tx, f); })).size(), 3u) << who;
  }
  Filter nobody;
  nobody.actor = "bob";
  EXPECT_TRUE((*db_->read([&](db::Tx& tx) { return list(tx, nobody); })).empty());
}

TEST_F(AuditTest, NewestFirstPagesDownFromTheCursor) {
  add(5);
  Filter f;
  f.newest_first = true;
  f.limit = 2;
  auto seqs = [&] {
    std::vector<std::int64_t> out;
    auto page = *db_->read([&](db::Tx& tx) { return list(tx, f); });
    for (auto& e : page) out.push_back(e["seq"].get<std::int64_t>());
    return out;
  };
  EXPECT_EQ(seqs(), (std::vector<std::int64_t>{5, 4}));
  f.after_seq = 4;
  EXPECT_EQ(seqs(), (std::vector<std::int64_t>{3, 2}));
  f.after_seq = 2;
  EXPECT_EQ(seqs(), (std::vector<std::int64_t>{1}));
}

TEST_F(AuditTest, AnOrgsShareOfTheChainVerifiesWithoutTheOthers) {
  add(10);  // org_0 holds even seqs - 1 (i even), org_1 the rest
  auto org = [&](const char* id) { return *db_->read([&](db::Tx& tx) { return verify_org(tx, id); }); };
  EXPECT_TRUE(org("org_0").ok);
  EXPECT_EQ(org("org_0").checked, 5);
  EXPECT_EQ(org("org_none").checked, 0);
  // An edit of org_1's event 4 breaks org_1's share, not org_0's (whose events still link).
  ASSERT_TRUE(db_->write([](db::Tx& tx) { return tx.exec("UPDATE audit_events SET summary = '{}' WHERE seq = 4"); }));
  EXPECT_TRUE(org("org_0").ok);
  auto b = org("org_1");
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(*b.first_broken_seq, 4);
  EXPECT_EQ(b.checked, 1);
  // A deleted event (org_1's 6) breaks the link of the next one (org_0's 7).
  ASSERT_TRUE(db_->write([](db::Tx& tx) { return tx.exec("DELETE FROM audit_events WHERE seq = 6"); }));
  auto a = org("org_0");
  EXPECT_FALSE(a.ok);
  EXPECT_EQ(*a.first_broken_seq, 7);
}

TEST_F(AuditTest, ActivityHoldsMyProjectsAndMyOwnActionsNewestFirst) {
  auto rec = [&](const std::string& user, Event e) {
    ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) {
      return record(tx, Actor{.user_id = user, .username = user, .client_ip = "10.0.0.1"}, e, 5000);
    }));
  };
  rec("bob", {"org_a", "project.update", "project", "prj_mine", {{"name", "x"}}});          // 1: my project
  rec("bob", {"org_a", "file.create", "file", "prj_mine:a", {{"project_id", "prj_mine"}}});  // 2: about it
  rec("bob", {"org_a", "project.update", "project", "prj_other", {}});                      // 3: not mine
  rec("ann", {"org_a", "token.create", "token", "tok_1", {}});                                // 4: mine, org a
  rec("ann", {"org_b", "project.create", "project", "prj_b", {}});                           // 5: mine, an old org
  rec("ann", {"", "auth.login", "session", "ses_1", {}});                                    // 6: a sign-in
  rec("ann", {"", "token.create", "token", "tok_2", {}});                                    // 7: instance-level
  ActivityQuery q{.user_id = "ann", .org_ids = {"org_a"}, .project_ids = {"prj_mine"}, .limit = 10};
  auto got = *db_->read([&](db::Tx& tx) { return activity(tx, q); });
  std::vector<std::int64_t> seqs;
  for (auto& e : got) seqs.push_back(e["seq"].get<std::int64_t>());
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{7, 4, 2, 1}));
  EXPECT_EQ(got[2]["project_id"], "prj_mine");
  EXPECT_FALSE(got[0].contains("client_ip"));
  q.before_seq = 4;
  q.limit = 1;
  got = *db_->read([&](db::Tx& tx) { return activity(tx, q); });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["seq"], 2);
}

}  // namespace
}  // namespace atrium::audit
