#include <limits>
#include <set>

#include "core/text.hpp"
#include "identity/policy.hpp"
#include "identity/routes_detail.hpp"

namespace atrium::identity {

Result<UserRef> user_ref(const http::JsonBody& b) {
  auto id = TRY(b.opt_str("user_id", 64));
  auto name = TRY(b.opt_str("username", 64));
  if (!id && !name)
    return fail(
        Error(ErrorCode::kInvalidArgument, "missing-field", "give user_id or username").with("field", "user_id"));
  return id ? UserRef{*id, "user_id"} : UserRef{*name, "username"};
}

namespace detail {

json obj(std::initializer_list<std::pair<const char*, const char*>> props, std::vector<std::string> required) {
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
    if (required)
      return fail(Error(ErrorCode::kInvalidArgument, "missing-field", std::string("field '") + key + "' is required")
                      .with("field", key));
    return std::string();
  }
  TRY_STATUS(check_display_text(key, *v, 200, !required));
  return *v;
}

Result<Org> org_of(Context& ctx, const http::Permission* perm) {
  auto org = get_org(ctx.t(), ctx.param("org"));
  if (!org) {
    ctx.filtered();
    return std::unexpected(org.error());
  }
  TRY_STATUS(perm ? ctx.authorize(*perm, Target{.org_id = org->id}) : ctx.authorize(Target{.org_id = org->id}));
  return *org;
}

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

namespace {

// A user named by id or username in a body ("user_id" or "username").
Result<User> user_from_body(db::Tx& tx, const http::JsonBody& b) {
  auto ref = TRY(user_ref(b));
  auto u = TRY(find_user(tx, ref.name));
  if (!u)
    return fail(
        Error(ErrorCode::kInvalidArgument, "unknown-user", "no such user: " + ref.name).with("field", ref.field));
  return *u;
}

Result<Group> group_of(Context& ctx, const char* verb = nullptr) {
  auto g = TRY(get_group(ctx.t(), ctx.param("id")));
  if (!g) return not_found("group");
  Target t{.org_id = g->org_id, .group_id = g->id};
  TRY_STATUS(verb ? ctx.authorize({"groups", verb}, t) : ctx.authorize(t));
  return *g;
}

// ---- handlers, one per endpoint

Result<Response> org_create(Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"slug", "name"}));
  auto slug = TRY(slug_field(b, "slug"));
  // An org's slug is the first segment of its git URLs (/{org}/{project}.git) and of its pages in
  // the web UI (/{org}/{project}), beside the server's and the UI's own top-level paths: those
  // names stay theirs.
  static const std::set<std::string, std::less<>> kReserved = {
      "api",    "dl",     "env",    "envs",     "git",     "healthz",  "readyz",      "metrics",    "static",
      "assets", "login",  "logout", "auth",     "oauth",   "ui",       "app",         "admin",      "docs",
      "me",     "new",    "jobs",   "search",   "invite",  "settings", "favicon.ico", "favicon.svg", "robots.txt",
      "orgs",   "users",  "projects", "explore", "index.html"};
  if (kReserved.contains(slug))
    return fail(Error(ErrorCode::kInvalidArgument, "reserved-slug",
                      "'" + slug + "' is reserved for the server's own paths; choose another slug")
                    .with("field", "slug"));
  auto name = TRY(name_field(b, "name", true));
  auto o = TRY(create_org(ctx.t(), ctx.actor(), slug, name, ctx.now()));
  return with_etag(Response::json(201, o.json()), o.json());
}

Result<Response> orgs_list(Context& ctx) {
  ctx.filtered();
  auto page = TRY(ctx.page());
  bool all = ctx.who().is_instance_admin() && ctx.allowed({"orgs", "read"}, Target{});
  return paged(TRY(list_orgs(ctx.t(), all, ctx.who().user_id, page.after, page.limit)), page.limit, "id");
}

Result<Response> org_show(Context& ctx) {
  auto o = TRY(org_of(ctx));
  return with_etag(Response::json(200, o.json()), o.json());
}

Result<Response> org_update(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name", "disabled"}));
  std::optional<std::string> name;
  if (b.has("name") || !b.has("disabled")) name = TRY(name_field(b, "name", true));
  auto disabled = TRY(b.opt_bool("disabled"));
  if (disabled) TRY_STATUS(ctx.authorize({"orgs", "admin"}, Target{}));  // the instance admin only
  TRY_STATUS(ctx.check_if_match(o.json()["etag"].get<std::string>()));
  auto n = TRY(update_org(ctx.t(), ctx.actor(), o, name, disabled, ctx.now()));
  return with_etag(Response::json(200, n.json()), n.json());
}

Result<Response> org_delete(const RouteDeps& deps, Context& ctx) {
  auto o = TRY(org_of(ctx));
  TRY_STATUS(ctx.check_if_match(o.json()["etag"].get<std::string>()));
  if (deps.org_project_count && TRY(deps.org_project_count(ctx.t(), o.id)) > 0)
    return fail(ErrorCode::kFailedPrecondition, "org-not-empty",
                "the organisation still has projects; delete or move them first");
  TRY_STATUS(delete_org(ctx.t(), ctx.actor(), o, ctx.now()));
  return Response::no_content();
}

