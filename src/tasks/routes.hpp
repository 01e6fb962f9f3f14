// The admin API of the task queue: /api/v1/tasks (instance administrators only).
#pragma once

#include "http/api.hpp"

namespace atrium::tasks {

void add_routes(http::Api& api);

}  // namespace atrium::tasks
