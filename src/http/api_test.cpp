#include <gtest/gtest.h>

#include <filesystem>

#include "core/crypto.hpp"
#include "db/testing.hpp"
#include "http/api.hpp"

namespace atrium::http {
namespace {

// A gate with fixed answers: "Bearer good" is user u1 (token), cookie s=ok is u1 (session, CSRF
// "c"); decide() allows targets whose org is "mine", hides others.
class FakeGate final : public Gatekeeper {
 public:
  Result<PrincipalPtr> authenticate(db::Tx&, const Request& req) override {
    if (auto a = req.header("authorization")) {
      if (*a != "Bearer good") return fail(ErrorCode::kUnauthenticated, "invalid-token", "bad token");
      Principal p;
      p.user_id = "u1";
      p.token_id = "t1";
      p.token_scopes = {{"things", "*", "*"}};
      return std::make_shared<const Principal>(p);
    }
    if (auto c = req.cookie("s"); c && *c == "ok") {
      Principal p;
      p.user_id = "u1";
      p.session_id = "s1";
      p.csrf_hash = crypto::sha256_hex("c");
      return std::make_shared<const Principal>(p);
    }
    return PrincipalPtr{};
  }
  Decision decide(const Principal&, const Permission&, const Target& t) const override {
    return t.org_id == "mine" ? Decision::kAllow : Decision::kHidden;
  }
  bool token_allows(const Principal& p, const Permission& perm) const override {
    if (!p.via_token()) return true;
    for (auto& g : p.token_scopes)
      if (g.resource == perm.resource || g.resource == "*") return true;
    return false;
  }
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    db_ = db::open_test_db();
    ASSERT_TRUE(db_->migrate("http", Api::migrations()));
    ASSERT_TRUE(db_->migrate("t", {{1, "t", "CREATE TABLE things (id INTEGER PRIMARY KEY, org TEXT, name TEXT)"}}));
    api_ = std::make_unique<Api>(*db_, gate_, clock_, nullptr);
    api_->add({"GET", "/things/{org}", Access::require("things", "read"), {"read"},
               [](Context& ctx) -> Result<Response> {
                 TRY_STATUS(ctx.authorize(Target{.org_id = ctx.param("org")}));
                 return Response::json(200, {{"org", ctx.param("org")}}).header("ETag", "\"v1\"");
               }});
    api_->add({"GET", "/things/special", Access::open(), {"literal beats parameter"},
               [](Context&) -> Result<Response> { return Response::json(200, {{"special", true}}); }});
    api_->add({"POST", "/things/{org}", Access::require("things", "create"), {"create", "", nullptr, nullptr, 201, {}, true},
               [](Context& ctx) -> Result<Response> {
                 TRY_STATUS(ctx.authorize(Target{.org_id = ctx.param("org")}));
                 auto b = TRY(ctx.json());
                 auto name = TRY(b.str("name"));
                 TRY(ctx.t().exec("INSERT INTO things (org, name) VALUES (?, ?)", {ctx.param("org"), name}));
                 if (name == "fail-after-write") return invalid("rolled back");
                 return Response::json(201, {{"name", name}, {"n", ++counter}});
               }});
    api_->add({"PATCH", "/things/{org}", Access::require("things", "write"), {"update"},
               [](Context& ctx) -> Result<Response> {
                 TRY_STATUS(ctx.authorize(Target{.org_id = ctx.param("org")}));
                 TRY_STATUS(ctx.check_if_match("\"v1\""));
                 return Response::json(200, {{"ok", true}});
               }});
    api_->add({"GET", "/files/{org}/{path*}", Access::require("things", "read"), {"rest of the path"},
               [](Context& ctx) -> Result<Response> {
                 TRY_STATUS(ctx.authorize(Target{.org_id = ctx.param("org")}));
                 return Response::json(200, {{"path", ctx.param("path")}});
               }});
    api_->add({"GET", "/files/{org}/list", Access::open(), {"literal beats the rest"},
               [](Context&) -> Result<Response> { return Response::json(200, {{"list", true}}); }});
    api_->add({"GET", "/forgetful", Access::require("things", "read"), {"forgets to authorize"},
               [](Context&) -> Result<Response> { return Response::json(200, {{"leak", true}}); }});
    api_->add({"GET", "/other", Access::require("others", "read"), {"other resource"},
               [](Context& ctx) -> Result<Response> {
                 ctx.filtered();
                 return Response::json(200, {});
               }});
  }
  Response call(std::string method, std::string target, std::string body = "",
                std::vector<std::pair<std::string, std::string>> headers = {{"authorization", "Bearer good"}}) {
    Request r;
    r.method = std::move(method);
    r.target = target;
    r.path = target.substr(0, target.find('?'));
    if (auto q = target.find('?'); q != std::string::npos) r.query = *parse_query(target.substr(q + 1));
    r.headers = std::move(headers);
    if (!body.empty()) r.headers.emplace_back("content-type", "application/json");
    r.body = std::move(body);
    r.request_id = "rid";
    return api_->handle(r);
  }
  int count_things() {
    return static_cast<int>(
        (*db_->read([](db::Tx& tx) { return tx.query_one("SELECT COUNT(*) FROM things"); }))->i64(0));
  }
  static inline int counter = 0;
  FakeGate gate_;
  ManualClock clock_;
  std::unique_ptr<db::SqliteDatabase> db_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, RoutesMatchAndDecodeParameters) {
  EXPECT_EQ(call("GET", "/things/mine").status, 200);
  EXPECT_EQ(call("GET", "/things/special").body, "{\"special\":true}");
  auto r = call("GET", "/things/m%69ne");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(call("GET", "/nothing").status, 404);
  auto m = call("DELETE", "/things/mine");
  EXPECT_EQ(m.status, 405);
  bool has_allow = false;
  for (auto& [k, v] : m.headers) has_allow = has_allow || (k == "Allow" && v.find("PATCH") != std::string::npos);
  EXPECT_TRUE(has_allow);
}

TEST_F(ApiTest, RestParametersTakeEverySegmentDecodedOnItsOwn) {
  EXPECT_EQ(call("GET", "/files/mine/a").body, "{\"path\":\"a\"}");
  EXPECT_EQ(call("GET", "/files/mine/a/b%20c/d.txt").body, "{\"path\":\"a/b c/d.txt\"}");
  EXPECT_EQ(call("GET", "/files/mine/a%2Fb").body, "{\"path\":\"a/b\"}");  // an encoded '/' is a separator
  EXPECT_EQ(call("GET", "/files/mine/list").body, "{\"list\":true}");
  EXPECT_EQ(call("GET", "/files/mine/list/x").body, "{\"path\":\"list/x\"}");
  EXPECT_EQ(call("GET", "/files/mine").status, 404);   // the rest takes at least one segment
  EXPECT_EQ(call("GET", "/files/mine/").status, 404);  // and not an empty one
  EXPECT_EQ(call("GET", "/files/mine/a//b").status, 404);
  EXPECT_EQ(call("GET", "/files/theirs/a").status, 404);
}

TEST_F(ApiTest, ErrorsAreProblemDocuments) {
  auto r = call("GET", "/things/theirs");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/problem+json");
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["request_id"], "rid");
  EXPECT_TRUE(j["type"].get<std::string>().starts_with("urn:atrium:problem:"));
}

