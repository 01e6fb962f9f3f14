// HTTP routes of the audit trail: list, export (JSON lines), verify.
#pragma once

#include "http/api.hpp"

namespace atrium::audit {
void add_routes(http::Api& api);
}
