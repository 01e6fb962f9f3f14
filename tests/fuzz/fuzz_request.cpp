// libFuzzer harness for the request path: raw bytes -> Beast's HTTP parser (with the server's
// limits) -> atrium::http::Request built as src/http/server.cpp builds it -> Api::handle on a
// small route table backed by a real SqliteDatabase. Api::handle must never throw and must
// always answer a status in 100..599; a problem document must be valid JSON. Up to four
// pipelined requests per input share state, so replays (Idempotency-Key, If-Match) are reached.
#include <utility>  // must precede Asio/Beast with g++ 12 + Boost 1.74

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "db/sqlite/sqlite_database.hpp"
#include "http/api.hpp"
#include "http/gate.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ahttp = atrium::http;
using atrium::ErrorCode;
using atrium::Result;
using atrium::Status;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;  // limits.max_header_bytes default
constexpr std::uint64_t kBodyLimit = 1024 * 1024;  // limits.max_body_bytes default
constexpr int kMaxRequestsPerInput = 4;

// Authenticates `Authorization: Bearer fuzz` as a token user and the cookie atrium_session=fuzz
// as a browser session (CSRF token "csrf"); any other Authorization is bad credentials; anything
// else is anonymous. Every decision allows: the harness is about parsing and dispatch, not policy.
class AllowAllGate final : public ahttp::Gatekeeper {
 public:
  Result<ahttp::PrincipalPtr> authenticate(atrium::db::Tx&, const ahttp::Request& req) override {
    if (auto auth = req.header("authorization")) {
      if (*auth != "Bearer fuzz") return atrium::fail(ErrorCode::kUnauthenticated, "invalid-token", "unknown token");
      ahttp::Principal p;
      p.user_id = "u-token";
      p.username = "tokenuser";
      p.token_id = "t-1";
      p.token_scopes.push_back({"*", "*", "*"});
      return std::make_shared<const ahttp::Principal>(std::move(p));
    }
    if (auto c = req.cookie("atrium_session"); c && *c == "fuzz") {
      ahttp::Principal p;
      p.user_id = "u-session";
      p.username = "sessionuser";
      p.session_id = "s-1";
      p.csrf_hash = atrium::crypto::sha256_hex("csrf");
      return std::make_shared<const ahttp::Principal>(std::move(p));
    }
    return ahttp::PrincipalPtr{};
  }
  ahttp::Decision decide(const ahttp::Principal&, const ahttp::Permission&, const ahttp::Target&) const override {
    return ahttp::Decision::kAllow;
  }
  bool token_allows(const ahttp::Principal&, const ahttp::Permission&) const override { return true; }
};

std::vector<atrium::db::Migration> fuzz_migrations() {
  return {{1, "items",
           "CREATE TABLE fuzz_items (id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT, size INTEGER,"
           " tags TEXT NOT NULL, version INTEGER NOT NULL);"}};
}

Result<ahttp::Response> get_item(ahttp::Context& ctx) {
  auto row = TRY(
      ctx.t().query_one("SELECT id, name, kind, size, tags, version FROM fuzz_items WHERE id = ?", {ctx.param("id")}));
  if (!row) return atrium::not_found("item '" + ctx.param("id") + "'");
  nlohmann::json j = {{"id", row->str(0)},
                      {"name", row->str(1)},
                      {"kind", row->opt_str(2) ? nlohmann::json(*row->opt_str(2)) : nlohmann::json(nullptr)},
                      {"size", row->opt_i64(3) ? nlohmann::json(*row->opt_i64(3)) : nlohmann::json(nullptr)},
                      {"tags", nlohmann::json::parse(row->str(4), nullptr, false)},
                      {"etag", ahttp::etag_of(row->i64(5))}};
  return ahttp::Response::json(200, j).header("ETag", ahttp::etag_of(row->i64(5)));
}

