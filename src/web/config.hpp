// The [web] section: where the built web UI is (the server serves it at /).
#pragma once

#include <string>

#include "core/config.hpp"

namespace atrium::web {

struct Config {
  // The built UI (index.html, assets/). Empty: beside the binary, <bin>/../web (the build tree)
  // or <bin>/../share/atrium/web (an install).
  std::string assets_dir;
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::web
