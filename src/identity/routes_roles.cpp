#include "core/crypto.hpp"
#include "core/text.hpp"
#include "http/forwarded.hpp"
#include "identity/policy.hpp"
#include "identity/routes_detail.hpp"

namespace atrium::identity::detail {
namespace {

Result<Role> role_of(Context& ctx) {
  auto r = TRY(get_role(ctx.t(), ctx.param("id")));
  if (!r || r->builtin) {
    // Built-in roles are listed per org; by id they are readable by anyone signed in.
    if (r && ctx.route.access.perm.verb == "read") {
      ctx.filtered();
      return *r;
    }
    if (r) {
      ctx.filtered();
      return fail(ErrorCode::kFailedPrecondition, "builtin-role", "built-in roles cannot be changed");
    }
    return not_found("role");
  }
  TRY_STATUS(ctx.authorize(Target{.org_id = r->org_id}));
  return *r;
}

// ---- handlers, one per endpoint

Result<Response> roles_list(Context& ctx) {
  auto o = TRY(org_of(ctx));
  json items = json::array();
  for (auto& r : TRY(list_roles(ctx.t(), o.id))) items.push_back(r.json());
  return Response::json(200, http::page_json(items, std::nullopt));
}

Result<Response> role_create(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name", "description", "permissions"}));
  auto name = TRY(slug_field(b, "name"));
  auto desc = TRY(name_field(b, "description", false));
  auto perms = TRY(b.opt_str_list("permissions", 100, 100));
  if (!perms)
    return fail(Error(ErrorCode::kInvalidArgument, "missing-field", "field 'permissions' is required")
                    .with("field", "permissions"));
  TRY_STATUS(check_role_permissions(*perms));  // a malformed or too wide permission is a 400 first
  TRY_STATUS(may_grant(ctx, o.id, *perms));
  auto r = TRY(create_role(ctx.t(), ctx.actor(), o.id, name, desc, *perms, ctx.now()));
  return with_etag(Response::json(201, r.json()), r.json());
}

Result<Response> role_show(Context& ctx) {
  auto r = TRY(role_of(ctx));
  return with_etag(Response::json(200, r.json()), r.json());
}

Result<Response> role_update(Context& ctx) {
  auto r = TRY(role_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"description", "permissions"}));
  auto desc = TRY(b.opt_str("description", 200));
  if (desc) TRY_STATUS(check_display_text("description", *desc, 200, true));
  auto perms = TRY(b.opt_str_list("permissions", 100, 100));
  if (perms) {
    TRY_STATUS(check_role_permissions(*perms));
    TRY_STATUS(may_grant(ctx, r.org_id, *perms));
    // Nor change a role above you: stripping its grants would demote its holders (as members).
    TRY_STATUS(may_grant(ctx, r.org_id, r.permissions));
  }
  TRY_STATUS(ctx.check_if_match(r.json()["etag"].get<std::string>()));
  auto n = TRY(update_role(ctx.t(), ctx.actor(), r, desc, perms, ctx.now()));
  return with_etag(Response::json(200, n.json()), n.json());
}

Result<Response> role_delete(Context& ctx) {
  auto r = TRY(role_of(ctx));
  TRY_STATUS(ctx.check_if_match(r.json()["etag"].get<std::string>()));
  TRY_STATUS(delete_role(ctx.t(), ctx.actor(), r, ctx.now()));
  return Response::no_content();
}

Result<Response> invitations_list(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto page = TRY(ctx.page());
  return paged(TRY(list_invitations(ctx.t(), o.id, page.after, page.limit, ctx.now())), page.limit, "id");
}

// Mails the invitation's link to its address in the request's transaction (when mail is on).
Result<bool> mail_invitation(const Mailer& mailer, Context& ctx, const Org& o, const json& inv, const std::string& url) {
  std::string email = inv.value("email", "");
  if (email.empty() || !mailer.on()) return false;
  auto queued = mailer.enqueue(ctx.t(),
                               {email,
                                "invitation",
                                "",
                                {{"org_name", o.name}, {"org_slug", o.slug}, {"role", inv.value("role", "")},
                                 {"link", url}, {"inviter", ctx.who().username},
                                 {"expiry", inv.value("expires_at", "")}},
                                "invitation:" + inv.value("id", "")},
                               ctx.now());
  if (!queued && queued.error().code == ErrorCode::kInvalidArgument)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-email", "this email address cannot receive mail")
                    .with("field", "email"));
  if (!queued) return std::unexpected(queued.error());
  return true;
}

Result<Response> invitation_create(const AuthSettings& settings, const Mailer& mailer, Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"role", "email", "expires_in_hours"}));
  auto role_id = TRY(resolve_role(ctx.t(), o.id, TRY(b.str("role", 100))));
  TRY_STATUS(may_grant_role(ctx, o.id, role_id));
  auto email = TRY(b.opt_str("email", 254)).value_or("");
  TRY_STATUS(check_display_text("email", email, 254, true));
  auto hours = TRY(b.opt_integer("expires_in_hours", 1, settings.invite_ttl_max_ms / 3600000)).value_or(72);
  auto inv = TRY(create_invitation(ctx.t(), ctx.actor(), settings.secret, o.id, role_id, email,
                                   ctx.now() + hours * 3600 * 1000, ctx.now()));
  json j = inv.json;
  j["token"] = inv.token;
  // The main origin resolved at startup, never the request's Host (which a client chooses).
  std::string base = settings.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  j["url"] = base + "/invite#" + inv.token;
  j["mailed"] = TRY(mail_invitation(mailer, ctx, o, inv.json, j["url"].get<std::string>()));
  return with_etag(Response::json(201, j), j);
}

