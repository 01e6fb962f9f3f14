#include "alerts/alerts.hpp"

#include <gtest/gtest.h>

#include "alerts/store.hpp"
#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "mail/mail.hpp"

namespace atrium::alerts {
namespace {

using nlohmann::json;

obs::Sample at(Millis t, std::map<std::string, double> v) { return obs::Sample{.at = t, .values = std::move(v)}; }

Rule disk_rule(std::int64_t for_s) {
  Rule r;
  r.id = "alr_1";
  r.name = "disk low";
  r.figure = "disk_free_ratio";
  r.op = "<";
  r.threshold = 0.1;
  r.for_s = for_s;
  return r;
}

// The state machine as a table: (state before, value or none, seconds since t0) -> (state after, event).
TEST(Step, OkPendingFiringOk) {
  Rule r = disk_rule(60);
  RuleState s;
  struct Row {
    Millis t;
    std::optional<double> v;
    std::string state, event;
  };
  const std::vector<Row> rows = {
      {0, 0.5, "ok", ""},          {10, 0.05, "pending", ""},  {40, std::nullopt, "pending", ""},
      {60, 0.05, "pending", ""},   {70, 0.04, "firing", "firing"}, {80, 0.01, "firing", ""},
      {90, std::nullopt, "firing", ""}, {100, 0.2, "ok", "resolved"}, {110, 0.05, "pending", ""},
      {120, 0.5, "ok", ""},
  };
  for (const auto& row : rows) {
    obs::Sample sample = row.v ? at(row.t * 1000, {{"disk_free_ratio", *row.v}}) : at(row.t * 1000, {});
    Step st = step(r, s, sample);
    EXPECT_EQ(st.next.state, row.state) << "t=" << row.t;
    EXPECT_EQ(st.event, row.event) << "t=" << row.t;
    s = st.next;
  }
}

TEST(Step, ZeroForFiresAtOnceAndDisablingResolves) {
  Rule r = disk_rule(0);
  r.op = ">";
  r.threshold = 1.0;
  r.figure = "latency_p99_s";
  Step st = step(r, RuleState{}, at(1000, {{"latency_p99_s", 2.5}}));
  EXPECT_EQ(st.next.state, "firing");
  EXPECT_EQ(st.event, "firing");
  EXPECT_EQ(st.next.value, 2.5);
  EXPECT_FALSE(step(r, st.next, at(2000, {{"latency_p99_s", 3.0}})).changed);
  r.enabled = false;
  Step off = step(r, st.next, at(3000, {{"latency_p99_s", 3.0}}));
  EXPECT_EQ(off.next.state, "ok");
  EXPECT_EQ(off.event, "resolved");
  EXPECT_FALSE(step(r, off.next, at(4000, {{"latency_p99_s", 3.0}})).changed);
  // Equal to the threshold does not hold (strict comparisons).
  r.enabled = true;
  EXPECT_FALSE(step(r, RuleState{}, at(5000, {{"latency_p99_s", 1.0}})).changed);
}

TEST(CheckRule, NamesTheBadField) {
  const std::vector<std::string> figures = {"disk_free_ratio", "latency_p99_s"};
  const std::string own = "https://atrium.example.org";
  Rule ok = disk_rule(0);
  ok.emails = {"ops@example.org"};
  ok.webhook_url = "https://hooks.example.org/atrium";
  ASSERT_TRUE(check_rule(ok, figures, own));
  auto field_of = [&](const std::function<void(Rule&)>& edit) {
    Rule r = ok;
    edit(r);
    auto st = check_rule(r, figures, own);
    return st ? std::string("ok") : st.error().extra.value("field", std::string("?"));
  };
  EXPECT_EQ(field_of([](Rule& r) { r.figure = "nope"; }), "figure");
  EXPECT_EQ(field_of([](Rule& r) { r.op = ">="; }), "op");
  EXPECT_EQ(field_of([](Rule& r) { r.threshold = std::nan(""); }), "threshold");
  EXPECT_EQ(field_of([](Rule& r) { r.for_s = -1; }), "for_s");
  EXPECT_EQ(field_of([](Rule& r) { r.severity = "panic"; }), "severity");
  EXPECT_EQ(field_of([](Rule& r) { r.name = ""; }), "name");
  EXPECT_EQ(field_of([](Rule& r) { r.emails = {"ops@example.org\r\nBcc: x@y.z"}; }), "emails");
  for (const char* url : {"ftp://x.example.org/", "file:///etc/passwd", "http://", "https://:443/x", "javascript:alert(1)",
                          "https://a.example.org/ x", "https://ATRIUM.example.org/api/v1/x", "https://atrium.example.org:443/"})
    EXPECT_EQ(field_of([&](Rule& r) { r.webhook_url = url; }), "webhook_url") << url;
  EXPECT_EQ(field_of([](Rule& r) { r.webhook_url = "http://127.0.0.1:9/hook"; }), "ok");
  EXPECT_EQ(field_of([](Rule& r) { r.webhook_url = "https://atrium.example.org:8443/"; }), "ok");  // another origin
  auto loopback = [&](const std::string& own_url, const std::string& url) {
    Rule r = ok;
    r.webhook_url = url;
    return static_cast<bool>(check_rule(r, figures, own_url));
  };
  EXPECT_FALSE(loopback("http://localhost:8080", "http://127.0.0.1:8080/hook"));
  EXPECT_FALSE(loopback("http://127.0.0.1:8080", "http://[::1]:8080/hook"));
  EXPECT_TRUE(loopback("http://localhost:8080", "http://127.0.0.1:8081/hook"));
}

// The server's own API spelt another way is still the server: a trailing dot, another scheme on
// its port, and, for a server on loopback, any loopback spelling at its port.
TEST(CheckRule, OwnServerInAnySpellingIsRefused) {
  const std::vector<std::string> figures = {"disk_free_ratio"};
  auto refused = [&](const std::string& own, const std::string& url) {
    Rule r = disk_rule(0);
    r.webhook_url = url;
    auto st = check_rule(r, figures, own);
    return !st && st.error().extra.value("field", std::string()) == "webhook_url";
  };
  for (const char* url : {"http://localhost:8080/api/v1/x", "http://localhost.:8080/api/v1/x", "http://127.0.0.1:8080/",
                          "http://127.1:8080/", "http://2130706433:8080/", "http://0x7f000001:8080/",
                          "http://0.0.0.0:8080/", "http://[::1]:8080/", "http://[::ffff:127.0.0.1]:8080/",
                          "https://localhost:8080/", "http://u@127.0.0.1:8080/", "http://a.localhost:8080/"})
    EXPECT_TRUE(refused("http://localhost:8080", url)) << url;
  for (const char* url : {"https://atrium.example.org.:443/x", "http://atrium.example.org:443/x"})
    EXPECT_TRUE(refused("https://atrium.example.org", url)) << url;
  // Elsewhere on this machine, or the same port elsewhere: allowed (a local receiver is legitimate).
  for (const char* url :
       {"http://127.0.0.1:9/hook", "http://[::1]:9/", "http://10.0.0.1:8080/", "http://example.org:8080/"})
    EXPECT_FALSE(refused("http://localhost:8080", url)) << url;
  EXPECT_FALSE(refused("https://atrium.example.org", "http://127.0.0.1:443/"));
}

TEST(Signature, IsHexHmacSha256OfTheBody) {
  crypto::init();
  EXPECT_EQ(signature("key", "The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
}

class Evaluator : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("audit", audit::migrations()));
    ASSERT_TRUE(db_->migrate("tasks", tasks::migrations()));
    ASSERT_TRUE(db_->migrate("mail", mail::migrations()));
    ASSERT_TRUE(db_->migrate("alerts", migrations()));
    mail::configure(*db_, clock_, mail::Settings{});  // no SMTP server: mail deliveries fail at once
    svc_ = std::make_unique<Service>(
        *db_, clock_, Settings{.key = crypto::random_bytes(32), .public_url = [] { return std::string("http://x"); }},
        [] { return std::vector<obs::Figure>{{"disk_free_ratio", "ratio", "free"}}; });
    Rule r = disk_rule(30);
    r.emails = {"ops@example.org"};
    r.webhook_url = "http://127.0.0.1:9/hook";
    r.created = r.updated = clock_.now_ms();
    ASSERT_TRUE(db_->write_tx([&](db::Tx& tx) { return store::insert_rule(tx, r, svc_->seal_secret(r.id, "s3cret")); }));
  }
  std::vector<store::Event> events() {
    return *db_->read([](db::Tx& tx) { return store::list_events(tx, {}); });
  }
  RuleState state() {
    return (*db_->read([](db::Tx& tx) { return store::states(tx); }))["alr_1"];
  }
  ManualClock clock_;
  std::unique_ptr<db::SqliteDatabase> db_;
  std::unique_ptr<Service> svc_;
};

TEST_F(Evaluator, FiresAfterForThenResolvesWithEventsAuditAndDeliveries) {
  Millis t0 = clock_.now_ms();
  ASSERT_TRUE(svc_->evaluate(at(t0, {{"disk_free_ratio", 0.05}})));
  EXPECT_EQ(state().state, "pending");
  EXPECT_TRUE(events().empty());
  clock_.advance_ms(20'000);
  ASSERT_TRUE(svc_->evaluate(at(clock_.now_ms(), {{"disk_free_ratio", 0.04}})));
  EXPECT_EQ(state().state, "pending");
  clock_.advance_ms(10'000);
  ASSERT_TRUE(svc_->evaluate(at(clock_.now_ms(), {{"disk_free_ratio", 0.03}})));
  EXPECT_EQ(state().state, "firing");
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].kind, "firing");
  EXPECT_EQ(events()[0].value, 0.03);
  // A sample seen already (same time) is not evaluated again.
  ASSERT_TRUE(svc_->evaluate(at(clock_.now_ms(), {{"disk_free_ratio", 0.9}})));
  EXPECT_EQ(state().state, "firing");
  clock_.advance_ms(5'000);
  ASSERT_TRUE(svc_->evaluate(at(clock_.now_ms(), {{"disk_free_ratio", 0.5}})));
  EXPECT_EQ(state().state, "ok");
  auto evs = events();
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].kind, "resolved");  // newest first
  // Each event: an audit record by "system", a webhook task, a mail delivery (failed: no SMTP).
  auto audited = *db_->read([](db::Tx& tx) { return audit::list(tx, {.action = "alert.*"}); });
  ASSERT_EQ(audited.size(), 2u);
  EXPECT_EQ(audited[0]["actor"], "system");
  EXPECT_EQ(audited[0]["summary"].dump().find("s3cret"), std::string::npos);
  auto webhooks = *db_->read([](db::Tx& tx) { return tasks::list(tx, {.kind = "alerts.webhook"}); });
  EXPECT_EQ(webhooks.size(), 2u);
  auto ds = *db_->read([&](db::Tx& tx) { return store::deliveries(tx, {evs[1].id}); });
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].channel, "email:ops@example.org");
  EXPECT_EQ(ds[0].state, "failed");
  EXPECT_EQ(ds[1].channel, "webhook");
  EXPECT_EQ(ds[1].state, "queued");
}

