// GET /api/v1/orgs/{org}/usage: the org's allocated CPU-hours and GPU-hours by group, user or
// project per day, week or month (the runs split like /me/usage's), and its storage per project;
// GET /api/v1/orgs/{org}/fairshare: the org's fair-share tree as `sshare -l` shows it.
// Both need quotas:read over the whole org (org and instance administrators).
#include <set>

#include "data/store.hpp"
#include "identity/orgs.hpp"
#include "identity/store.hpp"
#include "jobs/routes.hpp"
#include "jobs/usage.hpp"
#include "projects/projects.hpp"

namespace atrium::jobs {
namespace {

using http::Access;
using http::Context;
using http::Response;
using nlohmann::json;

Error bad_query(const char* field, std::string detail) {
  return Error(ErrorCode::kInvalidArgument, "invalid-query", std::move(detail)).with("field", field);
}

// The org in the path, once the caller may read its usage (404 for a stranger, before anything else).
Result<identity::Org> usage_org(Context& ctx) {
  auto org = identity::get_org(ctx.t(), ctx.param("org"));
  if (!org) {
    ctx.filtered();
    return std::unexpected(org.error());
  }
  TRY_STATUS(ctx.authorize(http::Target{.org_id = org->id}));
  return *org;
}

struct UsageQuery {
  UsageBy by = UsageBy::kProject;
  Bucket bucket = Bucket::kDay;
  Millis from = 0, to = 0;
};

Result<UsageQuery> usage_query(Context& ctx) {
  UsageQuery q;
  std::string by(ctx.req.query_param("by").value_or("project"));
  if (by == "group") q.by = UsageBy::kGroup;
  else if (by == "user") q.by = UsageBy::kUser;
  else if (by != "project") return fail(bad_query("by", "by must be one of group, user, project"));
  std::string bucket(ctx.req.query_param("bucket").value_or("day"));
  if (bucket == "week") q.bucket = Bucket::kWeek;
  else if (bucket == "month") q.bucket = Bucket::kMonth;
  else if (bucket != "day") return fail(bad_query("bucket", "bucket must be one of day, week, month"));
  Millis now = ctx.now();
  q.to = TRY(query_time(ctx, "to", true)).value_or(now - now % kDayMs + kDayMs);
  q.from = TRY(query_time(ctx, "from", false)).value_or(q.to - 30 * kDayMs);
  if (q.from >= q.to) return fail(bad_query("from", "from must be before to"));
  // At most about 370 buckets: a year of days, seven years of weeks, thirty of months.
  Millis max_days = q.bucket == Bucket::kDay ? 366 : q.bucket == Bucket::kWeek ? 7 * 366 : 30 * 366;
  if (q.to - q.from > max_days * kDayMs)
    return fail(bad_query("from", "from..to spans at most " + std::to_string(max_days) + " days for bucket=" + bucket));
  return q;
}

std::string day_of(Millis t) { return format_rfc3339(t).substr(0, 10); }

// The name of each key (a group, user or project id) as the page shows it; a deleted one: null.
Result<json> key_json(db::Tx& tx, UsageBy by, const std::string& id) {
  if (by == UsageBy::kGroup) {
    auto g = id.empty() ? std::nullopt : TRY(identity::get_group(tx, id));
    return g ? json{{"id", id}, {"slug", g->slug}, {"name", g->name}} : json{{"id", id}, {"slug", nullptr}, {"name", nullptr}};
  }
  if (by == UsageBy::kUser) {
    auto u = TRY(identity::find_user(tx, id));
    return u && !u->deleted ? json{{"id", id}, {"slug", u->username}, {"name", u->display_name}}
                            : json{{"id", id}, {"slug", nullptr}, {"name", nullptr}};
  }
  auto p = TRY(projects::get(tx, id));
  return p ? json{{"id", id}, {"slug", p->slug}, {"name", p->name}} : json{{"id", id}, {"slug", nullptr}, {"name", nullptr}};
}

Result<json> storage_json(db::Tx& tx, const std::string& org_id) {
  json items = json::array();
  std::int64_t total = 0;
  for (auto& [id, bytes] : TRY(data::storage_by_project(tx, org_id))) {
    json k = TRY(key_json(tx, UsageBy::kProject, id));
    items.push_back({{"project_id", id}, {"slug", k["slug"]}, {"name", k["name"]}, {"bytes", bytes}});
    total += bytes;
  }
  return json{{"items", items}, {"total_bytes", total}};
}

Result<Response> org_usage(Context& ctx) {
  auto org = TRY(usage_org(ctx));
  auto q = TRY(usage_query(ctx));
  auto cells = usage_by_bucket(TRY(org_runs(ctx.t(), org.id, q.by, q.from, q.to, ctx.now())), q.from, q.to, q.bucket);
  json items = json::array(), buckets = json::array(), keys = json::array();
  std::set<std::string> ids;
  double cpu = 0, gpu = 0, used = 0;
  for (auto& c : cells) {
    items.push_back({{"bucket", day_of(c.day)},
                     {"key", c.key},
                     {"cpu_hours", c.cpu_hours},
                     {"gpu_hours", c.gpu_hours},
                     {"cpu_hours_used", c.cpu_hours_used}});
    ids.insert(c.key);
    cpu += c.cpu_hours;
    gpu += c.gpu_hours;
    used += c.cpu_hours_used;
  }
  for (Millis b = bucket_start(q.from, q.bucket); b < q.to; b = bucket_next(b, q.bucket)) buckets.push_back(day_of(b));
  for (auto& id : ids) keys.push_back(TRY(key_json(ctx.t(), q.by, id)));
  static const char* kBy[] = {"group", "user", "project"};
  static const char* kBucket[] = {"day", "week", "month"};
  return Response::json(200, {{"org_id", org.id},
                              {"from", format_rfc3339(q.from)},
                              {"to", format_rfc3339(q.to)},
                              {"by", kBy[static_cast<int>(q.by)]},
                              {"bucket", kBucket[static_cast<int>(q.bucket)]},
                              {"buckets", buckets},
                              {"items", items},
                              {"keys", keys},
                              {"totals", {{"cpu_hours", cpu}, {"gpu_hours", gpu}, {"cpu_hours_used", used}}},
                              {"storage", TRY(storage_json(ctx.t(), org.id))}});
}

json fs_numbers(double norm_shares, double raw, double norm_usage, double effective, double factor) {
  return {{"norm_shares", norm_shares},
          {"raw_usage", raw},
          {"norm_usage", norm_usage},
          {"effective_usage", effective},
          {"factor", factor}};
}

Result<Response> org_fairshare(Service& svc, Context& ctx) {
  auto org = TRY(usage_org(ctx));
  Millis now = ctx.now();
  auto tree = svc.fair_share_of(org.id, now);
  json accounts = json::array(), users = json::array();
  for (auto& a : tree.accounts) {
    json k = !a.is_group ? json{{"id", org.id}, {"slug", org.slug}, {"name", org.name}}
                         : TRY(key_json(ctx.t(), UsageBy::kGroup, a.group));
    json row = fs_numbers(a.norm_shares, a.raw_usage, a.norm_usage, a.effective_usage, a.factor);
    row.update({{"kind", a.is_group ? "group" : "org"}, {"id", k["id"]}, {"slug", k["slug"]},
                {"name", k["name"]}, {"shares", a.shares}});
    accounts.push_back(std::move(row));
  }
  for (auto& [r, shares] : tree.users) {
    json k = TRY(key_json(ctx.t(), UsageBy::kUser, r.assoc.user));
    json row = fs_numbers(r.norm_shares, r.raw_usage, r.norm_usage, r.effective_usage, r.factor);
    row.update({{"group_id", r.assoc.group}, {"user_id", r.assoc.user}, {"username", k["slug"]},
                {"name", k["name"]}, {"shares", shares}});
    users.push_back(std::move(row));
  }
  return Response::json(200, {{"org_id", org.id},
                              {"as_of", format_rfc3339(now)},
                              {"half_life_hours", static_cast<double>(tree.half_life) / 3'600'000.0},
                              {"usage_unit", "billing-seconds"},
                              {"accounts", accounts},
                              {"users", users}});
}

}  // namespace

void add_org_usage_routes(http::Api& api, Service& svc) {
  api.add({"GET", "/api/v1/orgs/{org}/usage", Access::require("quotas", "read"),
           {"An organisation's compute usage: allocated CPU-hours and GPU-hours (and measured CPU-hours) by "
            "by=group|user|project (default project) per bucket=day|week|month (UTC; weeks from Monday), from/to: "
            "dates or RFC 3339 times (default: the last 30 days); plus its storage per project",
            "jobs",
            nullptr,
            http::object_schema(),
            200,
            {"by", "bucket", "from", "to"}},
           org_usage});
  api.add({"GET", "/api/v1/orgs/{org}/fairshare", Access::require("quotas", "read"),
           {"An organisation's fair-share tree (this node's scheduler) as sshare -l shows it: the org, its groups "
            "and users with configured and normalised shares, decayed (raw) usage, effective usage and factor",
            "jobs",
            nullptr,
            http::object_schema()},
           [&svc](Context& ctx) { return org_fairshare(svc, ctx); }});
}

}  // namespace atrium::jobs
