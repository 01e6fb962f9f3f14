#include <functional>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "http/forwarded.hpp"
#include "identity/policy.hpp"
#include "identity/routes_detail.hpp"

namespace atrium::identity {
namespace detail {
namespace {

std::string cookie(const char* name, const std::string& value, Millis max_age_ms, bool http_only, bool secure) {
  std::string c =
      std::string(name) + "=" + value + "; Path=/; SameSite=Lax; Max-Age=" + std::to_string(max_age_ms / 1000);
  if (http_only) c += "; HttpOnly";
  if (secure) c += "; Secure";
  return c;
}

// A dummy hash so that a login for an unknown user costs as much as one for a known user.
const std::string& dummy_hash() {
  static const std::string h = crypto::hash_password("atrium-dummy-password-for-timing");
  return h;
}

// ---- handlers, one per endpoint

Result<Response> login(const AuthSettings& settings, LoginLimiter& limiter, const SecondFactor& second, Context& ctx) {
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"username", "password"}));
  auto username = TRY(body.str("username", 64));
  auto password = TRY(body.str("password", 1024));
  Millis now = ctx.now();
  if (auto wait = limiter.check_ip(http::address_key(ctx.req.remote_ip), now))
    return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                      "too many sign-in attempts from your address; wait " + std::to_string(wait) + " s")
                    .with("retry_after_s", wait));
  auto user = TRY(ctx.db().read([&](db::Tx& tx) { return find_user(tx, username); }));
  Actor actor = ctx.actor();
  // One answer for an unknown user, a wrong password, an account locked for this client
  // and a disabled account, each after one password hash and one write: no answer (or
  // its timing) confirms a username or a password.
  auto bad = [] { return fail(ErrorCode::kUnauthenticated, "invalid-credentials", "wrong username or password"); };
  auto refuse = [&](const char* reason, const std::string& user_id) -> Result<Response> {
    TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) {
      return audit::record(
          tx, actor, {"", "auth.login_failed", "user", user_id, {{"username", username}, {"reason", reason}}}, now);
    }));
    return bad();
  };
  if (!user) {
    (void)crypto::verify_password(dummy_hash(), password);
    return refuse("unknown-user", "");
  }
  if (TRY(ctx.db().read(
          [&](db::Tx& tx) { return login_locked(tx, *user, http::address_key(actor.client_ip), now); }))) {
    // Locked for this client only: other clients (the real user) still sign in.
    (void)crypto::verify_password(dummy_hash(), password);
    return refuse("locked", user->id);
  }
  if (!crypto::verify_password(user->password_hash, password)) {
    TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) { return record_login_failure(tx, actor, *user, settings, now); }));
    return bad();
  }
  if (user->disabled) return refuse("disabled", user->id);
  actor.user_id = user->id;
  actor.username = user->username;
  // With a second factor on, the password alone makes no session: the answer is its challenge.
  std::optional<json> challenge;
  NewSession ns;
  json extra = json::object();
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    if (second.challenge) challenge = TRY(second.challenge(tx, actor, *user, now));
    if (challenge) return {};
    ns = TRY(open_session(tx, actor, *user, ctx.req, settings, now));
    if (second.session_made) extra = TRY(second.session_made(tx, actor, *user, ns.id, now));
    return {};
  }));
  if (challenge) return Response::json(200, *challenge);
  return session_answer(settings, ctx.req, *user, ns, std::move(extra));
}

// Routes a user may call while they must still replace a server-generated password.
http::Route before_password_change(http::Route r) {
  r.during_password_change = true;
  return r;
}

Result<Response> logout(const RouteDeps::LogoutUrlFn& provider_logout_url, Context& ctx) {
  if (ctx.who().session_id.empty())
    return invalid("logout ends a browser session; revoke a token with DELETE /api/v1/tokens/{id}");
  bool everywhere = false;
  if (!ctx.req.body.empty()) {  // no body (older clients): this session only
    auto body = TRY(ctx.json());
    TRY_STATUS(body.only({"everywhere"}));
    everywhere = TRY(body.opt_bool("everywhere")).value_or(false);
  }
  std::string at_provider = provider_logout_url ? TRY(provider_logout_url(ctx.t(), ctx.who().session_id)) : "";
  if (everywhere)
    TRY_STATUS(revoke_all_sessions(ctx.t(), ctx.actor(), ctx.who().user_id, ctx.now()));
  else
    TRY_STATUS(revoke_session(ctx.t(), ctx.actor(), ctx.who().session_id, ctx.now()));
  Response r = at_provider.empty() ? Response::no_content() : Response::json(200, {{"logout_url", at_provider}});
  r.header("Set-Cookie", cookie(kSessionCookie, "", 0, true, ctx.req.tls));
  r.header("Set-Cookie", cookie(kCsrfCookie, "", 0, false, ctx.req.tls));
  return r;
}

