#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/text.hpp"

namespace atrium {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override { crypto::init(); }
};

TEST_F(CoreTest, ErrorCodesMapToHttpStatuses) {
  struct Case { ErrorCode code; int status; };
  const Case cases[] = {
      {ErrorCode::kInvalidArgument, 400},   {ErrorCode::kUnauthenticated, 401}, {ErrorCode::kPermissionDenied, 403},
      {ErrorCode::kNotFound, 404},          {ErrorCode::kMethodNotAllowed, 405}, {ErrorCode::kAlreadyExists, 409},
      {ErrorCode::kFailedPrecondition, 409}, {ErrorCode::kAborted, 409},        {ErrorCode::kPreconditionFailed, 412},
      {ErrorCode::kPayloadTooLarge, 413},   {ErrorCode::kUnsupportedMediaType, 415},
      {ErrorCode::kUnprocessable, 422},     {ErrorCode::kPreconditionRequired, 428},
      {ErrorCode::kResourceExhausted, 429}, {ErrorCode::kQuotaExceeded, 507},   {ErrorCode::kInternal, 500},
      {ErrorCode::kUnavailable, 503},
  };
  for (auto& c : cases) EXPECT_EQ(http_status(c.code), c.status) << code_name(c.code);
}

Result<int> half(int x) {
  if (x % 2) return invalid("odd");
  return x / 2;
}
Result<int> quarter(int x) {
  int h = TRY(half(x));
  return TRY(half(h));
}

TEST_F(CoreTest, TryPropagatesErrors) {
  EXPECT_EQ(*quarter(8), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().detail, "odd");
}

TEST_F(CoreTest, IdsAreOrderedAndChecked) {
  std::string prev;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_id("prj", 1'700'000'000'000 + i / 10);
    EXPECT_TRUE(is_id(id, "prj")) << id;
    EXPECT_LT(prev, id);
    prev = id;
  }
  EXPECT_FALSE(is_id("prj_short", "prj"));
  EXPECT_FALSE(is_id(new_id("usr", 5), "prj"));
}

TEST_F(CoreTest, Utf8Validation) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST_F(CoreTest, Slugs) {
  EXPECT_TRUE(is_valid_slug("lab-1"));
  EXPECT_TRUE(is_valid_slug("a.b_c"));
  EXPECT_FALSE(is_valid_slug(""));
  EXPECT_FALSE(is_valid_slug("-x"));
  EXPECT_FALSE(is_valid_slug("Upper"));
  EXPECT_FALSE(is_valid_slug("a/b"));
  EXPECT_FALSE(is_valid_slug(std::string(65, 'a')));
}

TEST_F(CoreTest, Rfc3339RoundTrip) {
  Millis t = 1'764'097'000'123;
  std::string s = format_rfc3339(t);
  Millis back = 0;
  ASSERT_TRUE(parse_rfc3339(s, back)) << s;
  EXPECT_EQ(back, t);
  ASSERT_TRUE(parse_rfc3339("2026-11-25T20:00:00+01:00", back));
  EXPECT_EQ(format_rfc3339(back), "2026-11-25T19:00:00.000Z");
  EXPECT_FALSE(parse_rfc3339("2026-13-01T00:00:00Z", back));
  EXPECT_FALSE(parse_rfc3339("yesterday", back));
}

TEST_F(CoreTest, PasswordsHashAndVerify) {
  auto h = crypto::hash_password("correct horse");
  EXPECT_TRUE(h.starts_with("$argon2id$"));
  EXPECT_TRUE(crypto::verify_password(h, "correct horse"));
  EXPECT_FALSE(crypto::verify_password(h, "wrong horse"));
  EXPECT_FALSE(crypto::verify_password("garbage", "x"));
}

