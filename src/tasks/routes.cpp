#include "tasks/routes.hpp"

#include "core/ids.hpp"
#include "tasks/tasks.hpp"

namespace atrium::tasks {
namespace {

using http::Context;
using http::Response;
using nlohmann::json;

Error bad_field(const std::string& field, std::string detail) {
  return Error(ErrorCode::kInvalidArgument, "invalid-argument", std::move(detail)).with("field", field);
}

// Tasks are instance-level: only a principal with tasks:admin over the whole instance passes.
Result<std::string> task_id(Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{}));
  const std::string& id = ctx.param("id");
  if (!is_id(id, "tsk")) return not_found("task '" + id + "'");
  return id;
}

Result<Response> list_tasks(Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{}));
  auto page = TRY(ctx.page(500));
  ListFilter f{.limit = page.limit, .after = page.after};
  f.state = std::string(ctx.req.query_param("state").value_or(""));
  f.kind = std::string(ctx.req.query_param("kind").value_or(""));
  if (!f.state.empty() && f.state != "queued" && f.state != "running" && f.state != "succeeded" && f.state != "dead")
    return fail(bad_field("state", "state must be one of queued, running, succeeded, dead"));
  if (f.kind.size() > 64) return fail(bad_field("kind", "kind has at most 64 characters"));
  json items = json::array();
  for (auto& t : TRY(list(ctx.t(), f))) items.push_back(t.json());
  return http::paged(std::move(items), f.limit, "id");
}

Result<Response> get_task(Context& ctx) {
  auto id = TRY(task_id(ctx));
  auto t = TRY(get(ctx.t(), id));
  if (!t) return not_found("task '" + id + "'");
  return Response::json(200, t->json());
}

Result<Response> retry_task(Context& ctx) {
  auto id = TRY(task_id(ctx));
  auto t = TRY(retry(ctx.t(), ctx.actor(), id, ctx.now()));
  return Response::json(200, t.json());
}

Result<Response> delete_task(Context& ctx) {
  auto id = TRY(task_id(ctx));
  TRY_STATUS(remove(ctx.t(), ctx.actor(), id, ctx.now()));
  return Response::no_content();
}

}  // namespace

void add_routes(http::Api& api) {
  const json task = http::object_schema();
  api.add({"GET", "/api/v1/tasks", http::Access::require("tasks", "admin"),
           {"Background tasks, oldest first (filters: state = queued|running|succeeded|dead, kind); never their "
            "payloads",
            "tasks", nullptr, http::list_schema(), 200, {"state", "kind", "limit", "after"}},
           list_tasks});
  api.add({"GET", "/api/v1/tasks/{id}", http::Access::require("tasks", "admin"),
           {"One background task: its state, attempts, next run and last error", "tasks", nullptr, task},
           get_task});
  api.add({"POST", "/api/v1/tasks/{id}/retry", http::Access::require("tasks", "admin"),
           {"Queue a dead task again with its attempts reset (audited)", "tasks", nullptr, task}, retry_task});
  api.add({"DELETE", "/api/v1/tasks/{id}", http::Access::require("tasks", "admin"),
           {"Delete a dead task (audited)", "tasks", nullptr, nullptr, 204}, delete_task});
}

}  // namespace atrium::tasks
