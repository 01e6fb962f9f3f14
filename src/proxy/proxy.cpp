#include "proxy/proxy.hpp"

#include <algorithm>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "envs/service.hpp"
#include "http/api.hpp"
#include "identity/auth.hpp"
#include "identity/store.hpp"
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

// What identifies the caller of a request, for the decision cache: "" = not cacheable. On an
// environment's own origin the session cookie is no credential (it never comes there from a browser).
std::string credential_key(const http::Request& req, const std::string& env_id, bool own_origin) {
  if (req.query_param(kGuestParam)) return "";
  if (auto a = req.header("authorization")) return "a:" + std::string(*a);
  if (own_origin) {
    if (req.target.starts_with(kReservedPrefix)) return "";
    if (auto c = req.cookie(kEnvCookie)) return "e:" + *c;
  } else if (auto c = req.cookie("atrium_session")) {
    return "s:" + *c;
  }
  if (auto g = req.cookie(guest_cookie_name(env_id))) return "g:" + *g;
  return "";
}

// The environment a request's Host names ("" = the main origin).
std::string env_of_request(const Deps& deps, const http::Request& req) {
  if (!deps.origins) return "";
  auto h = req.header("host");
  return h ? deps.origins->env_of_host(*h) : "";
}

bool path_mode(const Deps& deps) { return !deps.origins || deps.origins->path_mode; }

Response redirect(int status, const std::string& location) {
  auto r = Response::text(status, "");
  r.header("Location", location).header("Cache-Control", "no-store").header("Referrer-Policy", "no-referrer");
  return r;
}

// The user of a live Atrium session, by its id (an environment cookie names its session): null
// once the session is signed out, revoked, expired or idle, or the user is disabled.
Result<http::PrincipalPtr> session_principal(const Deps& deps, db::Tx& tx, const std::string& session_id,
                                             const std::string& user_id, Millis now) {
  auto owner = TRY(identity::live_session_user(tx, session_id, now, deps.session_idle_ms));
  if (owner != user_id) return http::PrincipalPtr{};
  auto user = TRY(identity::get_user(tx, user_id));
  if (user.disabled) return http::PrincipalPtr{};
  auto p = TRY(identity::load_principal(tx, user));
  p.session_id = session_id;  // cookie-authenticated: cross-origin requests are refused
  return std::make_shared<const http::Principal>(std::move(p));
}

// Who calls on an environment's own origin: a bearer token (the session cookie, should one come,
// is ignored), else the environment's cookie.
Result<http::PrincipalPtr> authenticate_on_origin(const Deps& deps, db::Tx& tx, const http::Request& req,
                                                  const std::string& env_id, Millis now) {
  if (req.header("authorization")) {
    http::Request bare;
    bare.headers = req.headers;
    std::erase_if(bare.headers, [](const auto& h) { return h.first == "cookie"; });
    return deps.gate.authenticate(tx, bare);
  }
  auto c = req.cookie(kEnvCookie);
  if (!c) return http::PrincipalPtr{};
  auto ec = open_env_cookie(deps.key, *c);
  if (!ec || ec->env_id != env_id) return http::PrincipalPtr{};
  return session_principal(deps, tx, ec->session_id, ec->user_id, now);
}

