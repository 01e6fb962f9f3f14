#include <sys/stat.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/api.hpp"
#include "cli/credentials.hpp"
#include "cli/http_client.hpp"
#include "cli/prompt.hpp"
#include "cli/requests.hpp"
#include "cli/table.hpp"
#include "cli/units.hpp"
#include "cli/test_support.hpp"

namespace atrium::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using testing::FakeServer;
using testing::response;
using testing::kOrgA;
using testing::kOrgB;
using testing::kUser;

// ---------------------------------------------------------------- URLs

TEST(Url, ParsesSchemesPortsAndPrefixes) {
  struct Case {
    const char* text;
    bool tls;
    const char* host;
    const char* port;
    const char* base;
    const char* canonical;
  };
  const Case cases[] = {
      {"http://127.0.0.1:8080", false, "127.0.0.1", "8080", "", "http://127.0.0.1:8080"},
      {"https://atrium.example.org", true, "atrium.example.org", "443", "", "https://atrium.example.org"},
      {"HTTPS://Atrium.Example.ORG:443/", true, "atrium.example.org", "443", "", "https://atrium.example.org"},
      {"http://host/atrium/", false, "host", "80", "/atrium", "http://host/atrium"},
      {"http://[::1]:9000", false, "::1", "9000", "", "http://[::1]:9000"},
      {"https://[2001:db8::1]", true, "2001:db8::1", "443", "", "https://[2001:db8::1]"},
  };
  for (const auto& c : cases) {
    auto u = parse_url(c.text);
    ASSERT_TRUE(u) << c.text << ": " << u.error().detail;
    EXPECT_EQ(u->tls, c.tls) << c.text;
    EXPECT_EQ(u->host, c.host) << c.text;
    EXPECT_EQ(u->port, c.port) << c.text;
    EXPECT_EQ(u->base_path, c.base) << c.text;
    EXPECT_EQ(u->to_string(), c.canonical) << c.text;
  }
}

