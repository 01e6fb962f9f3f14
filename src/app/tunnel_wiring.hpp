// app/: environments on SLURM nodes, reached through their node's tunnel (src/tunnel).
#pragma once

#include "envs/service.hpp"
#include "http/api.hpp"
#include "tunnel/service.hpp"

namespace atrium::app {

// The tunnel's route, and its sockets for envs (`s` returned with them). Its exec token check
// (tunnel::Settings::verify) is the slurm module's: unset, every tunnel is refused.
envs::Settings with_tunnels(envs::Settings s, tunnel::Service& tunnels, http::Api& api);

}  // namespace atrium::app
