// The SLURM executor: the partitions of [compute.partitions.*] run on SLURM clusters. Implements
// jobs::Remote: submissions queue durably (table slurm_jobs) and are handed over after their
// commit, exactly once (the comment "atrium:<id>" is looked up before any retry); a tracker per
// cluster polls slurmrestd and tells jobs what SLURM says; the exec channel lets a job's node
// fetch its secrets (and open its tunnel) with a job-scoped token. See src/slurm/README.md.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/async.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "http/api.hpp"
#include "jobs/remote.hpp"
#include "jobs/store.hpp"
#include "secrets/secrets.hpp"
#include "slurm/config.hpp"
#include "slurm/store.hpp"

namespace atrium::slurm {

// What the service asks of jobs (jobs::Service in the server, wired by app; fakes in tests).
struct JobsPort {
  std::function<Result<jobs::RemoteRun>(const std::string& id, const std::filesystem::path& node_data_dir)> prepare;
  std::function<Status(const std::string& id, const jobs::Observation& o)> observe;
  std::function<Result<std::vector<secrets::Value>>(const std::string& id)> secrets;
  // The job as stored (nullopt: no such job).
  std::function<Result<std::optional<jobs::JobRecord>>(const std::string& id)> get;
  // An org's slug (the accounts mapping and partitions' orgs name orgs by slug).
  std::function<Result<std::string>(db::Tx& tx, const std::string& org_id)> org_slug;
};

struct Settings {
  Config config;
  std::string data_dir;  // this server's
  std::string exe;       // this server's binary (the default atrium_path)
  Millis kill_grace = 10'000;
  Millis full_listing_every = 30'000;
  Millis handover_retry = 5'000;
  // Submissions handed over at once per cluster: each holds a pool thread for up to slurmrestd's
  // timeout while slurmctld is down, so a share of the pool, never all of it.
  int parallel_handovers = 1;
};

// A cluster's nodes by condition (condition_of in rest.hpp), as its last full listing saw them.
struct NodeCounts {
  std::int64_t total = 0, down = 0, drained = 0;
};

class Cluster;

class Service : public jobs::Remote {
 public:
  Service(db::Database& db, const Clock& clock, async::Runtime& rt, Settings s, JobsPort jobs);
  ~Service() override;
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Reads the clusters' JWT keys (an error names the file).
  Status init();
  // After jobs started: loads every row, starts the trackers (a full listing first: reconcile)
  // and the hand-over workers.
  Status start();
  void stop();
  // The server's bound port: replaces {port} in the clusters' server_url.
  void set_server_port(unsigned short port);

  // --- jobs::Remote ---
  std::optional<jobs::PartitionInfo> partition(const std::string& name) const override;
  std::vector<jobs::PartitionInfo> partitions() const override;
  Result<bool> usable(db::Tx& tx, const jobs::PartitionInfo& p, const std::string& org_id) const override;
  Status submitted(db::Tx& tx, const std::vector<jobs::JobRecord>& jobs, const std::string& account) override;
  Status control(db::Tx& tx, const jobs::JobRecord& job, jobs::Control c) override;
  nlohmann::json live(const jobs::JobRecord& job) const override;

  // --- the exec channel ---
  // The job if `token` is its exec token and it is not terminal (constant time; not_found otherwise,
  // whatever was wrong).
  Result<jobs::JobRecord> verify_exec_token(const std::string& job_id, const std::string& token);
  // {"env": {...}, "files": {...}}: what `atrium exec --secrets -` reads, for a verified job.
  Result<std::string> secrets_payload(const std::string& job_id);

  // The nodes of every cluster, summed, for the health gauges and alerts (refreshed with each full
  // listing, every ~30 s): nullopt while any cluster's nodes are unknown (not yet listed, or its
  // slurmrestd or slurmctld does not answer now: never a guess).
  std::optional<NodeCounts> nodes() const;
  // The clusters whose slurmrestd or slurmctld does not answer now.
  int unreachable_clusters() const;

  // Prometheus text: atrium_slurm_rpcs_total{cluster,call}, atrium_slurm_unreachable{cluster},
  // atrium_slurm_nodes{cluster,condition} (up, drained, down; while known).
  std::string render_metrics() const;
  // Tests and benchmarks: one tracker poll / hand-over run of every cluster now.
  void poll_now();

 private:
  friend class Cluster;
  // A row handed over anew (a requeue: run = the job's requeue_count).
  static void requeue_row(JobRow& r, int run);
  std::optional<std::string> mapped_account(const std::string& cluster, const std::string& slug) const;
  // Runs `fn` on the row in a write transaction and mirrors the result in memory on commit.
  Status mutate(const std::string& job_id, const std::function<Status(JobRow&)>& fn);
  // The same for several rows in one transaction (an array's tasks).
  Status mutate_all(const std::vector<std::string>& job_ids, const std::function<Status(JobRow&)>& fn);
  void remember(const JobRow& r);  // the live fields' copy
  void remember_locked(const JobRow& r);
  std::optional<JobRow> remembered(const std::string& job_id) const;
  std::vector<JobRow> remembered_active(const std::string& cluster) const;
  bool follows(const std::string& cluster) const;  // an active row of that cluster (no copy)
  bool knows_key(const std::string& submit_key) const;  // a job or array this server handed over

  db::Database& db_;
  const Clock& clock_;
  async::Runtime& rt_;
  Settings settings_;
  JobsPort jobs_;
  std::map<std::string, std::unique_ptr<Cluster>> clusters_;

  mutable std::mutex mu_;
  std::map<std::string, JobRow> rows_;  // GUARDED_BY(mu_): every row loaded or written since start
  std::set<std::string> active_;        // GUARDED_BY(mu_): the ids of rows not ended
  std::set<std::string> keys_;          // GUARDED_BY(mu_): every submit_key (and so every comment) issued
  std::string server_port_;             // GUARDED_BY(mu_)
};

// GET /api/v1/exec/jobs/{id}/secrets: bearer exec token only (no session, no API token).
void add_routes(http::Api& api, Service& s);

}  // namespace atrium::slurm
