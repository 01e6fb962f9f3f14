#include <limits>

#include "identity/routes_detail.hpp"

namespace atrium::identity::detail {
namespace {

Result<std::optional<std::int64_t>> opt_limit(const http::JsonBody& b, const char* key) {
  return b.opt_integer(key, 0, std::numeric_limits<std::int64_t>::max() / 2);
}

// The quota subject a path names ({kind}/{subject}): the org, one of its groups or members.
Result<Target> quota_target(Context& ctx, const Org& o) {
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
}

std::string subject_id(const Target& t) {
  return !t.owner_id.empty() ? t.owner_id : !t.group_id.empty() ? t.group_id : t.org_id;
}

// ---- handlers, one per endpoint

Result<Response> quotas_list(const RouteDeps& deps, Context& ctx) {
  auto o = TRY(org_of(ctx));
  return Response::json(200, http::page_json(TRY(quota::list_json(ctx.t(), deps.quotas, o.id)), std::nullopt));
}

Result<Response> quota_show(const RouteDeps& deps, Context& ctx) {
  auto o = TRY(org_of(ctx, &kOrgRead));
  auto t = TRY(quota_target(ctx, o));
  TRY_STATUS(ctx.authorize(t));
  auto j = TRY(quota::get_json(ctx.t(), deps.quotas, {o.id, ctx.param("kind"), subject_id(t)}));
  return with_etag(Response::json(200, j), j);
}

Result<Response> quota_put(const RouteDeps& deps, Context& ctx) {
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
}

}  // namespace

void add_quota_routes(http::Api& api, const RouteDeps& deps) {
  // ---------------------------------------------------------------- quotas
  api.add({"GET", "/api/v1/orgs/{org}/quotas", Access::require("quotas", "read"),
           {"Quota limits and usage of an organisation, its groups and users", "quotas", nullptr, list_schema()},
           std::bind_front(quotas_list, deps)});

  api.add({"GET", "/api/v1/orgs/{org}/quotas/{kind}/{subject}", Access::require("quotas", "read"),
           {"One quota: limits and usage", "quotas", nullptr, kObj},
           std::bind_front(quota_show, deps)});

  api.add({"PUT", "/api/v1/orgs/{org}/quotas/{kind}/{subject}", Access::require("quotas", "write"),
           {"Set a quota's limits (null = unlimited); If-Match: * when none is set yet", "quotas",
            obj({{"storage_bytes", "integer"},
                 {"cpu_hours", "integer"},
                 {"cpu_period_days", "integer"},
                 {"concurrent_jobs", "integer"},
                 {"concurrent_envs", "integer"}}),
            kObj},
           std::bind_front(quota_put, deps)});
}

}  // namespace atrium::identity::detail
