#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

TEST_F(CoreTest, AeadOpensOnlyWithItsKeyAndAssociatedData) {
  std::string key = crypto::random_bytes(crypto::kAeadKeyBytes);
  std::string sealed = crypto::aead_seal(key, "secret", "row-1");
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
  EXPECT_EQ(crypto::aead_open(key, sealed, "row-1"), std::optional<std::string>("secret"));
  EXPECT_FALSE(crypto::aead_open(key, sealed, "row-2"));
  EXPECT_FALSE(crypto::aead_open(crypto::random_bytes(crypto::kAeadKeyBytes), sealed, "row-1"));
  std::string damaged = sealed;
  damaged.back() ^= 1;
  EXPECT_FALSE(crypto::aead_open(key, damaged, "row-1"));
  EXPECT_FALSE(crypto::aead_open(key, sealed.substr(0, 10), "row-1"));
  EXPECT_NE(crypto::aead_seal(key, "secret", "row-1"), sealed);  // a fresh nonce each time
}

TEST_F(CoreTest, Base64UrlRoundTripAndRejectsJunk) {
  std::string raw = crypto::random_bytes(33);
  EXPECT_EQ(*crypto::base64url_decode(crypto::base64url(raw)), raw);
  EXPECT_FALSE(crypto::base64url_decode("not base64!"));
}

// A section as a module declares one (the real ones: app/config_test.cpp).
struct Demo {
  std::string name = "x";
  std::int64_t size = 10;
  int level = 1;
  std::string mode = "a";
  bool on = false;
  std::string dir = "./d";
  std::string log = "-";
  std::string nets;
};

struct DemoRegistry {
  Demo d;
  config::Registry r;
  int checks = 0;
  DemoRegistry() {
    r.section("demo", d)
        .string("name", "a name", &Demo::name)
        .integer("size", "a size", &Demo::size, 1, 100)
        .integer("level", "a level", &Demo::level, 0, 5)
        .string("mode", "a mode", &Demo::mode, {"a", "b"})
        .boolean("on", "a switch", &Demo::on)
        .path("dir", "a directory", &Demo::dir)
        .path("log", "a file, - for stdout", &Demo::log, "-")
        .list("nets", "CIDRs", &Demo::nets)
        .check([this](Demo& x) -> Status {
          ++checks;
          return x.name == "bad" ? invalid("demo.name: bad") : Status{};
        });
    r.env_alias("NAME", "demo.name");
    r.env_foreign("ATRIUM_DEMO_URL");
  }
};

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  FILE* f = fopen(path.c_str(), "w");
  fputs(text.c_str(), f);
  fclose(f);
  return path;
}

TEST_F(CoreTest, ConfigLayersFileEnvFlags) {
  DemoRegistry t;
  std::string path = write_temp("atrium_cfg_layers.toml", "[demo]\nname = \"file\"\nsize = 20\nlevel = 2\n");
  ASSERT_TRUE(t.r.load(path, {{"ATRIUM_DEMO_SIZE", "30"}, {"ATRIUM_DEMO_LEVEL", "3"}, {"PATH", "/bin"}},
                       {{"demo.level", "4"}}));
  EXPECT_EQ(t.d.name, "file");
  EXPECT_EQ(t.d.size, 30);
  EXPECT_EQ(t.d.level, 4);
  EXPECT_EQ(t.checks, 1);
  EXPECT_EQ(t.r.value_text("demo.size"), "30");
  EXPECT_EQ(t.r.value_text("demo.on"), "false");
  DemoRegistry alias;
  ASSERT_TRUE(alias.r.load("", {{"ATRIUM_NAME", "short"}}, {}));
  EXPECT_EQ(alias.d.name, "short");
}

TEST_F(CoreTest, ConfigErrorsNameTheSetting) {
  auto error_of = [](const std::map<std::string, std::string>& env, const std::map<std::string, std::string>& flags) {
    DemoRegistry t;
    auto st = t.r.load("", env, flags);
    return st ? std::string() : st.error().detail;
  };
  EXPECT_NE(error_of({{"ATRIUM_DEMO_NOPE", "1"}}, {}).find("ATRIUM_DEMO_NOPE"), std::string::npos);
  EXPECT_EQ(error_of({{"ATRIUM_DEMO_URL", "x"}, {"ATRIUM_TOKEN", "x"}, {"ATRIUM_OTHER_KEY", "1"}}, {}), "");
  EXPECT_NE(error_of({}, {{"demo.size", "0"}}).find("out of range"), std::string::npos);
  EXPECT_NE(error_of({}, {{"demo.size", "ten"}}).find("not an integer"), std::string::npos);
  EXPECT_NE(error_of({}, {{"demo.mode", "c"}}).find("not one of a, b"), std::string::npos);
  EXPECT_NE(error_of({}, {{"demo.on", "yes"}}).find("not true or false"), std::string::npos);
  EXPECT_NE(error_of({}, {{"demo.nope", "1"}}).find("unknown setting demo.nope"), std::string::npos);
  EXPECT_EQ(error_of({}, {{"demo.name", "bad"}}), "demo.name: bad");  // a section's check
}

