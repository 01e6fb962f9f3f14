#include "app/tunnel_wiring.hpp"

namespace atrium::app {

std::unique_ptr<tunnel::Service> make_tunnels(const Settings& c, db::Database& db, async::Runtime& rt,
                                              slurm::Service* slurm) {
  tunnel::Settings s{.data_dir = c.server.data_dir};
  if (slurm)
    s.verify = [slurm](const std::string& job_id, const std::string& token) {
      return slurm->verify_exec_token(job_id, token);
    };
  return std::make_unique<tunnel::Service>(db, rt, std::move(s));
}

envs::Settings with_tunnels(envs::Settings s, tunnel::Service& tunnels, http::Api& api) {
  tunnels.add_routes(api);
  s.tunnel_socket = [&tunnels](const std::string& job) { return tunnels.socket_for(job); };
  return s;
}

}  // namespace atrium::app
