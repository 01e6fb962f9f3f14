// The API layer: a route table where every route names its access rule, and a dispatcher that
// runs each request on a worker thread inside one database transaction: authenticate -> CSRF ->
// token scope -> idempotency -> handler (which must call Context::authorize on its target) ->
// commit. The OpenAPI document is generated from the same table.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "http/gate.hpp"
#include "http/json_body.hpp"
#include "http/message.hpp"
#include "http/etag.hpp"

namespace atrium::obs {
class Metrics;
}

namespace atrium::http {

// True when the request's Origin is this server as the client addressed it (scheme + Host).
bool same_origin(const Request& req);

enum class AccessKind { kPublic, kAuthenticated, kPermission };

// How a route is guarded. There is no default: a route cannot be added without one.
struct Access {
  AccessKind kind;
  Permission perm;
  static Access open() { return {AccessKind::kPublic, {}}; }
  // Any signed-in user; the handler acts on the caller's own objects only.
  static Access signed_in() { return {AccessKind::kAuthenticated, {}}; }
  // resource:verb; the handler must call ctx.authorize(target) or ctx.filtered().
  static Access require(std::string resource, std::string verb) {
    return {AccessKind::kPermission, {std::move(resource), std::move(verb)}};
  }
};

enum class TxMode {
  kAuto,  // read transaction for GET/HEAD, write transaction for unsafe methods
  kNone,  // the handler opens its own transactions (slow work such as password hashing)
};

struct RouteDoc {
  std::string summary;
  std::string tag;
  nlohmann::json request = nullptr;   // JSON Schema of the body, null = no body
  nlohmann::json response = nullptr;  // JSON Schema of a success body, null = none
  int success = 200;
  std::vector<std::string> query;     // documented query parameters
  bool idempotent_post = false;       // accepts Idempotency-Key
  // Fields of the success body that hold a secret shown once: never stored for idempotent
  // replay (a replay answers them as null).
  std::vector<std::string> secret_fields = {};
};

class Context;
using Handler = std::function<Result<Response>(Context&)>;

struct Route {
  std::string method;
  std::string pattern;  // /api/v1/projects/{id}
  Access access;
  RouteDoc doc;
  Handler handler;
  TxMode tx = TxMode::kAuto;
  // A 401 also offers HTTP Basic (git clients send an API token as the Basic password only when
  // asked for it); browsers' API calls never get that challenge.
  bool basic_auth = false;
  // Optional: decides access from the request head alone (path parameters, headers), before the
  // body is read: it runs in a read transaction (ctx.tx) with ctx.principal set, after the
  // authentication, CSRF and token-scope checks. An error answers the request and its body is
  // never read (git pushes, upload chunks: the RBAC on the object the path names).
  Handler head_check = nullptr;
  // Answers a caller who must first change a server-generated password (who am I, change it,
  // sign out); every other route refuses them with 403 `password-change-required`.
  bool during_password_change = false;
  // Answers a session that must first enrol a second factor (mfa/'s enrolment routes); every other
  // route, except those above, refuses it with 403 `mfa-enrollment-required`.
  bool during_mfa_enrollment = false;
  std::vector<std::string> segments;  // split pattern (filled by Api::add)
};

struct Page {
  int limit = 50;
  std::string after;  // decoded cursor (an id or sort key), "" = from the start
};

class Context {
 public:
  Context(const Request& req, const Route& route, std::vector<std::pair<std::string, std::string>> params,
          Gatekeeper& gate, db::Database& db, const Clock& clock)
      : req(req), route(route), params_(std::move(params)), gate_(gate), db_(db), clock_(clock) {}

  const Request& req;
  const Route& route;
  PrincipalPtr principal;  // null = anonymous
  db::Tx* tx = nullptr;  // the request's transaction (TxMode::kAuto)

  const std::string& param(std::string_view name) const;
  const Principal& who() const { return *principal; }
  db::Tx& t() const { return *tx; }
  db::Database& db() const { return db_; }
  const Clock& clock() const { return clock_; }
  Millis now() const { return clock_.now_ms(); }
  Actor actor() const;