TEST_F(CoreTest, ConfigFileRejectsUnknownKeysAndWrongTypes) {
  auto error_of = [](const std::string& text) {
    DemoRegistry t;
    auto st = t.r.load(write_temp("atrium_cfg_test.toml", text), {}, {});
    return st ? std::string() : st.error().detail;
  };
  EXPECT_NE(error_of("[demo]\nname = \"y\"\ncolour = \"blue\"\n").find("demo.colour"), std::string::npos);
  EXPECT_NE(error_of("[other]\nkey = 1\n").find("other.key"), std::string::npos);
  EXPECT_NE(error_of("[demo]\nsize = \"two\"\n").find("must be an integer"), std::string::npos);
  EXPECT_NE(error_of("[demo]\non = 1\n").find("must be true or false"), std::string::npos);
  EXPECT_NE(error_of("[demo]\nname = [\"a\"]\n").find("must be a string"), std::string::npos);
  EXPECT_NE(error_of("[demo]\nnets = [1]\n").find("must be strings"), std::string::npos);
  EXPECT_EQ(error_of("[demo]\nnets = [\"10.0.0.0/8\", \"::1\"]\non = true\n"), "");
}

TEST_F(CoreTest, ConfigListFromArrayAndPathsAbsolute) {
  DemoRegistry t;
  ASSERT_TRUE(t.r.load(write_temp("atrium_cfg_list.toml", "[demo]\nnets = [\"10.0.0.0/8\", \"::1\"]\n"), {},
                       {{"demo.dir", "./var/"}}));
  EXPECT_EQ(t.d.nets, "10.0.0.0/8,::1");
  t.r.make_paths_absolute("/srv/atrium");
  EXPECT_EQ(t.d.dir, "/srv/atrium/var");
  EXPECT_EQ(t.d.log, "-");  // the kept value
  t.d.log = "../logs/a.log";
  t.r.make_paths_absolute("/srv/atrium");
  EXPECT_EQ(t.d.log, "/srv/logs/a.log");
}

// A family of named sections: [idp.NAME], each one member.
struct Provider {
  std::string issuer;
  bool on = true;
  std::string rules;  // JSON
};

TEST_F(CoreTest, ConfigFamilyMembersFromTheFile) {
  std::map<std::string, Provider> idps;
  config::Registry r;
  int checked = 0;
  r.family<Provider>("idp", idps, [&](config::Section<Provider>& s) {
    s.string("issuer", "the issuer", &Provider::issuer)
        .boolean("on", "a switch", &Provider::on)
        .json("rules", "mapping rules", &Provider::rules)
        .check([&](Provider& p) -> Status {
          ++checked;
          return p.issuer.empty() ? invalid("idp: issuer is required") : Status{};
        });
  });
  ASSERT_EQ(r.family_keys().size(), 3u);
  EXPECT_EQ(r.family_keys()[0].name, "idp.NAME.issuer");
  std::string path = write_temp("atrium_cfg_family.toml",
                                "[idp.uni]\nissuer = \"https://a\"\n[[idp.uni.rules]]\norg = \"x\"\nrole = \"member\"\n"
                                "[idp.lab]\nissuer = \"https://b\"\non = false\n");
  ASSERT_TRUE(r.load(path, {{"ATRIUM_IDP_LAB_ISSUER", "https://c"}}, {{"idp.uni.on", "false"}}));
  ASSERT_EQ(idps.size(), 2u);
  EXPECT_EQ(idps["uni"].issuer, "https://a");
  EXPECT_FALSE(idps["uni"].on);
  EXPECT_EQ(nlohmann::json::parse(idps["uni"].rules), nlohmann::json::parse(R"([{"org":"x","role":"member"}])"));
  EXPECT_EQ(idps["lab"].issuer, "https://c");
  EXPECT_EQ(checked, 2);

  auto error_of = [&](const std::string& text, const std::map<std::string, std::string>& env = {}) {
    std::map<std::string, Provider> m;
    config::Registry r2;
    r2.family<Provider>("idp", m, [&](config::Section<Provider>& s) { s.string("issuer", "", &Provider::issuer); });
    auto st = r2.load(write_temp("atrium_cfg_family_bad.toml", text), env, {});
    return st ? std::string() : st.error().detail;
  };
  EXPECT_NE(error_of("[idp.uni]\nissuerr = \"x\"\n").find("idp.uni.issuerr"), std::string::npos);
  EXPECT_NE(error_of("[idp]\nissuer = \"x\"\n").find("[idp.NAME]"), std::string::npos);
  EXPECT_NE(error_of("[idp.\"Bad Name\"]\nissuer = \"x\"\n").find("a name is"), std::string::npos);
  // Environment variables override members the file declared; they cannot invent one.
  EXPECT_NE(error_of("", {{"ATRIUM_IDP_NEW_ISSUER", "x"}}).find("ATRIUM_IDP_NEW_ISSUER"), std::string::npos);
}