// The checks every caller passes to use an environment: it exists, the caller may use
// environments there and is its owner. Empty: allowed.
std::optional<Error> may_use(const Deps& deps, const http::Principal& who, const std::optional<envs::EnvRecord>& env,
                             const std::string& role) {
  if (!env) return Error(ErrorCode::kNotFound, "not-found", "no such environment");
  // A session held to a password change or to enrolling a second factor reaches nothing else,
  // environments included (Api::pre_checks holds it on the API).
  if (who.password_change_required || who.mfa_enrollment_required)
    return Error(ErrorCode::kPermissionDenied,
                 who.password_change_required ? "password-change-required" : "mfa-enrollment-required",
                 "finish signing in first (a new password or two-factor authentication), then open the environment");
  const auto& e = *env;
  http::Target t{.org_id = e.org_id, .owner_id = e.user_id, .group_id = e.group_id, .project_role = role};
  auto d = deps.gate.decide(who, {"envs", "use"}, t);
  if (d == http::Decision::kHidden) return Error(ErrorCode::kNotFound, "not-found", "no such environment");
  if (d != http::Decision::kAllow || !deps.gate.token_allows(who, {"envs", "use"}) || who.user_id != e.user_id)
    return Error(ErrorCode::kPermissionDenied, "forbidden", "only the environment's owner (or a guest link) may open it");
  return std::nullopt;
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
  t.route = d.own_origin ? "env-origin" : "/env/{id}";
  t.socket_path = d.socket_path;
  t.socket_uid = d.socket_uid;
  t.user = d.user_id;
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

void DecisionCache::follow(const Notifier& n) { subscriptions_.push_back(n.subscribe([this] { forget_all(); })); }

void DecisionCache::forget_all() {
  generation.fetch_add(1, std::memory_order_acq_rel);
  std::lock_guard lk(mu);
  entries.clear();
}

std::optional<ProxyTarget> cached_route(const Deps& deps, const http::Request& req) {
  if (!deps.cache) return std::nullopt;
  std::string id = env_of_request(deps, req);
  bool own = !id.empty();
  if (own) {
    if (!check_origin_target(req.target)) return std::nullopt;
  } else {
    if (!path_mode(deps)) return std::nullopt;  // the main origin only hands over: no forwarding to remember
    auto parsed = parse_target(req.target);
    if (!parsed || parsed->needs_slash) return std::nullopt;
    id = parsed->env_id;
  }
  auto key = credential_key(req, id, own);
  if (key.empty()) return std::nullopt;
  key = id + '\n' + key;
  DecisionCache::Entry d;
  {
    std::lock_guard lk(deps.cache->mu);
    auto it = deps.cache->entries.find(key);
    if (it == deps.cache->entries.end()) return std::nullopt;
    if (it->second.generation != deps.cache->generation.load(std::memory_order_acquire) ||
        deps.clock.now_ms() > it->second.expires) {
      deps.cache->entries.erase(it);
      return std::nullopt;
    }
    d = it->second;
  }
  return forward(deps, req, d);
}

namespace {

bool secure(const Deps& deps, const http::Request& req) {
  return req.tls || (deps.origins && deps.origins->public_url.starts_with("https://"));
}

// A guest link being opened: its secret becomes a cookie for this environment only (its host, or
// in path mode its path).
ProxyTarget guest_open(const Deps& deps, const http::Request& req, const std::string& id, bool own) {
  std::string secret(*req.query_param(kGuestParam));
  Millis now = deps.clock.now_ms();
  auto link = deps.db.write([&](db::Tx& tx) -> Result<std::optional<std::string>> {
    auto l = TRY(envs::guest_link(tx, id, secret, now));
    if (!l) return l;
    auto e = TRY(envs::get_env(tx, id));
    Actor guest{"", "guest", "", req.request_id, req.remote_ip};
    TRY_STATUS(audit::record(tx, guest, {e ? e->org_id : "", "env.guest_open", "env", id, {{"link_id", *l}}}, now));
    return l;
  });
  if (!link) return refuse(link.error(), req);
  if (!*link)
    return refuse(Error(ErrorCode::kNotFound, "not-found", "this guest link is unknown, revoked or expired"), req);
  std::string home = own ? "/" : "/env/" + id + "/";
  std::string cookie = guest_cookie_name(id) + "=" + secret + "; Path=" + home + "; HttpOnly; SameSite=Lax" +
                       (secure(deps, req) ? "; Secure" : "");
  return refuse_with(redirect(302, home).header("Set-Cookie", cookie));
}

// Authenticates, authorises and forwards one request to environment `id` (`own`: on its own
// origin, else /env/{id}/ in path mode).
ProxyTarget serve(const Deps& deps, const http::Request& req, const std::string& id, bool own) {
  struct Seen {
    http::PrincipalPtr who;
    std::optional<envs::EnvRecord> env;
    std::string role;
    bool guest = false;
  };
  Millis now = deps.clock.now_ms();
  auto guest_secret = req.cookie(guest_cookie_name(id));
  // Taken before the state is read: a change committed after the read makes a cached decision stale.
  std::uint64_t generation = deps.cache ? deps.cache->generation.load(std::memory_order_acquire) : 0;
  auto seen = deps.db.read([&](db::Tx& tx) -> Result<Seen> {
    Seen s;
    auto who = own ? authenticate_on_origin(deps, tx, req, id, now) : deps.gate.authenticate(tx, req);
    if (who) s.who = *who;
    s.env = TRY(envs::get_env(tx, id));
    if (!s.who && guest_secret && s.env) s.guest = TRY(envs::guest_link(tx, id, *guest_secret, now)).has_value();
    if (!who && !s.guest) return fail(who.error());
    if (s.who && s.env)
      if (auto p = TRY(projects::get_for(tx, s.env->project_id, s.who->user_id))) s.role = p->my_role;
    return s;
  });
  if (!seen) return refuse(seen.error(), req);
  if (!seen->who && !seen->guest) {
    if (wants_html(req))  // a browser: to the main origin for a ticket (which signs in first if need be)
      return refuse_with(own ? redirect(302, deps.origins->public_url + std::string(kPrefix) + id + req.target)
                             : redirect(302, "/login?next=" + http::percent_encode(req.target)));
    auto r = Response::problem(
        Error(ErrorCode::kUnauthenticated, "unauthenticated", "sign in, or send Authorization: Bearer <token>"),
        req.request_id);
    return refuse_with(std::move(r));
  }
  if (!seen->env) return refuse(Error(ErrorCode::kNotFound, "not-found", "no such environment"), req);
  const auto& e = *seen->env;
  bool cookie_auth = seen->guest || !seen->who->session_id.empty();
  if (seen->who)
    if (auto err = may_use(deps, *seen->who, seen->env, seen->role)) return refuse(*err, req);
  if (e.state != envs::EnvState::kReady) {
    auto r = Response::problem(Error(ErrorCode::kUnavailable, "env-not-ready",
                                     "the environment is " + e.state_text() + (e.reason.empty() ? "" : ": " + e.reason))
                                   .with("state", e.state_text()),
                               req.request_id);
    r.header("Retry-After", "2");
    return refuse_with(std::move(r));
  }
  auto up = deps.envs.upstream(e);
  if (up.socket_path.empty() || up.token.empty())
    return refuse(Error(ErrorCode::kUnavailable, "env-not-ready", "the environment is not running"), req);
  DecisionCache::Entry d{id,   up.socket_path, up.token, up.socket_uid, cookie_auth,
                         own,  seen->who ? seen->who->user_id : std::string(), generation, 0};
  auto t = forward(deps, req, d);
  if (t.forward && deps.cache) {
    if (auto key = credential_key(req, id, own); !key.empty()) {
      d.expires = deps.clock.now_ms() + deps.cache->ttl;
      std::lock_guard lk(deps.cache->mu);
      if (deps.cache->entries.size() >= deps.cache->max_entries) deps.cache->entries.clear();
      deps.cache->entries[id + '\n' + key] = d;
    }
  }
  return t;
}

// The main origin's /env/{id}/...: a signed-in browser gets a one-time ticket for the
// environment's origin (302 there); a program with a token is sent there as it is (308); nothing
// is forwarded from here.
ProxyTarget hand_over(const Deps& deps, const http::Request& req, const EnvTarget& target) {
  const std::string& id = target.env_id;
  const std::string origin = deps.origins->origin(id);
  auto q = req.target.find('?');
  std::string rest = target.needs_slash ? "/" + (q == std::string::npos ? "" : req.target.substr(q))
                                        : req.target.substr(kPrefix.size() + id.size());
  if (auto g = req.query_param(kGuestParam))
    return refuse_with(redirect(302, origin + "/?" + std::string(kGuestParam) + "=" + http::percent_encode(*g)));
  Millis now = deps.clock.now_ms();
  struct Seen {
    http::PrincipalPtr who;
    std::optional<envs::EnvRecord> env;
    std::string role;
  };
  auto seen = deps.db.read([&](db::Tx& tx) -> Result<Seen> {
    Seen s;
    s.who = TRY(deps.gate.authenticate(tx, req));
    if (!s.who || s.who->session_id.empty()) return s;
    s.env = TRY(envs::get_env(tx, id));
    if (s.env)
      if (auto p = TRY(projects::get_for(tx, s.env->project_id, s.who->user_id))) s.role = p->my_role;
    return s;
  });
  if (!seen) return refuse(seen.error(), req);
  if (!seen->who) {
    if (wants_html(req)) return refuse_with(redirect(302, "/login?next=" + http::percent_encode(req.target)));
    return refuse(Error(ErrorCode::kUnauthenticated, "unauthenticated",
                        "sign in, or send Authorization: Bearer <token> to " + origin + "/"),
                  req);
  }
  if (seen->who->session_id.empty()) return refuse_with(redirect(308, origin + rest));
  if (auto err = may_use(deps, *seen->who, seen->env, seen->role)) return refuse(*err, req);
  if (req.method != "GET" && req.method != "HEAD")
    return refuse(Error(ErrorCode::kPermissionDenied, "env-origin",
                        "environments are served on their own origin: " + origin + "/"),
                  req);
  Ticket tk{id, seen->who->user_id, seen->who->session_id, crypto::base64url(crypto::random_bytes(18)),
            now + kTicketTtl};
  return refuse_with(redirect(302, origin + std::string(kAuthPath) + "?ticket=" + seal_ticket(deps.key, tk) +
                                       "&next=" + http::percent_encode(rest)));
}

// /_atrium/auth?ticket=...&next=... on an environment's origin: a valid, unused ticket for this
// environment, from a session still alive, becomes this host's cookie.
ProxyTarget exchange(const Deps& deps, const http::Request& req, const std::string& id) {
  auto bad = [&](const std::string& why) {
    return refuse(Error(ErrorCode::kPermissionDenied, "bad-ticket", why), req);
  };
  if (req.method != "GET" && req.method != "HEAD") return bad("a ticket is exchanged with GET");
  auto text = req.query_param("ticket");
  if (!text) return bad("no ticket: open the environment from Atrium");
  Millis now = deps.clock.now_ms();
  auto t = open_ticket(deps.key, *text, now);
  if (!t) return refuse(t.error(), req);
  if (t->env_id != id) return bad("this ticket is for another environment");
  if (!deps.tickets || !deps.tickets->use(t->nonce, t->expires, now)) return bad("this ticket was used already");
  auto who = deps.db.read(
      [&](db::Tx& tx) { return session_principal(deps, tx, t->session_id, t->user_id, now); });
  if (!who) return refuse(who.error(), req);
  if (!*who) return bad("the Atrium session this ticket came from has ended: sign in again");
  std::string next = "/";
  if (auto n = req.query_param("next"); n && safe_next(*n)) next = std::string(*n);
  std::string cookie = std::string(kEnvCookie) + "=" + seal_env_cookie(deps.key, {id, t->user_id, t->session_id}) +
                       "; Path=/; HttpOnly; SameSite=Lax" + (secure(deps, req) ? "; Secure" : "");
  return refuse_with(redirect(302, next).header("Set-Cookie", cookie));
}

// One of Atrium's pages on an environment's origin (the terminal page; see web::serve_env_page):
// served by Atrium, never by the app. The page itself asks a browser with neither this
// environment's cookie nor a guest link's to fetch a ticket first (the main origin signs it in);
// its files are the UI's, public anyway.
std::optional<ProxyTarget> own_page(const Deps& deps, const http::Request& req, const std::string& id) {
  if (!deps.pages) return std::nullopt;
  auto page = deps.pages(req);
  if (!page) return std::nullopt;
  if (!req.path.starts_with("/_atrium/assets/")) {
    auto c = req.cookie(kEnvCookie);
    auto ec = c ? open_env_cookie(deps.key, *c) : std::nullopt;
    if ((!ec || ec->env_id != id) && !req.cookie(guest_cookie_name(id)))
      return refuse_with(redirect(302, deps.origins->public_url + std::string(kPrefix) + id + req.target));
  }
  return refuse_with(std::move(*page));
}

// A request on an environment's own origin.
ProxyTarget on_origin(const Deps& deps, const http::Request& req, const std::string& id) {
  if (auto st = check_origin_target(req.target); !st) return refuse(st.error(), req);
  auto path_end = req.target.find('?');
  if (std::string_view(req.target).substr(0, path_end) == kAuthPath) return exchange(deps, req, id);
  if (auto page = own_page(deps, req, id)) return std::move(*page);
  if (req.path.starts_with(kReservedPrefix))
    return refuse(Error(ErrorCode::kNotFound, "not-found", "no such Atrium page"), req);
  if (req.query_param(kGuestParam)) return guest_open(deps, req, id, true);
  return serve(deps, req, id, true);
}

}  // namespace

ProxyTarget route(const Deps& deps, const http::Request& req) {
  if (auto id = env_of_request(deps, req); !id.empty()) return on_origin(deps, req, id);
  auto parsed = parse_target(req.target);
  if (!parsed) return refuse(parsed.error(), req);
  if (!path_mode(deps)) return hand_over(deps, req, *parsed);
  const std::string& id = parsed->env_id;
  if (parsed->needs_slash) {
    auto q = req.target.find('?');
    return refuse_with(Response::text(301, "").header(
        "Location", std::string(kPrefix) + id + "/" + (q == std::string::npos ? "" : req.target.substr(q))));
  }
  if (req.query_param(kGuestParam)) return guest_open(deps, req, id, false);
  return serve(deps, req, id, false);
}

}  // namespace atrium::proxy
