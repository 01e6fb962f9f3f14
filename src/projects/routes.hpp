// HTTP routes of projects: create in an org, list/search, read, update, archive, delete, members.
#pragma once

#include "http/api.hpp"

namespace atrium::projects {
void add_routes(http::Api& api);
}
