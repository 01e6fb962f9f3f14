#include "slurm/cluster.hpp"

#include <spdlog/spdlog.h>

namespace atrium::slurm {

namespace {
constexpr Millis kMinBackoff = 1'000, kMaxBackoff = 30'000;
}

Cluster::Cluster(Service& svc, std::string name, ClusterConfig cfg, RestConfig rest)
    : svc_(svc), name_(std::move(name)), cfg_(std::move(cfg)), rest_(std::move(rest)) {}

Cluster::~Cluster() { stop(); }

void Cluster::start() {
  tracker_ = std::make_unique<async::Periodic>(svc_.rt_, svc_.clock_, cfg_.poll_ms, [this] { return tracker_run(); });
  handover_ = std::make_unique<async::Periodic>(svc_.rt_, svc_.clock_, svc_.settings_.handover_retry,
                                                [this] { return handover_run(); });
  tracker_->start();
  handover_->start();
}

void Cluster::stop() {
  if (handover_) handover_->stop();
  if (tracker_) tracker_->stop();
}

void Cluster::kick_handover() {
  if (handover_) handover_->kick();
}

void Cluster::kick_tracker() {
  if (tracker_) tracker_->kick();
}

std::optional<Millis> Cluster::unknown_since() const {
  std::lock_guard lk(mu_);
  return unknown_since_;
}

jobs::PartitionLimits Cluster::limits(const std::string& slurm_partition) const {
  std::lock_guard lk(mu_);
  auto it = partitions_.find(slurm_partition);
  if (it == partitions_.end()) return {};
  return jobs::PartitionLimits{.max_cpus = it->second.max_cpus_per_node,
                               .max_mem_mb = it->second.max_mem_mb_per_node,
                               .max_time = it->second.max_time_min * 60'000};
}

std::optional<NodeCounts> Cluster::nodes() const {
  std::lock_guard lk(mu_);
  if (unknown_since_) return std::nullopt;
  return nodes_;
}

std::string Cluster::server_url() const {
  std::string url = cfg_.server_url, port;
  {
    std::lock_guard lk(svc_.mu_);
    port = svc_.server_port_;
  }
  if (auto at = url.find("{port}"); at != std::string::npos && !port.empty()) url.replace(at, 6, port);
  return url;
}

std::string Cluster::node_data_dir() const {
  return cfg_.shared_dir.empty() ? svc_.settings_.data_dir : cfg_.shared_dir;
}

std::string Cluster::metrics() const {
  std::lock_guard lk(mu_);
  std::string out;
  for (auto& [call, n] : rpcs_)
    out += "atrium_slurm_rpcs_total{cluster=\"" + name_ + "\",call=\"" + call + "\"} " + std::to_string(n) + "\n";
  return out;
}

void Cluster::count(const char* what) {
  std::lock_guard lk(mu_);
  ++rpcs_[what];
}

// slurmrestd or slurmctld does not answer: every job of the cluster shows since when (never a
// guessed state), and the tracker and the hand-over back off (1 s doubling to 30 s).
void Cluster::unreachable(const Error& e) {
  Millis now = svc_.clock_.now_ms();
  bool first = false;
  {
    std::lock_guard lk(mu_);
    first = !unknown_since_;
    if (first) unknown_since_ = now;
    backoff_ = backoff_ ? std::min(backoff_ * 2, kMaxBackoff) : kMinBackoff;
    next_try_ = now + backoff_;
  }
  if (!first) return;
  spdlog::warn("slurm cluster {}: unreachable ({}); jobs keep their last known state, marked unknown", name_, e.detail);
  auto st = svc_.db_.write_tx([&](db::Tx& tx) { return store::set_unknown_since(tx, name_, now); });
  if (!st) spdlog::warn("slurm cluster {}: {}", name_, st.error().detail);
}

void Cluster::reachable() {
  bool was_down = false;
  {
    std::lock_guard lk(mu_);
    was_down = unknown_since_.has_value();
    unknown_since_.reset();
    backoff_ = 0;
    next_try_ = 0;
    if (was_down) need_full_ = true;  // a full listing after every reconnect
  }
  if (!was_down) return;
  spdlog::info("slurm cluster {}: reachable again; reconciling", name_);
  auto st = svc_.db_.write_tx([&](db::Tx& tx) { return store::set_unknown_since(tx, name_, std::nullopt); });
  if (!st) spdlog::warn("slurm cluster {}: {}", name_, st.error().detail);
  kick_tracker();
  kick_handover();
}

bool Cluster::backing_off(Millis now, Millis& until) const {
  std::lock_guard lk(mu_);
  until = next_try_;
  return backoff_ > 0 && now < next_try_;
}

}  // namespace atrium::slurm