Result<Response> session_show(Context& ctx) {
  auto u = TRY(get_user(ctx.t(), ctx.who().user_id));
  json j = {{"user", u.json()},
            {"via", ctx.who().via_token() ? "token" : "session"},
            {"session", nullptr},
            {"token_id", ctx.who().via_token() ? json(ctx.who().token_id) : json(nullptr)}};
  if (!ctx.who().session_id.empty())
    j["session"] = TRY(get_session_json(ctx.t(), ctx.who().session_id, ctx.who().session_id));
  return Response::json(200, j);
}

Result<Response> sessions_list(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{.owner_id = ctx.who().user_id}));
  auto page = TRY(ctx.page());
  auto items = TRY(list_sessions(ctx.t(), ctx.who().user_id, ctx.who().session_id, page.after, page.limit, ctx.now()));
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> session_delete(Context& ctx) {
  auto owner = TRY(session_owner(ctx.t(), ctx.param("id")));
  if (!owner) return not_found("session");
  TRY_STATUS(ctx.authorize(Target{.owner_id = *owner}));
  auto s = TRY(get_session_json(ctx.t(), ctx.param("id"), ctx.who().session_id));
  TRY_STATUS(ctx.check_if_match(s["etag"].get<std::string>()));
  TRY_STATUS(revoke_session(ctx.t(), ctx.actor(), ctx.param("id"), ctx.now()));
  return Response::no_content();
}

Result<Response> password_change(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{.owner_id = ctx.who().user_id}));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"current_password", "new_password"}));
  auto current = TRY(body.str("current_password", 1024));
  auto next = TRY(body.str("new_password", 1024));
  auto u = TRY(ctx.db().read([&](db::Tx& tx) { return get_user(tx, ctx.who().user_id); }));
  TRY_STATUS(check_password(u.username, next, "new_password"));
  if (!crypto::verify_password(u.password_hash, current))
    return fail(Error(ErrorCode::kInvalidArgument, "wrong-password", "the current password is wrong")
                    .with("field", "current_password"));
  if (u.must_change_password && next == current)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-argument",
                      "choose a new password: the current one was generated by the server")
                    .with("field", "new_password"));
  std::string hash = crypto::hash_password(next);
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    TRY_STATUS(set_password(tx, ctx.actor(), u, hash, ctx.now()));
    return revoke_other_sessions(tx, u.id, ctx.who().session_id, ctx.now());
  }));
  return Response::no_content();
}

Result<Response> me_show(Context& ctx) { return Response::json(200, TRY(me_json(ctx.t(), ctx.who()))); }

Result<Response> token_create(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{.owner_id = ctx.who().user_id}));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"name", "scopes", "expires_in_days"}));
  auto name = TRY(body.str("name", 100));
  TRY_STATUS(check_display_text("name", name, 100, false));
  auto scopes = TRY(body.opt_str_list("scopes", 50, 100));
  auto days = TRY(body.opt_integer("expires_in_days", 1, 3650));
  std::vector<std::string> list;
  if (scopes)
    list = *scopes;
  else if (ctx.who().via_token())
    for (auto& g : ctx.who().token_scopes) list.push_back(g.str());
  else
    list = {"*:*:*"};
  if (list.empty()) return invalid("scopes must not be empty");
  auto grants = TRY(parse_scopes(list));
  if (ctx.who().via_token())
    for (auto& g : grants) {
      bool covered = false;
      for (auto& mine : ctx.who().token_scopes) covered = covered || grant_covers(mine, g);
      if (!covered)
        return fail(Error(ErrorCode::kPermissionDenied, "token-scope",
                          "a token can only create tokens within its own scopes; '" + g.str() + "' is wider")
                        .with("field", "scopes"));
    }
  std::optional<Millis> expires;
  if (days) expires = ctx.now() + *days * 24LL * 3600 * 1000;
  auto t = TRY(create_token(ctx.t(), ctx.actor(), ctx.who().user_id, name, list, expires, ctx.now()));
  json j = t.json;
  j["token"] = t.secret;
  return with_etag(Response::json(201, j), j);
}

Result<Response> tokens_list(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{.owner_id = ctx.who().user_id}));
  auto page = TRY(ctx.page());
  auto items = TRY(list_tokens(ctx.t(), ctx.who().user_id, page.after, page.limit));
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> token_show(Context& ctx) {
  auto t = TRY(get_token_json(ctx.t(), ctx.param("id")));
  if (!t) return not_found("token");
  TRY_STATUS(ctx.authorize(Target{.owner_id = (*t)["user_id"].get<std::string>()}));
  return with_etag(Response::json(200, *t), *t);
}

Result<Response> token_delete(Context& ctx) {
  auto t = TRY(get_token_json(ctx.t(), ctx.param("id")));
  if (!t) return not_found("token");
  TRY_STATUS(ctx.authorize(Target{.owner_id = (*t)["user_id"].get<std::string>()}));
  TRY_STATUS(ctx.check_if_match((*t)["etag"].get<std::string>()));
  TRY_STATUS(revoke_token(ctx.t(), ctx.actor(), ctx.param("id"), ctx.now()));
  return Response::no_content();
}

}  // namespace
}  // namespace detail