// ?q= a part of the username or display name; ?role= a role's name or id (e.g. who holds it).
Result<Response> members_list(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto page = TRY(ctx.page());
  MemberFilter f;
  f.q = std::string(ctx.req.query_param("q").value_or(""));
  if (f.q.size() > 200)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "q must be at most 200 characters").with("field", "q"));
  std::string role(ctx.req.query_param("role").value_or(""));
  if (role.size() > 100)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "role must be at most 100 characters").with("field", "role"));
  if (!role.empty()) f.role_id = TRY(resolve_role(ctx.t(), o.id, role));
  return paged(TRY(list_members(ctx.t(), o.id, page.after, page.limit, f)), page.limit, "user_id");
}

Result<Response> member_add(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"user_id", "username", "role"}));
  auto u = TRY(user_from_body(ctx.t(), b));
  auto role_id = TRY(resolve_role(ctx.t(), o.id, TRY(b.str("role", 100))));
  TRY_STATUS(may_grant_role(ctx, o.id, role_id));
  TRY_STATUS(add_org_member(ctx.t(), ctx.actor(), o.id, u.id, role_id, ctx.now()));
  auto m = TRY(get_member(ctx.t(), o.id, u.id));
  return with_etag(Response::json(201, m->json()), m->json());
}

Result<Response> member_update(Context& ctx) {
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
}

Result<Response> member_remove(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto u = TRY(find_user(ctx.t(), ctx.param("user")));
  auto m = u ? TRY(get_member(ctx.t(), o.id, u->id)) : std::nullopt;
  if (!m) return not_found("member");
  if (m->user_id != ctx.who().user_id) TRY_STATUS(may_grant_role(ctx, o.id, m->role_id));
  TRY_STATUS(ctx.check_if_match(m->json()["etag"].get<std::string>()));
  TRY_STATUS(remove_member(ctx.t(), ctx.actor(), o.id, *m, ctx.now()));
  return Response::no_content();
}

Result<Response> groups_list(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto page = TRY(ctx.page());
  return paged(TRY(list_groups(ctx.t(), o.id, page.after, page.limit)), page.limit, "id");
}

Result<Response> group_create(Context& ctx) {
  auto o = TRY(org_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"slug", "name"}));
  auto slug = TRY(slug_field(b, "slug"));
  auto name = TRY(name_field(b, "name", true));
  auto g = TRY(create_group(ctx.t(), ctx.actor(), o.id, slug, name, ctx.now()));
  return with_etag(Response::json(201, g.json()), g.json());
}

Result<Response> group_show(Context& ctx) {
  auto g = TRY(group_of(ctx));
  return with_etag(Response::json(200, g.json()), g.json());
}

Result<Response> group_update(Context& ctx) {
  auto g = TRY(group_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name"}));
  auto name = TRY(name_field(b, "name", true));
  TRY_STATUS(ctx.check_if_match(g.json()["etag"].get<std::string>()));
  auto n = TRY(update_group(ctx.t(), ctx.actor(), g, name, ctx.now()));
  return with_etag(Response::json(200, n.json()), n.json());
}

Result<Response> group_delete(const RouteDeps& deps, Context& ctx) {
  auto g = TRY(group_of(ctx));
  TRY_STATUS(ctx.check_if_match(g.json()["etag"].get<std::string>()));
  if (deps.group_project_count && TRY(deps.group_project_count(ctx.t(), g.id)) > 0)
    return fail(ErrorCode::kFailedPrecondition, "group-in-use",
                "projects belong to this group; move them to another group (or none) first");
  TRY_STATUS(delete_group(ctx.t(), ctx.actor(), g, ctx.now()));
  return Response::no_content();
}

Result<Response> group_members_list(Context& ctx) {
  auto g = TRY(group_of(ctx));
  auto page = TRY(ctx.page());
  return paged(TRY(list_group_members(ctx.t(), g.id, page.after, page.limit)), page.limit, "user_id");
}

Result<Response> group_member_add(Context& ctx) {
  auto g = TRY(group_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"user_id", "username"}));
  auto u = TRY(user_from_body(ctx.t(), b));
  TRY_STATUS(add_group_member(ctx.t(), ctx.actor(), g, u.id, ctx.now()));
  json j = {{"user_id", u.id}, {"username", u.username}, {"etag", http::etag_of(1)}};
  return with_etag(Response::json(201, j), j);
}