  // The policy check for this route's permission (or another) on a target: 404 when the caller
  // may not see it, 403 when it may see but not do.
  Status authorize(const Target& target);
  Status authorize(const Permission& perm, const Target& target);
  bool allowed(const Permission& perm, const Target& target) const;
  // Declares that the handler filters what it returns by the principal (lists).
  void filtered() { checked_ = true; }
  bool checked() const { return checked_; }

  Result<JsonBody> json() const { return JsonBody::parse(req); }
  Result<Page> page(int max_limit = 200) const;
  // 428 without If-Match, 412 when it names another version.
  Status check_if_match(std::string_view current_etag) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
  Gatekeeper& gate_;
  db::Database& db_;
  const Clock& clock_;
  bool checked_ = false;
};

// A list response: {"items": [...], "next": "<cursor>"|null}.
nlohmann::json page_json(nlohmann::json items, const std::optional<std::string>& next_key);
// A full page (items.size() == limit) gets a cursor made of the last item's `key` field.
Response paged(nlohmann::json items, int limit, const char* key);
// Copies the object's "etag" field into the ETag header.
Response with_etag(Response r, const nlohmann::json& obj);
// JSON Schemas shared by the route docs.
const nlohmann::json& object_schema();
const nlohmann::json& list_schema();

struct ApiSettings {
  std::string csrf_header = "x-csrf-token";
};

// What the server learns about a request's caller, and its say on it.
struct Admission {
  std::string pattern;  // out: the matched route pattern, "" when none matched
  std::string user_id;  // out: the authenticated caller, "" = anonymous
  // in (optional): called once the caller is known, before the route runs (on the worker
  // thread); an error refuses the request with it (the per-user connection cap).
  std::function<Status(const std::string& user_id)> claim;
};

class Api {
 public:
  Api(db::Database& db, Gatekeeper& gate, const Clock& clock, obs::Metrics* metrics, ApiSettings s = {});

  // Adds a route; aborts at startup on a malformed pattern or a duplicate.
  void add(Route r);
  // Runs on a worker thread. Never throws. `pattern` receives the matched route pattern (for
  // metrics and the access log), "" when none matched.
  Response handle(Request& req, std::string* pattern = nullptr);
  Response handle(Request& req, Admission& adm);
  // Runs on a worker thread, on a request's head before its body is read (the server calls it
  // for every request that announces a body): matches the route and decides what can be decided
  // without the body (authentication, CSRF, token scopes, the route's head_check). nullopt: read
  // the body and handle() it; a response: answer it, the body unread. Never throws.
  std::optional<Response> admit(const Request& head, Admission& adm);
  const std::vector<Route>& routes() const { return routes_; }
  // Answers the GET and HEAD requests no route matches, before the 404 (the web UI's pages and
  // files); nullopt from it keeps the 404.
  using Fallback = std::function<std::optional<Response>(const Request&)>;
  void set_fallback(Fallback f) { fallback_ = std::move(f); }
  // Called once a request from a signed-in caller was refused for a quota (kQuotaExceeded) and its
  // transaction rolled back (on the worker thread, no transaction open): the app records the
  // refusal in a transaction of its own. `route` is "METHOD /pattern".
  using QuotaRefusal = std::function<void(const Actor&, const Error&, const std::string& route)>;
  void on_quota_refusal(QuotaRefusal f) { on_quota_refusal_ = std::move(f); }
  nlohmann::json openapi() const;

  static std::vector<db::Migration> migrations();

 private:
  const Route* match(const Request& req, std::vector<std::pair<std::string, std::string>>& params,
                     std::vector<std::string>& allowed) const;
  Result<Response> run(const Route& route, Context& ctx);
  // The checks every request passes before its handler: authenticated, CSRF, same-origin
  // WebSockets, token scope.
  Status pre_checks(const Route& route, Context& ctx) const;
  Response refusal(const Route* route, const Error& e, const Request& req) const;
  // 404/405 for a request no route matched.
  Response unmatched(const Request& req, const std::vector<std::string>& allowed) const;

  db::Database& db_;
  Gatekeeper& gate_;
  const Clock& clock_;
  obs::Metrics* metrics_;
  ApiSettings settings_;
  std::vector<Route> routes_;
  Fallback fallback_;
  QuotaRefusal on_quota_refusal_;
};

}  // namespace atrium::http
