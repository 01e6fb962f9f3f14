#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <set>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "mail/mail.hpp"
#include "mail/message.hpp"
#include "mail/notify.hpp"
#include "mail/smtp.hpp"
#include "mail/store.hpp"
#include "mail/templates.hpp"

namespace atrium::mail {
namespace {

using nlohmann::json;

json vars_for(const TemplateInfo& t) {
  json v = {{"site_url", "https://atrium.example.org"}};
  for (auto& name : t.vars) v[name] = "<" + name + " & 'value'>";
  return v;
}

// Every template renders in every locale with exactly its declared variables, and names no others.
TEST(Templates, EveryTemplateRendersWithItsDeclaredVariables) {
  ASSERT_TRUE(has_locale("en"));
  ASSERT_TRUE(has_locale("de"));
  for (auto& loc : locales())
    for (auto& t : templates()) {
      SCOPED_TRACE(loc + "/" + t.name);
      auto r = render(t.name, loc, "en", vars_for(t));
      ASSERT_TRUE(r) << r.error().detail;
      EXPECT_FALSE(r->subject.empty());
      EXPECT_EQ(r->subject.find('\n'), std::string::npos);
      EXPECT_EQ(r->html.find("{{"), std::string::npos);
      EXPECT_EQ(r->html.find("<link"), std::string::npos) << "HTML part not escaped";
      EXPECT_NE(r->text.find("<link & 'value'>"), std::string::npos);
      EXPECT_NE(r->html.find("&lt;link &amp; &#39;value&#39;&gt;"), std::string::npos);
      // No placeholder outside the declared set (and site_url): the declaration is complete.
      std::set<std::string> allowed(t.vars.begin(), t.vars.end());
      allowed.insert("site_url");
      std::regex ph(R"(\{\{\s*([a-z_]+)\s*\}\})");
      for (auto ext : {".subject", ".txt", ".html"}) {
        const std::string* src = embedded_file((has_localised(loc, t.name) ? loc : "en") + "/" + t.name + ext);
        ASSERT_NE(src, nullptr) << ext;
        for (std::sregex_iterator it(src->begin(), src->end(), ph), end; it != end; ++it)
          EXPECT_TRUE(allowed.contains((*it)[1].str())) << (*it)[1].str() << " in " << ext;
      }
    }
}

TEST(Templates, MissingVariableUnknownTemplateAndLocaleFallback) {
  json v = {{"site_url", "x"}, {"link", "https://l"}, {"expiry", "tomorrow"}};
  auto r = render("password_reset", "en", "en", v);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().detail.find("requester_ip"), std::string::npos);
  EXPECT_FALSE(render("no_such_template", "en", "en", v));
  v["requester_ip"] = "192.0.2.1";
  auto de = render("password_reset", "de", "en", v);
  ASSERT_TRUE(de);
  EXPECT_NE(de->subject.find("zurücksetzen"), std::string::npos);
  // de has no verify_email: English; an unknown locale falls back to the default one.
  auto en = render("verify_email", "de", "en", v);
  ASSERT_TRUE(en);
  EXPECT_NE(en->subject.find("Confirm"), std::string::npos);
  auto fb = render("password_reset", "xx", "de", v);
  ASSERT_TRUE(fb);
  EXPECT_EQ(fb->subject, de->subject);
  // A variable cannot add a header line.
  json bad = {{"site_url", "x"}, {"job_name", "a\r\nBcc: evil@example.org"}, {"job_id", "j"}, {"state", "s"},
              {"cause", "c"}, {"link", "l"}};
  EXPECT_FALSE(render("job_ended", "en", "en", bad));
}

TEST(Message, AddressesAndHeaderValues) {
  for (auto a : {"a@example.org", "first.last+tag@sub.example.org", "x@localhost"}) EXPECT_TRUE(check_address(a)) << a;
  for (auto a : {"", "no-at", "two@@example.org", "a@b@c", "@example.org", "a@", "a b@example.org",
                 "a@example.org\r\nBcc: x@y", "<a@example.org>", "Name <a@example.org>", "a@example..org",
                 "a,b@example.org", "a@.example.org", "ä@example.org"})
    EXPECT_FALSE(check_address(a)) << a;
  EXPECT_FALSE(check_header_value("x\r\nBcc: y@z"));
  EXPECT_FALSE(check_header_value("x\ny"));
  EXPECT_TRUE(check_header_value("Ein Betreff"));
}

TEST(Message, BuildsMultipartWithEncodedSubject) {
  crypto::init();
  Outgoing m{.from = "atrium@example.org",
             .from_name = "Atrium \"Lab\"",
             .to = "user@example.org",
             .subject = "Passwort zurücksetzen – ein sehr langer Betreff, der über mehrere Wörter geht",
             .text = "Hallo\n",
             .html = "<p>Hallo</p>\n",
             .message_id = message_id_for("task-key", "atrium@example.org"),
             .date = 1'796'000'000'000};
  auto msg = build(m);
  ASSERT_TRUE(msg) << msg.error().detail;
  EXPECT_NE(msg->find("From: \"Atrium \\\"Lab\\\"\" <atrium@example.org>\r\n"), std::string::npos);
  EXPECT_NE(msg->find("To: <user@example.org>\r\n"), std::string::npos);
  EXPECT_NE(msg->find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_NE(msg->find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(msg->find("Content-Type: multipart/alternative;\r\n boundary="), std::string::npos);
  EXPECT_NE(msg->find("Content-Type: text/plain; charset=utf-8"), std::string::npos);
  EXPECT_NE(msg->find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(msg->find("Date: "), std::string::npos);
  // Every header line is within the 78 characters RFC 5322 asks for.
  std::size_t end = msg->find("\r\n\r\n");
  for (std::size_t i = 0; i < end;) {
    auto eol = msg->find("\r\n", i);
    EXPECT_LE(eol - i, 78u) << msg->substr(i, eol - i);
    i = eol + 2;
  }
  EXPECT_EQ(message_id_for("task-key", "a@example.org"), message_id_for("task-key", "a@example.org"));
  EXPECT_NE(message_id_for("task-key", "a@example.org"), message_id_for("other", "a@example.org"));
  EXPECT_TRUE(message_id_for("k", "a@example.org").ends_with("@example.org"));
  m.subject = "x\r\nBcc: evil@example.org";
  EXPECT_FALSE(build(m));
  m.subject = "ok";
  m.to = "evil@example.org\r\nBcc: more@example.org";
  EXPECT_FALSE(build(m));
}

TEST(Smtp, RefusedConnectionIsTransient) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // nobody listens there now
  SmtpSettings s{.url = "smtp://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), .starttls = "off", .timeout_s = 5};
  auto st = smtp_send(s, "a@example.org", "b@example.org", "Subject: x\r\n\r\nhi\r\n");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
}


TEST(Preferences, DefaultsOnThenStoredPerKindWithVersion) {
  auto db = db::open_test_db();
  ASSERT_TRUE(db->migrate("mail", migrations()));
  auto p = db->read([](db::Tx& tx) { return preferences(tx, "usr_a"); });
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, 0);
  EXPECT_EQ(p->locale, "");
  for (auto& k : notification_kinds()) EXPECT_TRUE(p->email.at(k)) << k;
  p->email["job_end"] = false;
  p->locale = "de";
  auto q = db->write([&](db::Tx& tx) { return put_preferences(tx, "usr_a", *p, 5); });
  ASSERT_TRUE(q);
  EXPECT_EQ(q->version, 1);
  EXPECT_FALSE(q->email.at("job_end"));
  EXPECT_TRUE(q->email.at("quota_near_limit"));
  auto off = db->read([](db::Tx& tx) { return mail_locale_if_wanted(tx, "usr_a", "job_end"); });
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->has_value());
  auto on = db->read([](db::Tx& tx) { return mail_locale_if_wanted(tx, "usr_a", "env_cull_warning"); });
  ASSERT_TRUE(on && on->has_value());
  EXPECT_EQ(**on, "de");
  auto other = db->read([](db::Tx& tx) { return mail_locale_if_wanted(tx, "usr_b", "job_end"); });
  ASSERT_TRUE(other && other->has_value());
  EXPECT_EQ(**other, "");
  q = db->write([&](db::Tx& tx) { return put_preferences(tx, "usr_a", *q, 6); });
  EXPECT_EQ(q->version, 2);
  // The sent log answers a second run of the same mail.
  ASSERT_TRUE(db->write_tx([](db::Tx& tx) { return record_sent(tx, "m1@example.org", "tsk_1", 7); }));
  ASSERT_TRUE(db->write_tx([](db::Tx& tx) { return record_sent(tx, "m1@example.org", "tsk_1", 8); }));
  EXPECT_TRUE(*db->read([](db::Tx& tx) { return was_sent(tx, "m1@example.org"); }));
  EXPECT_FALSE(*db->read([](db::Tx& tx) { return was_sent(tx, "m2@example.org"); }));
}

}  // namespace
}  // namespace atrium::mail

