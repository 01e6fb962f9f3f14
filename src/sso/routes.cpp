#include "sso/routes.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "http/forwarded.hpp"
#include "sso/store.hpp"

namespace atrium::sso {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

constexpr const char* kAttemptCookie = "atrium_sso";
constexpr const char* kCallbackPath = "/api/v1/auth/oidc/";
constexpr Millis kAttemptTtlMs = 10 * 60 * 1000;

std::string attempt_cookie(const std::string& value, Millis max_age_ms, bool tls) {
  // Path-scoped to the flow; Lax: the provider's redirect back is a top-level GET, which carries it.
  std::string c = std::string(kAttemptCookie) + "=" + value + "; Path=" + kCallbackPath +
                  "; SameSite=Lax; HttpOnly; Max-Age=" + std::to_string(max_age_ms / 1000);
  if (tls) c += "; Secure";
  return c;
}

Response redirect(const std::string& location) {
  Response r = Response::text(302, "");
  r.header("Location", location);
  r.header("Cache-Control", "no-store");
  return r;
}

// A failed sign-in goes back to the login page with a code the page explains (never a detail from
// the provider that an attacker could craft into the page).
Response to_login(const std::string& code, bool tls) {
  Response r = redirect("/login?sso_error=" + code);
  r.header("Set-Cookie", attempt_cookie("", 0, tls));
  return r;
}

Result<Provider*> provider_of(RouteDeps& deps, Context& ctx) {
  auto it = deps.providers.find(ctx.param("name"));
  if (it == deps.providers.end()) return not_found("identity provider");
  return it->second.get();
}

std::string redirect_uri(const RouteDeps& deps, const Provider& p) {
  return deps.auth.public_url + kCallbackPath + p.name() + "/callback";
}

Result<Response> providers_list(RouteDeps& deps, Context&) {
  json list = json::array();
  for (auto& [name, p] : deps.providers)
    list.push_back({{"name", name},
                    {"display_name", p->display_name()},
                    {"type", "oidc"},
                    {"start_url", std::string(kCallbackPath) + name + "/start"}});
  for (auto& o : deps.others)
    list.push_back({{"name", o.name},
                    {"display_name", o.display_name},
                    {"type", o.type},
                    {"start_url", o.start_url.empty() ? json(nullptr) : json(o.start_url)}});
  return Response::json(200, {{"providers", list}, {"password_login", true}, {"password_reset", deps.password_reset}});
}

Status check_rate(RouteDeps& deps, Context& ctx) {
  if (auto wait = deps.limiter.check_ip("sso:" + http::address_key(ctx.req.remote_ip), ctx.now()))
    return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                      "too many sign-in attempts from your address; wait " + std::to_string(wait) + " s")
                    .with("retry_after_s", wait));
  return {};
}

Result<Response> start(RouteDeps& deps, Context& ctx) {
  Provider* p = TRY(provider_of(deps, ctx));
  std::string next = std::string(ctx.req.query_param("next").value_or("/"));
  if (!safe_next(next))
    return fail(Error(ErrorCode::kInvalidArgument, "unsafe-next", "next must be a path on this site, such as /projects")
                    .with("field", "next"));
  Millis now = ctx.now();
  TRY_STATUS(check_rate(deps, ctx));
  auto d = p->discovery();
  if (!d) {
    spdlog::warn("sso: provider {}: {}", p->name(), d.error().detail);
    return to_login("provider_unavailable", ctx.req.tls);
  }
  Attempt a = Attempt::fresh();
  std::string browser = crypto::base64url(crypto::random_bytes(32));
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    TRY_STATUS(store::purge_logins(tx, now));
    return store::insert_login(tx, {.state_hash = crypto::sha256_hex(a.state),
                                    .provider = p->name(),
                                    .browser_hash = crypto::sha256_hex(browser),
                                    .nonce = a.nonce,
                                    .code_verifier = a.code_verifier,
                                    .next = next,
                                    .created = now,
                                    .expires = now + kAttemptTtlMs});
  }));
  Response r = redirect(p->authorization_url(*d, a, redirect_uri(deps, *p)));
  r.header("Set-Cookie", attempt_cookie(browser, kAttemptTtlMs, ctx.req.tls));
  return r;
}

// The attempt this callback finishes: its state known, unused, unexpired, for this provider, and
// started in this browser. Consumed here, so a state works once.
Result<store::Login> take_attempt(RouteDeps&, Context& ctx, const Provider& p, const std::string& state) {
  auto bad = [] { return fail(ErrorCode::kInvalidArgument, "invalid_state", "unknown, used or expired state"); };
  if (state.empty() || state.size() > 200) return bad();
  auto login = TRY(ctx.db().write([&](db::Tx& tx) { return store::take_login(tx, crypto::sha256_hex(state), ctx.now()); }));
  if (!login || login->provider != p.name()) return bad();
  auto cookie = ctx.req.cookie(kAttemptCookie);
  if (!cookie || !crypto::constant_time_equal(crypto::sha256_hex(*cookie), login->browser_hash))
    return fail(ErrorCode::kInvalidArgument, "wrong_browser", "this sign-in was started in another browser");
  return *login;
}

