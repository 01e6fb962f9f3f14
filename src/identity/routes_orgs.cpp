#include <set>

#include "http/forwarded.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"
#include "identity/policy.hpp"
#include "identity/routes.hpp"

namespace atrium::identity {
namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

const json& kObj = http::object_schema();
using http::list_schema;
using http::paged;
using http::with_etag;
const http::Permission kOrgRead{"orgs", "read"};
json obj(std::initializer_list<std::pair<const char*, const char*>> props, std::vector<std::string> required = {}) {
  json p = json::object();
  for (auto& [k, t] : props) p[k] = {{"type", t}};
  json j = {{"type", "object"}, {"properties", p}};
  if (!required.empty()) j["required"] = required;
  return j;
}



Result<std::string> slug_field(const http::JsonBody& b, const char* key) {
  auto s = TRY(b.str(key, 64));
  if (!is_valid_slug(s))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      std::string(key) + " must be 1-64 of a-z 0-9 - _ . starting with a letter or digit")
                    .with("field", key));
  return s;
}

Result<std::string> name_field(const http::JsonBody& b, const char* key, bool required) {
  auto v = TRY(b.opt_str(key, 200));
  if (!v) {
    if (required) return fail(Error(ErrorCode::kInvalidArgument, "missing-field", std::string("field '") + key + "' is required").with("field", key));
    return std::string();
  }
  TRY_STATUS(check_display_text(key, *v, 200, !required));
  return *v;
}

// Loads the org named in the path and checks the route's permission on it (404 for strangers).
Result<Org> org_of(Context& ctx, const http::Permission* perm = nullptr) {
  auto org = get_org(ctx.t(), ctx.param("org"));
  if (!org) {
    ctx.filtered();
    return std::unexpected(org.error());
  }
  TRY_STATUS(perm ? ctx.authorize(*perm, Target{.org_id = org->id}) : ctx.authorize(Target{.org_id = org->id}));
  return *org;
}

// A user named by id or username in a body ("user_id" or "username").
Result<User> user_from_body(db::Tx& tx, const http::JsonBody& b) {
  auto ref = TRY(user_ref(b));
  auto u = TRY(find_user(tx, ref.name));
  if (!u)
    return fail(Error(ErrorCode::kInvalidArgument, "unknown-user", "no such user: " + ref.name).with("field", ref.field));
  return *u;
}

Result<Group> group_of(Context& ctx, const char* verb = nullptr) {
  auto g = TRY(get_group(ctx.t(), ctx.param("id")));
  if (!g) return not_found("group");
  Target t{.org_id = g->org_id, .group_id = g->id};
  TRY_STATUS(verb ? ctx.authorize({"groups", verb}, t) : ctx.authorize(t));
  return *g;
}

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

// Nobody hands out, through a role, a permission they do not hold (nor, with a token, one
// outside the token's scopes).
Status may_grant(Context& ctx, const std::string& org_id, const std::vector<std::string>& perms) {
  for (const auto& p : perms) {
    auto g = TRY(parse_grant(p, true));
    bool ok = holds_all(ctx.who(), org_id, {g});
    if (ok && ctx.who().via_token()) {
      bool scoped = false;
      for (const auto& s : ctx.who().token_scopes) scoped = scoped || grant_covers(s, g);
      ok = scoped;
    }
    if (!ok)
      return fail(Error(ErrorCode::kPermissionDenied, "cannot-grant",
                        "you cannot grant '" + p + "': you do not hold it yourself")
                      .with("permission", p));
  }
  return {};
}

Result<std::vector<std::string>> role_permissions(db::Tx& tx, const std::string& role_id) {
  if (const auto* b = find_builtin(role_id)) return b->permissions;
  auto r = TRY(get_role(tx, role_id));
  if (!r) return not_found("role");
  return r->permissions;
}

Status may_grant_role(Context& ctx, const std::string& org_id, const std::string& role_id) {
  return may_grant(ctx, org_id, TRY(role_permissions(ctx.t(), role_id)));
}

