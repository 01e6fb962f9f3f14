#include "http/api.hpp"

#include <charconv>
#include <cstdio>
#include <set>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/text.hpp"

namespace atrium::http {
namespace {

// Tells the app about a quota's refusal of a signed-in caller (after its transaction ended).
void note_refusal(const Api::QuotaRefusal& hook, const Context& ctx, const Error& e, const Request& req,
                  const Route& route) {
  if (!hook || e.code != ErrorCode::kQuotaExceeded || !ctx.principal) return;
  try {
    hook(ctx.actor(), e, req.method + " " + route.pattern);
  } catch (const std::exception& x) {
    spdlog::error("request {}: recording a quota refusal failed: {}", req.request_id, x.what());
  }
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  if (!path.empty() && path[0] == '/') i = 1;
  while (i <= path.size()) {
    auto slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

bool is_param(const std::string& seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }
// `{name*}` as the last segment takes the rest of the path (one or more segments, '/'-joined).
bool is_rest(const std::string& seg) { return is_param(seg) && seg[seg.size() - 2] == '*'; }

constexpr Millis kIdempotencyTtlMs = 24LL * 3600 * 1000;

// Tells the server who the caller is (and lets it refuse: the per-user connection cap).
Status claim(const PrincipalPtr& who, Admission& adm) {
  if (!who) return {};
  adm.user_id = who->user_id;
  return adm.claim ? adm.claim(who->user_id) : Status{};
}

}  // namespace

// ---------------------------------------------------------------- Context

const std::string& Context::param(std::string_view name) const {
  for (auto& [k, v] : params_)
    if (k == name) return v;
  static const std::string kEmpty;
  return kEmpty;
}

Actor Context::actor() const {
  Actor a;
  if (principal) {
    a.user_id = principal->user_id;
    a.username = principal->username;
    a.token_id = principal->token_id;
  }
  a.request_id = req.request_id;
  a.client_ip = req.remote_ip;
  return a;
}

bool Context::allowed(const Permission& perm, const Target& target) const {
  return principal && gate_.token_allows(*principal, perm) && gate_.decide(*principal, perm, target) == Decision::kAllow;
}

Status Context::authorize(const Permission& perm, const Target& target) {
  checked_ = true;
  if (!principal) return fail(ErrorCode::kUnauthenticated, "unauthenticated", "sign in or send a bearer token");
  switch (gate_.decide(*principal, perm, target)) {
    case Decision::kAllow:
      break;
    case Decision::kHidden:
      return fail(ErrorCode::kNotFound, "not-found", "not found");
    case Decision::kForbidden:
      return fail(Error(ErrorCode::kPermissionDenied, "forbidden",
                        "you do not have permission " + perm.str() + " on this object")
                      .with("permission", perm.str()));
  }
  if (!gate_.token_allows(*principal, perm))
    return fail(Error(ErrorCode::kPermissionDenied, "token-scope",
                      "this token's scopes do not include " + perm.str())
                    .with("permission", perm.str()));
  return {};
}

Status Context::authorize(const Target& target) { return authorize(route.access.perm, target); }

Result<Page> Context::page(int max_limit) const {
  Page p;
  if (auto l = req.query_param("limit")) {
    int v = 0;
    auto [ptr, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
    if (ec != std::errc() || ptr != l->data() + l->size() || v < 1 || v > max_limit)
      return invalid("limit must be an integer from 1 to " + std::to_string(max_limit));
    p.limit = v;
  }
  if (auto a = req.query_param("after"); a && !a->empty()) {
    auto raw = crypto::base64url_decode(*a);
    if (!raw || raw->size() > 256 || !is_valid_utf8(*raw))
      return invalid("after is not a cursor this server returned");
    p.after = *raw;
  }
  return p;
}

Status Context::check_if_match(std::string_view current_etag) const {
  auto im = req.header("if-match");
  if (!im)
    return fail(Error(ErrorCode::kPreconditionRequired, "if-match-required",
                      "this change needs an If-Match header with the object's current ETag")
                    .with("etag", std::string(current_etag)));
  std::string_view v = *im;
  if (v == "*") return {};
  // A list of ETags, any may match; a weak prefix is ignored for comparison.
  while (!v.empty()) {
    auto comma = v.find(',');
    std::string_view one = v.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    while (!one.empty() && one.back() == ' ') one.remove_suffix(1);
    if (one.starts_with("W/")) one.remove_prefix(2);
    if (one == current_etag) return {};
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return fail(Error(ErrorCode::kPreconditionFailed, "etag-mismatch",
                    "the object changed since you read it; fetch it again and retry")
                  .with("etag", std::string(current_etag)));
}

nlohmann::json page_json(nlohmann::json items, const std::optional<std::string>& next_key) {
  nlohmann::json j;
  j["items"] = std::move(items);
  j["next"] = next_key ? nlohmann::json(crypto::base64url(*next_key)) : nlohmann::json(nullptr);
  return j;
}

Response paged(nlohmann::json items, int limit, const char* key) {
  std::optional<std::string> next;
  if (static_cast<int>(items.size()) == limit && !items.empty()) {
    const auto& v = items.back()[key];
    next = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return Response::json(200, page_json(std::move(items), next));
}

Response with_etag(Response r, const nlohmann::json& obj) {
  if (auto it = obj.find("etag"); it != obj.end() && it->is_string()) r.header("ETag", it->get<std::string>());
  return r;
}

const nlohmann::json& object_schema() {
  static const nlohmann::json j = {{"type", "object"}};
  return j;
}

const nlohmann::json& list_schema() {
  static const nlohmann::json j = {
      {"type", "object"},
      {"properties", {{"items", {{"type", "array"}}}, {"next", {{"type", {"string", "null"}}}}}}};
  return j;
}

// ---------------------------------------------------------------- Api

Api::Api(db::Database& db, Gatekeeper& gate, const Clock& clock, obs::Metrics* metrics, ApiSettings s)
    : db_(db), gate_(gate), clock_(clock), metrics_(metrics), settings_(std::move(s)) {}

std::vector<db::Migration> Api::migrations() {
  return {{1, "idempotency keys",
           "CREATE TABLE idempotency_keys ("
           " user_id TEXT NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
           " request_hash TEXT NOT NULL, status INTEGER NOT NULL, content_type TEXT NOT NULL,"
           " headers TEXT NOT NULL, body TEXT NOT NULL, created_ms INTEGER NOT NULL,"
           " PRIMARY KEY (user_id, key));"
           "CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);"}};
}

void Api::add(Route r) {
  if (r.pattern.empty() || r.pattern[0] != '/') {
    std::fprintf(stderr, "route pattern must start with /: %s\n", r.pattern.c_str());
    std::abort();
  }
  if (r.access.kind == AccessKind::kPermission && (r.access.perm.resource.empty() || r.access.perm.verb.empty())) {
    std::fprintf(stderr, "route %s %s names an empty permission\n", r.method.c_str(), r.pattern.c_str());
    std::abort();
  }
  r.segments = split_path(r.pattern);
  for (std::size_t i = 0; i + 1 < r.segments.size(); ++i)
    if (is_rest(r.segments[i])) {
      std::fprintf(stderr, "route %s: a {name*} segment must be the last\n", r.pattern.c_str());
      std::abort();
    }
  for (auto& existing : routes_)
    if (existing.method == r.method && existing.segments == r.segments) {
      std::fprintf(stderr, "duplicate route %s %s\n", r.method.c_str(), r.pattern.c_str());
      std::abort();
    }
  routes_.push_back(std::move(r));
}

const Route* Api::match(const Request& req, std::vector<std::pair<std::string, std::string>>& params,
                        std::vector<std::string>& allowed) const {
  auto raw_path = std::string_view(req.target).substr(0, req.target.find('?'));
  auto segs = split_path(raw_path);
  const Route* best = nullptr;
  int best_literals = -1;
  for (auto& r : routes_) {
    bool rest = is_rest(r.segments.back());
    if (rest ? segs.size() < r.segments.size() : r.segments.size() != segs.size()) continue;
    int literals = 0;
    bool ok = true;
    for (std::size_t i = 0; i < segs.size() && ok; ++i) {
      if (i >= r.segments.size() - 1 && rest) ok = !segs[i].empty();
      else if (is_param(r.segments[i])) ok = !segs[i].empty();
      else if (r.segments[i] == segs[i]) ++literals;
      else ok = false;
    }
    if (!ok) continue;
    if (r.method != req.method && !(req.method == "HEAD" && r.method == "GET")) {
      allowed.push_back(r.method);
      continue;
    }
    // Prefer the route with more literal segments (/projects/search over /projects/{id}).
    if (literals > best_literals) {
      best = &r;
      best_literals = literals;
    }
  }
  if (best) {
    for (std::size_t i = 0; i < best->segments.size(); ++i) {
      const auto& seg = best->segments[i];
      if (!is_param(seg)) continue;
      if (is_rest(seg)) {
        // Each segment decoded on its own, then joined: an encoded '/' inside one is a '/' too
        // (the handler normalises the path).
        std::string joined;
        bool bad = false;
        for (std::size_t j = i; j < segs.size(); ++j) {
          auto decoded = percent_decode(segs[j], false);
          bad = bad || !decoded;
          joined += (j > i ? "/" : "") + (decoded ? *decoded : std::string());
        }
        params.emplace_back(seg.substr(1, seg.size() - 3), bad ? std::string() : joined);
        break;
      }
      auto decoded = percent_decode(segs[i], false);
      params.emplace_back(seg.substr(1, seg.size() - 2), decoded ? *decoded : std::string());
    }
  }
  return best;
}

// The request's Origin names the host it was sent to (scheme and host[:port] of Host).
bool same_origin(const Request& req) {
  auto origin = req.header("origin");
  auto host = req.header("host");
  if (!origin || !host || host->empty()) return false;
  return to_lower(*origin) == to_lower(std::string(req.tls ? "https://" : "http://") + std::string(*host));
}

Status Api::pre_checks(const Route& route, Context& ctx) const {
  const Request& req = ctx.req;
  if (route.access.kind != AccessKind::kPublic && !ctx.principal)
    return fail(ErrorCode::kUnauthenticated, "unauthenticated",
                "sign in, or send Authorization: Bearer <token>");
  // Browsers authenticate with a cookie; unsafe methods must then prove they come from our UI.
  if (ctx.principal && !ctx.principal->session_id.empty() && req.is_unsafe()) {
    auto h = req.header(settings_.csrf_header);
    if (!h || !crypto::constant_time_equal(crypto::sha256_hex(*h), ctx.principal->csrf_hash))
      return fail(ErrorCode::kPermissionDenied, "csrf",
                  "missing or wrong X-CSRF-Token header (it is returned by login and GET /api/v1/auth/session)");
  }
  // A WebSocket is not covered by the same-origin policy: a page on another site could open one
  // with the user's cookie (cross-site WebSocket hijacking). Cookie-authenticated upgrades must
  // come from a page of this server (Origin matching Host).
  if (ctx.principal && !ctx.principal->session_id.empty() && req.websocket && !same_origin(req))
    return fail(ErrorCode::kPermissionDenied, "cross-origin",
                "a WebSocket opened with a session cookie must come from this server's own pages (Origin must "
                "match Host)");
  // The one place that holds a user with a server-generated password to changing it first.
  if (ctx.principal && ctx.principal->password_change_required && route.access.kind != AccessKind::kPublic &&
      !route.during_password_change)
    return fail(ErrorCode::kPermissionDenied, "password-change-required",
                "choose your own password first (POST /api/v1/auth/password): the current one was generated by "
                "the server");
  if (ctx.principal && ctx.principal->mfa_enrollment_required && route.access.kind != AccessKind::kPublic &&
      !route.during_mfa_enrollment && !route.during_password_change)
    return fail(ErrorCode::kPermissionDenied, "mfa-enrollment-required",
                "set up two-factor authentication first (POST /api/v1/me/mfa/totp): it is required for this "
                "account");
  if (route.access.kind == AccessKind::kPermission && !gate_.token_allows(*ctx.principal, route.access.perm))
    return fail(Error(ErrorCode::kPermissionDenied, "token-scope",
                      "this token's scopes do not include " + route.access.perm.str())
                    .with("permission", route.access.perm.str()));
  return {};
}

Result<Response> Api::run(const Route& route, Context& ctx) {
  const Request& req = ctx.req;
  TRY_STATUS(pre_checks(route, ctx));

  // Idempotency-Key: same key and same request -> the stored response; different request -> 422.
  std::optional<std::string> idem_key;
  std::string req_hash;
  if (req.method == "POST" && route.doc.idempotent_post) {
    if (auto k = req.header("idempotency-key")) {
      if (k->empty() || k->size() > 255 || !is_valid_utf8(*k))
        return invalid("Idempotency-Key must be 1 to 255 characters");
      if (!ctx.tx) return internal("idempotent route without a transaction");
      idem_key = std::string(*k);
      req_hash = crypto::sha256_hex(req.method + "\n" + req.target + "\n" + req.body);
      std::string owner = ctx.principal ? ctx.principal->user_id : std::string("anonymous");
      auto row = TRY(ctx.tx->query_one(
          "SELECT request_hash, status, content_type, headers, body FROM idempotency_keys "
          "WHERE user_id = ? AND key = ? AND created_ms > ?",
          {owner, *idem_key, ctx.now() - kIdempotencyTtlMs}));
      if (row) {
        if (row->str(0) != req_hash)
          return fail(ErrorCode::kUnprocessable, "idempotency-key-reused",
                      "this Idempotency-Key was used with a different request; use a new key");
        Response r;
        r.status = static_cast<int>(row->i64(1));
        r.content_type = row->str(2);
        auto hs = nlohmann::json::parse(row->str(3), nullptr, false);
        if (hs.is_array())
          for (auto& h : hs) r.headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
        r.body = row->str(4);
        r.headers.emplace_back("Idempotent-Replayed", "true");
        return r;
      }
    }
  }

  Response resp = TRY(route.handler(ctx));
  if (route.access.kind == AccessKind::kPermission && !ctx.checked())
    return internal("route " + route.method + " " + route.pattern + " did not run its permission check");

  if (idem_key && resp.status >= 200 && resp.status < 300) {
    std::string owner = ctx.principal ? ctx.principal->user_id : std::string("anonymous");
    nlohmann::json hs = nlohmann::json::array();
    for (auto& [k, v] : resp.headers) hs.push_back({k, v});
    std::string stored = resp.body;
    if (!route.doc.secret_fields.empty()) {
      auto body = nlohmann::json::parse(resp.body, nullptr, false);
      if (!body.is_object()) return internal("a route with secret fields answered a non-object");
      for (auto& f : route.doc.secret_fields)
        if (body.contains(f)) body[f] = nullptr;
      stored = body.dump();
    }
    TRY(ctx.tx->exec("DELETE FROM idempotency_keys WHERE created_ms <= ?", {ctx.now() - kIdempotencyTtlMs}));
    TRY(ctx.tx->exec(
        "INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, status, content_type, "
        "headers, body, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET "
        "method = excluded.method, path = excluded.path, request_hash = excluded.request_hash, status = excluded.status, "
        "content_type = excluded.content_type, headers = excluded.headers, body = excluded.body, "
        "created_ms = excluded.created_ms",
        {owner, *idem_key, req.method, req.path, req_hash, std::int64_t{resp.status}, resp.content_type, hs.dump(),
         stored, ctx.now()}));
  }
  return resp;
}

Response Api::unmatched(const Request& req, const std::vector<std::string>& allowed) const {
  if (!allowed.empty()) {
    std::string allow;
    for (auto& m : std::set<std::string>(allowed.begin(), allowed.end())) allow += (allow.empty() ? "" : ", ") + m;
    auto r = Response::problem(Error(ErrorCode::kMethodNotAllowed, "method-not-allowed",
                                     req.method + " is not allowed here (allowed: " + allow + ")"),
                               req.request_id);
    r.header("Allow", allow);
    return r;
  }
  if (fallback_)
    if (auto r = fallback_(req)) return std::move(*r);
  return Response::problem(Error(ErrorCode::kNotFound, "no-route", "no such endpoint: " + req.path), req.request_id);
}

Response Api::handle(Request& req, std::string* pattern) {
  Admission adm;
  Response r = handle(req, adm);
  if (pattern) *pattern = std::move(adm.pattern);
  return r;
}

std::optional<Response> Api::admit(const Request& head, Admission& adm) {
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> allowed;
  const Route* route = match(head, params, allowed);
  adm.pattern = route ? route->pattern : std::string();
  if (!route) return unmatched(head, allowed);
  for (auto& [k, v] : params)
    if (v.empty() || v.size() > 256)
      return Response::problem(Error(ErrorCode::kInvalidArgument, "invalid-path", "bad path parameter '" + k + "'"),
                               head.request_id);
  if (route->access.kind == AccessKind::kPublic && !route->head_check) return std::nullopt;
  Context ctx(head, *route, std::move(params), gate_, db_, clock_);
  Status st;
  try {
    st = db_.read_tx([&](db::Tx& tx) -> Status {
      ctx.tx = &tx;
      ctx.principal = TRY(gate_.authenticate(tx, head));
      TRY_STATUS(pre_checks(*route, ctx));
      if (ctx.principal) {
        adm.user_id = ctx.principal->user_id;
        if (adm.claim) TRY_STATUS(adm.claim(adm.user_id));
      }
      if (route->head_check)
        if (auto r = route->head_check(ctx); !r) return std::unexpected(r.error());
      return {};
    });
  } catch (const std::exception& e) {
    st = internal(std::string("unexpected exception: ") + e.what());
  }
  ctx.tx = nullptr;
  gate_.flush_pending(db_);
  if (!st) note_refusal(on_quota_refusal_, ctx, st.error(), head, *route);  // an upload's size, say
  if (!st) return refusal(route, st.error(), head);
  return std::nullopt;
}

Response Api::refusal(const Route* route, const Error& e, const Request& req) const {
  if (e.code == ErrorCode::kInternal) {
    spdlog::error("request {} {} {} failed: {}", req.request_id, req.method, req.path, e.detail);
    // Do not leak internals; the log has the detail under the request id.
    return Response::problem(Error(ErrorCode::kInternal, "internal",
                                   "internal error; the server log has details under request id " + req.request_id),
                             req.request_id);
  }
  Response r = Response::problem(e, req.request_id);
  if (e.code == ErrorCode::kUnauthenticated) {
    if (route && route->basic_auth) r.header("WWW-Authenticate", "Basic realm=\"atrium\", charset=\"UTF-8\"");
    r.header("WWW-Authenticate", "Bearer realm=\"atrium\"");
  }
  if (auto ra = e.extra.find("retry_after_s"); ra != e.extra.end())
    r.header("Retry-After", std::to_string(ra->get<std::int64_t>()));
  return r;
}

Response Api::handle(Request& req, Admission& adm) {
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> allowed;
  const Route* route = match(req, params, allowed);
  adm.pattern = route ? route->pattern : std::string();
  if (!route) return unmatched(req, allowed);
  for (auto& [k, v] : params)
    if (v.empty() || v.size() > 256)
      return Response::problem(Error(ErrorCode::kInvalidArgument, "invalid-path", "bad path parameter '" + k + "'"),
                               req.request_id);

  Context ctx(req, *route, std::move(params), gate_, db_, clock_);
  Result<Response> result = internal("not run");
  try {
    if (route->tx == TxMode::kAuto) {
      bool write = req.is_unsafe();
      auto body = [&](db::Tx& tx) -> Status {
        ctx.tx = &tx;
        auto who = gate_.authenticate(tx, req);
        if (!who) {
          result = std::unexpected(who.error());
          return {};  // nothing was written; commit is harmless
        }
        ctx.principal = std::move(*who);
        if (auto st = claim(ctx.principal, adm); !st) {
          result = std::unexpected(st.error());
          return {};
        }
        result = run(*route, ctx);
        if (!result) return std::unexpected(result.error());  // roll back
        return {};
      };
      // A request holds no lock while it waits for a shared commit: group commit is safe here.
      auto st = write ? db_.write_tx_shared(body) : db_.read_tx(body);
      if (!st && result) result = std::unexpected(st.error());  // commit failed
      ctx.tx = nullptr;
    } else if (route->access.kind == AccessKind::kPublic) {
      result = run(*route, ctx);  // public routes that manage their own transactions need no principal
    } else {
      auto st = db_.read_tx([&](db::Tx& tx) -> Status {
        auto who = gate_.authenticate(tx, req);
        if (!who) return std::unexpected(who.error());
        ctx.principal = std::move(*who);
        return claim(ctx.principal, adm);
      });
      result = st ? run(*route, ctx) : Result<Response>(std::unexpected(st.error()));
    }
  } catch (const std::exception& e) {
    result = internal(std::string("unexpected exception: ") + e.what());
  }
  gate_.flush_pending(db_);
  if (!result) note_refusal(on_quota_refusal_, ctx, result.error(), req, *route);
  if (!result) return refusal(route, result.error(), req);
  return std::move(*result);
}

}  // namespace atrium::http
