// GET /api/v1/admin/envs: the environments of every org (instance administrators), each with its
// owner, its org, its uptime and how long it has been idle; stopping one uses POST /envs/{id}/stop.
#include "envs/routes.hpp"
#include "jobs/routes.hpp"

namespace atrium::envs {
namespace {

using http::Context;
using http::Response;
using nlohmann::json;

Result<Response> admin_envs(Service& svc, Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{}));  // instance administrators only
  auto page = TRY(ctx.page(500));
  ListFilter f;
  f.after = page.after;
  f.limit = page.limit;
  std::string active(ctx.req.query_param("active").value_or("true"));
  if (active != "true" && active != "false")
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "active must be true or false")
                    .with("field", "active"));
  f.active_only = active == "true";
  f.org_id = TRY(jobs::org_query(ctx));
  jobs::Names names(ctx.t());
  Millis now = ctx.now();
  json items = json::array();
  auto rows = TRY(list_envs(ctx.t(), f));
  for (auto& e : rows) {
    json j = svc.to_json(e);
    j["owner"] = names.user(e.user_id);
    j["org"] = names.org(e.org_id);
    Millis end = e.ended.value_or(now);
    j["uptime_s"] = e.ready ? json((end - *e.ready) / 1000) : json(nullptr);
    j["idle_s"] = e.active() && e.last_activity > 0 ? json((now - e.last_activity) / 1000) : json(nullptr);
    items.push_back(std::move(j));
  }
  return http::paged(std::move(items), f.limit, "id");
}

}  // namespace

void add_admin_routes(http::Api& api, Service& svc) {
  api.add({"GET", "/api/v1/admin/envs", http::Access::require("envs", "admin"),
           {"Every org's environments (instance administrators): the running ones unless ?active=false, each with "
            "its owner, its org, uptime_s (since ready) and idle_s (since its last activity); ?org= an org id or slug",
            "envs", nullptr, http::list_schema(), 200, {"active", "org", "limit", "after"}},
           [&svc](Context& ctx) { return admin_envs(svc, ctx); }});
}

}  // namespace atrium::envs
