#include <gtest/gtest.h>

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

TEST(ProxyCookies, AtriumCookiesNeverReachTheApp) {
  EXPECT_EQ(strip_atrium_cookies("atrium_session=s3cret; _xsrf=2|ab; atrium_csrf=x"), "_xsrf=2|ab");
  EXPECT_EQ(strip_atrium_cookies("ATRIUM_session=x;a=1;  b=2 ;"), "a=1; b=2");
  EXPECT_EQ(strip_atrium_cookies("atrium_guest_env_x=abc"), "");
  EXPECT_EQ(strip_atrium_cookies(""), "");
  EXPECT_EQ(strip_atrium_cookies(";;; ;"), "");
}

}  // namespace
}  // namespace atrium::proxy