Result<std::optional<std::int64_t>> opt_limit(const http::JsonBody& b, const char* key) {
  return b.opt_integer(key, 0, std::numeric_limits<std::int64_t>::max() / 2);
}

}  // namespace

Result<UserRef> user_ref(const http::JsonBody& b) {
  auto id = TRY(b.opt_str("user_id", 64));
  auto name = TRY(b.opt_str("username", 64));
  if (!id && !name)
    return fail(Error(ErrorCode::kInvalidArgument, "missing-field", "give user_id or username").with("field", "user_id"));
  return id ? UserRef{*id, "user_id"} : UserRef{*name, "username"};
}

void add_org_routes(http::Api& api, RouteDeps deps) {
  // ---------------------------------------------------------------- orgs
  api.add({"POST", "/api/v1/orgs", Access::require("orgs", "create"),
           {"Create an organisation (instance admin)", "orgs", obj({{"slug", "string"}, {"name", "string"}}, {"slug", "name"}),
            kObj, 201, {}, true},
           [](Context& ctx) -> Result<Response> {
             TRY_STATUS(ctx.authorize(Target{}));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"slug", "name"}));
             auto slug = TRY(slug_field(b, "slug"));
             // An org's slug is the first segment of its git URLs (/{org}/{project}.git), beside the
             // server's own top-level paths: those names stay the server's.
             static const std::set<std::string, std::less<>> kReserved = {
                 "api", "dl", "env", "envs", "git", "healthz", "readyz", "metrics", "static", "assets",
                 "login", "logout", "auth", "oauth", "ui", "app", "admin", "docs", "favicon.ico", "robots.txt"};
             if (kReserved.contains(slug))
               return fail(Error(ErrorCode::kInvalidArgument, "reserved-slug",
                                 "'" + slug + "' is reserved for the server's own paths; choose another slug")
                               .with("field", "slug"));
             auto name = TRY(name_field(b, "name", true));
             auto o = TRY(create_org(ctx.t(), ctx.actor(), slug, name, ctx.now()));
             return with_etag(Response::json(201, o.json()), o.json());
           }});

  api.add({"GET", "/api/v1/orgs", Access::require("orgs", "read"),
           {"List my organisations (admins: all)", "orgs", nullptr, list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             ctx.filtered();
             auto page = TRY(ctx.page());
             bool all = ctx.who().is_instance_admin() && ctx.allowed({"orgs", "read"}, Target{});
             return paged(TRY(list_orgs(ctx.t(), all, ctx.who().user_id, page.after, page.limit)), page.limit, "id");
           }});

  api.add({"GET", "/api/v1/orgs/{org}", Access::require("orgs", "read"), {"Show an organisation", "orgs", nullptr, kObj},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             return with_etag(Response::json(200, o.json()), o.json());
           }});

  api.add({"PATCH", "/api/v1/orgs/{org}", Access::require("orgs", "write"),
           {"Rename an organisation", "orgs", obj({{"name", "string"}}), kObj},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"name"}));
             auto name = TRY(name_field(b, "name", true));
             TRY_STATUS(ctx.check_if_match(o.json()["etag"].get<std::string>()));
             auto n = TRY(update_org(ctx.t(), ctx.actor(), o, name, ctx.now()));
             return with_etag(Response::json(200, n.json()), n.json());
           }});

  api.add({"DELETE", "/api/v1/orgs/{org}", Access::require("orgs", "delete"),
           {"Delete an organisation without projects", "orgs", nullptr, nullptr, 204},
           [deps](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             TRY_STATUS(ctx.check_if_match(o.json()["etag"].get<std::string>()));
             if (deps.org_project_count && TRY(deps.org_project_count(ctx.t(), o.id)) > 0)
               return fail(ErrorCode::kFailedPrecondition, "org-not-empty",
                           "the organisation still has projects; delete or move them first");
             TRY_STATUS(delete_org(ctx.t(), ctx.actor(), o, ctx.now()));
             return Response::no_content();
           }});

  // ---------------------------------------------------------------- members
  api.add({"GET", "/api/v1/orgs/{org}/members", Access::require("members", "read"),
           {"List an organisation's members", "orgs", nullptr, list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto page = TRY(ctx.page());
             return paged(TRY(list_members(ctx.t(), o.id, page.after, page.limit)), page.limit, "user_id");
           }});

  api.add({"POST", "/api/v1/orgs/{org}/members", Access::require("members", "create"),
           {"Add a user to an organisation", "orgs",
            obj({{"user_id", "string"}, {"username", "string"}, {"role", "string"}}, {"role"}), kObj, 201, {}, true},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"user_id", "username", "role"}));
             auto u = TRY(user_from_body(ctx.t(), b));
             auto role_id = TRY(resolve_role(ctx.t(), o.id, TRY(b.str("role", 100))));
             TRY_STATUS(may_grant_role(ctx, o.id, role_id));
             TRY_STATUS(add_org_member(ctx.t(), ctx.actor(), o.id, u.id, role_id, ctx.now()));
             auto m = TRY(get_member(ctx.t(), o.id, u.id));
             return with_etag(Response::json(201, m->json()), m->json());
           }});

  api.add({"PATCH", "/api/v1/orgs/{org}/members/{user}", Access::require("members", "write"),
           {"Change a member's role", "orgs", obj({{"role", "string"}}, {"role"}), kObj},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto u = TRY(find_user(ctx.t(), ctx.param("user")));
             auto m = u ? TRY(get_member(ctx.t(), o.id, u->id)) : std::nullopt;
             if (!m) return not_found("member");
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"role"}));
             auto role_id = TRY(resolve_role(ctx.t(), o.id, TRY(b.str("role", 100))));
             TRY_STATUS(may_grant_role(ctx, o.id, role_id));
             TRY_STATUS(may_grant_role(ctx, o.id, m->role_id));  // nor demote someone above you
             TRY_STATUS(ctx.check_if_match(m->json()["etag"].get<std::string>()));
             TRY_STATUS(set_member_role(ctx.t(), ctx.actor(), o.id, *m, role_id, ctx.now()));
             auto n = TRY(get_member(ctx.t(), o.id, m->user_id));
             return with_etag(Response::json(200, n->json()), n->json());
           }});

  api.add({"DELETE", "/api/v1/orgs/{org}/members/{user}", Access::require("members", "delete"),
           {"Remove a member from an organisation", "orgs", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto u = TRY(find_user(ctx.t(), ctx.param("user")));
             auto m = u ? TRY(get_member(ctx.t(), o.id, u->id)) : std::nullopt;
             if (!m) return not_found("member");
             if (m->user_id != ctx.who().user_id) TRY_STATUS(may_grant_role(ctx, o.id, m->role_id));
             TRY_STATUS(ctx.check_if_match(m->json()["etag"].get<std::string>()));
             TRY_STATUS(remove_member(ctx.t(), ctx.actor(), o.id, *m, ctx.now()));
             return Response::no_content();
           }});

  // ---------------------------------------------------------------- groups
  api.add({"GET", "/api/v1/orgs/{org}/groups", Access::require("groups", "read"),
           {"List an organisation's groups", "groups", nullptr, list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto page = TRY(ctx.page());
             return paged(TRY(list_groups(ctx.t(), o.id, page.after, page.limit)), page.limit, "id");
           }});

  api.add({"POST", "/api/v1/orgs/{org}/groups", Access::require("groups", "create"),
           {"Create a group", "groups", obj({{"slug", "string"}, {"name", "string"}}, {"slug", "name"}), kObj, 201, {}, true},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"slug", "name"}));
             auto slug = TRY(slug_field(b, "slug"));
             auto name = TRY(name_field(b, "name", true));
             auto g = TRY(create_group(ctx.t(), ctx.actor(), o.id, slug, name, ctx.now()));
             return with_etag(Response::json(201, g.json()), g.json());
           }});

  api.add({"GET", "/api/v1/groups/{id}", Access::require("groups", "read"), {"Show a group", "groups", nullptr, kObj},
           [](Context& ctx) -> Result<Response> {
             auto g = TRY(group_of(ctx));
             return with_etag(Response::json(200, g.json()), g.json());
           }});

  api.add({"PATCH", "/api/v1/groups/{id}", Access::require("groups", "write"),
           {"Rename a group", "groups", obj({{"name", "string"}}), kObj},
           [](Context& ctx) -> Result<Response> {
             auto g = TRY(group_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"name"}));
             auto name = TRY(name_field(b, "name", true));
             TRY_STATUS(ctx.check_if_match(g.json()["etag"].get<std::string>()));
             auto n = TRY(update_group(ctx.t(), ctx.actor(), g, name, ctx.now()));
             return with_etag(Response::json(200, n.json()), n.json());
           }});

  api.add({"DELETE", "/api/v1/groups/{id}", Access::require("groups", "delete"),
           {"Delete a group that no project belongs to", "groups", nullptr, nullptr, 204},
           [deps](Context& ctx) -> Result<Response> {
             auto g = TRY(group_of(ctx));
             TRY_STATUS(ctx.check_if_match(g.json()["etag"].get<std::string>()));
             if (deps.group_project_count && TRY(deps.group_project_count(ctx.t(), g.id)) > 0)
               return fail(ErrorCode::kFailedPrecondition, "group-in-use",
                           "projects belong to this group; move them to another group (or none) first");
             TRY_STATUS(delete_group(ctx.t(), ctx.actor(), g, ctx.now()));
             return Response::no_content();
           }});

  api.add({"GET", "/api/v1/groups/{id}/members", Access::require("groups", "read"),
           {"List a group's members", "groups", nullptr, list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto g = TRY(group_of(ctx));
             auto page = TRY(ctx.page());
             return paged(TRY(list_group_members(ctx.t(), g.id, page.after, page.limit)), page.limit, "user_id");
           }});

  api.add({"POST", "/api/v1/groups/{id}/members", Access::require("groups", "write"),
           {"Add an organisation member to a group", "groups", obj({{"user_id", "string"}, {"username", "string"}}), kObj, 201,
            {}, true},
           [](Context& ctx) -> Result<Response> {
             auto g = TRY(group_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"user_id", "username"}));
             auto u = TRY(user_from_body(ctx.t(), b));
             TRY_STATUS(add_group_member(ctx.t(), ctx.actor(), g, u.id, ctx.now()));
             json j = {{"user_id", u.id}, {"username", u.username}, {"etag", "\"v1\""}};
             return with_etag(Response::json(201, j), j);
           }});

  api.add({"DELETE", "/api/v1/groups/{id}/members/{user}", Access::require("groups", "write"),
           {"Remove a member from a group", "groups", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto g = TRY(group_of(ctx));
             auto u = TRY(find_user(ctx.t(), ctx.param("user")));
             auto v = u ? TRY(group_member_version(ctx.t(), g.id, u->id)) : std::nullopt;
             if (!v) return not_found("group member");
             TRY_STATUS(ctx.check_if_match(http::etag_of(*v)));
             TRY_STATUS(remove_group_member(ctx.t(), ctx.actor(), g, u->id, ctx.now()));
             return Response::no_content();
           }});

  // ---------------------------------------------------------------- roles
  api.add({"GET", "/api/v1/orgs/{org}/roles", Access::require("roles", "read"),
           {"List built-in and custom roles of an organisation", "roles", nullptr, list_schema()},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             json items = json::array();
             for (auto& r : TRY(list_roles(ctx.t(), o.id))) items.push_back(r.json());
             return Response::json(200, http::page_json(items, std::nullopt));
           }});

  api.add({"POST", "/api/v1/orgs/{org}/roles", Access::require("roles", "create"),
           {"Create a custom role", "roles",
            {{"type", "object"}, {"required", {"name", "permissions"}},
             {"properties", {{"name", {{"type", "string"}}}, {"description", {{"type", "string"}}},
                             {"permissions", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}},
            kObj, 201, {}, true},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"name", "description", "permissions"}));
             auto name = TRY(slug_field(b, "name"));
             auto desc = TRY(name_field(b, "description", false));
             auto perms = TRY(b.opt_str_list("permissions", 100, 100));
             if (!perms) return fail(Error(ErrorCode::kInvalidArgument, "missing-field", "field 'permissions' is required").with("field", "permissions"));
             TRY_STATUS(check_role_permissions(*perms));  // a malformed or too wide permission is a 400 first
             TRY_STATUS(may_grant(ctx, o.id, *perms));
             auto r = TRY(create_role(ctx.t(), ctx.actor(), o.id, name, desc, *perms, ctx.now()));
             return with_etag(Response::json(201, r.json()), r.json());
           }});

  api.add({"GET", "/api/v1/roles/{id}", Access::require("roles", "read"), {"Show a role", "roles", nullptr, kObj},
           [](Context& ctx) -> Result<Response> {
             auto r = TRY(role_of(ctx));
             return with_etag(Response::json(200, r.json()), r.json());
           }});

  api.add({"PATCH", "/api/v1/roles/{id}", Access::require("roles", "write"),
           {"Change a custom role", "roles",
            {{"type", "object"},
             {"properties", {{"description", {{"type", "string"}}},
                             {"permissions", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}},
            kObj},
           [](Context& ctx) -> Result<Response> {
             auto r = TRY(role_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"description", "permissions"}));
             auto desc = TRY(b.opt_str("description", 200));
             if (desc) TRY_STATUS(check_display_text("description", *desc, 200, true));
             auto perms = TRY(b.opt_str_list("permissions", 100, 100));
             if (perms) {
               TRY_STATUS(check_role_permissions(*perms));
               TRY_STATUS(may_grant(ctx, r.org_id, *perms));
             }
             TRY_STATUS(ctx.check_if_match(r.json()["etag"].get<std::string>()));
             auto n = TRY(update_role(ctx.t(), ctx.actor(), r, desc, perms, ctx.now()));
             return with_etag(Response::json(200, n.json()), n.json());
           }});

  api.add({"DELETE", "/api/v1/roles/{id}", Access::require("roles", "delete"),
           {"Delete a custom role that nobody holds", "roles", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto r = TRY(role_of(ctx));
             TRY_STATUS(ctx.check_if_match(r.json()["etag"].get<std::string>()));
             TRY_STATUS(delete_role(ctx.t(), ctx.actor(), r, ctx.now()));
             return Response::no_content();
           }});

  // ---------------------------------------------------------------- invitations
  api.add({"GET", "/api/v1/orgs/{org}/invitations", Access::require("invitations", "read"),
           {"List an organisation's invitations", "invitations", nullptr, list_schema(), 200, {"limit", "after"}},
           [](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto page = TRY(ctx.page());
             return paged(TRY(list_invitations(ctx.t(), o.id, page.after, page.limit, ctx.now())), page.limit, "id");
           }});

  api.add({"POST", "/api/v1/orgs/{org}/invitations", Access::require("invitations", "create"),
           {"Create a one-time invitation link (the token is shown once)", "invitations",
            {{"type", "object"}, {"required", {"role"}},
             {"properties", {{"role", {{"type", "string"}}}, {"email", {{"type", "string"}}},
                             {"expires_in_hours", {{"type", "integer"}}}}}},
            kObj, 201, {}, true, {"token", "url"}},
           [settings = &deps.settings](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"role", "email", "expires_in_hours"}));
             auto role_id = TRY(resolve_role(ctx.t(), o.id, TRY(b.str("role", 100))));
             TRY_STATUS(may_grant_role(ctx, o.id, role_id));
             auto email = TRY(b.opt_str("email", 254)).value_or("");
             TRY_STATUS(check_display_text("email", email, 254, true));
             auto hours = TRY(b.opt_integer("expires_in_hours", 1, settings->invite_ttl_max_ms / 3600000)).value_or(72);
             auto inv = TRY(create_invitation(ctx.t(), ctx.actor(), settings->secret, o.id, role_id, email,
                                              ctx.now() + hours * 3600 * 1000, ctx.now()));
             json j = inv.json;
             j["token"] = inv.token;
             // The main origin resolved at startup, never the request's Host (which a client chooses).
             std::string base = settings->public_url;
             while (!base.empty() && base.back() == '/') base.pop_back();
             j["url"] = base + "/invite#" + inv.token;
             return with_etag(Response::json(201, j), j);
           }});

  api.add({"DELETE", "/api/v1/invitations/{id}", Access::require("invitations", "delete"),
           {"Revoke an invitation", "invitations", nullptr, nullptr, 204},
           [](Context& ctx) -> Result<Response> {
             auto inv = TRY(get_invitation(ctx.t(), ctx.param("id"), ctx.now()));
             if (!inv) return not_found("invitation");
             std::string org = (*inv)["org_id"].get<std::string>();
             TRY_STATUS(ctx.authorize(Target{.org_id = org}));
             TRY_STATUS(ctx.check_if_match((*inv)["etag"].get<std::string>()));
             TRY_STATUS(revoke_invitation(ctx.t(), ctx.actor(), ctx.param("id"), org, ctx.now()));
             return Response::no_content();
           }});

  api.add({"POST", "/api/v1/invitations/accept", Access::open(),
           {"Register a new account with an invitation", "invitations",
            {{"type", "object"}, {"required", {"token", "username", "password"}},
             {"properties", {{"token", {{"type", "string"}}}, {"username", {{"type", "string"}}},
                             {"password", {{"type", "string"}}}, {"email", {{"type", "string"}}},
                             {"display_name", {{"type", "string"}}}}}},
            kObj, 201},
           [settings = &deps.settings, limiter = &deps.limiter](Context& ctx) -> Result<Response> {
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
             if (auto wait = limiter->check_ip("invite:" + http::address_key(ctx.req.remote_ip), ctx.now()))
               return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                                 "too many invitation attempts from your address; wait " + std::to_string(wait) + " s")
                               .with("retry_after_s", wait));
             (void)TRY(ctx.db().read([&](db::Tx& tx) { return check_invitation(tx, settings->secret, token, ctx.now()); }));
             // ...and what the values are worth only for a good invitation: no answer about a
             // password or a name before that.
             TRY_STATUS(check_password(username, password));
             TRY_STATUS(check_display_text("email", email, 254, true));
             TRY_STATUS(check_display_text("display_name", display, 200, true));
             std::string hash = crypto::hash_password(password);
             Actor actor = ctx.actor();
             auto out = TRY(ctx.db().write([&](db::Tx& tx) -> Result<json> {
               auto u = TRY(create_user(tx, actor, username, hash, email, display, ctx.now()));
               auto [org_id, role_id] = TRY(consume_invitation(tx, settings->secret, token, u.id, ctx.now()));
               Actor as_new = actor;
               as_new.user_id = u.id;
               as_new.username = u.username;
               TRY_STATUS(add_org_member(tx, as_new, org_id, u.id, role_id, ctx.now()));
               auto o = TRY(get_org(tx, org_id));
               return json{{"user", u.json()}, {"org", o.json()}};
             }));
             return Response::json(201, out);
           },
           http::TxMode::kNone});

  // ---------------------------------------------------------------- quotas
  api.add({"GET", "/api/v1/orgs/{org}/quotas", Access::require("quotas", "read"),
           {"Quota limits and usage of an organisation, its groups and users", "quotas", nullptr, list_schema()},
           [deps](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx));
             return Response::json(200, http::page_json(TRY(quota::list_json(ctx.t(), deps.quotas, o.id)), std::nullopt));
           }});

  auto quota_target = [](Context& ctx, const Org& o) -> Result<Target> {
    const std::string& kind = ctx.param("kind");
    const std::string& subject = ctx.param("subject");
    if (kind == "org") {
      if (subject != o.id && subject != o.slug) return not_found("quota subject");
      return Target{.org_id = o.id};
    }
    if (kind == "group") {
      auto g = TRY(get_group(ctx.t(), subject));
      if (!g || g->org_id != o.id) return not_found("group");
      return Target{.org_id = o.id, .group_id = g->id};
    }
    if (kind == "user") {
      auto u = TRY(find_user(ctx.t(), subject));
      if (!u || !TRY(org_role_of(ctx.t(), o.id, u->id))) return not_found("member");
      return Target{.org_id = o.id, .owner_id = u->id};
    }
    return fail(ErrorCode::kInvalidArgument, "invalid-enum", "quota kind must be one of org, group, user");
  };
  auto subject_id = [](const Target& t) {
    return !t.owner_id.empty() ? t.owner_id : !t.group_id.empty() ? t.group_id : t.org_id;
  };

  api.add({"GET", "/api/v1/orgs/{org}/quotas/{kind}/{subject}", Access::require("quotas", "read"),
           {"One quota: limits and usage", "quotas", nullptr, kObj},
           [deps, quota_target, subject_id](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx, &kOrgRead));
             auto t = TRY(quota_target(ctx, o));
             TRY_STATUS(ctx.authorize(t));
             auto j = TRY(quota::get_json(ctx.t(), deps.quotas, {o.id, ctx.param("kind"), subject_id(t)}));
             return with_etag(Response::json(200, j), j);
           }});

  api.add({"PUT", "/api/v1/orgs/{org}/quotas/{kind}/{subject}", Access::require("quotas", "write"),
           {"Set a quota's limits (null = unlimited); If-Match: * when none is set yet", "quotas",
            obj({{"storage_bytes", "integer"}, {"cpu_hours", "integer"}, {"cpu_period_days", "integer"},
                 {"concurrent_jobs", "integer"}, {"concurrent_envs", "integer"}}),
            kObj},
           [deps, quota_target, subject_id](Context& ctx) -> Result<Response> {
             auto o = TRY(org_of(ctx, &kOrgRead));
             auto t = TRY(quota_target(ctx, o));
             TRY_STATUS(ctx.authorize(t));
             auto b = TRY(ctx.json());
             TRY_STATUS(b.only({"storage_bytes", "cpu_hours", "cpu_period_days", "concurrent_jobs", "concurrent_envs"}));
             quota::Limits l;
             l.storage_bytes = TRY(opt_limit(b, "storage_bytes"));
             l.cpu_hours = TRY(opt_limit(b, "cpu_hours"));
             l.cpu_period_days = TRY(b.opt_integer("cpu_period_days", 1, 3660));
             l.concurrent_jobs = TRY(b.opt_integer("concurrent_jobs", 0, 1'000'000));
             l.concurrent_envs = TRY(b.opt_integer("concurrent_envs", 0, 1'000'000));
             quota::Subject s{o.id, ctx.param("kind"), subject_id(t)};
             auto cur = TRY(quota::get_json(ctx.t(), deps.quotas, s));
             TRY_STATUS(ctx.check_if_match(cur["etag"].get<std::string>()));
             auto j = TRY(quota::put(ctx.t(), deps.quotas, ctx.actor(), s, l, ctx.now()));
             return with_etag(Response::json(200, j), j);
           }});
}

}  // namespace atrium::identity
