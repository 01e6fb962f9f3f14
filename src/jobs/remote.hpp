// Jobs that another scheduler runs: the partitions of a SLURM cluster (src/slurm implements
// Remote). jobs keeps what it keeps for every job (the row, the states and events, the run
// directory with spec.json, stdout, stderr and outcome.json, the end: outputs, datasets, usage,
// notifications); the backend hands jobs over durably, exactly once, and tracks them. The local
// scheduler never places a job of a remote partition (SLURM schedules its own).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compute/job.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "jobs/store.hpp"

namespace atrium::jobs {

// The partition every job goes to unless it (or its org's default) names another: this server.
inline constexpr std::string_view kLocalPartition = "local";

// What a remote partition admits (0 = no limit known; SLURM's own limits still apply).
struct PartitionLimits {
  int max_cpus = 0;
  std::int64_t max_mem_mb = 0;
  int max_gpus = 0;
  Millis max_time = 0;
};

struct PartitionInfo {
  std::string name;     // Atrium's partition name
  std::string cluster;  // compute.clusters.<name>
  std::string slurm_partition;
  PartitionLimits limits;
};

enum class Control { kCancel, kHold, kRelease, kRequeue };

// What the backend learned about one job from SLURM (the tracker).
struct Observation {
  compute::JobState state = compute::JobState::kPending;  // SLURM's state mapped to Atrium's
  std::string slurm_state;  // SLURM's own name (PREEMPTED, BOOT_FAIL, DEADLINE... kept in the reason)
  std::string reason;       // SLURM's pending or end reason ("" for None)
  std::optional<Millis> start_time, end_time, estimated_start;
  std::optional<int> exit_code;
  std::string nodes;  // SLURM's node list
  bool held = false;
  // The run it is about (the job's requeue_count when that SLURM job was handed over); -1: the
  // current one. An observation of an earlier run (one requeued since) changes nothing.
  int run = -1;
};

// What a node runs for a job: prepared by jobs exactly as for a local start (run directory,
// workspace checked out at the pinned commit, dataset copies, image root, spec.json), then
// `atrium exec` with these arguments on the node. run_dir is this server's path; exec_args,
// spec.json and tunnel_socket already name the nodes' view (prepare_remote's node_data_dir).
struct RemoteRun {
  std::filesystem::path run_dir;         // <data_dir>/jobs/<id>/run<n>: stdout, stderr, outcome.json
  std::vector<std::string> exec_args;    // after the binary: {"exec", "--spec", ..., "--state-dir", ...}
  bool wants_secrets = false;            // the job asked for secrets: fetched at launch over the exec channel
  // An environment's job: the app's socket on the node, reached through the node's tunnel (empty: none).
  std::filesystem::path tunnel_socket;
};

class Remote {
 public:
  virtual ~Remote() = default;
  // The partition if it is one of this backend's (nullopt: not one of ours).
  virtual std::optional<PartitionInfo> partition(const std::string& name) const = 0;
  // Every partition of this backend (GET /api/v1/compute/partitions).
  virtual std::vector<PartitionInfo> partitions() const = 0;
  // Whether org `org_id` may use the partition (listing it, an org's default); submitted() is
  // still where a submission is refused (403 partition-forbidden).
  virtual Result<bool> usable(db::Tx& tx, const PartitionInfo& p, const std::string& org_id) const {
    (void)tx, (void)p, (void)org_id;
    return true;
  }
  // Inside the submission's transaction, after the rows are inserted (all tasks of an array at
  // once): checks what only the backend knows (the org may use the partition, `account` is one of
  // the org's) and queues the jobs durably for hand-over after the commit. An error rolls the
  // submission back: nothing is stored, nothing is submitted.
  // A submission with hold gets control(kHold) for each job right after submitted().
  // jobs calls submitted() and control() without holding its own lock, but inside the
  // transaction: they must not open another one.
  virtual Status submitted(db::Tx& tx, const std::vector<JobRecord>& jobs, const std::string& account) = 0;
  // Inside the request's transaction: cancel, hold, release or requeue of one of its jobs,
  // recorded durably and sent to SLURM after the commit (again after a reconnect until SLURM took it).
  // jobs has already recorded what is certain: a cancelled PENDING job is CANCELLED (scancel it
  // if it was handed over), a RUNNING one has stop_requested "cancel" (its end comes through
  // observe_remote); hold/release changed the held flag (an Observation's `held` is taken as
  // SLURM's truth: report the flag a control not yet applied asks for, or it flaps). kRequeue:
  // the job (RUNNING or ended) is PENDING again already, with requeue_count + 1 (a new run
  // directory): cancel the old SLURM job if it still runs and hand the job over anew as a new
  // SLURM job (the idempotency key must tell the runs apart); the old job's end is not reported.
  virtual Status control(db::Tx& tx, const JobRecord& job, Control c) = 0;
  // The live fields shown with the job as `slurm` (cluster, job_id, nodes, state, reason,
  // unknown_since, handed_over): null for a job it does not know.
  virtual nlohmann::json live(const JobRecord& job) const = 0;
};

}  // namespace atrium::jobs
