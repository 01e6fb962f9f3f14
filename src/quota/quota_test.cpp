#include "quota/quota.hpp"

#include <gtest/gtest.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"

namespace atrium::quota {
namespace {

using json = nlohmann::json;

class QuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    // identity's table, which quotas refer to
    ASSERT_TRUE(db_->migrate("orgs", {{1, "orgs", "CREATE TABLE orgs (id TEXT PRIMARY KEY);"
                                                  "INSERT INTO orgs VALUES ('org_a'), ('org_b');"}}));
    ASSERT_TRUE(db_->migrate("quota", migrations()));
  }
  json put_limits(const Subject& s, const Limits& l) {
    auto j = db_->write([&](db::Tx& tx) { return put(tx, reg_, Actor{.user_id = "usr_admin"}, s, l, 1000); });
    EXPECT_TRUE(j) << j.error().detail;
    return j ? *j : json();
  }
  template <typename F>
  auto read(F f) {
    auto r = db_->read(f);
    EXPECT_TRUE(r) << r.error().detail;
    return *r;
  }
  // The error check_storage answers when 20 bytes more exceed usr_1's limit of 10.
  Error check_storage_refusal() {
    put_limits({"org_a", "user", "usr_1"}, {.storage_bytes = 10});
    auto st = db_->read([&](db::Tx& tx) { return check_storage(tx, reg_, "org_a", "", "usr_1", 20); });
    EXPECT_FALSE(st);
    return st ? Error(ErrorCode::kInternal, "", "") : st.error();
  }
  std::unique_ptr<db::SqliteDatabase> db_;
  Registry reg_;
};

TEST_F(QuotaTest, RegistryRefusesUnknownAndTakenKinds) {
  auto none = [](db::Tx&, const Subject&) -> Result<json> { return json::object(); };
  EXPECT_TRUE(reg_.add("jobs", {"cpu_hours", "concurrent_jobs"}, none));
  EXPECT_FALSE(reg_.add("envs", {"concurrent_jobs"}, none));
  EXPECT_FALSE(reg_.add("data", {"bogus"}, none));
  EXPECT_FALSE(reg_.add("data", {"cpu_period_days"}, none));  // a limit setting, not counted
}

TEST_F(QuotaTest, UsageComesFromEachModuleAndIsZeroOtherwise) {
  ASSERT_TRUE(reg_.add("data", {"storage_bytes"}, [](db::Tx&, const Subject& s) -> Result<json> {
    return json{{"storage_bytes", s.kind == "user" ? 42 : 7}};
  }));
  auto u = read([&](db::Tx& tx) { return reg_.usage(tx, {"org_a", "user", "usr_1"}); });
  EXPECT_EQ(u, (json{{"storage_bytes", 42}, {"cpu_hours", 0}, {"concurrent_jobs", 0}, {"concurrent_envs", 0}}));
}

TEST_F(QuotaTest, FractionalCpuHoursAreKept) {
  ASSERT_TRUE(reg_.add("jobs", {"cpu_hours", "concurrent_jobs"}, [](db::Tx&, const Subject&) -> Result<json> {
    return json{{"cpu_hours", 2.25}, {"concurrent_jobs", 3}};
  }));
  auto u = read([&](db::Tx& tx) { return reg_.usage(tx, {"org_a", "org", "org_a"}); });
  EXPECT_DOUBLE_EQ(u["cpu_hours"].get<double>(), 2.25);
  EXPECT_TRUE(u["concurrent_jobs"].is_number_integer());
  EXPECT_EQ(u["concurrent_jobs"], 3);
}

TEST_F(QuotaTest, StorageIsSummedAcrossModulesAndChecked) {
  auto counts = [](std::int64_t n) {
    return [n](db::Tx&, const Subject&) -> Result<json> { return json{{"storage_bytes", n}}; };
  };
  ASSERT_TRUE(reg_.add("data", {"storage_bytes"}, counts(40)));
  ASSERT_TRUE(reg_.add("images", {"storage_bytes"}, counts(2)));
  auto u = read([&](db::Tx& tx) { return reg_.usage(tx, {"org_a", "user", "usr_1"}); });
  EXPECT_EQ(u["storage_bytes"], 42);
  put_limits({"org_a", "user", "usr_1"}, {.storage_bytes = 50});
  EXPECT_TRUE(db_->read([&](db::Tx& tx) { return check_storage(tx, reg_, "org_a", "", "usr_1", 8); }));
  auto over = db_->read([&](db::Tx& tx) { return check_storage(tx, reg_, "org_a", "", "usr_1", 9); });
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().type, "quota-exceeded");
  EXPECT_EQ(over.error().extra["used"], 42);
  EXPECT_EQ(over.error().extra["kind"], "user");
}