Status record_failure(Context& ctx, const std::string& provider, const std::string& reason) {
  Actor actor = ctx.actor();
  actor.username = "sso:" + provider;
  return ctx.db().write_tx([&](db::Tx& tx) {
    return audit::record(tx, actor, {"", "auth.login_failed", "user", "", {{"provider", provider}, {"reason", reason}}},
                         ctx.now());
  });
}

Result<Response> callback(RouteDeps& deps, Context& ctx) {
  Provider* p = TRY(provider_of(deps, ctx));
  TRY_STATUS(check_rate(deps, ctx));  // before any write: bogus callbacks cost a client its budget
  bool tls = ctx.req.tls;
  auto q = [&](const char* k) { return std::string(ctx.req.query_param(k).value_or("")); };
  auto failed = [&](const std::string& code, const std::string& why) -> Result<Response> {
    spdlog::info("sso: sign-in through {} failed: {}", p->name(), why);
    (void)record_failure(ctx, p->name(), code);
    return to_login(code, tls);
  };
  auto login = take_attempt(deps, ctx, *p, q("state"));
  if (!login) return failed(login.error().type, login.error().detail);
  if (!q("error").empty()) {
    // The provider's own refusal (access_denied, login_required, ...): its code, if a plain one.
    std::string e = q("error");
    bool plain = e.size() <= 40 && std::all_of(e.begin(), e.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
    return failed(plain ? e : "provider_error", "the provider answered error=" + e);
  }
  if (ctx.req.query_param("iss") && q("iss") != p->config().issuer)
    return failed("issuer_mismatch", "iss parameter '" + q("iss") + "'");  // RFC 9207: a mix-up attack
  if (q("code").empty() || q("code").size() > 4096) return failed("invalid_request", "no code");
  auto who = p->redeem(q("code"), login->code_verifier, login->nonce, redirect_uri(deps, *p));
  if (!who) return failed(who.error().code == ErrorCode::kUnavailable ? "provider_unavailable" : "sso_failed",
                          who.error().detail);
  Actor actor = ctx.actor();
  std::string ua(ctx.req.header("user-agent").value_or(""));
  identity::NewSession ns;
  auto st = ctx.db().write_tx([&](db::Tx& tx) -> Status {
    auto u = TRY(federate(tx, actor, p->link_policy(), *who, ctx.now()));
    Actor as_user = actor;
    as_user.user_id = u.id;
    as_user.username = u.username;
    ns = TRY(identity::create_session(tx, as_user, u, ua, deps.auth, ctx.now()));
    return store::record_session(tx, ns.id, p->name(), ctx.now());
  });
  if (!st) {
    const auto& t = st.error().type;
    return failed(t == "account-disabled" ? "account_disabled" : t == "sso-no-account" ? "no_account" : "sso_failed",
                  st.error().detail);
  }
  Response r = redirect(login->next);
  identity::set_session_cookies(r, ns, deps.auth, tls);
  r.header("Set-Cookie", attempt_cookie("", 0, tls));
  return r;
}

}  // namespace

identity::RouteDeps::LogoutUrlFn logout_url_fn(std::map<std::string, std::unique_ptr<Provider>>& providers,
                                               const identity::AuthSettings& auth) {
  return [&providers, &auth](db::Tx& tx, const std::string& session_id) -> Result<std::string> {
    auto name = TRY(store::session_provider(tx, session_id));
    if (!name) return std::string();
    auto it = providers.find(*name);
    if (it == providers.end()) return std::string();
    const auto& back = it->second->config().post_logout_redirect_uri;
    return it->second->logout_url(back.empty() ? auth.public_url + "/login" : back);
  };
}

void add_routes(http::Api& api, RouteDeps deps) {
  auto d = std::make_shared<RouteDeps>(std::move(deps));
  api.add({"GET", "/api/v1/auth/providers", Access::open(),
           {"How one may sign in here: the identity providers (a button each) and password options", "auth", nullptr,
            http::object_schema()},
           [d](Context& ctx) { return providers_list(*d, ctx); },
           http::TxMode::kNone});
  api.add({"GET", "/api/v1/auth/oidc/{name}/start", Access::open(),
           {"Start signing in through an OpenID Connect provider: 302 to it (`next`: a path here to land on)",
            "auth", nullptr, nullptr, 302, {"next"}},
           [d](Context& ctx) { return start(*d, ctx); },
           http::TxMode::kNone});
  api.add({"GET", "/api/v1/auth/oidc/{name}/callback", Access::open(),
           {"Where the provider sends the browser back: signs in and goes on to `next` (failures: 302 to "
            "/login?sso_error=CODE)",
            "auth", nullptr, nullptr, 302, {"code", "state", "iss", "error", "error_description"}},
           [d](Context& ctx) { return callback(*d, ctx); },
           http::TxMode::kNone});
  add_rules_routes(api, *d);
}

}  // namespace atrium::sso