// A family inside a section: [compute.clusters.NAME] beside [compute]'s own keys.
TEST_F(CoreTest, ConfigFamilyWithADottedPrefix) {
  struct Compute {
    std::int64_t cpus = 0;
  } compute;
  std::map<std::string, Provider> clusters;
  config::Registry r;
  r.section("compute", compute).integer("cpus", "", &Compute::cpus, 0, 64);
  r.family<Provider>("compute.clusters", clusters,
                     [&](config::Section<Provider>& s) { s.string("issuer", "", &Provider::issuer); });
  EXPECT_EQ(r.family_keys()[0].name, "compute.clusters.NAME.issuer");
  std::string path = write_temp("atrium_cfg_dotted.toml",
                                "[compute]\ncpus = 4\n[compute.clusters.dev]\nissuer = \"a\"\n"
                                "[compute.clusters.lab]\nissuer = \"b\"\n");
  ASSERT_TRUE(r.load(path, {{"ATRIUM_COMPUTE_CLUSTERS_DEV_ISSUER", "c"}}, {{"compute.clusters.lab.issuer", "d"}}));
  EXPECT_EQ(compute.cpus, 4);
  ASSERT_EQ(clusters.size(), 2u);
  EXPECT_EQ(clusters["dev"].issuer, "c");
  EXPECT_EQ(clusters["lab"].issuer, "d");

  auto error_of = [&](const std::string& text, const std::map<std::string, std::string>& env = {}) {
    Compute c2;
    std::map<std::string, Provider> m;
    config::Registry r2;
    r2.section("compute", c2).integer("cpus", "", &Compute::cpus, 0, 64);
    r2.family<Provider>("compute.clusters", m, [&](config::Section<Provider>& s) { s.string("issuer", "", &Provider::issuer); });
    auto st = r2.load(write_temp("atrium_cfg_dotted_bad.toml", text), env, {});
    return st ? std::string() : st.error().detail;
  };
  EXPECT_NE(error_of("[compute.clusters.dev]\nissuerr = \"x\"\n").find("compute.clusters.dev.issuerr"), std::string::npos);
  EXPECT_NE(error_of("[compute]\nclusters = 3\n").find("[compute.clusters.NAME]"), std::string::npos);
  EXPECT_NE(error_of("[compute.clusters]\nissuer = \"x\"\n").find("[compute.clusters.NAME]"), std::string::npos);
  EXPECT_NE(error_of("[compute.other.x]\nissuer = \"x\"\n").find("compute.other"), std::string::npos);
  EXPECT_NE(error_of("", {{"ATRIUM_COMPUTE_CLUSTERS_NEW_ISSUER", "x"}}).find("ATRIUM_COMPUTE_CLUSTERS_NEW_ISSUER"),
            std::string::npos);
}

TEST_F(CoreTest, ConfigCidrs) {
  EXPECT_TRUE(config::check_cidrs("k", "10.1.2.0/24, fd00::/8,192.0.2.7"));
  EXPECT_TRUE(config::check_cidrs("k", ""));
  EXPECT_FALSE(config::check_cidrs("k", "10.1.2.0/33"));
  auto bad = config::check_cidrs("k", "example.org");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().detail, "k: 'example.org' is not an IPv4 or IPv6 address or CIDR");
}

}  // namespace
}  // namespace atrium