TEST_F(QuotaTest, SetReadListAndRemove) {
  Subject user{"org_a", "user", "usr_1"}, group{"org_a", "group", "grp_1"};
  EXPECT_EQ(read([&](db::Tx& tx) { return limits_of(tx, user); }), std::nullopt);
  auto unset = read([&](db::Tx& tx) { return get_json(tx, reg_, user); });
  EXPECT_EQ(unset["etag"], "\"v0\"");
  EXPECT_TRUE(unset["limits"]["storage_bytes"].is_null());

  auto stamp0 = read([&](db::Tx& tx) { return change_stamp(tx); });
  auto j = put_limits(user, {.storage_bytes = 100, .concurrent_envs = 2});
  EXPECT_EQ(j["limits"]["storage_bytes"], 100);
  EXPECT_EQ(j["limits"]["concurrent_envs"], 2);
  EXPECT_TRUE(j["limits"]["cpu_hours"].is_null());
  EXPECT_EQ(j["etag"], "\"v1\"");
  EXPECT_EQ(put_limits(user, {.storage_bytes = 50})["etag"], "\"v2\"");
  put_limits(group, {.cpu_hours = 10, .concurrent_jobs = 3});
  EXPECT_NE(read([&](db::Tx& tx) { return change_stamp(tx); }), stamp0);

  auto l = read([&](db::Tx& tx) { return limits_of(tx, user); });
  ASSERT_TRUE(l);
  EXPECT_EQ(l->storage_bytes, 50);
  EXPECT_FALSE(l->concurrent_envs);

  // The org's own quota leads the list even when none is set; the rest in kind, subject order.
  auto items = read([&](db::Tx& tx) { return list_json(tx, reg_, "org_a"); });
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0]["kind"], "org");
  EXPECT_EQ(items[1]["kind"], "group");
  EXPECT_EQ(items[2]["kind"], "user");
  auto all = read([&](db::Tx& tx) { return list_all(tx); });
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].subject.id, "grp_1");
  EXPECT_EQ(all[0].limits.concurrent_jobs, 3);

  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return remove_subject(tx, "group", "grp_1"); }));
  EXPECT_EQ(read([&](db::Tx& tx) { return list_all(tx); }).size(), 1u);
  ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return remove_org(tx, "org_a"); }));
  EXPECT_TRUE(read([&](db::Tx& tx) { return list_all(tx); }).empty());
}

TEST_F(QuotaTest, SettingRecordsAnAuditEvent) {
  put_limits({"org_b", "org", "org_b"}, {.cpu_period_days = 30});
  audit::Filter f;
  auto events = read([&](db::Tx& tx) { return audit::list(tx, f); });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["action"], "quota.set");
}

TEST_F(QuotaTest, ARefusalBecomesTheOrgsEventAboutTheSubject) {
  auto refused = check_storage_refusal();
  auto e = refusal_event(refused, "POST /api/v1/x");
  EXPECT_EQ(e.org_id, "org_a");
  EXPECT_EQ(e.action, "quota.exceeded");
  EXPECT_EQ(e.target_kind, "user");
  EXPECT_EQ(e.target_id, "usr_1");
  EXPECT_EQ(e.summary["limit"], "storage_bytes");
  EXPECT_EQ(e.summary["max"], 10);
  EXPECT_EQ(e.summary["requested"], 20);
  EXPECT_EQ(e.summary["route"], "POST /api/v1/x");
  EXPECT_EQ(e.summary["detail"], refused.detail);
  // An error that names no subject still makes an event (about "quota"), never a crash.
  auto bare = refusal_event(Error(ErrorCode::kQuotaExceeded, "quota-exceeded", "over"), "GET /y");
  EXPECT_EQ(bare.org_id, "");
  EXPECT_EQ(bare.target_kind, "quota");
}

}  // namespace
}  // namespace atrium::quota