Result<Response> invitation_revoke(Context& ctx) {
  auto inv = TRY(get_invitation(ctx.t(), ctx.param("id"), ctx.now()));
  if (!inv) return not_found("invitation");
  std::string org = (*inv)["org_id"].get<std::string>();
  TRY_STATUS(ctx.authorize(Target{.org_id = org}));
  TRY_STATUS(ctx.check_if_match((*inv)["etag"].get<std::string>()));
  TRY_STATUS(revoke_invitation(ctx.t(), ctx.actor(), ctx.param("id"), org, ctx.now()));
  return Response::no_content();
}

Result<Response> invitation_accept(const AuthSettings& settings, LoginLimiter& limiter, Context& ctx) {
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"token", "username", "password", "email", "display_name"}));
  auto token = TRY(b.str("token", 256));
  // The body's shape first (fields present, of their types; it reveals nothing)...
  auto username = TRY(slug_field(b, "username"));
  auto password = TRY(b.str("password", 1024));
  auto email = TRY(b.opt_str("email", 254)).value_or("");
  auto display = TRY(b.opt_str("display_name", 200)).value_or("");
  // ...then throttled like sign-in (its own buckets per client address), and the token is
  // checked before anything costly or revealing: no password hash, no username lookup.
  if (auto wait = limiter.check_ip("invite:" + http::address_key(ctx.req.remote_ip), ctx.now()))
    return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                      "too many invitation attempts from your address; wait " + std::to_string(wait) + " s")
                    .with("retry_after_s", wait));
  (void)TRY(ctx.db().read([&](db::Tx& tx) { return check_invitation(tx, settings.secret, token, ctx.now()); }));
  // ...and what the values are worth only for a good invitation: no answer about a
  // password or a name before that.
  TRY_STATUS(check_password(username, password));
  TRY_STATUS(check_display_text("email", email, 254, true));
  TRY_STATUS(check_display_text("display_name", display, 200, true));
  std::string hash = crypto::hash_password(password);
  Actor actor = ctx.actor();
  auto out = TRY(ctx.db().write([&](db::Tx& tx) -> Result<json> {
    auto u = TRY(create_user(tx, actor, username, hash, email, display, ctx.now()));
    auto [org_id, role_id] = TRY(consume_invitation(tx, settings.secret, token, u.id, ctx.now()));
    Actor as_new = actor;
    as_new.user_id = u.id;
    as_new.username = u.username;
    TRY_STATUS(add_org_member(tx, as_new, org_id, u.id, role_id, ctx.now()));
    auto o = TRY(get_org(tx, org_id));
    return json{{"user", u.json()}, {"org", o.json()}};
  }));
  return Response::json(201, out);
}

}  // namespace

void add_role_routes(http::Api& api) {
  // ---------------------------------------------------------------- roles
  api.add({"GET", "/api/v1/orgs/{org}/roles", Access::require("roles", "read"),
           {"List built-in and custom roles of an organisation", "roles", nullptr, list_schema()},
           roles_list});

  api.add({"POST", "/api/v1/orgs/{org}/roles", Access::require("roles", "create"),
           {"Create a custom role",
            "roles",
            {{"type", "object"},
             {"required", {"name", "permissions"}},
             {"properties",
              {{"name", {{"type", "string"}}},
               {"description", {{"type", "string"}}},
               {"permissions", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}},
            kObj,
            201,
            {},
            true},
           role_create});

  api.add({"GET", "/api/v1/roles/{id}", Access::require("roles", "read"),
           {"Show a role", "roles", nullptr, kObj},
           role_show});

  api.add({"PATCH", "/api/v1/roles/{id}", Access::require("roles", "write"),
           {"Change a custom role",
            "roles",
            {{"type", "object"},
             {"properties",
              {{"description", {{"type", "string"}}},
               {"permissions", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}},
            kObj},
           role_update});

  api.add({"DELETE", "/api/v1/roles/{id}", Access::require("roles", "delete"),
           {"Delete a custom role that nobody holds", "roles", nullptr, nullptr, 204},
           role_delete});
}

void add_invitation_routes(http::Api& api, const RouteDeps& deps) {
  // ---------------------------------------------------------------- invitations
  api.add({"GET", "/api/v1/orgs/{org}/invitations", Access::require("invitations", "read"),
           {"List an organisation's invitations", "invitations", nullptr, list_schema(), 200, {"limit", "after"}},
           invitations_list});

  api.add({"POST", "/api/v1/orgs/{org}/invitations", Access::require("invitations", "create"),
           {"Create a one-time invitation link (the token is shown once)",
            "invitations",
            {{"type", "object"},
             {"required", {"role"}},
             {"properties",
              {{"role", {{"type", "string"}}},
               {"email", {{"type", "string"}}},
               {"expires_in_hours", {{"type", "integer"}}}}}},
            kObj,
            201,
            {},
            true,
            {"token", "url"}},
           std::bind_front(invitation_create, std::cref(deps.settings), deps.mailer)});

  api.add({"DELETE", "/api/v1/invitations/{id}", Access::require("invitations", "delete"),
           {"Revoke an invitation", "invitations", nullptr, nullptr, 204},
           invitation_revoke});

  api.add({"POST", "/api/v1/invitations/accept", Access::open(),
           {"Register a new account with an invitation",
            "invitations",
            {{"type", "object"},
             {"required", {"token", "username", "password"}},
             {"properties",
              {{"token", {{"type", "string"}}},
               {"username", {{"type", "string"}}},
               {"password", {{"type", "string"}}},
               {"email", {{"type", "string"}}},
               {"display_name", {{"type", "string"}}}}}},
            kObj,
            201},
           std::bind_front(invitation_accept, std::cref(deps.settings), std::ref(deps.limiter)),
           http::TxMode::kNone});
}

}  // namespace atrium::identity::detail