namespace atrium::mail {
namespace {

class FixedClock : public Clock {
 public:
  Millis now_ms() const override { return 1'000'000; }
};

// enqueue refuses what could never be sent, so nothing bad waits in the queue; disabled: nothing.
TEST(Enqueue, RefusesBadInputAndQueuesNothingWhenDisabled) {
  crypto::init();
  auto db = db::open_test_db();
  ASSERT_TRUE(db->migrate("tasks", tasks::migrations()));
  ASSERT_TRUE(db->migrate("mail", migrations()));
  static FixedClock clock;
  Message ok{.to = "ann@example.org", .template_name = "verify_email", .vars = {{"link", "https://x/v?t=1"}}, .key = "k1"};
  configure(*db, clock, Settings{});
  EXPECT_FALSE(enabled());
  auto none = db->write([&](db::Tx& tx) { return enqueue(tx, ok, 1); });
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
  Settings s;
  s.smtp.url = "smtp://127.0.0.1:1";
  s.from = "atrium@example.org";
  s.public_url = [] { return std::string("https://atrium.example.org"); };
  configure(*db, clock, s);
  ASSERT_TRUE(enabled());
  auto bad = [&](Message m) {
    auto r = db->write([&](db::Tx& tx) { return enqueue(tx, m, 1); });
    return !r && r.error().code == ErrorCode::kInvalidArgument;
  };
  Message m = ok;
  m.to = "ann@example.org\r\nBcc: eve@example.org";
  EXPECT_TRUE(bad(m));
  m.to = "not an address";
  EXPECT_TRUE(bad(m));
  m = ok;
  m.template_name = "no_such";
  EXPECT_TRUE(bad(m));
  m = ok;
  m.vars = nlohmann::json::object();
  EXPECT_TRUE(bad(m));
  m = ok;
  m.template_name = "job_failed";
  m.vars = {{"job_name", "x\r\nBcc: eve@example.org"}, {"job_id", "j"}, {"state", "FAILED"}, {"cause", "c"},
            {"link", "l"}};
  EXPECT_TRUE(bad(m));
  auto id = db->write([&](db::Tx& tx) { return enqueue(tx, ok, 1); });
  ASSERT_TRUE(id) << id.error().detail;
  EXPECT_FALSE(id->empty());
  // The same key is the same task.
  auto again = db->write([&](db::Tx& tx) { return enqueue(tx, ok, 2); });
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *id);
  configure(*db, clock, Settings{});
}

// Mail enabled (to an SMTP server that is not there: nothing is sent in these tests).
Settings sending_settings() {
  Settings s;
  s.smtp.url = "smtp://127.0.0.1:1";
  s.from = "atrium@example.org";
  s.public_url = [] { return std::string("https://atrium.example.org"); };
  return s;
}

// A queued mail's payload is sealed (the link, a bearer secret, is not in the tasks table), and a
// sent one keeps no payload at all.
TEST(Mail, PayloadIsSealedAndClearedOnceSent) {
  crypto::init();
  auto db = db::open_test_db();
  ASSERT_TRUE(db->migrate("tasks", tasks::migrations()));
  ASSERT_TRUE(db->migrate("mail", migrations()));
  static FixedClock clock;
  Settings s = sending_settings();
  s.key = "any key: configure derives the AEAD key from it";
  configure(*db, clock, s);
  Message m{.to = "ann@example.org",
            .template_name = "password_reset",
            .vars = {{"link", "https://atrium.example.org/reset?token=SECRETTOKEN123"}, {"expiry", "1 hour"}, {"requester_ip", "192.0.2.1"}},
            .key = "reset1"};
  auto id = db->write([&](db::Tx& tx) { return enqueue(tx, m, 1); });
  ASSERT_TRUE(id) << id.error().detail;
  auto payload = [&] {
    return db->read([](db::Tx& tx) { return tx.query_one("SELECT payload FROM tasks"); })->value().str(0);
  };
  std::string stored = payload();
  EXPECT_EQ(stored.find("SECRETTOKEN123"), std::string::npos) << stored;
  EXPECT_EQ(stored.find("ann@example.org"), std::string::npos) << stored;
  EXPECT_NE(stored.find("sealed"), std::string::npos);
  // Once done, the task holds nothing.
  ASSERT_TRUE(db->write_tx([&](db::Tx& tx) { return tasks::clear_payload(tx, *id); }));
  EXPECT_EQ(payload(), "{}");
  configure(*db, clock, Settings{});
}

}  // namespace
}  // namespace atrium::mail

