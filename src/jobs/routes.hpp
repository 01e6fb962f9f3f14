// HTTP routes of jobs: submit in a project, list, show (with events), cancel, hold, release,
// requeue, logs by byte offset, and the node's compute state.
#pragma once

#include "http/api.hpp"
#include "jobs/service.hpp"
#include "projects/projects.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::jobs {
// Live log streams read on `rt`'s worker pool.
void add_routes(http::Api& api, Service& service, async::Runtime& rt);
// GET /api/v1/jobs/events: server-sent events of job changes (routes_events.cpp).
void add_event_routes(http::Api& api, Service& service, async::Runtime& rt);
// GET /api/v1/compute/partitions, GET/PUT /api/v1/orgs/{org}/compute (routes_compute.cpp).
void add_compute_routes(http::Api& api, Service& service);
// For the instance administrators' lists: a user's {id, username} and an org's {id, slug, name},
// each looked up once per request.
class Names {
 public:
  explicit Names(db::Tx& tx) : tx_(tx) {}
  nlohmann::json user(const std::string& id);
  nlohmann::json org(const std::string& id);  // null for ""

 private:
  db::Tx& tx_;
  std::map<std::string, nlohmann::json> users_, orgs_;
};
// ?org= (an org id or slug) of an instance administrator's list: its id, "" when absent; 404
// (field org) for none such.
Result<std::string> org_query(http::Context& ctx);
// GET /api/v1/admin/compute/queue: every org's queue with priority factors (routes_admin.cpp).
void add_admin_routes(http::Api& api, Service& service);
// The request's `datasets` (a list of "name", its latest version, or "name@N"), datasets of
// project `p` pinned to versions now, appended to `out`; asks files:read of the caller (they are
// mounted read-only at /data/<name>). 400 invalid-dataset (field datasets) names what is wrong.
Status parse_datasets(http::Context& ctx, const http::JsonBody& b, const projects::Project& p,
                      std::vector<DatasetMount>& out);
}
