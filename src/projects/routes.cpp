#include "projects/routes.hpp"

#include "core/text.hpp"
#include "identity/orgs.hpp"
#include "identity/policy.hpp"
#include "identity/routes.hpp"
#include "identity/store.hpp"
#include "projects/org_slugs.hpp"
#include "projects/projects.hpp"

namespace atrium::projects {
namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

const json& kObj = http::object_schema();
using http::list_schema;
using http::paged;

// The project as the API answers it: its fields and its org's slug (for /{org}/{project} links).
json project_json(const Project& p, OrgSlugs& slugs) {
  json j = p.json();
  j["org_slug"] = slugs(p.org_id);
  return j;
}

// One project's answer with its ETag.
Response one(Context& ctx, int status, const Project& p) {
  OrgSlugs slugs(ctx.t());
  Response r = Response::json(status, project_json(p, slugs));
  r.header("ETag", p.etag());
  return r;
}

// Loads the project with the caller's role and checks the route's permission on it.
Result<Project> load(Context& ctx) {
  auto p = TRY(get_for(ctx.t(), ctx.param("id"), ctx.who().user_id));
  if (!p) {
    ctx.filtered();
    return not_found("project");
  }
  TRY_STATUS(ctx.authorize(target_of(*p)));
  return *p;
}

Result<std::vector<std::string>> tags_field(const http::JsonBody& b) {
  auto tags = TRY(b.opt_str_list("tags", 20, 40));
  std::vector<std::string> out;
  if (!tags) return out;
  for (auto& t : *tags) {
    std::string l = to_lower(t);
    if (!is_valid_slug(l))
      return fail(
          Error(ErrorCode::kInvalidArgument, "invalid-field", "tag '" + t + "' must be a-z 0-9 - _ . (at most 40)")
              .with("field", "tags"));
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

}  // namespace

Result<Project> load_in_route(http::Context& ctx, db::Tx& tx, const http::Permission& perm) {
  auto p = TRY(get_for(tx, ctx.param("id"), ctx.who().user_id));
  if (!p) {
    ctx.filtered();
    return not_found("project");
  }
  TRY_STATUS(ctx.authorize(perm, target_of(*p)));
  return *p;
}

Status check_writable(const Project& p) {
  if (p.archived) return fail(ErrorCode::kFailedPrecondition, "project-archived", "the project is archived");
  return {};
}

Result<Response> create_project(Context& ctx) {
  auto org = identity::get_org(ctx.t(), ctx.param("org"));
  if (!org) {
    ctx.filtered();
    return std::unexpected(org.error());
  }
  TRY_STATUS(ctx.authorize(Target{.org_id = org->id}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"slug", "name", "description", "tags", "visibility", "group_id"}));
  auto slug = TRY(b.str("slug", 64));
  if (!is_valid_slug(slug))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "slug must be 1-64 of a-z 0-9 - _ . starting with a letter or digit")
                    .with("field", "slug"));
  auto name = TRY(b.str("name", 200));
  TRY_STATUS(check_display_text("name", name, 200, false));
  auto desc = TRY(b.opt_str("description", 4000)).value_or("");
  TRY_STATUS(check_display_text("description", desc, 4000, true));
  auto tags = TRY(tags_field(b));
  auto vis = TRY(b.opt_one_of("visibility", {"private", "org", "instance"})).value_or("private");
  auto group = TRY(b.opt_str("group_id", 64)).value_or("");
  if (!group.empty()) {
    auto g = TRY(identity::get_group(ctx.t(), group));
    if (!g || g->org_id != org->id)
      return fail(Error(ErrorCode::kInvalidArgument, "unknown-group", "no such group in this organisation")
                      .with("field", "group_id"));
  }
  auto p = TRY(create(ctx.t(), ctx.actor(), org->id, slug, name, desc, tags, vis, group, ctx.now()));
  return one(ctx, 201, p);
}

Result<Response> list_projects(Context& ctx) {
  ctx.filtered();
  auto page = TRY(ctx.page());
  ListQuery q;
  q.limit = page.limit;
  q.after = page.after;
  q.q = std::string(ctx.req.query_param("q").value_or(""));
  if (q.q.size() > 200) return invalid("q must be at most 200 characters");
  std::string org(ctx.req.query_param("org").value_or(""));
  if (!org.empty()) {
    auto o = identity::get_org(ctx.t(), org);
    q.org_id = o ? o->id : org;  // an unknown org simply matches nothing
  }
  q.archived = std::string(ctx.req.query_param("archived").value_or("false"));
  if (q.archived != "true" && q.archived != "false" && q.archived != "any")
    return invalid("archived must be true, false or any");
  std::string mine(ctx.req.query_param("mine").value_or("false"));
  if (mine != "true" && mine != "false") return invalid("mine must be true or false");
  q.mine = mine == "true";
  Visibility v;
  v.user_id = ctx.who().user_id;
  v.all = ctx.who().is_instance_admin() && ctx.allowed({"projects", "read"}, Target{});
  for (auto& b : ctx.who().bindings) {
    if (b.org_id.empty()) continue;
    v.member_orgs.push_back(b.org_id);
    if (ctx.allowed({"projects", "read"}, Target{.org_id = b.org_id})) v.read_orgs.push_back(b.org_id);
  }
  for (auto& g : ctx.who().group_ids) {
    auto grp = TRY(identity::get_group(ctx.t(), g));
    if (grp && ctx.allowed({"projects", "read"}, Target{.org_id = grp->org_id, .group_id = g}))
      v.read_groups.push_back(g);
  }
  auto items = TRY(list(ctx.t(), v, q));
  OrgSlugs slugs(ctx.t());
  json arr = json::array();
  for (auto& p : items) arr.push_back(project_json(p, slugs));
  return paged(std::move(arr), q.limit, "id");
}

