#include "proxy/proxy.hpp"

#include <algorithm>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "envs/service.hpp"
#include "http/api.hpp"
#include "projects/projects.hpp"

namespace atrium::proxy {

using http::ProxyTarget;
using http::Response;

namespace {

ProxyTarget refuse(const Error& e, const http::Request& req) {
  ProxyTarget t;
  t.refuse = Response::problem(e, req.request_id);
  return t;
}

ProxyTarget refuse_with(Response r) {
  ProxyTarget t;
  t.refuse = std::move(r);
  return t;
}

bool wants_html(const http::Request& req) {
  auto a = req.header("accept");
  return req.method == "GET" && !req.websocket && a && a->find("text/html") != std::string_view::npos;
}

// A guest link's secret, valid now for this environment: the link's id.
Result<std::optional<std::string>> guest_link(db::Tx& tx, const std::string& env_id, const std::string& secret,
                                              Millis now) {
  if (secret.empty() || secret.size() > 200) return std::optional<std::string>();
  auto row = TRY(tx.query_one(
      "SELECT id FROM env_links WHERE secret_hash = ? AND env_id = ? AND revoked_ms IS NULL AND expires_ms > ?",
      {crypto::sha256_hex(secret), env_id, now}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->str(0));
}

// What identifies the caller of a request, for the decision cache: "" = not cacheable.
std::string credential_key(const http::Request& req, const std::string& env_id) {
  if (req.query_param(kGuestParam)) return "";
  if (auto a = req.header("authorization")) return "a:" + std::string(*a);
  if (auto c = req.cookie("atrium_session")) return "s:" + *c;
  if (auto g = req.cookie(guest_cookie_name(env_id))) return "g:" + *g;
  return "";
}

// The checks that depend on this very request (Origin), then the target: socket, headers, activity.
ProxyTarget forward(const Deps& deps, const http::Request& req, const DecisionCache::Entry& d) {
  // Jupyter skips its own Origin and XSRF checks for token-authenticated requests, and the proxy
  // sends the token: cross-site requests are refused here.
  if (req.websocket || req.is_unsafe()) {
    auto origin = req.header("origin");
    if (origin ? !http::same_origin(req) : d.cookie_auth)
      return refuse(Error(ErrorCode::kPermissionDenied, "cross-origin",
                          "a WebSocket or an unsafe request to an environment must come from this server's own pages "
                          "(Origin must match Host)"),
                    req);
  }
  ProxyTarget t;
  t.forward = true;
  t.route = "/env/{id}";
  t.socket_path = d.socket_path;
  t.socket_uid = d.socket_uid;
  t.strip = {"authorization", "cookie", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
             "x-real-ip"};
  t.add = {{"Authorization", "token " + d.token},
           {"X-Forwarded-For", req.remote_ip},
           {"X-Real-IP", req.remote_ip},
           {"X-Forwarded-Proto", req.tls ? "https" : "http"}};
  if (auto c = req.header("cookie")) {
    auto kept = strip_atrium_cookies(*c);
    if (!kept.empty()) t.add.emplace_back("Cookie", kept);
  }
  envs::Service* svc = &deps.envs;
  t.touch = [svc, id = d.env_id] { svc->touch(id); };
  return t;
}

}  // namespace

void DecisionCache::on_commit(const std::vector<std::string>& tables) {
  static const std::vector<std::string> kAccess = {"*",           "users",         "sessions",        "tokens",
                                                   "orgs",        "org_members",   "group_members",   "roles",
                                                   "projects",    "project_members", "instance_admins", "env_links"};
  for (auto& t : tables)
    if (std::find(kAccess.begin(), kAccess.end(), t) != kAccess.end()) {
      std::lock_guard lk(mu);
      entries.clear();
      return;
    }
}

std::optional<ProxyTarget> cached_route(const Deps& deps, const http::Request& req) {
  if (!deps.cache) return std::nullopt;
  auto parsed = parse_target(req.target);
  if (!parsed || parsed->needs_slash) return std::nullopt;
  auto key = credential_key(req, parsed->env_id);
  if (key.empty()) return std::nullopt;
  key = parsed->env_id + '\n' + key;
  DecisionCache::Entry d;
  {
    std::lock_guard lk(deps.cache->mu);
    auto it = deps.cache->entries.find(key);
    if (it == deps.cache->entries.end()) return std::nullopt;
    if (it->second.changes != deps.envs.change_count() || std::chrono::steady_clock::now() > it->second.expires) {
      deps.cache->entries.erase(it);
      return std::nullopt;
    }
    d = it->second;
  }
  return forward(deps, req, d);
}

ProxyTarget route(const Deps& deps, const http::Request& req) {
  auto parsed = parse_target(req.target);
  if (!parsed) return refuse(parsed.error(), req);
  const std::string& id = parsed->env_id;
  if (parsed->needs_slash) {
    auto q = req.target.find('?');
    return refuse_with(Response::text(301, "").header(
        "Location", std::string(kPrefix) + id + "/" + (q == std::string::npos ? "" : req.target.substr(q))));
  }
  Millis now = deps.clock.now_ms();
  // A guest link being opened: its secret becomes a cookie for this environment's path only.
  if (auto g = req.query_param(kGuestParam)) {
    std::string secret(*g);
    auto link = deps.db.write([&](db::Tx& tx) -> Result<std::optional<std::string>> {
      auto l = TRY(guest_link(tx, id, secret, now));
      if (!l) return l;
      auto e = TRY(envs::get_env(tx, id));
      Actor guest{"", "guest", "", req.request_id, req.remote_ip};
      TRY_STATUS(audit::record(tx, guest,
                               {e ? e->org_id : "", "env.guest_open", "env", id, {{"link_id", *l}}}, now));
      return l;
    });
    if (!link) return refuse(link.error(), req);
    if (!*link)
      return refuse(Error(ErrorCode::kNotFound, "not-found", "this guest link is unknown, revoked or expired"), req);
    std::string cookie = guest_cookie_name(id) + "=" + secret + "; Path=/env/" + id + "/; HttpOnly; SameSite=Lax" +
                         (req.tls ? "; Secure" : "");
    return refuse_with(Response::text(302, "").header("Location", "/env/" + id + "/").header("Set-Cookie", cookie));
  }
  struct Seen {
    http::PrincipalPtr who;
    std::optional<envs::EnvRecord> env;
    std::string role;
    bool guest = false;
  };
  auto guest_secret = req.cookie(guest_cookie_name(id));
  // Taken before the state is read: a change committed after the read makes a cached decision stale.
  auto changes = deps.envs.change_count();
  auto seen = deps.db.read([&](db::Tx& tx) -> Result<Seen> {
    Seen s;
    auto who = deps.gate.authenticate(tx, req);
    if (who) s.who = *who;
    s.env = TRY(envs::get_env(tx, id));
    if (!s.who && guest_secret && s.env) s.guest = TRY(guest_link(tx, id, *guest_secret, now)).has_value();
    if (!who && !s.guest) return fail(who.error());
    if (s.who && s.env)
      if (auto p = TRY(projects::get_for(tx, s.env->project_id, s.who->user_id))) s.role = p->my_role;
    return s;
  });
  if (!seen) return refuse(seen.error(), req);
  if (!seen->who && !seen->guest) {
    if (wants_html(req))  // a browser: to the sign-in page, and back here afterwards
      return refuse_with(
          Response::text(302, "").header("Location", "/login?next=" + http::percent_encode(req.target)));
    auto r = Response::problem(
        Error(ErrorCode::kUnauthenticated, "unauthenticated", "sign in, or send Authorization: Bearer <token>"),
        req.request_id);
    return refuse_with(std::move(r));
  }
  if (!seen->env) return refuse(Error(ErrorCode::kNotFound, "not-found", "no such environment"), req);
  const auto& e = *seen->env;
  bool cookie_auth = seen->guest || !seen->who->session_id.empty();
  if (seen->who) {
    http::Target t{.org_id = e.org_id, .owner_id = e.user_id, .group_id = e.group_id, .project_role = seen->role};
    auto d = deps.gate.decide(*seen->who, {"envs", "use"}, t);
    if (d == http::Decision::kHidden) return refuse(Error(ErrorCode::kNotFound, "not-found", "no such environment"), req);
    if (d != http::Decision::kAllow || !deps.gate.token_allows(*seen->who, {"envs", "use"}) ||
        seen->who->user_id != e.user_id)
      return refuse(Error(ErrorCode::kPermissionDenied, "forbidden",
                          "only the environment's owner (or a guest link) may open it"),
                    req);
  }
  if (e.state != "READY") {
    auto r = Response::problem(Error(ErrorCode::kUnavailable, "env-not-ready",
                                     "the environment is " + e.state + (e.reason.empty() ? "" : ": " + e.reason))
                                   .with("state", e.state),
                               req.request_id);
    r.header("Retry-After", "2");
    return refuse_with(std::move(r));
  }
  auto up = deps.envs.upstream(e);
  if (up.socket_path.empty() || up.token.empty())
    return refuse(Error(ErrorCode::kUnavailable, "env-not-ready", "the environment is not running"), req);
  DecisionCache::Entry d{id, up.socket_path, up.token, up.socket_uid, cookie_auth, changes, {}};
  auto t = forward(deps, req, d);
  if (t.forward && deps.cache) {
    if (auto key = credential_key(req, id); !key.empty()) {
      d.expires = std::chrono::steady_clock::now() + deps.cache->ttl;
      std::lock_guard lk(deps.cache->mu);
      if (deps.cache->entries.size() >= deps.cache->max_entries) deps.cache->entries.clear();
      deps.cache->entries[id + '\n' + key] = d;
    }
  }
  return t;
}

}  // namespace atrium::proxy
