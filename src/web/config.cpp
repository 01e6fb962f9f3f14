#include "web/config.hpp"

namespace atrium::web {

void declare(config::Registry& r, Config& c) {
  r.section("web", c).path("assets_dir",
                           "the built web UI; empty: <bin>/../web, else <bin>/../share/atrium/web",
                           &Config::assets_dir);
}

}  // namespace atrium::web
