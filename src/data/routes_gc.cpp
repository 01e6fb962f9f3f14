// Garbage collection as a durable task ("data.gc"): POST /api/v1/admin/gc enqueues one (audited)
// and waits a while for its report; a collection that outlasts the wait goes on, and the answer
// is 202 with the task to follow at /api/v1/tasks/{id}.
#include "audit/audit.hpp"
#include "data/routes.hpp"
#include "tasks/tasks.hpp"

namespace atrium::data {
namespace {

using http::Context;
using http::Response;
using nlohmann::json;

constexpr Millis kRouteWaitMs = 60'000;

Result<Response> admin_gc(tasks::Queue& queue, Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{}));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"dry_run"}));
  bool dry = TRY(b.opt_bool("dry_run")).value_or(false);
  auto id = TRY(ctx.db().write([&](db::Tx& tx) -> Result<std::string> {
    auto id = TRY(tasks::enqueue(tx, {.kind = "data.gc", .payload = {{"dry_run", dry}}, .max_attempts = 3}, ctx.now()));
    TRY_STATUS(audit::record(tx, ctx.actor(), {"", "data.gc", "task", id, {{"dry_run", dry}}}, ctx.now()));
    return id;
  }));
  auto t = TRY(queue.await_done(id, kRouteWaitMs));
  if (!t) return not_found("task '" + id + "'");  // an admin deleted it meanwhile
  if (t->state == "succeeded") {
    json report = t->result.is_object() ? t->result : json::object();
    report["task_id"] = id;
    return Response::json(200, report);
  }
  if (t->state == "dead")
    return fail(Error(ErrorCode::kInternal, "gc-failed", "garbage collection failed: " + t->last_error)
                    .with("task_id", id));
  return Response::json(202, t->json());
}

}  // namespace

void add_gc(http::Api& api, Service& svc, tasks::Queue& queue) {
  queue.handle_with_result("data.gc", [&svc](const tasks::Task& t) -> Result<json> {
    bool dry = t.payload.value("dry_run", false);
    return TRY(svc.gc(dry)).json();
  });
  api.add({"POST", "/api/v1/admin/gc", http::Access::require("files", "admin"),  // instance administrators
           {"Collect unreferenced blobs, expired uploads and orphaned staging files ({dry_run: true} only counts): "
            "runs as a data.gc task; answers its report, or 202 with the task when it outlasts a minute",
            "files", json{{"type", "object"}, {"properties", {{"dry_run", {{"type", "boolean"}}}}}},
            http::object_schema()},
           std::bind_front(admin_gc, std::ref(queue)),
           http::TxMode::kNone});
}

}  // namespace atrium::data