// With mail configured, each address is a queued "mail.send" task (the alert template renders).
TEST_F(Evaluator, MailIsQueuedWhenConfigured) {
  mail::Settings ms;
  ms.smtp.url = "smtp://127.0.0.1:1";
  ms.from = "atrium@example.org";
  mail::configure(*db_, clock_, ms);
  ASSERT_TRUE(svc_->evaluate(at(clock_.now_ms(), {{"disk_free_ratio", 0.01}})));
  clock_.advance_ms(31'000);
  ASSERT_TRUE(svc_->evaluate(at(clock_.now_ms(), {{"disk_free_ratio", 0.01}})));
  auto evs = events();
  ASSERT_EQ(evs.size(), 1u);
  auto ds = *db_->read([&](db::Tx& tx) { return store::deliveries(tx, {evs[0].id}); });
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds[0].state, "queued") << ds[0].last_error;
  EXPECT_FALSE(ds[0].task_id.empty());
  auto mails = *db_->read([](db::Tx& tx) { return tasks::list(tx, {.kind = "mail.send"}); });
  EXPECT_EQ(mails.size(), 1u);
  mail::configure(*db_, clock_, mail::Settings{});
}

TEST_F(Evaluator, SecretsOpenOnlyForTheirRule) {
  auto sealed = svc_->seal_secret("alr_1", "whsec_x");
  EXPECT_EQ(sealed.find("whsec_x"), std::string::npos);
  EXPECT_EQ(svc_->open_secret("alr_1", sealed), "whsec_x");
  EXPECT_FALSE(svc_->open_secret("alr_2", sealed));
}

// A webhook that cannot be reached is a transient failure the queue retries; the evaluator never waits.
TEST_F(Evaluator, UnreachableWebhookIsTransient) {
  auto st = svc_->post_webhook("http://127.0.0.1:9/hook", "k", "{}");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace atrium::alerts
