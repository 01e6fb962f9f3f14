// GET /api/v1/me/activity: the caller's feed. The projects module knows whom a project's events
// concern (its members); the audit module holds the events: ids cross between the two through
// their public headers.
#include <algorithm>
#include <charconv>
#include <map>

#include "audit/audit.hpp"
#include "projects/org_slugs.hpp"
#include "projects/routes.hpp"

namespace atrium::projects {
namespace {

using http::Context;
using http::Response;
using nlohmann::json;

// {id, slug, name, org_slug} of a project the caller may see, for the feed's links.
json project_ref(const Project& p, OrgSlugs& slugs) {
  return {{"id", p.id}, {"slug", p.slug}, {"name", p.name}, {"org_slug", slugs(p.org_id)}};
}

Result<Response> my_activity(Context& ctx) {
  ctx.filtered();
  auto page = TRY(ctx.page(100));
  audit::ActivityQuery q{.user_id = ctx.who().user_id, .limit = page.limit};
  if (!page.after.empty()) {
    auto [end, ec] = std::from_chars(page.after.data(), page.after.data() + page.after.size(), q.before_seq);
    if (ec != std::errc() || end != page.after.data() + page.after.size() || q.before_seq <= 0)
      return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "after is not a cursor this server returned")
                      .with("field", "after"));
  }
  // Only the orgs the caller belongs to now: a former member sees nothing more of an org.
  for (auto& b : ctx.who().bindings)
    if (!b.org_id.empty() && std::find(q.org_ids.begin(), q.org_ids.end(), b.org_id) == q.org_ids.end())
      q.org_ids.push_back(b.org_id);
  std::map<std::string, Project> mine;
  for (auto& p : TRY(member_projects(ctx.t(), ctx.who().user_id, q.org_ids))) {
    if (!ctx.allowed({"projects", "read"}, target_of(p))) continue;
    q.project_ids.push_back(p.id);
    mine.emplace(p.id, std::move(p));
  }
  auto events = TRY(audit::activity(ctx.t(), q));
  OrgSlugs slugs(ctx.t());
  json items = json::array();
  for (auto& e : events) {
    json ref = nullptr;
    if (e["project_id"].is_string()) {
      auto id = e["project_id"].get<std::string>();
      if (auto it = mine.find(id); it != mine.end()) {
        ref = project_ref(it->second, slugs);
      } else if (auto p = TRY(get_for(ctx.t(), id, ctx.who().user_id));
                 p && ctx.allowed({"projects", "read"}, target_of(*p))) {
        ref = project_ref(*p, slugs);  // one of the caller's own actions in a project they still see
      }
    }
    e["project"] = std::move(ref);
    e["org_slug"] = e["org_id"].is_string() ? slugs(e["org_id"].get<std::string>()) : json(nullptr);
    items.push_back(std::move(e));
  }
  return http::paged(std::move(items), page.limit, "seq");
}

}  // namespace

void add_activity_route(http::Api& api) {
  api.add({"GET",
           "/api/v1/me/activity",
           http::Access::require("projects", "read"),
           {"My activity: recent events about the projects I am a member of and my own actions (no sign-ins), "
            "newest first; the cursor goes to older events",
            "projects",
            nullptr,
            http::list_schema(),
            200,
            {"limit", "after"}},
           my_activity});
}

}  // namespace atrium::projects
