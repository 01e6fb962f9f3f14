// HTTP routes of jobs: submit in a project, list, show (with events), cancel, hold, release,
// requeue, logs by byte offset, and the node's compute state.
#pragma once

#include "http/api.hpp"
#include "jobs/service.hpp"

namespace atrium::async {
class Runtime;
}

namespace atrium::jobs {
// Live log streams read on `rt`'s worker pool.
void add_routes(http::Api& api, Service& service, async::Runtime& rt);
// GET /api/v1/jobs/events: server-sent events of job changes (routes_events.cpp).
void add_event_routes(http::Api& api, Service& service, async::Runtime& rt);
}
