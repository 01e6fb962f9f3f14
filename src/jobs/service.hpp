// The compute service: the scheduler core (src/compute) wired to the database, the API and an
// executor (executor.hpp; the local one runs `atrium exec` supervisors, executor_local.hpp).
//
// Locking: the database writer lock is always taken before `mu_` (the in-memory ClusterState).
// Every change of the state happens inside a write transaction, so memory changes in commit
// order; a transaction that rolls back undoes its memory change (Tx::on_end). Reads take `mu_` only,
// and never on an I/O thread (lock() checks it).
//
// Runs on core/async: scheduling passes are an async::Periodic on the worker pool (after every
// event, coalesced, at the core's next_wakeup and every 30 s of the injected clock); each start
// is prepared on the pool (a checkout, dataset copies) after the pass committed it RUNNING; the
// executor reports ends on the pool. At start the service re-adopts running jobs through the
// executor or ends them NODE_FAIL.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compute/scheduler.hpp"
#include "core/actor.hpp"
#include "core/async.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "data/store.hpp"
#include "jobs/executor.hpp"
#include "jobs/inflight.hpp"
#include "jobs/remote.hpp"
#include "jobs/store.hpp"
#include "sandbox/sandbox.hpp"
#include "tasks/tasks.hpp"

namespace atrium::projects {
struct Project;
}

namespace atrium::jobs {

struct Settings {
  std::filesystem::path data_dir;  // run directories under <data_dir>/jobs/<id>/
  std::string exe;                 // the atrium binary (started as `atrium exec` per job)
  compute::NodeResources node;
  compute::SchedulerConfig scheduler;
  std::int64_t uid_base = 2'000'000;
  std::int64_t max_output_bytes = 64LL << 20;
  Millis kill_grace = 10'000;
  std::string cgroup_parent = "atrium";
  int max_pids = 4096;  // per job (threads count)
  // The host directory holding a dataset version's files for the jobs of host uid `uid` (made
  // at a launch, readable by that uid only); unset: jobs cannot mount datasets.
  std::function<Result<std::string>(const std::string& dataset_id, std::int64_t number, std::int64_t uid)> dataset_dir;
  // A job of `uid` that mounted the version has ended (its copy goes when no running job of that
  // uid mounts the version any more).
  std::function<Status(const std::string& dataset_id, std::int64_t number, std::int64_t uid)> release_dataset;
  // Stores the workspace files that match `globs` as blobs, within `owner`'s storage quotas and
  // the data disk's room; the manifest entries (path order).
  std::function<Result<std::vector<data::ManifestEntry>>(const std::filesystem::path& workspace, std::int64_t uid,
                                                         const std::vector<std::string>& globs,
                                                         const data::StorageOwner& owner)>
      capture_outputs;
  // The commit a ref (nullopt: the default branch) of the project's repository names; nullopt
  // when none (an empty repository). Unset: jobs are not pinned to commits.
  std::function<Result<std::optional<std::string>>(const std::string& project_id, const std::optional<std::string>& ref)>
      resolve_commit;
  // Writes the tree of a commit into a new, empty workspace only root can enter, then hands
  // everything in it to the job's uid.
  std::function<Status(const std::string& project_id, const std::string& commit, const std::filesystem::path& workspace,
                       std::int64_t uid)>
      checkout;
  // Adds to a job's sandbox before it starts (an environment's run directory, home and token);
  // an error fails the launch. Unset: nothing added.
  std::function<Status(const JobRecord& job, sandbox::Spec& spec)> prepare;
  // Pins the `image` text of a job (or an environment) in project `p` to a digest (images'
  // resolve): "name", "name@sha256:…" or "sha256:…"; "" = the project's default image (nullopt:
  // none, the host root). invalid_argument with field "image" when it names nothing usable.
  // Unset: this server has no images (absent = the host root; any name is refused).
  std::function<Result<std::optional<ImageRef>>(db::Tx& tx, const projects::Project& p, std::string_view text)>
      resolve_image;
  // The host directory holding a pinned digest's root filesystem (images' rootfs), mounted
  // read-only as / at launch. An error there fails the job (FAILED, never the host root instead).
  std::function<Result<std::filesystem::path>(const std::string& digest)> image_root;
  // The values of the secrets a job asked for, at its launch (secrets::resolve); an error fails the
  // launch (the job ends FAILED with it: a job never runs without a secret it asked for). Unset:
  // a job that asks for secrets fails at launch.
  std::function<Result<std::vector<secrets::Value>>(db::Tx& tx, const JobRecord& job,
                                                    const std::vector<secrets::Request>& wanted)>
      resolve_secrets;
  // A job submitted with notify has reached a final state: called in the transaction that records
  // it (mail queues its notification there). Unset: nothing.
  std::function<Status(db::Tx& tx, const compute::Job& job, const compute::Transition& t, const std::string& notify)>
      on_end;
  // The partition of a submission that names none and whose org set no default (compute.default_partition).
  std::string default_partition = std::string(kLocalPartition);
};

struct SubmitRequest {
  std::string project_id, org_id, group_id;
  std::string name;
  std::vector<std::string> argv;
  std::string script;
  std::map<std::string, std::string> env;
  compute::ResourceRequest resources;
  std::string qos;
  int nice = 0;
  std::optional<Millis> begin_time;
  std::string dependency;  // sbatch syntax
  std::string array;       // sbatch --array syntax
  bool hold = false;
  std::vector<DatasetMount> datasets;  // resolved to versions by the caller
  std::optional<OutputsSpec> outputs;  // the dataset resolved (or made) by the caller
  std::optional<CommitPin> commit;     // resolved by the caller at submission
  std::string notify;                  // "never" (or "") | "failure" | "end": Settings::on_end is told
  std::optional<ImageRef> image;       // pinned by the caller (resolve_image); nullopt: the host root
  std::vector<secrets::Request> secrets;  // checked and pinned by the caller (secrets::check_requests)
  std::string partition;  // "" = the org's default partition (else compute.default_partition)
  std::string account;    // SLURM account ("" = the org's mapped account); remote partitions only
};

struct Submitted {
  std::vector<JobRecord> jobs;
  std::string array_id;  // "" for a single job
};

class Service {
 public:
  // Runs jobs with the local executor (executor_local.hpp).
  Service(db::Database& db, const Clock& clock, async::Runtime& rt, compute::Scheduler scheduler, Settings settings);
  // Runs jobs with `executor` (tests: a fake one).
  Service(db::Database& db, const Clock& clock, async::Runtime& rt, compute::Scheduler scheduler, Settings settings,
          std::unique_ptr<Executor> executor);
  const Clock& clock() const { return clock_; }
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Loads the state, re-adopts running jobs, starts the scheduling passes.
  Status start();
  // Registers the jobs' task kinds ("jobs.capture_outputs") on `queue`, before it starts.
  void add_tasks(tasks::Queue& queue);
  static constexpr std::string_view kCaptureKind = "jobs.capture_outputs";
  // Waits for the pass and the launches in progress; running jobs keep running. Call it while
  // the runtime still runs (its I/O thread ends the supervisors' watches).
  void stop();