void add_routes(ahttp::Api& api) {
  using ahttp::Access;
  using ahttp::Context;
  using ahttp::Response;

  api.add({"GET", "/healthz", Access::open(), {"health", "meta"}, [](Context&) -> Result<Response> {
             return Response::json(200, {{"status", "ok"}});
           }});

  api.add({"GET",
           "/api/v1/items",
           Access::open(),
           {"list items", "items", nullptr, nullptr, 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto page = TRY(ctx.page(50));
             auto rows = TRY(ctx.t().query("SELECT id FROM fuzz_items WHERE id > ? ORDER BY id LIMIT ?",
                                           {page.after, std::int64_t{page.limit + 1}}));
             nlohmann::json items = nlohmann::json::array();
             std::optional<std::string> next;
             for (std::size_t i = 0; i < rows.size(); ++i) {
               if (static_cast<int>(i) == page.limit) {
                 next = rows[i - 1].str(0);
                 break;
               }
               items.push_back(rows[i].str(0));
             }
             return Response::json(200, ahttp::page_json(std::move(items), next));
           }});

  // A literal segment must win over {id}.
  api.add({"GET",
           "/api/v1/items/search",
           Access::open(),
           {"search", "items", nullptr, nullptr, 200, {"q"}},
           [](Context& ctx) -> Result<Response> {
             auto q = ctx.req.query_param("q");
             auto rows = TRY(ctx.t().query("SELECT id FROM fuzz_items WHERE instr(name, ?) > 0 ORDER BY id LIMIT 5",
                                           {std::string(q ? *q : "")}));
             return Response::json(200, {{"count", rows.size()}});
           }});

  api.add({"GET", "/api/v1/items/{id}", Access::open(), {"get item", "items"}, get_item});

  ahttp::RouteDoc create_doc{"create item", "items"};
  create_doc.success = 201;
  create_doc.idempotent_post = true;
  api.add(
      {"POST", "/api/v1/items", Access::signed_in(), create_doc, [](Context& ctx) -> Result<Response> {
         auto body = TRY(ctx.json());
         TRY_STATUS(body.only({"id", "name", "kind", "size", "tags"}));
         auto id = TRY(body.str("id", 64));
         auto name = TRY(body.str("name"));
         auto kind = TRY(body.opt_one_of("kind", {"dataset", "code", "model"}));
         auto size = TRY(body.opt_integer("size", 0, std::int64_t{1} << 40));
         auto tags = TRY(body.opt_str_list("tags", 8, 32));
         if (name == "throw") throw std::runtime_error("handler threw");  // Api::handle must catch it
         nlohmann::json tag_json = tags ? nlohmann::json(*tags) : nlohmann::json::array();
         auto n = TRY(ctx.t().exec(
             "INSERT OR IGNORE INTO fuzz_items (id, name, kind, size, tags, version) VALUES (?, ?, ?, ?, ?, 1)",
             {id, name, atrium::db::opt(kind), atrium::db::opt(size), tag_json.dump()}));
         if (n == 0) return atrium::fail(ErrorCode::kAlreadyExists, "already-exists", "item exists");
         // Keep the database small however long the fuzzer runs.
         TRY(ctx.t().exec("DELETE FROM fuzz_items WHERE id NOT IN (SELECT id FROM fuzz_items ORDER BY id LIMIT 64)"));
         return Response::json(201, {{"id", id}}).header("Location", "/api/v1/items/" + ahttp::percent_encode(id));
       }});

  api.add({"PATCH",
           "/api/v1/items/{id}",
           Access::require("items", "write"),
           {"rename item", "items"},
           [](Context& ctx) -> Result<Response> {
             TRY_STATUS(ctx.authorize(ahttp::Target{"org-1", ctx.who().user_id, "", "owner", "private"}));
             auto row = TRY(ctx.t().query_one("SELECT version FROM fuzz_items WHERE id = ?", {ctx.param("id")}));
             if (!row) return atrium::not_found("item");
             TRY_STATUS(ctx.check_if_match(ahttp::etag_of(row->i64(0))));
             auto body = TRY(ctx.json());
             TRY_STATUS(body.only({"name"}));
             auto name = TRY(body.str("name"));
             TRY(ctx.t().exec("UPDATE fuzz_items SET name = ?, version = version + 1 WHERE id = ?",
                              {name, ctx.param("id")}));
             return get_item(ctx);
           }});

  api.add({"DELETE",
           "/api/v1/items/{id}/tags/{tag}",
           Access::require("items", "write"),
           {"untag", "items"},
           [](Context& ctx) -> Result<Response> {
             TRY_STATUS(ctx.authorize(ahttp::Target{}));
             auto row = TRY(ctx.t().query_one("SELECT version, tags FROM fuzz_items WHERE id = ?", {ctx.param("id")}));
             if (!row) return atrium::not_found("item");
             TRY_STATUS(ctx.check_if_match(ahttp::etag_of(row->i64(0))));
             auto tags = nlohmann::json::parse(row->str(1), nullptr, false);
             nlohmann::json kept = nlohmann::json::array();
             if (tags.is_array())
               for (auto& t : tags)
                 if (t != ctx.param("tag")) kept.push_back(t);
             TRY(ctx.t().exec("UPDATE fuzz_items SET tags = ?, version = version + 1 WHERE id = ?",
                              {kept.dump(), ctx.param("id")}));
             return Response::no_content();
           }});

  api.add({"GET",
           "/api/v1/orgs/{org}/projects/{project}",
           Access::signed_in(),
           {"echo params", "orgs"},
           [](Context& ctx) -> Result<Response> {
             return Response::json(
                 200, {{"org", ctx.param("org")}, {"project", ctx.param("project")}, {"user", ctx.who().username}});
           }});

  // A handler that opens its own transaction (like password hashing routes do).
  ahttp::Route own_tx{"POST",
                      "/api/v1/items/{id}/touch",
                      Access::signed_in(),
                      {"touch", "items"},
                      [](Context& ctx) -> Result<Response> {
                        TRY_STATUS(ctx.db().write_tx([&](atrium::db::Tx& tx) -> Status {
                          TRY(tx.exec("UPDATE fuzz_items SET version = version + 1 WHERE id = ?", {ctx.param("id")}));
                          return {};
                        }));
                        return Response::no_content();
                      }};
  own_tx.tx = ahttp::TxMode::kNone;
  api.add(std::move(own_tx));

  // A permission route that forgets its check: the dispatcher must turn it into a 500.
  api.add({"GET",
           "/api/v1/unchecked/{id}",
           Access::require("items", "read"),
           {"bug", "items"},
           [](Context&) -> Result<Response> { return Response::json(200, nlohmann::json::object()); }});
}

