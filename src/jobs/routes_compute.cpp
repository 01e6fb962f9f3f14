// GET /api/v1/compute/partitions (where jobs and environments may run) and an org's default
// partition, GET/PUT /api/v1/orgs/{org}/compute.
#include "audit/audit.hpp"
#include "identity/store.hpp"
#include "jobs/routes.hpp"

namespace atrium::jobs {
namespace {

using http::Context;
using http::Response;
using nlohmann::json;

// The partitions the caller's orgs may use (an instance administrator: all); ?org= one of them,
// whose default is then marked (without it: the server's default).
Result<Response> list_partitions(Service& svc, Context& ctx) {
  std::string org_param(ctx.req.query_param("org").value_or(""));
  std::vector<std::string> orgs;
  std::string org_id;
  if (!org_param.empty()) {
    auto org = identity::get_org(ctx.t(), org_param);
    if (!org || (!ctx.who().is_member_of(org->id) && !ctx.who().is_instance_admin())) return not_found("organisation");
    org_id = org->id;
    orgs.push_back(org_id);
  } else if (!ctx.who().is_instance_admin()) {
    for (auto& b : ctx.who().bindings)
      if (!b.org_id.empty()) orgs.push_back(b.org_id);
    if (orgs.empty()) orgs.push_back("");  // no org: only the local partition
  }
  return Response::json(200, TRY(svc.partitions_json(ctx.t(), orgs, org_id)));
}

Result<identity::Org> org_of(Context& ctx) {
  auto org = TRY(identity::get_org(ctx.t(), ctx.param("org")));
  TRY_STATUS(ctx.authorize(http::Target{.org_id = org.id}));  // 404 for strangers, before any other answer
  return org;
}

Result<json> compute_json(Service& svc, Context& ctx, const std::string& org_id) {
  auto oc = TRY(org_compute(ctx.t(), org_id));
  auto effective = TRY(svc.default_partition(ctx.t(), org_id));
  return json{{"org_id", org_id},
              {"default_partition", oc.default_partition.empty() ? json(nullptr) : json(oc.default_partition)},
              {"effective_default_partition", effective},
              {"etag", http::etag_of(oc.version)}};
}

Result<Response> show_compute(Service& svc, Context& ctx) {
  auto org = TRY(org_of(ctx));
  auto j = TRY(compute_json(svc, ctx, org.id));
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> put_compute(Service& svc, Context& ctx) {
  auto org = TRY(org_of(ctx));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"default_partition"}));
  // null: no default of the org's own any more (the server's compute.default_partition applies).
  auto name = TRY(b.opt_str("default_partition", 64));
  if (!b.has("default_partition") || (name && name->empty()))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field",
                      "default_partition (a partition name, or null for the server's) is required")
                    .with("field", "default_partition"));
  if (!name) name = "";
  auto cur = TRY(org_compute(ctx.t(), org.id));
  TRY_STATUS(ctx.check_if_match(http::etag_of(cur.version)));
  if (auto st = name->empty() ? Status{} : svc.check_partition(ctx.t(), *name, org.id); !st) {
    Error e = st.error();
    e.extra["field"] = "default_partition";
    return fail(std::move(e));
  }
  if (!TRY(set_org_compute(ctx.t(), org.id, *name, cur.version)))
    return fail(ErrorCode::kAborted, "concurrent-change", "the org's compute settings changed meanwhile; retry");
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {org.id, "org.compute_update", "org", org.id,
                            {{"default_partition", name->empty() ? json(nullptr) : json(*name)}}},
                           ctx.now()));
  auto j = TRY(compute_json(svc, ctx, org.id));
  return http::with_etag(Response::json(200, j), j);
}

}  // namespace

void add_compute_routes(http::Api& api, Service& svc) {
  const json kObj = http::object_schema();
  api.add({"GET", "/api/v1/compute/partitions", http::Access::signed_in(),
           {"Partitions my organisations may run jobs and environments on (local: this server; slurm: a SLURM "
            "partition), with their limits; ?org= one of them (its default is marked)",
            "jobs", nullptr, kObj, 200, {"org"}},
           [&svc](Context& ctx) { return list_partitions(svc, ctx); }});
  api.add({"GET", "/api/v1/orgs/{org}/compute", http::Access::require("orgs", "read"),
           {"The org's compute settings: its default partition (null: the server's)", "jobs", nullptr, kObj},
           [&svc](Context& ctx) { return show_compute(svc, ctx); }});
  api.add({"PUT", "/api/v1/orgs/{org}/compute", http::Access::require("orgs", "write"),
           {"Set the org's default partition (org admin; If-Match, * before any is set); it must exist and be usable "
            "by the org; null: the server's default again",
            "jobs",
            json{{"type", "object"},
                 {"required", {"default_partition"}},
                 {"properties", {{"default_partition", {{"type", {"string", "null"}}}}}}},
            kObj},
           [&svc](Context& ctx) { return put_compute(svc, ctx); }});
}

}  // namespace atrium::jobs