TEST(Url, RejectsWhatItCannotUse) {
  for (const char* bad : {"", "127.0.0.1:8080", "ftp://host", "http://", "http://user:pw@host", "http://host:0",
                          "http://host:99999", "http://host:80x", "http://host/?q=1", "http://host#frag",
                          "http://[::1", "http://ho st", "http://host/a b"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
}

TEST(Url, AuthorityOmitsDefaultPorts) {
  EXPECT_EQ(parse_url("http://h:80")->authority(), "h");
  EXPECT_EQ(parse_url("https://h:443")->authority(), "h");
  EXPECT_EQ(parse_url("https://h:80")->authority(), "h:80");
  EXPECT_EQ(parse_url("http://[::1]:8080")->authority(), "[::1]:8080");
}

// ---------------------------------------------------------------- request mapping

TEST(Requests, PathsAndQueriesAreEncoded) {
  EXPECT_EQ(percent_encode("a b/c?d"), "a%20b%2Fc%3Fd");
  EXPECT_EQ(percent_encode("Az09-._~"), "Az09-._~");
  EXPECT_EQ(api_path({"orgs", "a/b", "members"}), "/api/v1/orgs/a%2Fb/members");
  ApiCall c;
  c.path = "/api/v1/projects";
  EXPECT_EQ(c.target(), "/api/v1/projects");
  c.query = {{"q", "gene & protein"}, {"archived", "true"}};
  EXPECT_EQ(c.target(), "/api/v1/projects?q=gene%20%26%20protein&archived=true");
}

TEST(Requests, UserArgumentsBecomeIdOrUsername) {
  EXPECT_EQ(user_ref(kUser), (json{{"user_id", kUser}}));
  EXPECT_EQ(user_ref("alice"), (json{{"username", "alice"}}));
  EXPECT_TRUE(is_org_id(kOrgA));
  EXPECT_FALSE(is_org_id("acme"));
  EXPECT_FALSE(is_user_id(kOrgA));
}

TEST(Requests, OrgCalls) {
  auto c = org_create("acme", "Acme Lab");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->method, "POST");
  EXPECT_EQ(c->path, "/api/v1/orgs");
  EXPECT_EQ(*c->body, (json{{"slug", "acme"}, {"name", "Acme Lab"}}));

  auto bad = org_create("Not A Slug", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().type, kUsageErrorType);

  auto u = org_update(kOrgA, "New");
  EXPECT_EQ(u->method, "PATCH");
  EXPECT_EQ(u->path, std::string("/api/v1/orgs/") + kOrgA);
  EXPECT_EQ(*u->body, (json{{"name", "New"}}));

  auto m = org_member_add(kOrgA, "bob", "viewer");
  EXPECT_EQ(m->path, std::string("/api/v1/orgs/") + kOrgA + "/members");
  EXPECT_EQ(*m->body, (json{{"username", "bob"}, {"role", "viewer"}}));
  auto mi = org_member_add(kOrgA, kUser, "member");
  EXPECT_EQ(*mi->body, (json{{"user_id", kUser}, {"role", "member"}}));

  auto s = org_member_set(kOrgA, kUser, "org-admin");
  EXPECT_EQ(s->method, "PATCH");
  EXPECT_EQ(s->path, std::string("/api/v1/orgs/") + kOrgA + "/members/" + kUser);
  EXPECT_EQ(*s->body, (json{{"role", "org-admin"}}));
  EXPECT_FALSE(org_member_set(kOrgA, kUser, ""));
}

TEST(Requests, GroupRoleUserCalls) {
  auto g = group_create(kOrgA, "wetlab", "Wet lab");
  EXPECT_EQ(g->path, std::string("/api/v1/orgs/") + kOrgA + "/groups");
  EXPECT_EQ(*g->body, (json{{"slug", "wetlab"}, {"name", "Wet lab"}}));
  auto gm = group_add_member("grp_1", "carol");
  EXPECT_EQ(gm->path, "/api/v1/groups/grp_1/members");
  EXPECT_EQ(*gm->body, (json{{"username", "carol"}}));

  auto r = role_create(kOrgA, {"auditor", {"audit:read:org", "projects:read:*"}, "reads things"});
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->path, std::string("/api/v1/orgs/") + kOrgA + "/roles");
  EXPECT_EQ(*r->body, (json{{"name", "auditor"},
                            {"permissions", {"audit:read:org", "projects:read:*"}},
                            {"description", "reads things"}}));
  EXPECT_FALSE(role_create(kOrgA, {"x", {}, std::nullopt}));
  EXPECT_FALSE(role_create(kOrgA, {"x", {"projects:fly"}, std::nullopt}));

  auto u = user_create({"dave", "s3cret", "dave@example.org", std::nullopt});
  EXPECT_EQ(u->path, "/api/v1/users");
  EXPECT_EQ(*u->body, (json{{"username", "dave"}, {"password", "s3cret"}, {"email", "dave@example.org"}}));
  EXPECT_FALSE(user_create({"dave", "", std::nullopt, std::nullopt}));

  auto d = user_set_disabled(kUser, true);
  EXPECT_EQ(d->method, "PATCH");
  EXPECT_EQ(*d->body, (json{{"disabled", true}}));
}

TEST(Requests, PermissionsFollowTheVocabulary) {
  struct Case {
    const char* perm;
    bool ok;
  };
  const Case cases[] = {
      {"projects:read:org", true}, {"*:*:all", true}, {"audit:admin:*", true}, {"invitations:create:own", true},
      {"projects:read", false},  {"*:read", false},
      {"projects", false},      {"projects:fly", false},     {"planets:read", false},  {"projects:read:moon", false},
      {"a:b:c:d", false},       {"", false},
  };
  for (const auto& c : cases) EXPECT_EQ(static_cast<bool>(check_permission(c.perm)), c.ok) << c.perm;
}

