#include "app/slurm_wiring.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "identity/store.hpp"
#include "jobs/store.hpp"

namespace atrium::app {

namespace {
[[noreturn]] void die(const Error& e) {
  std::fprintf(stderr, "atrium: slurm: %s\n", e.detail.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}
}  // namespace

SlurmWiring::SlurmWiring(const Settings& c, db::Database& db, const Clock& clock, async::Runtime& rt,
                         jobs::Service& compute, const jobs::Settings& js, http::Api& api, obs::Metrics& metrics,
                         obs::Health& health) {
  if (c.slurm.clusters.empty()) return;
  slurm::Settings s{.config = c.slurm, .data_dir = c.server.data_dir, .exe = js.exe, .kill_grace = js.kill_grace};
  s.parallel_handovers = std::clamp(c.server.worker_threads / 4, 1, 8);  // the rest serves requests
  slurm::JobsPort port{
      .prepare = [&compute](const std::string& id,
                            const std::filesystem::path& node) { return compute.prepare_remote(id, node); },
      .observe = [&compute](const std::string& id, const jobs::Observation& o) { return compute.observe_remote(id, o); },
      .secrets = [&compute](const std::string& id) { return compute.remote_secrets(id); },
      .get = [&db](const std::string& id) { return db.read([&](db::Tx& tx) { return jobs::get(tx, id); }); },
      .org_slug = [](db::Tx& tx, const std::string& org_id) -> Result<std::string> {
        return TRY(identity::get_org(tx, org_id)).slug;
      }};
  svc_ = std::make_unique<slurm::Service>(db, clock, rt, std::move(s), std::move(port));
  if (auto st = svc_->init(); !st) die(st.error());
  compute.set_remote(svc_.get());
  slurm::add_routes(api, *svc_);
  metrics.add_source([svc = svc_.get()] { return svc->render_metrics(); });
  add_gauges(health);
  spdlog::info("slurm: {} cluster(s), {} partition(s)", c.slurm.clusters.size(), c.slurm.partitions.size());
}

SlurmWiring::~SlurmWiring() { stop(); }

void SlurmWiring::bound(unsigned short port) {
  if (!svc_) return;
  svc_->set_server_port(port);
  if (auto st = svc_->start(); !st) die(st.error());
}

void SlurmWiring::add_gauges(obs::Health& health) {
  auto nodes = [svc = svc_.get()](std::int64_t slurm::NodeCounts::*field) -> std::optional<double> {
    auto n = svc->nodes();
    if (!n) return std::nullopt;
    return static_cast<double>((*n).*field);
  };
  health.add_gauge({"slurm_nodes_down", "count", "SLURM nodes down, failing or not responding (every cluster)"},
                   [nodes] { return nodes(&slurm::NodeCounts::down); });
  health.add_gauge({"slurm_nodes_drained", "count", "SLURM nodes drained or draining (every cluster)"},
                   [nodes] { return nodes(&slurm::NodeCounts::drained); });
  health.add_gauge({"slurm_unreachable", "count", "SLURM clusters whose slurmrestd or slurmctld does not answer"},
                   [svc = svc_.get()] { return std::optional<double>(svc->unreachable_clusters()); });
}

void SlurmWiring::stop() {
  if (svc_) svc_->stop();
}

}  // namespace atrium::app