Result<Response> group_member_remove(Context& ctx) {
  auto g = TRY(group_of(ctx));
  auto u = TRY(find_user(ctx.t(), ctx.param("user")));
  auto v = u ? TRY(group_member_version(ctx.t(), g.id, u->id)) : std::nullopt;
  if (!v) return not_found("group member");
  TRY_STATUS(ctx.check_if_match(http::etag_of(*v)));
  TRY_STATUS(remove_group_member(ctx.t(), ctx.actor(), g, u->id, ctx.now()));
  return Response::no_content();
}

}  // namespace
}  // namespace detail

void add_org_routes(http::Api& api, RouteDeps deps) {
  using namespace detail;
  // ---------------------------------------------------------------- orgs
  api.add({"POST", "/api/v1/orgs", Access::require("orgs", "create"),
           {"Create an organisation (instance admin)",
            "orgs",
            obj({{"slug", "string"}, {"name", "string"}}, {"slug", "name"}),
            kObj,
            201,
            {},
            true},
           org_create});

  api.add({"GET", "/api/v1/orgs", Access::require("orgs", "read"),
           {"List my organisations (admins: all)", "orgs", nullptr, list_schema(), 200, {"limit", "after"}},
           orgs_list});

  api.add({"GET", "/api/v1/orgs/{org}", Access::require("orgs", "read"),
           {"Show an organisation", "orgs", nullptr, kObj},
           org_show});

  api.add({"PATCH", "/api/v1/orgs/{org}", Access::require("orgs", "write"),
           {"Rename an organisation; `disabled` (instance admin) shuts its members out until enabled again",
            "orgs", obj({{"name", "string"}, {"disabled", "boolean"}}), kObj},
           org_update});

  api.add({"DELETE", "/api/v1/orgs/{org}", Access::require("orgs", "delete"),
           {"Delete an organisation without projects", "orgs", nullptr, nullptr, 204},
           std::bind_front(org_delete, deps)});

  // ---------------------------------------------------------------- members
  api.add({"GET", "/api/v1/orgs/{org}/members", Access::require("members", "read"),
           {"List an organisation's members (?q= part of a name, ?role= one role's holders); last_admin marks "
            "the only org-admin, who can be neither demoted nor removed",
            "orgs", nullptr, list_schema(), 200, {"limit", "after", "q", "role"}},
           members_list});

  api.add({"POST", "/api/v1/orgs/{org}/members", Access::require("members", "create"),
           {"Add a user to an organisation",
            "orgs",
            obj({{"user_id", "string"}, {"username", "string"}, {"role", "string"}}, {"role"}),
            kObj,
            201,
            {},
            true},
           member_add});

  api.add({"PATCH", "/api/v1/orgs/{org}/members/{user}", Access::require("members", "write"),
           {"Change a member's role", "orgs", obj({{"role", "string"}}, {"role"}), kObj},
           member_update});

  api.add({"DELETE", "/api/v1/orgs/{org}/members/{user}", Access::require("members", "delete"),
           {"Remove a member from an organisation", "orgs", nullptr, nullptr, 204},
           member_remove});

  // ---------------------------------------------------------------- groups
  api.add({"GET", "/api/v1/orgs/{org}/groups", Access::require("groups", "read"),
           {"List an organisation's groups", "groups", nullptr, list_schema(), 200, {"limit", "after"}},
           groups_list});

  api.add({"POST", "/api/v1/orgs/{org}/groups", Access::require("groups", "create"),
           {"Create a group",
            "groups",
            obj({{"slug", "string"}, {"name", "string"}}, {"slug", "name"}),
            kObj,
            201,
            {},
            true},
           group_create});

  api.add({"GET", "/api/v1/groups/{id}", Access::require("groups", "read"),
           {"Show a group", "groups", nullptr, kObj},
           group_show});

  api.add({"PATCH", "/api/v1/groups/{id}", Access::require("groups", "write"),
           {"Rename a group", "groups", obj({{"name", "string"}}), kObj},
           group_update});

  api.add({"DELETE", "/api/v1/groups/{id}", Access::require("groups", "delete"),
           {"Delete a group that no project belongs to", "groups", nullptr, nullptr, 204},
           std::bind_front(group_delete, deps)});

  api.add({"GET", "/api/v1/groups/{id}/members", Access::require("groups", "read"),
           {"List a group's members", "groups", nullptr, list_schema(), 200, {"limit", "after"}},
           group_members_list});

  api.add({"POST", "/api/v1/groups/{id}/members", Access::require("groups", "write"),
           {"Add an organisation member to a group",
            "groups",
            obj({{"user_id", "string"}, {"username", "string"}}),
            kObj,
            201,
            {},
            true},
           group_member_add});

  api.add({"DELETE", "/api/v1/groups/{id}/members/{user}", Access::require("groups", "write"),
           {"Remove a member from a group", "groups", nullptr, nullptr, 204},
           group_member_remove});

  add_role_routes(api);
  add_invitation_routes(api, deps);
  add_quota_routes(api, deps);
}

Status may_grant_role(http::Context& ctx, const std::string& org_id, const std::string& role_id) {
  return detail::may_grant_role(ctx, org_id, role_id);
}

}  // namespace atrium::identity