TEST(Requests, ProjectCalls) {
  ProjectListArgs l;
  EXPECT_EQ(project_list(l)->target(), "/api/v1/projects");
  l.org_id = kOrgA;
  l.search = "yeast";
  l.archived = true;
  EXPECT_EQ(project_list(l)->target(), std::string("/api/v1/projects?q=yeast&org=") + kOrgA + "&archived=true");

  ProjectCreateArgs c{"yeast-1", "Yeast", "budding", {"bio", "yeast"}, "org"};
  auto pc = project_create(kOrgA, c);
  ASSERT_TRUE(pc);
  EXPECT_EQ(pc->path, std::string("/api/v1/orgs/") + kOrgA + "/projects");
  EXPECT_EQ(*pc->body, (json{{"slug", "yeast-1"},
                             {"name", "Yeast"},
                             {"description", "budding"},
                             {"tags", {"bio", "yeast"}},
                             {"visibility", "org"}}));
  ProjectCreateArgs minimal{"p", "P", std::nullopt, {}, std::nullopt};
  EXPECT_EQ(*project_create(kOrgA, minimal)->body, (json{{"slug", "p"}, {"name", "P"}}));
  c.visibility = "public";
  auto bad = project_create(kOrgA, c);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().type, kUsageErrorType);

  ProjectUpdateArgs u;
  EXPECT_FALSE(project_update("prj_1", u));  // nothing to change
  u.tags = std::vector<std::string>{};
  EXPECT_EQ(*project_update("prj_1", u)->body, (json{{"tags", json::array()}}));
  u.name = "Renamed";
  u.visibility = "instance";
  auto pu = project_update("prj_1", u);
  EXPECT_EQ(pu->method, "PATCH");
  EXPECT_EQ(pu->path, "/api/v1/projects/prj_1");
  EXPECT_EQ(*pu->body, (json{{"name", "Renamed"}, {"tags", json::array()}, {"visibility", "instance"}}));

  EXPECT_EQ(*project_set_archived("prj_1", true)->body, (json{{"archived", true}}));
  EXPECT_EQ(*project_set_archived("prj_1", false)->body, (json{{"archived", false}}));
  auto pm = project_member_add("prj_1", "erin", "maintainer");
  EXPECT_EQ(pm->path, "/api/v1/projects/prj_1/members");
  EXPECT_EQ(*pm->body, (json{{"username", "erin"}, {"role", "maintainer"}}));
}

TEST(Requests, TokenInviteAndLoginCalls) {
  auto t = token_create({"ci", {"*:read", "projects:*"}, 30});
  EXPECT_EQ(t->path, "/api/v1/tokens");
  EXPECT_EQ(*t->body, (json{{"name", "ci"}, {"scopes", {"*:read", "projects:*"}}, {"expires_in_days", 30}}));
  EXPECT_EQ(*token_create({"ci", {}, std::nullopt})->body, (json{{"name", "ci"}}));
  EXPECT_FALSE(token_create({"ci", {}, 0}));
  EXPECT_FALSE(token_create({"", {}, std::nullopt}));

  auto i = invite_create(kOrgA, {"member", "x@example.org", 48});
  EXPECT_EQ(i->path, std::string("/api/v1/orgs/") + kOrgA + "/invitations");
  EXPECT_EQ(*i->body, (json{{"role", "member"}, {"email", "x@example.org"}, {"expires_in_hours", 48}}));

  auto a = invite_accept({"inv-secret", "frank", "pw", std::nullopt, "Frank"});
  EXPECT_EQ(a->path, "/api/v1/invitations/accept");
  EXPECT_EQ(*a->body,
            (json{{"token", "inv-secret"}, {"username", "frank"}, {"password", "pw"}, {"display_name", "Frank"}}));

  auto l = login_call("alice", "pw");
  EXPECT_EQ(l.method, "POST");
  EXPECT_EQ(l.path, "/api/v1/auth/login");
  EXPECT_EQ(*l.body, (json{{"username", "alice"}, {"password", "pw"}}));
  EXPECT_EQ(cli_token_name("lab-ws1"), "cli@lab-ws1");
  EXPECT_EQ(cli_token_name(""), "cli@unknown-host");
}

TEST(Requests, AuditFiltersAndPages) {
  const Millis now = 1'764'098'169'000;  // 2025-11-25T19:16:09Z
  AuditFilters f;
  f.actor = kUser;
  f.org_id = kOrgA;
  f.action = "project.create";
  f.since = "24h";
  f.until = "2025-11-25";
  auto c = audit_events(f, now);
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->path, "/api/v1/audit/events");
  Query expected{{"actor", kUser},
                 {"org", kOrgA},
                 {"action", "project.create"},
                 {"since", "2025-11-24T19:16:09.000Z"},
                 {"until", "2025-11-25T00:00:00.000Z"}};
  EXPECT_EQ(c->query, expected);
  f.since = "yesterday";
  auto bad = audit_events(f, now);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().type, kUsageErrorType);

  ApiCall p;
  ASSERT_TRUE(add_page(p, {25, "cur1", false}));
  EXPECT_EQ(p.query, (Query{{"limit", "25"}, {"after", "cur1"}}));
  ApiCall all;
  ASSERT_TRUE(add_page(all, {std::nullopt, "", true}));
  EXPECT_EQ(all.query, (Query{{"limit", "200"}}));
  ApiCall none;
  ASSERT_TRUE(add_page(none, {}));
  EXPECT_TRUE(none.query.empty());
  EXPECT_FALSE(add_page(none, {0, "", false}));
  EXPECT_FALSE(add_page(none, {201, "", false}));
}