TEST_F(CoreTest, Base64UrlRoundTripAndRejectsJunk) {
  std::string raw = crypto::random_bytes(33);
  EXPECT_EQ(*crypto::base64url_decode(crypto::base64url(raw)), raw);
  EXPECT_FALSE(crypto::base64url_decode("not base64!"));
}

TEST_F(CoreTest, ConfigLayersAndErrors) {
  auto c = load_config("", {{"ATRIUM_LISTEN", "127.0.0.1:0"}, {"ATRIUM_LIMITS_MAX_BODY_BYTES", "4096"}},
                       {{"server.data_dir", "/tmp/x"}});
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->listen, "127.0.0.1:0");
  EXPECT_EQ(c->max_body_bytes, 4096);
  EXPECT_EQ(c->data_dir, "/tmp/x");
  auto bad = load_config("", {{"ATRIUM_LIMITS_NOPE", "1"}}, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().detail.find("ATRIUM_LIMITS_NOPE"), std::string::npos);
  EXPECT_TRUE(load_config("", {{"ATRIUM_TOKEN", "x"}, {"ATRIUM_BIN", "/x"}}, {}));  // client/tool variables
  auto range = load_config("", {}, {{"limits.idle_timeout_s", "0"}});
  ASSERT_FALSE(range);
  auto word = load_config("", {}, {{"log.level", "loud"}});
  ASSERT_FALSE(word);
  EXPECT_NE(word.error().detail.find("not one of"), std::string::npos);
}

TEST_F(CoreTest, ConfigFileRejectsUnknownKeys) {
  std::string path = ::testing::TempDir() + "/atrium_cfg_test.toml";
  {
    FILE* f = fopen(path.c_str(), "w");
    fputs("[server]\nlisten = \"127.0.0.1:9\"\ncolour = \"blue\"\n", f);
    fclose(f);
  }
  auto c = load_config(path, {}, {});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find("server.colour"), std::string::npos);
  {
    FILE* f = fopen(path.c_str(), "w");
    fputs("[server]\nio_threads = \"two\"\n", f);
    fclose(f);
  }
  c = load_config(path, {}, {});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().detail.find("must be an integer"), std::string::npos);
}

TEST_F(CoreTest, ConfigPathsBecomeAbsolute) {
  auto c = load_config("", {}, {{"server.data_dir", "./var/"}, {"server.tls_cert", "certs/a.pem"},
                                {"server.tls_key", "/etc/k.pem"}, {"data.key_file", "../keys/master.key"},
                                {"log.access_log", "logs/access.log"}});
  ASSERT_TRUE(c) << c.error().detail;
  make_paths_absolute(*c, "/srv/atrium");
  EXPECT_EQ(c->data_dir, "/srv/atrium/var");
  EXPECT_EQ(c->tls_cert, "/srv/atrium/certs/a.pem");
  EXPECT_EQ(c->tls_key, "/etc/k.pem");
  EXPECT_EQ(c->data_key_file, "/srv/keys/master.key");
  EXPECT_EQ(c->access_log, "/srv/atrium/logs/access.log");
  Config d;  // the defaults: "./var", stdout for the access log, no key file
  make_paths_absolute(d, "/home/me/atrium");
  EXPECT_EQ(d.data_dir, "/home/me/atrium/var");
  EXPECT_EQ(d.access_log, "-");
  EXPECT_EQ(d.data_key_file, "");
}

TEST_F(CoreTest, ConfigTrustedProxiesFromAnArray) {
  std::string path = ::testing::TempDir() + "/atrium_cfg_proxies.toml";
  {
    FILE* f = fopen(path.c_str(), "w");
    fputs("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n", f);
    fclose(f);
  }
  auto c = load_config(path, {}, {});
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->trusted_proxies, "10.0.0.0/8,::1");
  auto e = load_config("", {{"ATRIUM_SERVER_TRUSTED_PROXIES", "127.0.0.1/32"}}, {});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->trusted_proxies, "127.0.0.1/32");
}

}  // namespace
}  // namespace atrium