  // --- inside a request's write transaction ------------------------------------------------
  Result<Submitted> submit(db::Tx& tx, const Actor& actor, const SubmitRequest& req, Millis now);
  // Returns the job afterwards. A RUNNING job keeps running until its process has stopped;
  // `stop_requested` says a stop is on its way.
  Result<JobRecord> cancel(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now);
  Result<JobRecord> hold(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
    return toggle_hold(tx, actor, job, now, true);
  }
  Result<JobRecord> release(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now) {
    return toggle_hold(tx, actor, job, now, false);
  }
  Result<JobRecord> requeue(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now);

  // --- reads -------------------------------------------------------------------------------
  // The API shape of a job, with the live fields (reason, priority, estimated start) of a pending one.
  nlohmann::json to_json(const JobRecord& r) const;
  // GET /jobs/{id}'s shape: to_json plus its events, datasets, commit and outputs (blocks: the pool).
  Result<nlohmann::json> detail_json(db::Tx& tx, const JobRecord& r) const;
  // Quota usage for identity's quota routes: concurrent_jobs, cpu_hours (this period).
  nlohmann::json usage(const std::string& org_id, const std::string& kind, const std::string& subject_id) const;
  nlohmann::json node_json() const;
  // One org's fair-share tree at `now` as `sshare -l` lists it (this node's scheduler; SLURM keeps
  // its own): the org and its groups, then the users (decayed usage plus running jobs' so far).
  struct FairShareTree {
    std::vector<compute::FairShareAccount> accounts;  // the org first, then its groups
    std::vector<std::pair<compute::FairShareRow, std::uint32_t>> users;  // with the configured shares
    Millis half_life = 0;
  };
  FairShareTree fair_share_of(const std::string& org_id, Millis now) const;
  // `sprio`: the priority factors of every PENDING job of the local partition now, by job id,
  // with its rank in the queue (0 = next to start); and the weights that sum them.
  struct Ranked {
    compute::PriorityFactors factors;
    std::size_t rank = 0;
  };
  std::map<std::string, Ranked> priority_factors() const;
  const compute::PriorityWeights& priority_weights() const { return sched_.config().weights; }
  // The commit `ref` (nullopt: the default branch) names in the project's repository now.
  Result<std::optional<std::string>> resolve_commit(const std::string& project_id,
                                                    const std::optional<std::string>& ref) const;
  // `image` of a submission or a launch pinned in project p: nullopt (absent) = the project's
  // default image, "none" = the host root, else a name or digest (Settings::resolve_image).
  Result<std::optional<ImageRef>> resolve_image(db::Tx& tx, const projects::Project& p,
                                                const std::optional<std::string>& text) const;
  // Whether a pending or running job (an environment's too) runs on this digest.
  Result<bool> image_in_use(const std::string& digest) const;
  // Whether a running job of host uid `uid` mounts this dataset version.
  Result<bool> dataset_in_use(const std::string& dataset_id, std::int64_t number, std::int64_t uid) const;
  // Fired after each commit that changed a job's state (live log streams wait on it).
  const Notifier& changes() const { return changes_; }
  // Fired after each scheduling pass: pending jobs' reasons, priorities and estimated starts may
  // have moved without a state change (a queued environment shows them).
  const Notifier& passes() const { return passes_; }
  // PENDING or RUNNING now (its output may still grow).
  bool active(const std::string& id) const;
  std::filesystem::path run_dir(const JobRecord& r) const;