struct Harness {
  std::filesystem::path dir;
  std::unique_ptr<atrium::db::SqliteDatabase> db;
  AllowAllGate gate;
  atrium::ManualClock clock;
  std::unique_ptr<ahttp::Api> api;
};

Harness* g_harness = nullptr;
bool g_verbose = false;  // FUZZ_VERBOSE=1 prints each request and its answer (for seed work)

void cleanup() {
  if (!g_harness) return;
  g_harness->api.reset();
  g_harness->db.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_harness->dir, ec);
}

bool good_request_id(std::string_view v) {  // as in src/http/server.cpp
  if (v.empty() || v.size() > 128) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

void check_response(const ahttp::Response& r) {
  if (r.status < 100 || r.status > 599) __builtin_trap();
  if (r.content_type == "application/problem+json") {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("status") || j["status"] != r.status) __builtin_trap();
  }
}

// Serves one parsed message the way Server::Impl::session does.
void serve(bhttp::request<bhttp::string_body>&& msg, int n) {
  ahttp::Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.remote_ip = "127.0.0.1";
  req.request_id = "fuzz-" + std::to_string(n);
  for (auto& f : msg) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  if (auto rid = req.header("x-request-id"); rid && good_request_id(*rid)) req.request_id = std::string(*rid);
  req.body = std::move(msg.body());
  if (req.target.empty() || req.target[0] != '/') return;  // the server answers 400 itself
  auto qpos = req.target.find('?');
  auto path = ahttp::percent_decode(std::string_view(req.target).substr(0, qpos), false);
  auto query = qpos == std::string::npos ? Result<std::vector<std::pair<std::string, std::string>>>{}
                                         : ahttp::parse_query(std::string_view(req.target).substr(qpos + 1));
  if (!path || !query) return;  // the server answers 400 itself
  req.path = std::move(*path);
  req.query = std::move(*query);
  try {
    std::string pattern;
    ahttp::Response r = g_harness->api->handle(req, &pattern);
    check_response(r);
    if (g_verbose)
      std::fprintf(stderr, "%s %s -> %d %s\n", req.method.c_str(), req.target.c_str(), r.status, r.body.c_str());
  } catch (...) {
    __builtin_trap();  // Api::handle is documented never to throw
  }
  g_harness->clock.advance_ms(1000);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
  spdlog::set_level(spdlog::level::off);  // the harness makes internal errors on purpose
  auto* h = new Harness;
  std::string tmpl = (std::filesystem::temp_directory_path() / "atrium-fuzz-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    std::abort();
  }
  h->dir = tmpl;
  atrium::db::SqliteSettings s;
  s.path = (h->dir / "fuzz.db").string();
  s.synchronous = "normal";  // no fsync per commit: speed, not durability, matters here
  s.max_connections = 2;
  auto db = atrium::db::SqliteDatabase::open(s);
  if (!db) {
    std::fprintf(stderr, "open database: %s\n", db.error().detail.c_str());
    std::abort();
  }
  h->db = std::move(*db);
  for (auto [module, migrations] : {std::pair{"api", ahttp::Api::migrations()}, std::pair{"fuzz", fuzz_migrations()}})
    if (auto st = h->db->migrate(module, migrations); !st) {
      std::fprintf(stderr, "migrate %s: %s\n", module, st.error().detail.c_str());
      std::abort();
    }
  h->api = std::make_unique<ahttp::Api>(*h->db, h->gate, h->clock, nullptr);
  add_routes(*h->api);
  g_harness = h;
  std::atexit(cleanup);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto buf = boost::asio::const_buffer(data, size);
  for (int n = 0; n < kMaxRequestsPerInput && buf.size() > 0; ++n) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    parser.eager(true);
    beast::error_code ec;
    while (buf.size() > 0 && !parser.is_done()) {
      std::size_t used = parser.put(buf, ec);
      buf += used;
      if (ec == bhttp::error::need_more) {
        ec = {};
        if (used == 0) break;  // the rest of the input is not a whole message
        continue;
      }
      if (ec) return 0;  // the server answers 400/413/431 and closes
    }
    if (!parser.is_done()) {
      parser.put_eof(ec);
      if (ec || !parser.is_done()) return 0;
    }
    serve(parser.release(), n);
  }
  return 0;
}
