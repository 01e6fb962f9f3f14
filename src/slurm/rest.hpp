// slurmrestd's API (OpenAPI v0.0.38, SLURM 22.05) as C++ calls: the only place that knows its URLs
// and JSON shapes, so a later SLURM version is one more adapter here. JWT auth (HS256 tokens
// minted here from the cluster's jwt key, `sun` = the submitting user, short-lived, renewed
// before expiry) over TCP, or a unix socket. Connections are kept alive and pooled (libcurl easy
// handles, one per concurrent caller), so callers on several pool threads pipeline requests.
// Every call blocks: call it on the worker pool. Never parses command-line tools' text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::slurm {

struct RestConfig {
  std::string url;       // "http://host:port" or "unix:/path/to/slurmrestd.sock"
  // The HS256 key's bytes. Empty: no token headers (a unix socket with rest_auth/local, where every
  // request runs as slurmrestd's own user).
  std::string jwt_key;
  std::string user;      // X-SLURM-USER-NAME and the token's `sun`
  std::string version = "v0.0.38";
  // One request. With slurmctld down slurmrestd answers every call after ~9 s (its connect retries).
  Millis timeout = 15'000;
  int max_connections = 8;  // kept-alive connections (one per concurrent caller; more callers wait)
  std::size_t max_response_bytes = std::size_t{256} << 20;  // a full listing is ~4 kB per job
  std::int64_t token_lifetime_s = 600;  // renewed at half its lifetime
};

// A batch job as submitted (sbatch's options that Atrium uses).
struct JobSubmission {
  std::string name;            // the job's name (Atrium's name: SLURM's singleton dependency uses it)
  std::string comment;         // the idempotency key: "atrium:<job or array id>"
  std::string partition, account;
  std::string script;          // "#!/bin/sh\n..."
  std::string cwd;             // current_working_directory
  std::string std_out, std_err;  // paths on the nodes (SLURM's own; Atrium's logs are in the run dir)
  std::map<std::string, std::string> environment;
  int cpus = 1;                // cpus_per_task
  std::int64_t mem_mb = 0;     // memory_per_node (0: the partition's default)
  int gpus = 0;                // gres "gpu:N" (per node; 400 where the cluster has no GresTypes=gpu)
  std::int64_t time_limit_min = 0;  // minutes (0: the partition's default)
  std::string array;           // "0-9%2" (empty: not an array)
  std::string dependency;      // SLURM syntax with SLURM job ids ("afterok:12:13")
  bool hold = false;
  // Sent as is, but slurmrestd 22.05 (v0.0.38) IGNORES `requeue: false` (submit and update both;
  // checked: the job shows requeue true, sbatch --no-requeue shows false): with the default
  // JobRequeue=1 SLURM requeues a job whose node failed (PENDING again, restart_count + 1) instead
  // of ending it NODE_FAIL. Set JobRequeue=0 on the cluster, and treat a restart_count that grew as
  // the node failure it was (JobInfo::restart_count).
  bool requeue = false;
};

struct SubmitResult {
  std::int64_t job_id = 0;     // the job (the array's job id for an array)
};

// One job (or array task) as SLURM shows it.
struct JobInfo {
  std::int64_t job_id = 0;
  std::int64_t array_job_id = 0;          // 0: not an array task
  std::optional<std::int64_t> array_task_id;  // nullopt: not a task (or the array's pending rest)
  std::string array_task_string;          // pending tasks not yet split off ("3-9%2")
  std::string name, comment, partition, account, user_name;
  // SLURM's name: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL,
  // PREEMPTED, BOOT_FAIL, DEADLINE, SUSPENDED; in 22.05 a set flag shows instead of the base state:
  // COMPLETING (a job ending: not final yet), CONFIGURING, REQUEUED, RESIZING, SIGNALING, STAGE_OUT, ...
  std::string state;
  std::string reason;                     // state_reason ("None" -> ""), ": state_description" if any
  std::string nodes;                      // SLURM's host list ("n[1-2]"), "" before it runs
  std::optional<Millis> submit_time;      // unix ms
  std::optional<Millis> start_time;       // when it started (nullopt while PENDING)
  std::optional<Millis> estimated_start;  // PENDING only: SLURM's expected start, when it has one
  std::optional<Millis> end_time;         // only once terminal (SLURM's expected end is dropped)
  // Terminal, and the script ran (not NODE_FAIL / BOOT_FAIL / cancelled before it started): its exit
  // status (signal n: 128+n).
  std::optional<int> exit_code;
  bool held = false;                      // PENDING with priority 0 (JobHeldUser / JobHeldAdmin)
  std::int64_t time_limit_min = 0;
  int restart_count = 0;                  // times SLURM requeued it (node failure, scontrol requeue)
};