  // --- remote partitions (remote.hpp; src/slurm) ---------------------------------------------
  // The backend of the partitions that are not local; set once, before start(). Unset: only the
  // local partition exists.
  void set_remote(Remote* remote);
  // The partition a submission in `org_id` goes to when it names none (the org's default, else
  // compute.default_partition).
  Result<std::string> default_partition(db::Tx& tx, const std::string& org_id) const;
  // For the backend, on the worker pool: prepares a handed-over job's run exactly like a local
  // start and says what the node runs. Paths in spec.json and RemoteRun under this server's
  // data_dir are written as `node_data_dir` (where the nodes see the shared data directory; ""
  // = the same path). An error: the job cannot run (the backend ends it FAILED through
  // observe_remote with the error as the reason).
  Result<RemoteRun> prepare_remote(const std::string& id, const std::filesystem::path& node_data_dir);
  // For the backend, on the worker pool: what SLURM says about a job. PENDING -> RUNNING starts
  // it (start time and nodes recorded); a terminal state ends it like a local end (outcome.json in
  // the run directory first, else the observation's state with SLURM's reason), outputs,
  // datasets and usage included. A state the job already has changes nothing; a late or
  // contradicting one (RUNNING after an end) is ignored.
  Status observe_remote(const std::string& id, const Observation& o);
  // The values of the secrets a remote job asked for, at its launch (the exec channel's route);
  // the job must be PENDING or RUNNING (SLURM may start it before an observation says so).
  Result<std::vector<secrets::Value>> remote_secrets(const std::string& id);
  // The partitions org members may use (GET /api/v1/compute/partitions): `local` first, with
  // this node's resources as its limits. `orgs` empty: every partition.
  Result<nlohmann::json> partitions_json(db::Tx& tx, const std::vector<std::string>& orgs,
                                         const std::string& default_of_org) const;
  // The partition if it exists (local included) and org `org_id` may use it; else 400
  // unknown-partition (field `partition`). For the org default routes.
  Status check_partition(db::Tx& tx, const std::string& name, const std::string& org_id) const;

  // Runs a scheduling pass now (tests and benchmarks; the periodic task does this by itself).
  Status schedule_now();

 private:
  struct Launch {
    JobRecord rec;
    compute::Allocation alloc;
  };
  // A PENDING or RUNNING job of a remote partition: the core never sees it (SLURM schedules it);
  // what SLURM said of it last (the pending reason, the estimated start) lives here.
  struct RemoteLive {
    compute::Association assoc;
    compute::JobState state = compute::JobState::kPending;
    std::string reason;
    std::optional<Millis> estimated_start;
  };
  // A job being submitted, its hold (a submission with hold) recorded after the row.
  struct NewJob {
    JobRecord rec;
    std::optional<compute::Transition> hold;
  };

