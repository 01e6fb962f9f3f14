// GET /api/v1/me/usage: the caller's CPU-hours and GPU-hours per project per day (jobs/usage.hpp).
#include <set>

#include "jobs/usage.hpp"
#include "projects/projects.hpp"

namespace atrium::jobs {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

constexpr Millis kMaxSpanMs = 366 * kDayMs;

Result<Response> my_usage(Context& ctx) {
  ctx.filtered();  // the caller's own jobs only
  if (auto b = ctx.req.query_param("bucket"); b && *b != "day")
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "bucket must be 'day'").with("field", "bucket"));
  Millis now = ctx.now();
  Millis to = TRY(query_time(ctx, "to", true)).value_or(now - now % kDayMs + kDayMs);
  Millis from = TRY(query_time(ctx, "from", false)).value_or(to - 30 * kDayMs);
  if (from >= to)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "from must be before to").with("field", "from"));
  if (to - from > kMaxSpanMs)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "from..to spans at most 366 days")
                    .with("field", "from"));
  const std::string& me = ctx.who().user_id;
  auto cells = usage_by_bucket(TRY(user_runs(ctx.t(), me, from, to, now)), from, to, Bucket::kDay);
  json items = json::array();
  std::set<std::string> ids;
  double cpu = 0, gpu = 0;
  for (auto& c : cells) {
    items.push_back({{"day", format_rfc3339(c.day).substr(0, 10)},
                     {"project_id", c.key},
                     {"cpu_hours", c.cpu_hours},
                     {"gpu_hours", c.gpu_hours},
                     {"cpu_hours_used", c.cpu_hours_used}});
    ids.insert(c.key);
    cpu += c.cpu_hours;
    gpu += c.gpu_hours;
  }
  // The projects' names where the caller still sees them (a deleted or hidden one: its id only).
  json projects = json::array();
  for (auto& id : ids) {
    auto p = TRY(projects::get_for(ctx.t(), id, me));
    projects.push_back(p ? json{{"id", id}, {"org_id", p->org_id}, {"slug", p->slug}, {"name", p->name}}
                         : json{{"id", id}, {"org_id", nullptr}, {"slug", nullptr}, {"name", nullptr}});
  }
  return Response::json(200, {{"from", format_rfc3339(from)},
                              {"to", format_rfc3339(to)},
                              {"bucket", "day"},
                              {"items", items},
                              {"projects", projects},
                              {"totals", {{"cpu_hours", cpu}, {"gpu_hours", gpu}}}});
}

}  // namespace

Result<std::optional<Millis>> query_time(Context& ctx, const char* name, bool end_of_day) {
  auto v = ctx.req.query_param(name);
  if (!v) return std::optional<Millis>{};
  Millis t = 0;
  bool date_only = v->size() == 10;
  if (!parse_rfc3339(date_only ? std::string(*v) + "T00:00:00Z" : std::string(*v), t))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query",
                      std::string(name) + " must be a date (2026-12-01) or an RFC 3339 time")
                    .with("field", name));
  if (date_only && end_of_day) t += kDayMs;
  return std::optional<Millis>{t};
}

void add_usage_routes(http::Api& api) {
  api.add({"GET", "/api/v1/me/usage", Access::require("jobs", "read"),
           {"My compute usage: allocated CPU-hours and GPU-hours (and measured CPU-hours) per project per UTC "
            "day, from my jobs' runs; from/to: dates or RFC 3339 times (default: the last 30 days)",
            "jobs",
            nullptr,
            http::object_schema(),
            200,
            {"from", "to", "bucket"}},
           my_usage});
}

}  // namespace atrium::jobs
