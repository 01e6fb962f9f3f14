#include <utility>

#include <gtest/gtest.h>

#include <memory>
#include <mutex>

#include "http/proxy_header.hpp"

#include "proxy/proxy.hpp"

namespace atrium::proxy {
namespace {

const std::string kId = "env_01JD3X8V0Q6Y2M4K9T7R5W1ZCA";

TEST(ProxyTarget, AcceptsPathsForwardedUnchanged) {
  for (std::string rest : {"", "tree", "api/kernels/abc/channels?session_id=x", "static/a.js?v=1", "files/a%20b.ipynb",
                           "nbconvert/html/x.ipynb?download=true"}) {
    auto t = parse_target("/env/" + kId + "/" + rest);
    ASSERT_TRUE(t.has_value()) << rest << ": " << t.error().detail;
    EXPECT_EQ(t->env_id, kId);
    EXPECT_FALSE(t->needs_slash);
  }
  auto bare = parse_target("/env/" + kId);
  ASSERT_TRUE(bare.has_value());
  EXPECT_TRUE(bare->needs_slash);
}

TEST(ProxyTarget, RefusesWhatWouldMeanSomethingElseDecoded) {
  for (std::string rest : {"..", "../api/v1/users", "a/../../x", "%2e%2e/x", "a/%2E%2E", "a%2Fb", "a%2fb", "a%5Cb",
                           "a\\b", "a%00b", "a b", "a%zz", ".", "x/./y"}) {
    auto t = parse_target("/env/" + kId + "/" + rest);
    EXPECT_FALSE(t.has_value()) << rest;
    if (!t.has_value()) {
      EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument) << rest;
    }
  }
  for (std::string bad : {"/env/", "/env//x", "/env/job_01JD3X8V0Q6Y2M4K9T7R5W1ZCA/", "/env/../api", "/api/v1/x"}) {
    EXPECT_FALSE(parse_target(bad).has_value()) << bad;
  }
  // The query is not part of the path checks: it is the app's business.
  EXPECT_TRUE(parse_target("/env/" + kId + "/x?path=../..%2F").has_value());
}

TEST(DecisionCache, EveryFollowedSignalForgetsEveryDecision) {
  Notifier envs_changes, identity_changes;
  auto cache = std::make_unique<DecisionCache>();
  cache->follow(envs_changes);
  cache->follow(identity_changes);
  auto remember = [&] {
    std::lock_guard lk(cache->mu);
    cache->entries["env_x\na:Bearer t"] = DecisionCache::Entry{.env_id = "env_x", .generation = cache->generation.load()};
  };
  remember();
  auto g0 = cache->generation.load();
  envs_changes.notify();
  EXPECT_TRUE(cache->entries.empty());
  EXPECT_GT(cache->generation.load(), g0);  // a decision taken before the signal is stale when stored after it
  remember();
  identity_changes.notify();
  EXPECT_TRUE(cache->entries.empty());
  cache.reset();  // its subscriptions end with it: a later signal reaches nothing
  envs_changes.notify();
}

TEST(ProxyCookies, AtriumCookiesNeverReachTheApp) {
  EXPECT_EQ(strip_atrium_cookies("atrium_session=s3cret; _xsrf=2|ab; atrium_csrf=x"), "_xsrf=2|ab");
  EXPECT_EQ(strip_atrium_cookies("ATRIUM_session=x;a=1;  b=2 ;"), "a=1; b=2");
  EXPECT_EQ(strip_atrium_cookies("atrium_guest_env_x=abc"), "");
  EXPECT_EQ(strip_atrium_cookies(""), "");
  EXPECT_EQ(strip_atrium_cookies(";;; ;"), "");
}

TEST(ProxyResponse, AppsSetNoAtriumCookieAndNoServiceWorkerScope) {
  namespace bhttp = boost::beast::http;
  bhttp::response<bhttp::empty_body> r{bhttp::status::ok, 11};
  r.insert(bhttp::field::set_cookie, "atrium_session=x; Path=/");
  r.insert(bhttp::field::set_cookie, "_xsrf=1; Path=/");
  r.insert(bhttp::field::set_cookie, " ATRIUM_env=y");
  r.insert(bhttp::field::set_cookie, "atrium_csrf");
  r.insert(bhttp::field::set_cookie, "username-x=2");
  r.insert("Service-Worker-Allowed", "/");
  http::drop_atrium_fields(r);
  std::vector<std::string> kept;
  for (auto& f : r) kept.push_back(std::string(f.name_string()) + ": " + std::string(f.value()));
  EXPECT_EQ(kept, (std::vector<std::string>{"Set-Cookie: _xsrf=1; Path=/", "Set-Cookie: username-x=2"}));
}

TEST(ProxyOrigin, TargetsOnAnEnvironmentsOwnOrigin) {
  for (std::string ok : {"/", "/tree", "/api/kernels/abc/channels?session_id=x", "/files/a%20b.ipynb", "/x?path=../.."})
    EXPECT_TRUE(check_origin_target(ok).has_value()) << ok;
  for (std::string bad : {"", "tree", "http://evil/x", "/..", "/a/../b", "/%2e%2e/x", "/a%2Fb", "/a\\b", "/a b", "*"})
    EXPECT_FALSE(check_origin_target(bad).has_value()) << bad;
}

TEST(ProxyOrigin, NextStaysOnTheSameHost) {
  for (std::string ok : {"/", "/tree", "/lab?reset", "/a/b%20c"}) EXPECT_TRUE(safe_next(ok)) << ok;
  for (std::string bad : {"", "tree", "//evil.example", "/\\evil.example", "https://evil.example/", "/a\nb", "/a b"})
    EXPECT_FALSE(safe_next(bad)) << bad;
}

TEST(ProxyTicket, SignedBoundAndExpiring) {
  const std::string key(32, 'k');
  Ticket t{kId, "usr_1", "ses_1", "nonce1", 1'060'000};
  auto text = seal_ticket(key, t);
  auto back = open_ticket(key, text, 1'000'000);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->env_id, kId);
  EXPECT_EQ(back->user_id, "usr_1");
  EXPECT_EQ(back->session_id, "ses_1");
  EXPECT_EQ(back->nonce, "nonce1");
  EXPECT_TRUE(open_ticket(key, text, 1'060'000).has_value());
  EXPECT_FALSE(open_ticket(key, text, 1'060'001).has_value());       // expired
  EXPECT_FALSE(open_ticket(std::string(32, 'x'), text, 0).has_value());  // another server's key
  auto forged = text;
  forged[2] = forged[2] == 'A' ? 'B' : 'A';  // a changed payload: the signature no longer matches
  EXPECT_FALSE(open_ticket(key, forged, 0).has_value());
  for (std::string junk : std::vector<std::string>{"", ".", "abc", "abc.def", std::string(5000, 'a')}) EXPECT_FALSE(open_ticket(key, junk, 0).has_value());
  // A ticket is not a cookie and a cookie is not a ticket (each signature says what it is for).
  auto cookie = seal_env_cookie(key, {kId, "usr_1", "ses_1"});
  EXPECT_FALSE(open_ticket(key, cookie, 0).has_value());
  EXPECT_FALSE(open_env_cookie(key, text).has_value());
  auto c = open_env_cookie(key, cookie);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->env_id, kId);
  EXPECT_EQ(c->session_id, "ses_1");
}