  // mu_, on a thread that may block.
  std::unique_lock<std::mutex> lock() const;
  void poke();
  Millis run_pass();          // the periodic task: a pass, then when the next one is due
  Status pass(Millis& wake);  // wake: the core's next_wakeup (0: none)
  // These change state_: mu_ held, inside the write transaction that records the change.
  Status load(db::Tx& tx, Millis now, std::vector<std::string>& adopt_ids);
  Status refresh_policy(db::Tx& tx);
  Status ensure_loaded(db::Tx& tx, const std::string& id);
  Status persist(db::Tx& tx, const std::vector<compute::Transition>& ts);
  Status persist(db::Tx& tx, const compute::Transition& t) { return persist(tx, std::vector{t}); }
  // The row, the event, the end's notification; the change is announced after the commit
  // (`announce`; persist() announces once for all).
  Status record(db::Tx& tx, const compute::Job& after, const compute::Transition& t, bool announce = true);
  // --- remote partitions (service_remote.cpp); mu_ held where a state_ member is touched
  Result<std::optional<PartitionInfo>> remote_partition(db::Tx& tx, const SubmitRequest& req, std::string& name) const;
  Status check_dependency_partitions(db::Tx& tx, const compute::DependencySpec& dep, const std::string& partition) const;
  Result<std::vector<compute::Transition>> submit_to(compute::ClusterState& st, const compute::Job& tmpl,
                                                     const std::optional<compute::ArraySpec>& spec, Millis now);
  Result<compute::ClusterState> remote_view(db::Tx& tx, const compute::Job& tmpl) const;
  Result<JobRecord> cancel_remote(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now);
  Result<JobRecord> hold_remote(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now, bool hold);
  Result<JobRecord> requeue_remote(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now);
  // A scheduler mutation of one remote job outside state_ (its quota ledger is charged: fair
  // share is the local scheduler's). mu_ held.
  Status on_remote(compute::Job& job, const std::function<Status(compute::ClusterState&)>& f);
  // One transition of a remote job by `f` (a scheduler mutator) through on_remote: recorded, and
  // remote_jobs_ follows. mu_ held.
  Status transition_remote(db::Tx& tx, JobRecord& rec,
                           const std::function<Result<compute::Transition>(compute::ClusterState&)>& f);
  Status observe_locked(db::Tx& tx, JobRecord rec, const Observation& o, Millis now);
  void track_remote(db::Tx& tx, const JobRecord& rec);  // remote_jobs_ follows the row (mu_ held)
  // A remote job has ended: its dataset copies go, after the commit.
  void release_after_commit(db::Tx& tx, const std::string& id);
  Result<StartRequest> start_request(const JobRecord& rec, const compute::Allocation& alloc, bool with_secrets);
  Status release_datasets(const std::string& id);
  // On rollback: reload the state at the next pass. On commit: a pass when `schedule`.
  void undo_on_rollback(db::Tx& tx, bool schedule = true);
  Status adopt(db::Tx& tx, const std::string& id, Millis now);
  // Without an outcome: `fallback_state` (NODE_FAIL; FAILED when the job itself cannot run: a
  // secret it asked for is gone) with `fallback` as the cause.
  // `st`: where the job lives (nullptr: state_; a remote job's one-job state); `fallback_exit`:
  // the exit code without an outcome (SLURM's).
  Status record_end(db::Tx& tx, const JobRecord& rec, const std::optional<nlohmann::json>& outcome,
                    const std::string& fallback, Millis now,
                    compute::JobState fallback_state = compute::JobState::kNodeFail,
                    std::optional<int> fallback_exit = std::nullopt, compute::ClusterState* st = nullptr);
  void launch(const Launch& l);  // on the worker pool
  Status start_run(const Launch& l);
  void on_exit(const std::string& id, const std::string& cause);
  Result<JobRecord> toggle_hold(db::Tx& tx, const Actor& actor, const JobRecord& job, Millis now, bool hold);
  Status end_job(const std::string& id, const std::optional<nlohmann::json>& outcome, const std::string& fallback_cause,
                 compute::JobState fallback_state = compute::JobState::kNodeFail);
  // A RUNNING job that could not start for a reason of its own (its image is gone): FAILED with `why`.
  Status fail_start(const std::string& id, const std::string& why);
  // The capture task's handler: the job's outputs as a new version of its dataset, once.
  Status capture_outputs(const std::string& id);
  void stop_after_commit(db::Tx& tx, const std::string& id);

  db::Database& db_;
  const Clock& clock_;
  async::Runtime& rt_;
  compute::Scheduler sched_;
  Settings settings_;
  std::unique_ptr<Executor> executor_;
  Remote* remote_ = nullptr;

  mutable std::mutex mu_;  // after the database writer lock, never before
  compute::ClusterState state_;
  std::map<std::string, RemoteLive> remote_jobs_;  // GUARDED_BY(mu_)
  std::int64_t policy_stamp_ = -1;
  std::atomic<bool> reload_{false};

  // Pacing of passes (run_pass, poke).
  std::mutex pace_mu_;
  bool in_pass_ = false;    // GUARDED_BY(pace_mu_)
  bool dirty_ = false;      // GUARDED_BY(pace_mu_): an event since the pass began
  Millis paced_until_ = 0;  // GUARDED_BY(pace_mu_): a pass is due then; pokes before wait for it
  async::Periodic periodic_;
  Inflight launches_;
  std::atomic<bool> stopped_{false};
  Notifier changes_;
  Notifier passes_;
};

}  // namespace atrium::jobs