namespace atrium::mail {
namespace {

// A quota at 90 % or more: one notice per recipient and period, none below 90 % or when unwanted.
TEST(Notify, QuotaNearLimitOncePerPeriodAndRespectsThePreference) {
  crypto::init();
  auto db = db::open_test_db();
  ASSERT_TRUE(db->migrate("audit", audit::migrations()));
  ASSERT_TRUE(db->migrate("orgs", {{1, "orgs", "CREATE TABLE orgs (id TEXT PRIMARY KEY); INSERT INTO orgs VALUES ('org_a');"}}));
  ASSERT_TRUE(db->migrate("quota", quota::migrations()));
  ASSERT_TRUE(db->migrate("tasks", tasks::migrations()));
  ASSERT_TRUE(db->migrate("mail", migrations()));
  static FixedClock clock;
  Settings s = sending_settings();
  s.email_of = [](db::Tx&, const std::string& id) -> Result<std::string> { return id + "@example.org"; };
  configure(*db, clock, s);
  std::int64_t used = 950;
  quota::Registry reg;
  ASSERT_TRUE(reg.add("data", {"storage_bytes"}, [&used](db::Tx&, const quota::Subject&) -> Result<nlohmann::json> {
    return nlohmann::json{{"storage_bytes", used}};
  }));
  quota::Subject ann{"org_a", "user", "ann"};
  ASSERT_TRUE(db->write([&](db::Tx& tx) {
    return quota::put(tx, reg, Actor{.user_id = "usr_admin"}, ann, {.storage_bytes = 1000}, 1);
  }));
  QuotaRecipients who = [](db::Tx&, const quota::Subject& q) -> Result<std::vector<std::string>> {
    return std::vector<std::string>{q.id};
  };
  auto mails = [&] {
    return db->read([](db::Tx& tx) { return tasks::list(tx, {.kind = kSendKind}); })->size();
  };
  Millis day = 86'400'000;
  ASSERT_TRUE(db->write([&](db::Tx& tx) { return check_quotas(tx, reg, who, 100 * day); }));
  EXPECT_EQ(mails(), 1u);
  ASSERT_TRUE(db->write([&](db::Tx& tx) { return check_quotas(tx, reg, who, 101 * day); }));
  EXPECT_EQ(mails(), 1u);  // the same 30-day period
  used = 899;
  ASSERT_TRUE(db->write([&](db::Tx& tx) { return check_quotas(tx, reg, who, 131 * day); }));
  EXPECT_EQ(mails(), 1u);  // below 90 %
  used = 1000;
  ASSERT_TRUE(db->write_tx([&](db::Tx& tx) -> Status {
    Preferences p = TRY(preferences(tx, "ann"));
    p.email["quota_near_limit"] = false;
    TRY(put_preferences(tx, "ann", p, 1));
    return {};
  }));
  ASSERT_TRUE(db->write([&](db::Tx& tx) { return check_quotas(tx, reg, who, 131 * day); }));
  EXPECT_EQ(mails(), 1u);  // unwanted
  configure(*db, clock, Settings{});
}

}  // namespace
}  // namespace atrium::mail
