// HTTP routes of projects: create in an org, list/search, read, update, archive, delete, members.
#pragma once

#include "http/api.hpp"
#include "projects/projects.hpp"

namespace atrium::projects {
void add_routes(http::Api& api);
// GET /api/v1/me/activity (routes_activity.cpp; add_routes adds it).
void add_activity_route(http::Api& api);

// The project a route's {id} names, authorized for `perm` in `tx`: 404 for anyone who may not
// see it (the routes of other modules that act inside a project start here).
Result<Project> load_in_route(http::Context& ctx, db::Tx& tx, const http::Permission& perm);
// 409 project-archived: an archived project takes no new content.
Status check_writable(const Project& p);
}  // namespace atrium::projects