// A listing (GET /jobs). slurmctld's update_time filter is all or nothing: every job it still knows
// when anything changed since then, else none (`unchanged`: keep what you have; no job has gone).
struct JobList {
  std::vector<JobInfo> jobs;
  bool unchanged = false;
};

// True for SLURM's final states (a job in one of them never changes again).
bool terminal_state(const std::string& state);

struct PartitionState {
  std::string name;
  std::vector<std::string> nodes;  // the nodes that list this partition
  int max_cpus_per_node = 0;  // the partition's limit, else its largest node (0 unknown)
  std::int64_t max_mem_mb_per_node = 0;  // likewise (MB)
  int max_gpus_per_node = 0;              // its largest node's gres gpu count
  std::int64_t max_time_min = 0;  // 0 = INFINITE
  std::string state;              // UP, DOWN, DRAIN, INACTIVE
};

struct NodeState {
  std::string name, state, reason;  // state: idle, allocated, mixed, down, drained, draining, ...
  std::vector<std::string> partitions;
  int cpus = 0;
  std::int64_t real_memory_mb = 0;
  int gpus = 0;  // from gres: "gpu:2", "gpu:a100:4(S:0-1),mps:400" -> 2, 4
};

// Whether a node can take jobs, from its state and flags: kDown (down or error, failing, or not
// responding to slurmctld), kDrained (drained or draining, by an admin or by SLURM), else kUp
// (idle, allocated, mixed, powered down for power saving, ...).
enum class NodeCondition { kUp, kDrained, kDown };
NodeCondition condition_of(const NodeState& n);

// The scheduler's own counters (GET /diag): the RPCs it served, to measure our load on it.
struct Diag {
  std::int64_t server_thread_count = 0;
  std::int64_t jobs_submitted = 0;
  std::int64_t schedule_cycle_total = 0;
  std::int64_t rpcs_total = 0;  // sum of rpcs_by_message_type counts
};

class Rest {
 public:
  explicit Rest(RestConfig cfg);
  ~Rest();
  Rest(const Rest&) = delete;
  Rest& operator=(const Rest&) = delete;

  // kUnavailable: slurmrestd or slurmctld cannot be reached (the tracker's "unknown since");
  // kInvalidArgument / kFailedPrecondition: SLURM refused the request (its error text in the detail).
  Result<SubmitResult> submit(const JobSubmission& job);
  // Every job slurmctld still knows (finished ones until MinJobAge; an array's pending rest is one
  // record with array_task_string). `changed_since` (unix ms, 0 = always list): pass the time the
  // previous listing was asked for; seconds are enough (SLURM answers when anything changed in or
  // after that second).
  Result<JobList> jobs(Millis changed_since = 0);
  // One job (nullopt: SLURM does not know it, e.g. purged after MinJobAge). For an array's job id:
  // the record with that job id (the pending rest, or the task that took the array's id).
  Result<std::optional<JobInfo>> job(std::int64_t job_id);
  // kNotFound: SLURM does not know the job. Cancelling a finished job succeeds (SLURM's answer).
  Status cancel(std::int64_t job_id);  // scancel: SIGCONT+SIGTERM, SIGKILL after KillWait
  Status hold(std::int64_t job_id);    // PENDING only (kFailedPrecondition once it has run)
  Status release(std::int64_t job_id);
  // Not offered by slurmrestd v0.0.38 (SLURM 22.05 has no requeue through REST; scontrol requeue
  // only): always kFailedPrecondition `slurm-unsupported`. The closest REST way is cancel and submit
  // again (the caller's hand-over does that with the same comment).
  Status requeue(std::int64_t job_id);
  // With `nodes`: also every node as GET /nodes showed it (the same two calls).
  Result<std::vector<PartitionState>> partitions(std::vector<NodeState>* nodes = nullptr);
  Result<std::vector<NodeState>> nodes();
  Result<Diag> diag();
  Status ping();

  // An HS256 JWT for `user` valid `lifetime` from `now` (unix seconds): {"exp","iat","sun"}.
  // HS256 over base64url('{"alg":"HS256","typ":"JWT"}') "." base64url('{"exp":..,"iat":..,"sun":..}').
  static std::string mint_token(const std::string& key, const std::string& user, std::int64_t now_s,
                                std::int64_t lifetime_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atrium::slurm
