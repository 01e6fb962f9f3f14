// app/: environments on SLURM nodes, reached through their node's tunnel (src/tunnel).
#pragma once

#include <memory>

#include "app/config.hpp"
#include "core/async.hpp"
#include "db/database.hpp"
#include "envs/service.hpp"
#include "http/api.hpp"
#include "slurm/slurm.hpp"
#include "tunnel/service.hpp"

namespace atrium::app {

// The tunnels' service; exec tokens are checked by `slurm` (null: no cluster, every tunnel refused).
std::unique_ptr<tunnel::Service> make_tunnels(const Settings& c, db::Database& db, async::Runtime& rt,
                                              slurm::Service* slurm);
// The tunnel's route, and its sockets for envs (`s` returned with them).
envs::Settings with_tunnels(envs::Settings s, tunnel::Service& tunnels, http::Api& api);

}  // namespace atrium::app
