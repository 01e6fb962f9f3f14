// The pure scheduling core of Atrium's compute engine: multifactor priority (fair share, age,
// size, QoS), limits and quotas, dependencies, arrays and EASY backfill, as functions of (state, now).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compute/array_spec.hpp"
#include "compute/fairshare.hpp"
#include "compute/job.hpp"
#include "compute/resources.hpp"
#include "compute/usage.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::compute {

inline constexpr Millis kMinute = 60'000;
inline constexpr Millis kHour = 60 * kMinute;
inline constexpr Millis kDay = 24 * kHour;

// priority = w.fair_share*F + w.age*A + w.job_size*Z + w.qos*Q - nice, each factor in [0, 1].
struct PriorityWeights {
  double fair_share = 10'000;
  double age = 1'000;
  double job_size = 1'000;
  double qos = 10'000;
};

// TRESBillingWeights: what one second of an allocation costs in fair-share usage.
struct BillingWeights {
  double cpu = 1.0;
  double mem_gb = 0.0;
  double gpu = 0.0;
};

// Static settings (from the config file); Scheduler::create validates them.
struct SchedulerConfig {
  PriorityWeights weights;
  Millis max_age = 7 * kDay;          // PriorityMaxAge: the age factor reaches 1 here
  Millis usage_half_life = 7 * kDay;  // PriorityDecayHalfLife; 0 = usage never decays
  bool favor_small = false;           // PriorityFavorSmall: small jobs get the larger size factor
  bool count_running_usage = true;    // running jobs' usage so far counts toward fair share
  BillingWeights billing;
  bool backfill = true;               // false: strict priority order, nothing passes a blocked job
  int reservation_depth = 1;          // blocked jobs that get a reservation (1 = EASY backfill)
  int estimate_depth = 100;           // further pending jobs that get an estimated start
  Millis kill_margin = 30'000;        // the caller kills a job at most this long after its time limit
  Millis max_time_limit = 30 * kDay;  // submit-time cap on --time
  ArrayLimits array_limits;           // parse_array_spec(text, config.array_limits); submit_array checks
};

struct Qos {
  double priority = 0;                   // normalised by the largest QoS priority into the QoS factor
  std::optional<int> max_jobs_per_user;  // running, start time: QOSMaxJobsPerUserLimit
  std::optional<int> max_cpus_per_user;  // running, start time: QOSMaxCpuPerUserLimit
  std::optional<Millis> max_wall;        // submit time: invalid_argument
};

// Administrative data (from the database): shares, QoS, limits.
struct Policy {
  SharesTable shares;
  std::map<std::string, Qos, std::less<>> qos;  // by name
  std::string default_qos = "normal";
  Limits default_user_limits;
  std::map<std::string, Limits, std::less<>> user_limits;  // by user; replaces default_user_limits
  std::map<std::string, Limits, std::less<>> org_limits;   // by org
  std::map<std::string, Limits, std::less<>> group_limits;  // by group id (ids are unique across orgs)
};

// Everything the scheduler decides from. The database is the source of truth: the caller loads
// this at start and keeps it in step by applying the mutators below (persisting what they return).
// `jobs` holds every PENDING and RUNNING job, plus finished jobs that a pending job depends on.
struct ClusterState {
  NodeResources node;
  Policy policy;
  std::map<JobId, Job> jobs;
  FairShareUsage usage;
  UsageLedger ledger;  // its period (default 30 days) is the window of Limits::max_cpu_hours
};

struct PriorityFactors {
  double fair_share = 0;  // each in [0, 1]
  double age = 0;
  double job_size = 0;
  double qos = 0;
  double priority = 0;  // the weighted sum minus nice
};

