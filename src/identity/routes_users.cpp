// User routes: the directory (create, list, show, update) and the administration of an account
// by an instance admin (reset link, sessions and tokens, delete). See docs/auth.md.
#include <functional>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "identity/account.hpp"
#include "identity/routes_detail.hpp"

namespace atrium::identity {
namespace detail {
namespace {

Result<Response> user_create(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{}));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"username", "password", "email", "display_name"}));
  auto username = TRY(body.str("username", 64));
  if (!is_valid_slug(username))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "username must be 1-64 of a-z 0-9 - _ . starting with a letter or digit")
                    .with("field", "username"));
  auto password = TRY(body.str("password", 1024));
  TRY_STATUS(check_password(username, password));
  auto email = TRY(body.opt_str("email", 254)).value_or("");
  auto display = TRY(body.opt_str("display_name", 200)).value_or("");
  TRY_STATUS(check_display_text("email", email, 254, true));
  TRY_STATUS(check_display_text("display_name", display, 200, true));
  std::string hash = crypto::hash_password(password);
  auto u = TRY(ctx.db().write(
      [&](db::Tx& tx) { return create_user(tx, ctx.actor(), username, hash, email, display, ctx.now()); }));
  return with_etag(Response::json(201, u.json()), u.json());
}

Result<Response> users_list(Context& ctx) {
  ctx.filtered();
  auto page = TRY(ctx.page());
  bool all = ctx.who().is_instance_admin() && ctx.allowed({"users", "read"}, Target{});
  std::vector<std::string> orgs;
  for (auto& b : ctx.who().bindings)
    if (!b.org_id.empty() && ctx.allowed({"users", "read"}, Target{.org_id = b.org_id})) orgs.push_back(b.org_id);
  std::string q(ctx.req.query_param("q").value_or(""));
  if (q.size() > 200)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "q must be at most 200 characters").with("field", "q"));
  auto items = TRY(list_users(ctx.t(), all, orgs, ctx.who().user_id, q, page.after, page.limit));
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> user_show(Context& ctx) {
  auto u = TRY(find_user(ctx.t(), ctx.param("id")));
  if (!u || u->deleted) return not_found("user");
  auto orgs = TRY(user_org_ids(ctx.t(), u->id));
  TRY_STATUS(ctx.authorize(user_target(ctx.who(), u->id, orgs)));
  return with_etag(Response::json(200, u->json()), u->json());
}

Result<Response> user_update(const EndUserWork& end_work, Context& ctx) {
  auto u = TRY(find_user(ctx.t(), ctx.param("id")));
  if (!u || u->deleted) return not_found("user");
  auto orgs = TRY(user_org_ids(ctx.t(), u->id));
  TRY_STATUS(ctx.authorize(user_target(ctx.who(), u->id, orgs)));  // strangers get 404 before any 4xx
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"display_name", "email", "disabled"}));
  auto display = TRY(body.opt_str("display_name", 200));
  auto email = TRY(body.opt_str("email", 254));
  auto disabled = TRY(body.opt_bool("disabled"));
  if (display) TRY_STATUS(check_display_text("display_name", *display, 200, true));
  if (email) TRY_STATUS(check_display_text("email", *email, 254, true));
  if (disabled) {
    TRY_STATUS(ctx.authorize({"users", "admin"}, Target{}));
    if (u->id == ctx.who().user_id && *disabled)
      return fail(ErrorCode::kFailedPrecondition, "self-disable", "you cannot disable your own account");
  }
  TRY_STATUS(ctx.check_if_match(u->json()["etag"].get<std::string>()));
  auto n = TRY(update_user(ctx.t(), ctx.actor(), *u, display, email, disabled, ctx.now()));
  // Disabled: sessions and tokens ended in update_user; the account's jobs and environments stop too.
  if (n.disabled && !u->disabled && end_work) TRY_STATUS(end_work(ctx.t(), ctx.actor(), u->id, ctx.now()));
  return with_etag(Response::json(200, n.json()), n.json());
}

void add_user_crud_routes(http::Api& api, const RouteDeps& deps) {
  // ---- users
  api.add({"POST", "/api/v1/users", Access::require("users", "create"),
           {"Create a user (instance admin)",
            "users",
            {{"type", "object"},
             {"required", {"username", "password"}},
             {"properties",
              {{"username", {{"type", "string"}}},
               {"password", {{"type", "string"}}},
               {"email", {{"type", "string"}}},
               {"display_name", {{"type", "string"}}}}}},
            kObj,
            201,
            {},
            false},
           user_create,
           http::TxMode::kNone});

  api.add({"GET", "/api/v1/users", Access::require("users", "read"),
           {"List users who share an organisation with me (admins: all); `q` searches username, name and email",
            "users",
            nullptr,
            list_schema(),
            200,
            {"q", "limit", "after"}},
           users_list});

  api.add({"GET", "/api/v1/users/{id}", Access::require("users", "read"),
           {"Show a user", "users", nullptr, kObj},
           user_show});

  api.add({"PATCH", "/api/v1/users/{id}", Access::require("users", "write"),
           {"Update a user's profile; `disabled` needs the instance admin",
            "users",
            {{"type", "object"},
             {"properties",
              {{"display_name", {{"type", "string"}}},
               {"email", {{"type", "string"}}},
               {"disabled", {{"type", "boolean"}}}}}},
            kObj},
           std::bind_front(user_update, deps.end_user_work)});
}