void set_session_cookies(http::Response& r, const NewSession& ns, const AuthSettings& s, bool tls) {
  r.header("Set-Cookie", detail::cookie(kSessionCookie, ns.secret, s.session_ttl_ms, true, tls));
  r.header("Set-Cookie", detail::cookie(kCsrfCookie, ns.csrf, s.session_ttl_ms, false, tls));
}

Result<NewSession> open_session(db::Tx& tx, const Actor& actor, const User& u, const http::Request& req,
                                const AuthSettings& s, Millis now) {
  TRY_STATUS(record_login_success(tx, u, http::address_key(actor.client_ip)));
  return create_session(tx, actor, u, std::string(req.header("user-agent").value_or("")), s, now);
}

http::Response session_answer(const AuthSettings& s, const http::Request& req, const User& u, const NewSession& ns,
                              nlohmann::json extra) {
  nlohmann::json j = {{"user", u.json()},
                      {"session_id", ns.id},
                      {"csrf_token", ns.csrf},
                      {"expires_at", format_rfc3339(ns.expires)}};
  if (extra.is_object()) j.update(extra);
  http::Response r = http::Response::json(200, j);
  set_session_cookies(r, ns, s, req.tls);
  return r;
}

void add_auth_routes(http::Api& api, RouteDeps deps) {
  using namespace detail;
  const AuthSettings& settings = deps.settings;
  LoginLimiter& limiter = deps.limiter;

  api.add({"POST", "/api/v1/auth/login", Access::open(),
           {"Sign in with username and password; sets the session and CSRF cookies",
            "auth",
            {{"type", "object"},
             {"required", {"username", "password"}},
             {"properties", {{"username", {{"type", "string"}}}, {"password", {{"type", "string"}}}}}},
            kObj},
           std::bind_front(login, std::cref(settings), std::ref(limiter), deps.second_factor),
           http::TxMode::kNone});

  api.add(before_password_change(
      {"POST", "/api/v1/auth/logout", Access::signed_in(),
       {"End this browser session; `everywhere: true` ends all of my sessions (tokens stay). A session "
        "from an identity provider that offers sign-out answers 200 {logout_url}: go there next",
        "auth",
        {{"type", "object"}, {"properties", {{"everywhere", {{"type", "boolean"}}}}}},
        nullptr,
        204},
       std::bind_front(logout, deps.provider_logout_url)}));

  api.add(before_password_change({"GET", "/api/v1/auth/session", Access::signed_in(),
                                  {"The caller's identity and how it authenticated", "auth", nullptr, kObj},
                                  session_show}));

  api.add({"GET", "/api/v1/auth/sessions", Access::require("sessions", "read"),
           {"List my active sessions", "auth", nullptr, list_schema(), 200, {"limit", "after"}},
           sessions_list});

  api.add({"DELETE", "/api/v1/auth/sessions/{id}", Access::require("sessions", "delete"),
           {"Revoke a session", "auth", nullptr, nullptr, 204},
           session_delete});

  api.add(before_password_change(
      {"POST", "/api/v1/auth/password", Access::require("users", "write"),
       {"Change my password; my other sessions end (and a server-generated password's hold lifts)",
        "auth",
        {{"type", "object"},
         {"required", {"current_password", "new_password"}},
         {"properties", {{"current_password", {{"type", "string"}}}, {"new_password", {{"type", "string"}}}}}},
        nullptr,
        204},
       password_change,
       http::TxMode::kNone}));

  api.add(before_password_change({"GET", "/api/v1/me", Access::signed_in(),
                                  {"Who am I: user, orgs with roles, groups", "auth", nullptr, kObj},
                                  me_show}));

  // ---- tokens
  api.add({"POST", "/api/v1/tokens", Access::require("tokens", "create"),
           {"Create an API token (the secret is shown once)",
            "tokens",
            {{"type", "object"},
             {"required", {"name"}},
             {"properties",
              {{"name", {{"type", "string"}}},
               {"scopes", {{"type", "array"}, {"items", {{"type", "string"}}}}},
               {"expires_in_days", {{"type", "integer"}}}}}},
            kObj,
            201,
            {},
            true,
            {"token"}},
           token_create});

  api.add({"GET", "/api/v1/tokens", Access::require("tokens", "read"),
           {"List my API tokens", "tokens", nullptr, list_schema(), 200, {"limit", "after"}},
           tokens_list});

  api.add({"GET", "/api/v1/tokens/{id}", Access::require("tokens", "read"),
           {"Show an API token", "tokens", nullptr, kObj},
           token_show});

  api.add({"DELETE", "/api/v1/tokens/{id}", Access::require("tokens", "delete"),
           {"Revoke an API token", "tokens", nullptr, nullptr, 204},
           token_delete});
  add_user_routes(api, deps);
  add_account_routes(api, deps);
}

}  // namespace atrium::identity
