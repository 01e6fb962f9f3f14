// GET /api/v1/admin/compute/queue: the instance's pending and running jobs across every org, each
// with its owner, its org and (a pending job of this server) its priority factors as `sprio`
// shows them. Instance administrators only; hold, release and cancel use the job routes.
#include "identity/store.hpp"
#include "jobs/routes.hpp"

namespace atrium::jobs {

using nlohmann::json;

json Names::user(const std::string& id) {
  auto [it, fresh] = users_.try_emplace(id);
  if (fresh) {
    auto u = identity::get_user(tx_, id);
    it->second = u ? json{{"id", id}, {"username", u->username}} : json{{"id", id}, {"username", nullptr}};
  }
  return it->second;
}

json Names::org(const std::string& id) {
  if (id.empty()) return nullptr;
  auto [it, fresh] = orgs_.try_emplace(id);
  if (fresh) {
    auto o = identity::get_org(tx_, id);
    it->second = o ? json{{"id", id}, {"slug", o->slug}, {"name", o->name}}
                   : json{{"id", id}, {"slug", nullptr}, {"name", nullptr}};
  }
  return it->second;
}

Result<std::string> org_query(http::Context& ctx) {
  auto org = ctx.req.query_param("org");
  if (!org || org->empty()) return std::string();
  auto o = identity::get_org(ctx.t(), std::string(org->substr(0, 64)));
  if (!o) return fail(Error(ErrorCode::kNotFound, "not-found", "no such organisation").with("field", "org"));
  return o->id;
}

namespace {

using http::Context;
using http::Response;

json factors_json(const Service::Ranked& r, int nice) {
  const auto& f = r.factors;
  return {{"age", f.age},         {"fair_share", f.fair_share}, {"job_size", f.job_size},
          {"qos", f.qos},         {"nice", nice},               {"priority", f.priority},
          {"rank", r.rank}};
}

Result<Response> admin_queue(Service& svc, Context& ctx) {
  TRY_STATUS(ctx.authorize(http::Target{}));  // instance administrators only
  auto page = TRY(ctx.page(500));
  ListFilter f;
  f.after = page.after;
  f.limit = page.limit;
  std::string state(ctx.req.query_param("state").value_or(""));
  if (state.empty()) f.states = {"PENDING", "RUNNING"};
  else if (state == "PENDING" || state == "RUNNING") f.states = {state};
  else
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-query", "state must be PENDING or RUNNING")
                    .with("field", "state"));
  f.org_id = TRY(org_query(ctx));
  auto rows = TRY(list(ctx.t(), f));
  auto ranked = svc.priority_factors();
  Names names(ctx.t());
  json items = json::array();
  for (auto& r : rows) {
    json j = svc.to_json(r);
    auto it = ranked.find(r.id());
    j["factors"] = it == ranked.end() ? json(nullptr) : factors_json(it->second, r.job.nice);
    j["user"] = names.user(r.user_id());
    j["org"] = names.org(r.org_id());
    items.push_back(std::move(j));
  }
  std::optional<std::string> next;
  if (static_cast<int>(rows.size()) == f.limit && !rows.empty()) next = rows.back().id();
  json body = http::page_json(std::move(items), next);
  const auto& w = svc.priority_weights();
  body["weights"] = {{"age", w.age}, {"fair_share", w.fair_share}, {"job_size", w.job_size}, {"qos", w.qos}};
  body["pending_total"] = ranked.size();
  return Response::json(200, body);
}

}  // namespace

void add_admin_routes(http::Api& api, Service& svc) {
  api.add({"GET", "/api/v1/admin/compute/queue", http::Access::require("jobs", "admin"),
           {"Every org's pending and running jobs (instance administrators), oldest id first, each with its user, "
            "its org and, for a pending job of this server, its priority factors (age, fair_share, job_size, qos "
            "in [0, 1], nice, the weighted priority and its rank in the queue, as sprio shows); the weights; "
            "?state=PENDING|RUNNING, ?org= an org id or slug",
            "jobs", nullptr, http::list_schema(), 200, {"state", "org", "limit", "after"}},
           [&svc](Context& ctx) { return admin_queue(svc, ctx); }});
}

}  // namespace atrium::jobs
