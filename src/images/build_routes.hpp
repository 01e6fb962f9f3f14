// The image build routes (build_routes.cpp; docs/api.md).
#pragma once

#include "http/api.hpp"
#include "images/build.hpp"

namespace atrium::images {

void add_build_routes(http::Api& api, Builder& b);

}  // namespace atrium::images
