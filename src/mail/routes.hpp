// GET and PUT /api/v1/me/notifications: the caller's own mail preferences and locale.
#pragma once

#include "http/api.hpp"

namespace atrium::mail {

void add_routes(http::Api& api);

}  // namespace atrium::mail