TEST(ProxyTicket, UsedOnce) {
  TicketLedger ledger;
  EXPECT_TRUE(ledger.use("n1", 2000, 1000));
  EXPECT_FALSE(ledger.use("n1", 2000, 1000));
  EXPECT_TRUE(ledger.use("n2", 2000, 1000));
  for (int i = 0; i < 2000; ++i) EXPECT_TRUE(ledger.use("x" + std::to_string(i), 1500, 1000));
  EXPECT_FALSE(ledger.use("n1", 2000, 1600));  // pruning drops only expired nonces
}

TEST(ProxyOrigin, HostsNameOneEnvironment) {
  envs::Origins o{.public_url = "https://atrium.example.org", .domain = "envs.example.org", .path_mode = false};
  EXPECT_EQ(envs::host_label(kId), "env-01jd3x8v0q6y2m4k9t7r5w1zca");
  EXPECT_EQ(o.origin(kId), "https://env-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org");
  EXPECT_EQ(o.url(kId), "https://env-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org/");
  EXPECT_EQ(o.base_url(kId), "/");
  EXPECT_EQ(o.env_of_host("env-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org"), kId);
  EXPECT_EQ(o.env_of_host("ENV-01JD3X8V0Q6Y2M4K9T7R5W1ZCA.Envs.Example.Org:443"), kId);
  for (std::string other : {"atrium.example.org", "envs.example.org", "x.env-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org",
                            "env-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org.evil", "env_01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org",
                            "env-01jd3x8v0q6y2m4k9t7r5w1zc.envs.example.org", "env-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org:x",
                            "job-01jd3x8v0q6y2m4k9t7r5w1zca.envs.example.org", ""})
    EXPECT_EQ(o.env_of_host(other), "") << other;
  envs::Origins local{.public_url = "http://localhost:8080", .domain = "env.localhost", .path_mode = false};
  EXPECT_EQ(local.url(kId), "http://env-01jd3x8v0q6y2m4k9t7r5w1zca.env.localhost:8080/");
  envs::Origins legacy{.public_url = "http://localhost:8080", .domain = "env.localhost", .path_mode = true};
  EXPECT_EQ(legacy.url(kId), "http://localhost:8080/env/" + kId + "/");
  EXPECT_EQ(legacy.base_url(kId), "/env/" + kId + "/");
  EXPECT_EQ(legacy.env_of_host("env-01jd3x8v0q6y2m4k9t7r5w1zca.env.localhost"), "");
  EXPECT_EQ(envs::resolve_public_url("", false, 8080), "http://localhost:8080");
  EXPECT_EQ(envs::resolve_public_url("https://a.example/", true, 1), "https://a.example");
}

}  // namespace
}  // namespace atrium::proxy
