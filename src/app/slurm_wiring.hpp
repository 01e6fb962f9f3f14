// The SLURM executor (slurm/): built when [compute.clusters.*] are configured, the backend of the
// remote partitions (jobs::Service::set_remote), its exec channel route and its metrics.
#pragma once

#include <memory>

#include "app/config.hpp"
#include "core/async.hpp"
#include "http/api.hpp"
#include "jobs/service.hpp"
#include "obs/health.hpp"
#include "obs/metrics.hpp"
#include "slurm/slurm.hpp"

namespace atrium::app {

class SlurmWiring {
 public:
  // Before compute.start(): the service (none without clusters), set as compute's remote backend,
  // and before the first health sample: its gauges slurm_nodes_down, slurm_nodes_drained (over every
  // cluster, from their full listings; unknown while one does not answer) and slurm_unreachable.
  SlurmWiring(const Settings& c, db::Database& db, const Clock& clock, async::Runtime& rt, jobs::Service& compute,
              const jobs::Settings& js, http::Api& api, obs::Metrics& metrics, obs::Health& health);
  ~SlurmWiring();
  // Once the server is bound (after compute.start()): {port} in the clusters' server_url, then the
  // trackers (a full listing first) and the hand-over workers start.
  void bound(unsigned short port);
  // Before compute.stop().
  void stop();
  slurm::Service* service() { return svc_.get(); }

 private:
  void add_gauges(obs::Health& health);

  std::unique_ptr<slurm::Service> svc_;
};

}  // namespace atrium::app