TEST_F(ApiTest, AuthenticationAndScopes) {
  EXPECT_EQ(call("GET", "/things/mine", "", {}).status, 401);
  EXPECT_EQ(call("GET", "/things/mine", "", {{"authorization", "Bearer bad"}}).status, 401);
  EXPECT_EQ(call("GET", "/other").status, 403);  // token scope lacks "others"
}

TEST_F(ApiTest, ForgettingTheCheckFailsClosed) { EXPECT_EQ(call("GET", "/forgetful").status, 500); }

TEST_F(ApiTest, CookieAuthNeedsCsrfOnUnsafeMethods) {
  std::vector<std::pair<std::string, std::string>> cookie = {{"cookie", "s=ok"}};
  EXPECT_EQ(call("GET", "/things/mine", "", cookie).status, 200);
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":"a"})", cookie).status, 403);
  auto with = cookie;
  with.emplace_back("x-csrf-token", "c");
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":"a"})", with).status, 201);
  with.back().second = "wrong";
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":"b"})", with).status, 403);
  EXPECT_EQ(count_things(), 1);
}

TEST_F(ApiTest, FailedHandlerRollsBack) {
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":"fail-after-write"})").status, 400);
  EXPECT_EQ(count_things(), 0);
}

TEST_F(ApiTest, IdempotencyKeyReplaysOrRefuses) {
  auto h = std::vector<std::pair<std::string, std::string>>{{"authorization", "Bearer good"}, {"idempotency-key", "k1"}};
  auto a = call("POST", "/things/mine", R"({"name":"x"})", h);
  auto b = call("POST", "/things/mine", R"({"name":"x"})", h);
  EXPECT_EQ(a.status, 201);
  EXPECT_EQ(b.status, 201);
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(count_things(), 1);
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":"y"})", h).status, 422);
  clock_.advance_ms(25LL * 3600 * 1000);  // keys expire after a day
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":"y"})", h).status, 201);
}

TEST_F(ApiTest, IfMatchRequiredAndChecked) {
  EXPECT_EQ(call("PATCH", "/things/mine", "{}").status, 428);
  EXPECT_EQ(call("PATCH", "/things/mine", "{}", {{"authorization", "Bearer good"}, {"if-match", "\"v0\""}}).status, 412);
  EXPECT_EQ(call("PATCH", "/things/mine", "{}", {{"authorization", "Bearer good"}, {"if-match", "W/\"v1\""}}).status, 200);
  EXPECT_EQ(call("PATCH", "/things/mine", "{}", {{"authorization", "Bearer good"}, {"if-match", "*"}}).status, 200);
}