TEST(Requests, EtagsAreQuotedForIfMatch) {
  EXPECT_EQ(quote_etag("v3"), "\"v3\"");
  EXPECT_EQ(quote_etag("\"v3\""), "\"v3\"");
  EXPECT_EQ(quote_etag("W/\"v3\""), "W/\"v3\"");
}

// ---------------------------------------------------------------- responses


TEST(Responses, ProblemsBecomeErrors) {
  auto e = error_from_response(response(
      409,
      R"({"type":"urn:atrium:problem:org-not-empty","title":"Conflict","status":409,)"
      R"("detail":"the org still has 2 projects","instance":"/api/v1/orgs/x","request_id":"req-1","projects":2})",
      {{"content-type", "application/problem+json"}}));
  EXPECT_EQ(e.code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(e.type, "org-not-empty");
  EXPECT_EQ(e.detail, "the org still has 2 projects");
  EXPECT_EQ(e.extra["status"], 409);
  EXPECT_EQ(e.extra["request_id"], "req-1");
  EXPECT_EQ(e.extra["projects"], 2);

  auto plain = error_from_response(response(502, "<html>bad gateway</html>", {{"x-request-id", "abc"}}));
  EXPECT_EQ(plain.code, ErrorCode::kInternal);
  EXPECT_EQ(plain.type, "http-502");
  EXPECT_EQ(plain.detail, "Bad Gateway");
  EXPECT_EQ(plain.extra["request_id"], "abc");

  auto redirect = error_from_response(response(301, "", {{"location", "https://elsewhere/"}}));
  EXPECT_NE(redirect.detail.find("https://elsewhere/"), std::string::npos);

  auto limited = error_from_response(response(429, R"({"type":"urn:atrium:problem:login-locked","detail":"locked"})",
                                              {{"retry-after", "30"}}));
  EXPECT_EQ(limited.code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(limited.extra["retry_after"], "30");
}

TEST(Responses, StatusCodesMapToErrorCodes) {
  const std::map<int, ErrorCode> cases{
      {400, ErrorCode::kInvalidArgument},   {401, ErrorCode::kUnauthenticated},     {403, ErrorCode::kPermissionDenied},
      {404, ErrorCode::kNotFound},          {409, ErrorCode::kFailedPrecondition},  {412, ErrorCode::kPreconditionFailed},
      {413, ErrorCode::kPayloadTooLarge},   {415, ErrorCode::kUnsupportedMediaType}, {422, ErrorCode::kUnprocessable},
      {428, ErrorCode::kPreconditionRequired}, {429, ErrorCode::kResourceExhausted}, {500, ErrorCode::kInternal},
      {503, ErrorCode::kUnavailable},       {507, ErrorCode::kQuotaExceeded},       {418, ErrorCode::kInvalidArgument},
  };
  for (auto [status, code] : cases) EXPECT_EQ(code_for_status(status), code) << status;
}

TEST(Responses, PagesAndCookies) {
  auto p = parse_page(json::parse(R"({"items":[{"id":1},{"id":2}],"next":"c2"})"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->items.size(), 2u);
  EXPECT_EQ(p->next, "c2");
  auto last = parse_page(json::parse(R"({"items":[],"next":null})"));
  EXPECT_FALSE(last->next);
  auto bare = parse_page(json::parse(R"([{"user_id":"u"}])"));
  EXPECT_EQ(bare->items.size(), 1u);
  EXPECT_FALSE(bare->next);
  EXPECT_FALSE(parse_page(json::parse(R"({"data":[]})")));

  auto r = response(200, "{}",
                    {{"set-cookie", "atrium_csrf=abc; Path=/; SameSite=Strict"},
                     {"set-cookie", "atrium_session=s3ss10n; Path=/; HttpOnly; Secure"}});
  EXPECT_EQ(set_cookie_value(r, "atrium_session"), "s3ss10n");
  EXPECT_EQ(set_cookie_value(r, "atrium_csrf"), "abc");
  EXPECT_FALSE(set_cookie_value(r, "atrium"));
}

// ---------------------------------------------------------------- tables

TEST(Table, AlignsColumns) {
  std::vector<std::string> headers{"ID", "NAME"};
  std::vector<std::vector<std::string>> rows{{"org_1", "Acme"}, {"org_22222", "Beta Lab"}};
  std::string t = render_table(headers, rows);
  EXPECT_EQ(t,
            "ID         NAME\n"
            "org_1      Acme\n"
            "org_22222  Beta Lab\n");
}

TEST(Table, RendersObjectsByColumn) {
  std::vector<json> items{
      {{"id", "prj_1"}, {"name", "Yeast"}, {"tags", {"bio", "yeast"}}, {"archived", false}, {"my_role", nullptr}},
      {{"id", "prj_2"}, {"name", "Ünïcödé"}, {"tags", json::array()}, {"archived", true}, {"my_role", "owner"}},
  };
  std::vector<Column> cols{{"ID", "id"}, {"NAME", "name"}, {"TAGS", "tags"}, {"ARCHIVED", "archived"}, {"ROLE", "my_role"}};
  EXPECT_EQ(render_table(cols, items),
            "ID     NAME     TAGS       ARCHIVED  ROLE\n"
            "prj_1  Yeast    bio,yeast  no        -\n"
            "prj_2  Ünïcödé  -          yes       owner\n");
}

TEST(Table, CellsAreFormattedAndSanitized) {
  EXPECT_EQ(format_cell(json("2026-11-25T19:16:09.123Z")), "2026-11-25T19:16:09Z");
  EXPECT_EQ(format_cell(json("2026-11-25T19:16:09Z")), "2026-11-25T19:16:09Z");
  EXPECT_EQ(format_cell(json(nullptr)), "-");
  EXPECT_EQ(format_cell(json(42)), "42");
  EXPECT_EQ(format_cell(json{{"seq", 3}}), R"({"seq":3})");
  EXPECT_EQ(format_cell(json("evil\x1b[31mred\x07")), "evil?[31mred?");
  EXPECT_EQ(sanitize("a\nb\tc"), "a?b?c");
  EXPECT_EQ(sanitize("bad \xff utf8"), "bad ? utf8");
  EXPECT_EQ(sanitize("c1 \xc2\x9b x"), "c1 ? x");
  EXPECT_EQ(display_width("Ünï"), 3u);
}

TEST(Table, TruncatesLongCellsAndReachesIntoObjects) {
  std::vector<Column> cols{{"SUMMARY", "summary", 8}, {"WHO", "actor.name"}};
  std::vector<json> items{{{"summary", "a very long summary"}, {"actor", {{"name", "alice"}}}}};
  EXPECT_EQ(render_table(cols, items),
            "SUMMARY   WHO\n"
            "a very …  alice\n");
  EXPECT_TRUE(field_at(json::object(), "a.b").is_null());
  EXPECT_TRUE(field_at(json{{"a", 1}}, "a.b").is_null());
}

TEST(Table, RendersOneObjectAsKeyValues) {
  json obj{{"id", "org_1"}, {"slug", "acme"}, {"created_at", "2026-01-02T03:04:05.678Z"}};
  // nlohmann::json orders keys alphabetically.
  EXPECT_EQ(render_object(obj),
            "created_at: 2026-01-02T03:04:05Z\n"
            "id:         org_1\n"
            "slug:       acme\n");
}

TEST(Table, EveryKindHasColumns) {
  for (const char* kind : {"org", "my-org", "group", "user", "role", "project", "token", "invitation", "member",
                           "group-member", "project-member", "audit", "files", "commit", "tree-entry", "session"}) {
    EXPECT_FALSE(columns_for(kind).empty()) << kind;
    EXPECT_NE(columns_for(kind)[0].header, "NAME") << kind;
  }
  EXPECT_EQ(columns_for("nonsense")[0].key, "id");
}

// ---------------------------------------------------------------- credentials

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "atrium-cli-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  static mode_t mode_of(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  fs::path root_;
};

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_F(CredentialsTest, ConfigDirPrecedence) {
  EXPECT_EQ(*config_dir(env_of({{"ATRIUM_CONFIG_DIR", "/a"}, {"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}})), "/a");
  EXPECT_EQ(*config_dir(env_of({{"XDG_CONFIG_HOME", "/x"}, {"HOME", "/h"}})), "/x/atrium");
  EXPECT_EQ(*config_dir(env_of({{"ATRIUM_CONFIG_DIR", ""}, {"XDG_CONFIG_HOME", "rel"}, {"HOME", "/h"}})),
            "/h/.config/atrium");
  EXPECT_EQ(*config_dir(env_of({{"HOME", "/h"}})), "/h/.config/atrium");
}

TEST_F(CredentialsTest, SaveLoadRoundTripWithTightPermissions) {
  fs::path dir = root_ / "nested" / "atrium";
  auto file = credentials_file(dir);
  auto none = load_credentials(file);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);

  Credentials c{"http://127.0.0.1:8080", "alice", "atr_abc", "tok_1"};
  ASSERT_TRUE(save_credentials(dir, c));
  EXPECT_EQ(mode_of(dir), 0700u);
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_FALSE(credentials_too_open(file));
  auto loaded = load_credentials(file);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->server, c.server);
  EXPECT_EQ((*loaded)->username, "alice");
  EXPECT_EQ((*loaded)->token, "atr_abc");
  EXPECT_EQ((*loaded)->token_id, "tok_1");

  // Replacing leaves exactly one file behind (no temp files) and keeps 0600.
  c.token = "atr_def";
  ASSERT_TRUE(save_credentials(dir, c));
  EXPECT_EQ((*load_credentials(file))->token, "atr_def");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++entries;
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ(mode_of(file), 0600u);

  ::chmod(file.c_str(), 0644);
  EXPECT_TRUE(credentials_too_open(file));

  ASSERT_TRUE(remove_credentials(file));
  EXPECT_FALSE(fs::exists(file));
  EXPECT_TRUE(remove_credentials(file));  // already gone is fine
}

TEST_F(CredentialsTest, MalformedFilesAreErrors) {
  auto file = credentials_file(root_);
  auto write = [&](const std::string& text) { std::ofstream(file) << text; };
  write("{not json");
  EXPECT_FALSE(load_credentials(file));
  write(R"({"server":"http://h"})");
  EXPECT_FALSE(load_credentials(file));  // no token
  write(R"({"server":"http://h","token":7})");
  EXPECT_FALSE(load_credentials(file));
  write(R"({"server":"http://h","token":"atr_x"})");
  auto ok = load_credentials(file);
  ASSERT_TRUE(ok && *ok);
  EXPECT_EQ((*ok)->token_id, "");
}

TEST_F(CredentialsTest, SaveFailsWhenTheDirIsAFile) {
  fs::path blocker = root_ / "file";
  std::ofstream(blocker) << "x";
  EXPECT_FALSE(save_credentials(blocker, {"http://h", "u", "t", "i"}));
}

TEST(Prompt, SecretLinesFromStdin) {
  std::istringstream a("hunter2\r\nignored\n");
  EXPECT_EQ(*read_secret_line(a), "hunter2");
  std::istringstream b("no-newline");
  EXPECT_EQ(*read_secret_line(b), "no-newline");
  std::istringstream c("");
  EXPECT_FALSE(read_secret_line(c));
}

// ---------------------------------------------------------------- units

TEST(Units, Durations) {
  struct Case {
    const char* text;
    long long seconds;
  };
  const Case ok[] = {{"45s", 45}, {"15m", 900}, {"24h", 86400}, {"7d", 604800}, {"2w", 1209600}, {"1h30m", 5400},
                     {"0s", 0}};
  for (const auto& c : ok) {
    auto d = parse_duration(c.text);
    ASSERT_TRUE(d) << c.text;
    EXPECT_EQ(d->count(), c.seconds) << c.text;
  }
  for (const char* bad : {"", "10", "h", "5y", "1.5h", "-3d", "1h 30m", "99999999999999999999s"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(Units, Sizes) {
  struct Case {
    const char* text;
    std::uint64_t bytes;
  };
  const Case ok[] = {{"0", 0},
                     {"512", 512},
                     {"10B", 10},
                     {"1kB", 1000},
                     {"1KiB", 1024},
                     {"1K", 1024},
                     {"512MiB", 512ull << 20},
                     {"10G", 10ull << 30},
                     {"10 GiB", 10ull << 30},
                     {"1.5GiB", 3ull << 29},
                     {"2TB", 2'000'000'000'000ull},
                     {"1PiB", 1ull << 50},
                     {"18446744073709551615", 18446744073709551615ull}};
  for (const auto& c : ok) {
    auto s = parse_size(c.text);
    ASSERT_TRUE(s) << c.text << ": " << s.error().detail;
    EXPECT_EQ(*s, c.bytes) << c.text;
  }
  for (const char* bad : {"", "GiB", "1.5", "10XB", "-1", "18446744073709551616", "20000000PiB", "1.GiB"})
    EXPECT_FALSE(parse_size(bad)) << bad;
  EXPECT_EQ(format_size(512), "512 B");
  EXPECT_EQ(format_size(3ull << 29), "1.5 GiB");
  EXPECT_EQ(format_size(100ull << 20), "100 MiB");
}

TEST(Units, TimeFilters) {
  const Millis now = 1'764'098'169'000;  // 2025-11-25T19:16:09Z
  EXPECT_EQ(*parse_time_filter("2026-01-02T03:04:05Z", now), "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(*parse_time_filter("2026-01-02T05:04:05+02:00", now), "2026-01-02T03:04:05.000Z");
  EXPECT_EQ(*parse_time_filter("2026-01-02", now), "2026-01-02T00:00:00.000Z");
  EXPECT_EQ(*parse_time_filter("1h", now), "2025-11-25T18:16:09.000Z");
  EXPECT_FALSE(parse_time_filter("last week", now));
  EXPECT_FALSE(parse_time_filter("2026-13-40", now));
}

TEST(Units, JobTimeLimits) {
  struct Case {
    const char* text;
    long long seconds;
  };
  const Case ok[] = {{"90", 5400},
                     {"1", 60},
                     {"10:30", 630},
                     {"02:00:00", 7200},
                     {"1:02:03", 3723},
                     {"1-0", 86400},
                     {"2-12", 2 * 86400 + 12 * 3600},
                     {"1-02:30", 86400 + 2 * 3600 + 30 * 60},
                     {"1-02:30:15", 86400 + 2 * 3600 + 30 * 60 + 15},
                     {"0:01", 1},
                     {"2h", 7200},
                     {"90m", 5400},
                     {"1h30m", 5400},
                     {"45s", 45},
                     {"100:00:00", 360000}};
  for (const auto& c : ok) {
    auto t = parse_time_limit(c.text);
    ASSERT_TRUE(t) << c.text << ": " << t.error().detail;
    EXPECT_EQ(t->count(), c.seconds) << c.text;
  }
  for (const char* bad :
       {"",        "0", "0:00", "00:00:00", "0s", "-5",  "1-",   "-1",    "1-24",       "1-2:60", "1:60",
        "1:2:3:4", "a", "2x",   "1.5h",     "1:", ":30", "1--2", "1-2-3", "1234567890", "10 m"})
    EXPECT_FALSE(parse_time_limit(bad)) << bad;
}

TEST(Units, JobMemory) {
  struct Case {
    const char* text;
    std::int64_t mb;
  };
  const Case ok[] = {{"4G", 4096},   {"4GiB", 4096}, {"512M", 512},   {"512MiB", 512}, {"1.5G", 1536},
                     {"4096", 4096}, {"1", 1},       {"1K", 1},       {"1B", 1},       {"1MB", 1},
                     {"2MB", 2},     {"1GB", 954},   {"1T", 1 << 20}, {"1025KiB", 2}};
  for (const auto& c : ok) {
    auto m = parse_mem_mb(c.text);
    ASSERT_TRUE(m) << c.text << ": " << m.error().detail;
    EXPECT_EQ(*m, c.mb) << c.text;
  }
  for (const char* bad : {"", "0", "0G", "-1", "G", "4X", "1.5", "99999999999999", "20000000PiB"})
    EXPECT_FALSE(parse_mem_mb(bad)) << bad;
  EXPECT_EQ(format_mem_mb(4096), "4G");
  EXPECT_EQ(format_mem_mb(1536), "1536M");
  EXPECT_EQ(format_elapsed(0), "0:00");
  EXPECT_EQ(format_elapsed(75), "1:15");
  EXPECT_EQ(format_elapsed(3723), "1:02:03");
  EXPECT_EQ(format_elapsed(86400 + 3723), "1-01:02:03");
}

}  // namespace
}  // namespace atrium::cli
