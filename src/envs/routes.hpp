// The API of the app catalog (/api/v1/apps) and of environments (/api/v1/projects/{id}/envs,
// /api/v1/envs/...): launch, list, show, events (JSON or server-sent events), logs, stop, guest links.
#pragma once

#include "envs/service.hpp"
#include "http/api.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::envs {

// Event streams read on `rt`'s worker pool.
void add_routes(http::Api& api, Service& svc, async::Runtime& rt);
// GET /api/v1/admin/envs: every org's environments (routes_admin.cpp).
void add_admin_routes(http::Api& api, Service& svc);

}  // namespace atrium::envs
