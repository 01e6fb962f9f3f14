// slurmrestd's API (OpenAPI v0.0.38, SLURM 22.05) as C++ calls: the only place that knows its URLs
// and JSON shapes, so a later SLURM version is one more adapter here. JWT auth (HS256 tokens
// minted here from the cluster's jwt key, `sun` = the submitting user, short-lived, renewed
// before expiry) over TCP, or a unix socket. Connections are kept alive and pooled (libcurl easy
// handles, one per concurrent caller), so callers on several pool threads pipeline requests.
// Every call blocks: call it on the worker pool. Never parses command-line tools' text.
#pragma once

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
  std::string jwt_key;   // the HS256 key's bytes (empty: no Authorization headers, unix socket local auth)
  std::string user;      // X-SLURM-USER-NAME and the token's `sun`
  std::string version = "v0.0.38";
  Millis timeout = 10'000;  // one request
  int max_connections = 8;
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
  int gpus = 0;                // gres gpu:N
  std::int64_t time_limit_min = 0;  // minutes (0: the partition's default)
  std::string array;           // "0-9%2" (empty: not an array)
  std::string dependency;      // SLURM syntax with SLURM job ids ("afterok:12:13")
  bool hold = false;
  bool requeue = false;        // --no-requeue unless set
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
  std::string state;                      // SLURM's base state name: PENDING, RUNNING, COMPLETED, ...
  std::string reason;                     // state_reason ("None" -> "")
  std::string nodes;
  std::optional<Millis> submit_time, start_time, end_time;  // unix ms (0 from SLURM -> nullopt)
  std::optional<int> exit_code;           // the batch script's exit status (signal: 128+n)
  bool held = false;                      // priority 0 with a Held reason
  std::int64_t time_limit_min = 0;
};

struct PartitionState {
  std::string name;
  std::vector<std::string> nodes;
  int max_cpus_per_node = 0;  // from the nodes (0 unknown)
  std::int64_t max_mem_mb_per_node = 0;
  std::int64_t max_time_min = 0;  // 0 = INFINITE
  std::string state;              // UP, DOWN, DRAIN, INACTIVE
};

struct NodeState {
  std::string name, state, reason;  // state: idle, allocated, mixed, down, drain, ...
  int cpus = 0;
  std::int64_t real_memory_mb = 0;
};

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
  // Every job slurmctld still knows (finished ones until MinJobAge); `changed_since` (unix ms,
  // 0 = all): only those changed since (slurmrestd's update_time).
  Result<std::vector<JobInfo>> jobs(Millis changed_since = 0);
  // One job (nullopt: SLURM does not know it, e.g. purged after MinJobAge).
  Result<std::optional<JobInfo>> job(std::int64_t job_id);
  Status cancel(std::int64_t job_id);  // scancel (SIGTERM then SIGKILL after KillWait)
  Status hold(std::int64_t job_id);
  Status release(std::int64_t job_id);
  Status requeue(std::int64_t job_id);
  Result<std::vector<PartitionState>> partitions();
  Result<std::vector<NodeState>> nodes();
  Result<Diag> diag();
  Status ping();

  // An HS256 JWT for `user` valid `lifetime` from `now` (unix seconds): {"exp","iat","sun"}.
  static std::string mint_token(const std::string& key, const std::string& user, std::int64_t now_s,
                                std::int64_t lifetime_s);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace atrium::slurm