struct JobStart {
  JobId job;
  Allocation allocation;
  bool backfilled = false;  // started past a higher-priority blocked job
};
struct JobCancel {
  JobId job;
  PendingReason reason = PendingReason::kDependencyNeverSatisfied;
  std::string cause;
};
// A reason text, shared by the many pending jobs that wait for the same thing (a pass over a long
// queue would otherwise copy one sentence per job).
using SharedText = std::shared_ptr<const std::string>;
inline SharedText share(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

struct PendingInfo {
  JobId job;
  PendingReason reason = PendingReason::kNone;
  SharedText detail;
  const std::string& text() const {
    static const std::string kEmpty;
    return detail ? *detail : kEmpty;
  }
  std::optional<Millis> estimated_start;
  PriorityFactors priority;
};
struct Reservation {
  JobId job;
  Millis start = 0;
  Millis end = 0;
  Allocation allocation;  // what it will get, GPU indices included
};

struct ScheduleResult {
  Millis now = 0;
  std::vector<JobStart> starts;           // priority order
  std::vector<JobCancel> cancels;         // dependencies that can never be satisfied
  std::vector<PendingInfo> pending;       // every job still PENDING afterwards, priority order
  std::vector<Reservation> reservations;  // the blocked top job(s) backfill must not delay
  std::vector<JobId> over_time_limit;     // RUNNING past start + time_limit: signal; kill after kill_margin
  std::optional<Millis> next_wakeup;      // the next time-driven change (time limit, begin time, reservation)

  const PendingInfo* find_pending(std::string_view id) const;
};

struct JobExplanation {
  JobId job;
  JobState state = JobState::kPending;
  PendingReason reason = PendingReason::kNone;
  std::string detail;
  std::optional<Millis> estimated_start;  // PENDING
  std::optional<Millis> expected_end;     // RUNNING: start + time limit
  PriorityFactors priority;
};

// How a RUNNING job ended, as the executor saw it.
struct JobEnd {
  JobState state = JobState::kCompleted;  // COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, CANCELLED
  int exit_code = 0;                      // COMPLETED needs 0, FAILED needs != 0
  JobUsage usage;
  std::string cause;
};

class Scheduler {
 public:
  static Result<Scheduler> create(SchedulerConfig config);
  const SchedulerConfig& config() const { return config_; }

  // --- pure reads ---------------------------------------------------------------------------
  // One scheduling pass. Call it after every event (submit, end, cancel, release) and on a timer
  // (priorities age); apply the result with apply() and persist the transitions that returns.
  ScheduleResult schedule(const ClusterState& state, Millis now) const;
  // Why a job waits and when it is expected to start (runs a pass; `atrium job show`).
  Result<JobExplanation> explain(const ClusterState& state, std::string_view id, Millis now) const;
  // Priority factors of every PENDING job, highest first (`sprio`).
  std::vector<std::pair<JobId, PriorityFactors>> priorities(const ClusterState& state, Millis now) const;
  // Fair-share table at `now` (`sshare`): decayed usage plus running jobs' usage so far.
  std::map<Association, FairShareRow> fair_share(const ClusterState& state, Millis now) const;
  // Submit-time checks: request vs node and QoS, dependency targets, limits and quotas.
  // invalid_argument for a bad request, quota_exceeded ("quota-exceeded", with limit/used/requested).
  Status check_submission(const ClusterState& state, std::span<const Job> jobs, Millis now) const;

  // --- mutators: each returns the transitions to persist -----------------------------------
  Result<Transition> submit(ClusterState& state, Job job, Millis now) const;
  // All tasks or none (ids from the caller, one per index); the spec must respect array_limits.
  Result<std::vector<Transition>> submit_array(ClusterState& state, const Job& tmpl, const ArraySpec& spec,
                                               std::span<const JobId> task_ids, Millis now) const;
  // Applies a schedule() result computed from this same state; aborted if the state has changed.
  Result<std::vector<Transition>> apply(ClusterState& state, const ScheduleResult& result) const;
  // A RUNNING job ended: frees its allocation, charges fair share and the quota ledger.
  Result<Transition> finish(ClusterState& state, std::string_view id, const JobEnd& end, Millis now) const;
  // PENDING -> CANCELLED, or RUNNING -> CANCELLED (the caller stops the process; usage as measured).
  Result<Transition> cancel(ClusterState& state, std::string_view id, Millis now, std::string cause,
                            const JobUsage& measured = {}) const;
  Result<Transition> hold(ClusterState& state, std::string_view id, Millis now, std::string cause) const;
  Result<Transition> release(ClusterState& state, std::string_view id, Millis now, std::string cause) const;
  // RUNNING (charged like finish) or terminal -> PENDING.
  Result<Transition> requeue(ClusterState& state, std::string_view id, Millis now, std::string cause,
                             const JobUsage& measured = {}) const;

  // Fair-share charge of a finished job (billing x wall seconds) into `usage`, at its end time.
  // finish() does this; a caller rebuilding usage from the job history calls it per finished job.
  void charge(FairShareUsage& usage, const Job& finished) const;
  double billing_rate(const ResourceRequest& req) const;  // billing units per second

 private:
  explicit Scheduler(SchedulerConfig config) : config_(std::move(config)) {}
  Result<Transition> end_running(ClusterState& state, Job& job, JobEvent event, int exit_code, const JobUsage& usage,
                                 Millis now, std::string cause) const;

  SchedulerConfig config_;
};

// Drops finished jobs that no PENDING job depends on (by id or array id), so that `state.jobs`
// stays the working set. Returns how many were dropped. The database keeps them.
std::size_t prune_finished(ClusterState& state);

}  // namespace atrium::compute
