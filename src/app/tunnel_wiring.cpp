#include "app/tunnel_wiring.hpp"

namespace atrium::app {

envs::Settings with_tunnels(envs::Settings s, tunnel::Service& tunnels, http::Api& api) {
  tunnels.add_routes(api);
  s.tunnel_socket = [&tunnels](const std::string& job) { return tunnels.socket_for(job); };
  return s;
}

}  // namespace atrium::app