Result<Response> show_project(Context& ctx) {
  auto p = TRY(load(ctx));
  return one(ctx, 200, p);
}

Result<Response> show_project_by_slug(Context& ctx) {
  auto hidden = [&]() -> std::unexpected<Error> {
    ctx.filtered();
    return not_found("project");
  };
  std::string slug = to_lower(ctx.param("project"));
  if (!is_valid_slug(slug)) return hidden();
  auto org = identity::get_org(ctx.t(), ctx.param("org"));
  if (!org) return hidden();
  auto p = TRY(find_for(ctx.t(), org->id, slug, ctx.who().user_id));
  if (!p) return hidden();
  // A project the caller may not see answers word for word like a missing one.
  if (auto st = ctx.authorize(target_of(*p)); !st)
    return st.error().code == ErrorCode::kNotFound ? hidden() : std::unexpected(st.error());
  return one(ctx, 200, *p);
}

Result<Response> update_project(Context& ctx) {
  auto p = TRY(load(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name", "description", "tags", "visibility", "group_id", "archived"}));
  Changes c;
  c.name = TRY(b.opt_str("name", 200));
  if (c.name) TRY_STATUS(check_display_text("name", *c.name, 200, false));
  c.description = TRY(b.opt_str("description", 4000));
  if (c.description) TRY_STATUS(check_display_text("description", *c.description, 4000, true));
  if (b.has("tags")) c.tags = TRY(tags_field(b));
  c.visibility = TRY(b.opt_one_of("visibility", {"private", "org", "instance"}));
  c.archived = TRY(b.opt_bool("archived"));
  if (b.has("group_id")) {
    c.group_id = TRY(b.opt_str("group_id", 64)).value_or("");
    if (!c.group_id->empty()) {
      auto g = TRY(identity::get_group(ctx.t(), *c.group_id));
      if (!g || g->org_id != p.org_id)
        return fail(Error(ErrorCode::kInvalidArgument, "unknown-group", "no such group in this organisation")
                        .with("field", "group_id"));
    }
  }
  bool only_unarchive =
      c.archived && !*c.archived && !c.name && !c.description && !c.tags && !c.visibility && !c.group_id;
  if (p.archived && !only_unarchive)
    return fail(ErrorCode::kFailedPrecondition, "project-archived",
                "the project is archived and read-only; unarchive it first ({\"archived\": false})");
  TRY_STATUS(ctx.check_if_match(p.etag()));
  auto n = TRY(update(ctx.t(), ctx.actor(), p, c, ctx.now()));
  return one(ctx, 200, n);
}

Result<Response> delete_project(Context& ctx) {
  auto p = TRY(load(ctx));
  TRY_STATUS(ctx.check_if_match(p.etag()));
  TRY_STATUS(remove(ctx.t(), ctx.actor(), p, ctx.now()));
  return Response::no_content();
}

Result<Response> list_project_members(Context& ctx) {
  auto p = TRY(load(ctx));
  auto page = TRY(ctx.page());
  auto items = TRY(list_members(ctx.t(), p.id, page.after, page.limit));
  for (auto& it : items) {
    auto u = TRY(identity::find_user(ctx.t(), it["user_id"].get<std::string>()));
    it["username"] = u ? json(u->username) : json(nullptr);
  }
  return http::paged(std::move(items), page.limit, "user_id");
}

Result<Response> add_project_member(Context& ctx) {
  auto p = TRY(load(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"user_id", "username", "role"}));
  auto role = TRY(b.one_of("role", {"owner", "maintainer", "member", "viewer"}));
  auto ref = TRY(identity::user_ref(b));
  auto u = TRY(identity::find_user(ctx.t(), ref.name));
  // An unknown user and one of another org get the same answer: nothing about other tenants leaks.
  if (!u || !TRY(identity::org_role_of(ctx.t(), p.org_id, u->id)))
    return fail(
        Error(ErrorCode::kInvalidArgument, "not-org-member", "the user must be a member of the project's organisation")
            .with("field", ref.field));
  if (p.archived) return fail(ErrorCode::kFailedPrecondition, "project-archived", "the project is archived");
  TRY_STATUS(add_member(ctx.t(), ctx.actor(), p, u->id, role, ctx.now()));
  json j = {{"user_id", u->id}, {"username", u->username}, {"role", role}, {"etag", http::etag_of(1)}};
  return Response::json(201, j).header("ETag", http::etag_of(1));
}

// PATCH (a new role) or DELETE of a project member.
Result<Response> change_member(Context& ctx, bool remove_it) {
  auto p = TRY(load(ctx));
  auto u = TRY(identity::find_user(ctx.t(), ctx.param("user")));
  auto m = u ? TRY(member(ctx.t(), p.id, u->id)) : std::nullopt;
  if (!m) return not_found("project member");
  std::string role;
  if (!remove_it) {
    auto b = TRY(ctx.json());
    TRY_STATUS(b.only({"role"}));
    role = TRY(b.one_of("role", {"owner", "maintainer", "member", "viewer"}));
  }
  TRY_STATUS(ctx.check_if_match(http::etag_of(m->second)));
  if (remove_it) {
    TRY_STATUS(remove_member(ctx.t(), ctx.actor(), p, u->id, m->second, ctx.now()));
    return Response::no_content();
  }
  TRY_STATUS(set_member_role(ctx.t(), ctx.actor(), p, u->id, role, m->second, ctx.now()));
  json j = {{"user_id", u->id}, {"username", u->username}, {"role", role}, {"etag", http::etag_of(m->second + 1)}};
  return Response::json(200, j).header("ETag", http::etag_of(m->second + 1));
}

void add_routes(http::Api& api) {
  json project_schema = {{"type", "object"},
                         {"properties",
                          {{"slug", {{"type", "string"}}},
                           {"name", {{"type", "string"}}},
                           {"description", {{"type", "string"}}},
                           {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}},
                           {"visibility", {{"type", "string"}, {"enum", {"private", "org", "instance"}}}},
                           {"group_id", {{"type", {"string", "null"}}}},
                           {"archived", {{"type", "boolean"}}}}}};

  api.add({"POST",
           "/api/v1/orgs/{org}/projects",
           Access::require("projects", "create"),
           {"Create a project in an organisation; the caller becomes its owner",
            "projects",
            project_schema,
            kObj,
            201,
            {},
            true},
           create_project});

  api.add({"GET",
           "/api/v1/projects",
           Access::require("projects", "read"),
           {"List or search the projects I can see",
            "projects",
            nullptr,
            list_schema(),
            200,
            {"q", "org", "archived", "mine", "limit", "after"}},
           list_projects});

  api.add({"GET",
           "/api/v1/projects/{id}",
           Access::require("projects", "read"),
           {"Show a project", "projects", nullptr, kObj},
           show_project});

  // ORG/PROJECT as people write it (git URLs, the CLI): the same answer and checks as by id, and 404
  // alike for a project that does not exist and one the caller may not see.
  api.add({"GET",
           "/api/v1/orgs/{org}/projects/{project}",
           Access::require("projects", "read"),
           {"Show a project by its organisation (id or slug) and its slug", "projects", nullptr, kObj},
           show_project_by_slug});

  api.add({"PATCH",
           "/api/v1/projects/{id}",
           Access::require("projects", "write"),
           {"Update, archive or unarchive a project", "projects", project_schema, kObj},
           update_project});

  api.add({"DELETE",
           "/api/v1/projects/{id}",
           Access::require("projects", "delete"),
           {"Delete a project", "projects", nullptr, nullptr, 204},
           delete_project});

  // ---- members
  api.add({"GET",
           "/api/v1/projects/{id}/members",
           Access::require("projects", "read"),
           {"List a project's members", "projects", nullptr, kObj, 200, {"limit", "after"}},
           list_project_members});

  api.add({"POST",
           "/api/v1/projects/{id}/members",
           Access::require("projects", "admin"),
           {"Add an organisation member to a project",
            "projects",
            {{"type", "object"},
             {"required", {"role"}},
             {"properties",
              {{"user_id", {{"type", "string"}}},
               {"username", {{"type", "string"}}},
               {"role", {{"type", "string"}, {"enum", identity::kProjectRoles}}}}}},
            kObj,
            201,
            {},
            true},
           add_project_member});

  api.add({"PATCH",
           "/api/v1/projects/{id}/members/{user}",
           Access::require("projects", "admin"),
           {"Change a project member's role",
            "projects",
            {{"type", "object"}, {"required", {"role"}}, {"properties", {{"role", {{"type", "string"}}}}}},
            kObj},
           [](Context& ctx) { return change_member(ctx, false); }});
  api.add({"DELETE",
           "/api/v1/projects/{id}/members/{user}",
           Access::require("projects", "admin"),
           {"Remove a member from a project", "projects", nullptr, nullptr, 204},
           [](Context& ctx) { return change_member(ctx, true); }});

  add_activity_route(api);
}

}  // namespace atrium::projects
