// The [envs] section: where environments are served (each on an origin of its own).
#pragma once

#include <string>

#include "core/config.hpp"

namespace atrium::envs {

struct Config {
  std::string domain = "env.localhost";  // each environment at <env-label>.<domain> (its own origin)
  bool path_mode = false;                // opt-in: serve at <public_url>/env/<id>/ (shares the origin)
  int cull_warning_s = 300;              // the warning (event, mail) comes this long before a cull
  int files_sync_s = 300;                // project views synced and homes measured this often (0: only at stop)
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::envs