TEST_F(ApiTest, BadBodiesAndPagesAre4xx) {
  EXPECT_EQ(call("POST", "/things/mine", "{not json").status, 400);
  EXPECT_EQ(call("POST", "/things/mine", "[1,2]").status, 400);
  EXPECT_EQ(call("POST", "/things/mine", R"({"name":5})").status, 400);
  EXPECT_EQ(call("POST", "/things/mine", "{\"name\":\"\xff\"}").status, 400);
  Request r;
  r.method = "POST";
  r.target = r.path = "/things/mine";
  r.headers = {{"authorization", "Bearer good"}, {"content-type", "text/plain"}};
  r.body = R"({"name":"x"})";
  EXPECT_EQ(api_->handle(r).status, 415);
  EXPECT_EQ(count_things(), 0);
}

// Api::admit decides on the head (no body yet): authentication, CSRF, token scope and the
// route's head_check, and reports the caller (the per-user connection cap's hook can refuse).
TEST_F(ApiTest, AdmitDecidesOnTheHeadBeforeTheBody) {
  int head_checks = 0;
  api_->add({"PUT", "/big/{org}", Access::require("things", "write"), {"a large body"},
             [](Context& ctx) -> Result<Response> {
               TRY_STATUS(ctx.authorize(Target{.org_id = ctx.param("org")}));
               return Response::json(200, {{"bytes", ctx.req.body.size()}});
             },
             TxMode::kAuto, false,
             [&head_checks](Context& ctx) -> Result<Response> {
               ++head_checks;
               TRY_STATUS(ctx.authorize(Target{.org_id = ctx.param("org")}));
               return Response{};
             }});
  auto admit = [&](std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers,
                   Admission* out = nullptr) -> int {
    Request r;
    r.method = std::move(method);
    r.target = r.path = std::move(target);
    r.headers = std::move(headers);
    r.request_id = "rid";
    Admission adm;
    if (out) adm.claim = out->claim;
    auto refused = api_->admit(r, adm);
    if (out) *out = adm;
    return refused ? refused->status : 0;
  };
  const std::vector<std::pair<std::string, std::string>> good = {{"authorization", "Bearer good"}};
  EXPECT_EQ(admit("PUT", "/big/mine", {}), 401);
  EXPECT_EQ(admit("PUT", "/big/mine", {{"authorization", "Bearer bad"}}), 401);
  EXPECT_EQ(head_checks, 0);
  EXPECT_EQ(admit("PUT", "/big/theirs", good), 404);  // the path alone decides it
  EXPECT_EQ(admit("PUT", "/big/mine", {{"cookie", "s=ok"}}), 403);  // CSRF
  EXPECT_EQ(admit("POST", "/other", good), 405);
  EXPECT_EQ(admit("POST", "/nowhere", good), 404);
  Admission seen;
  EXPECT_EQ(admit("PUT", "/big/mine", good, &seen), 0);  // read the body
  EXPECT_EQ(seen.user_id, "u1");
  EXPECT_EQ(seen.pattern, "/big/{org}");
  Admission capped;
  capped.claim = [](const std::string&) -> Status { return fail(ErrorCode::kResourceExhausted, "too-many", "cap"); };
  EXPECT_EQ(admit("PUT", "/big/mine", good, &capped), 429);
  // handle() asks the same hook before the route runs.
  Request r;
  r.method = "POST";
  r.target = r.path = "/things/mine";
  r.headers = {{"authorization", "Bearer good"}, {"content-type", "application/json"}};
  r.body = R"({"name":"x"})";
  EXPECT_EQ(api_->handle(r, capped).status, 429);
  EXPECT_EQ(count_things(), 0);
}

TEST_F(ApiTest, OpenApiListsEveryRouteWithItsAccess) {
  auto doc = api_->openapi();
  EXPECT_EQ(doc["openapi"], "3.1.0");
  int ops = 0;
  for (auto& [path, item] : doc["paths"].items())
    for (auto& [method, op] : item.items()) {
      ++ops;
      EXPECT_TRUE(op.contains("x-atrium-access")) << method << " " << path;
    }
  EXPECT_EQ(ops, 0);  // these test routes are outside /api/: the document covers /api, health and metrics only
}

TEST(Message, QueryAndPercentDecoding) {
  auto q = parse_query("a=1&b=x%20y&c=&d+e=f+g");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[1].second, "x y");
  EXPECT_EQ((*q)[3].first, "d e");
  EXPECT_FALSE(parse_query("a=%zz"));
  EXPECT_FALSE(parse_query("a=%"));
  EXPECT_FALSE(parse_query("a=%00"));
  EXPECT_FALSE(parse_query("a=%ff"));
  EXPECT_EQ(*percent_decode("/a+b", false), "/a+b");
  EXPECT_EQ(percent_encode("a b/é"), "a%20b%2F%C3%A9");
}

TEST(Message, Cookies) {
  Request r;
  r.headers = {{"cookie", "a=1; atrium_session=xyz; b=2"}};
  EXPECT_EQ(*r.cookie("atrium_session"), "xyz");
  EXPECT_FALSE(r.cookie("missing"));
}

}  // namespace
}  // namespace atrium::http