// The user the path names, for an instance admin's action: 404 for a user the caller may not see
// (or a deleted one), 403 for one they see but may not administer.
Result<User> administered_user(Context& ctx) {
  auto u = TRY(find_user(ctx.t(), ctx.param("id")));
  if (!u || u->deleted) return not_found("user");
  auto orgs = TRY(user_org_ids(ctx.t(), u->id));
  TRY_STATUS(ctx.authorize({"users", "read"}, user_target(ctx.who(), u->id, orgs)));
  TRY_STATUS(ctx.authorize({"users", "admin"}, Target{}));
  return *u;
}

Result<Response> admin_reset_link(const AuthSettings& auth, const AccountSettings& account, const Mailer& mailer,
                                  Context& ctx) {
  auto u = TRY(administered_user(ctx));
  if (!u.has_password())
    return fail(ErrorCode::kFailedPrecondition, "no-password",
                "this account signs in through single sign-on only: it has no password to reset");
  if (u.disabled) return fail(ErrorCode::kFailedPrecondition, "user-disabled", "enable the account first");
  auto link = TRY(issue_link(ctx.t(), ctx.actor(), u, LinkPurpose::kPasswordReset, account.reset_ttl_ms, ctx.now()));
  std::string url = link_url(auth.public_url, "/reset-password", link.token);
  bool mailed = false;
  if (mailer.on() && !u.email.empty()) {
    auto queued = mailer.enqueue(ctx.t(),
                                 {u.email,
                                  "admin_password_reset",
                                  "",
                                  {{"username", u.username}, {"link", url}, {"expiry", format_rfc3339(link.expires)}},
                                  "password_reset:" + link.id},
                                 ctx.now());
    if (!queued && queued.error().code != ErrorCode::kInvalidArgument) return std::unexpected(queued.error());
    mailed = queued.has_value();
  }
  // The link is shown once (for when it is not mailed); the user's sessions end when it is used.
  return Response::json(201, {{"user_id", u.id},
                              {"link_id", link.id},
                              {"url", url},
                              {"token", link.token},
                              {"expires_at", format_rfc3339(link.expires)},
                              {"mailed", mailed}});
}

Result<Response> user_sessions(Context& ctx) {
  auto u = TRY(administered_user(ctx));
  auto page = TRY(ctx.page());
  auto items = TRY(list_sessions(ctx.t(), u.id, ctx.who().session_id, page.after, page.limit, ctx.now()));
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> user_sessions_end(Context& ctx) {
  auto u = TRY(administered_user(ctx));
  TRY_STATUS(revoke_all_sessions(ctx.t(), ctx.actor(), u.id, ctx.now()));
  return Response::no_content();
}

Result<Response> user_tokens(Context& ctx) {
  auto u = TRY(administered_user(ctx));
  auto page = TRY(ctx.page());
  return http::paged(TRY(list_tokens(ctx.t(), u.id, page.after, page.limit)), page.limit, "id");
}

Result<Response> user_orgs(Context& ctx) {
  auto u = TRY(administered_user(ctx));
  return Response::json(200, {{"items", TRY(user_orgs_json(ctx.t(), u.id))}, {"next", nullptr}});
}

Result<Response> user_delete(const EndUserWork& end_work, const EndUserWork& forget, Context& ctx) {
  auto u = TRY(administered_user(ctx));
  if (u.id == ctx.who().user_id)
    return fail(ErrorCode::kFailedPrecondition, "self-delete", "you cannot delete your own account");
  TRY_STATUS(ctx.check_if_match(u.json()["etag"].get<std::string>()));
  if (end_work) TRY_STATUS(end_work(ctx.t(), ctx.actor(), u.id, ctx.now()));
  if (forget) TRY_STATUS(forget(ctx.t(), ctx.actor(), u.id, ctx.now()));
  TRY_STATUS(delete_user(ctx.t(), ctx.actor(), u, ctx.now()));
  return Response::no_content();
}

void add_user_admin_routes(http::Api& api, const RouteDeps& deps) {
  api.add({"POST", "/api/v1/users/{id}/password-reset", Access::require("users", "admin"),
           {"Make a one-time password-reset link for a user (instance admin; shown once, mailed when mail is on)",
            "users", nullptr, kObj, 201, {}, false, {"url", "token"}},
           std::bind_front(admin_reset_link, std::cref(deps.settings), deps.account, deps.mailer)});
  api.add({"GET", "/api/v1/users/{id}/sessions", Access::require("users", "admin"),
           {"A user's live sessions (instance admin)", "users", nullptr, list_schema(), 200, {"limit", "after"}},
           user_sessions});
  api.add({"DELETE", "/api/v1/users/{id}/sessions", Access::require("users", "admin"),
           {"End every session of a user (instance admin; tokens stay)", "users", nullptr, nullptr, 204},
           user_sessions_end});
  api.add({"GET", "/api/v1/users/{id}/tokens", Access::require("users", "admin"),
           {"A user's API tokens, never their secrets (instance admin)", "users", nullptr, list_schema(), 200,
            {"limit", "after"}},
           user_tokens});
  api.add({"GET", "/api/v1/users/{id}/orgs", Access::require("users", "admin"),
           {"A user's organisations and their role in each (instance admin)", "users", nullptr, list_schema()},
           user_orgs});
  api.add({"DELETE", "/api/v1/users/{id}", Access::require("users", "admin"),
           {"Delete a user (instance admin; If-Match): access ends, work stops, the account is tombstoned",
            "users", nullptr, nullptr, 204},
           std::bind_front(user_delete, deps.end_user_work, deps.forget_user)});
}

}  // namespace

void add_user_routes(http::Api& api, const RouteDeps& deps) {
  add_user_crud_routes(api, deps);
  add_user_admin_routes(api, deps);
}

}  // namespace detail
}  // namespace atrium::identity
