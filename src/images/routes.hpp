// HTTP routes of images (docs/images.md): pulls into a project or an org, lists, one image, removal,
// the project's default image, and the org's registry credentials.
#pragma once

#include "http/api.hpp"
#include "images/images.hpp"

namespace atrium::tasks {
class Queue;
}

namespace atrium::images {
void add_routes(http::Api& api, Service& svc);
}  // namespace atrium::images
