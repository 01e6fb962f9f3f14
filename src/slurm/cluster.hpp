// One SLURM cluster as the service drives it (private to src/slurm): its REST client, the
// hand-over worker and the tracker (each an async::Periodic on the worker pool: runs of one never
// overlap), and whether slurmrestd answers.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "slurm/rest.hpp"
#include "slurm/slurm.hpp"

namespace atrium::slurm {

// SLURM answered no (anything but "cannot be reached").
inline bool refused(const Error& e) { return e.code != ErrorCode::kUnavailable; }

class Cluster {
 public:
  Cluster(Service& svc, std::string name, ClusterConfig cfg, RestConfig rest);
  ~Cluster();

  void start();
  void stop();
  void kick_handover();
  void kick_tracker();

  const std::string& name() const { return name_; }
  const ClusterConfig& config() const { return cfg_; }
  std::optional<Millis> unknown_since() const;
  // What SLURM says a partition admits (from the last full listing; all 0 before).
  jobs::PartitionLimits limits(const std::string& slurm_partition) const;
  // Its nodes by condition from the last full listing; nullopt before one, or while unreachable.
  std::optional<NodeCounts> nodes() const;
  std::string metrics() const;
  std::string server_url() const;     // {port} replaced by the server's bound port
  std::string node_data_dir() const;  // where the nodes see this server's data_dir

  Millis handover_run();  // the hand-over worker: pending controls, then queued submissions
  Millis tracker_run();   // the tracker: one poll

 private:
  // The REST calls, counted (atrium_slurm_rpcs_total) and noting reachability.
  template <typename F>
  auto call(const char* what, F f) -> decltype(f());
  void count(const char* what);
  void unreachable(const Error& e);
  void reachable();
  bool backing_off(Millis now, Millis& until) const;

  // hand-over (handover.cpp)
  Status send_controls();
  Status hand_over(const std::string& submit_key);
  Result<bool> adopt_by_comment(std::vector<JobRow>& rows);
  Result<std::optional<std::string>> dependency_of(const jobs::JobRecord& rec, bool& wait);
  Status end_rows(const std::vector<JobRow>& rows, compute::JobState state, const std::string& reason);
  Status submit_group(std::vector<JobRow>& rows);

  // tracker (tracker.cpp)
  Status poll(bool full);
  void apply(const JobRow& row, const JobInfo& info);
  void reconcile(const std::vector<JobInfo>& listing, Millis listed_at, bool full);

  Service& svc_;
  std::string name_;
  ClusterConfig cfg_;
  Rest rest_;
  std::unique_ptr<async::Periodic> handover_, tracker_;

  mutable std::mutex mu_;
  std::optional<Millis> unknown_since_;  // GUARDED_BY(mu_)
  Millis backoff_ = 0;                   // GUARDED_BY(mu_): 0 = reachable
  Millis next_try_ = 0;                  // GUARDED_BY(mu_)
  bool need_full_ = true;                // GUARDED_BY(mu_): after start and every reconnect
  Millis last_full_ = 0, last_poll_ = 0;  // GUARDED_BY(mu_)
  std::map<std::string, std::int64_t> rpcs_;  // GUARDED_BY(mu_): call -> count
  std::map<std::string, PartitionState> partitions_;  // GUARDED_BY(mu_): SLURM's, by name
  std::optional<NodeCounts> nodes_;                   // GUARDED_BY(mu_): from the last full listing
  // The tracker's last observation per job (memory only: after a restart jobs hears each once more).
  std::map<std::string, std::string> seen_;  // tracker thread only
};

template <typename F>
auto Cluster::call(const char* what, F f) -> decltype(f()) {
  count(what);
  auto r = f();
  if (!r && r.error().code == ErrorCode::kUnavailable)
    unreachable(r.error());
  else
    reachable();
  return r;
}

}  // namespace atrium::slurm
