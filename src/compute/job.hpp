// Jobs as the compute scheduler sees them: SLURM's state names and pending reasons, the
// table-driven state machine, dependencies (afterok, afterany, afternotok, after, singleton).
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compute/resources.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::compute {

using JobId = std::string;

// SLURM's base job states (squeue's long names come from state_name()).
enum class JobState { kPending, kRunning, kCompleted, kFailed, kCancelled, kTimeout, kOutOfMemory, kNodeFail };
inline constexpr JobState kAllJobStates[] = {JobState::kPending,     JobState::kRunning,   JobState::kCompleted,
                                             JobState::kFailed,      JobState::kCancelled, JobState::kTimeout,
                                             JobState::kOutOfMemory, JobState::kNodeFail};
std::string_view state_name(JobState s);  // "PENDING", "OUT_OF_MEMORY", ...
Result<JobState> parse_state(std::string_view name);
bool is_terminal(JobState s);
// COMPLETED is the only successful end; every other terminal state counts as "not ok" for afternotok.
inline bool is_success(JobState s) { return s == JobState::kCompleted; }

// Why a job is PENDING (SLURM's reason names, shown by `atrium job show`), or why it was cancelled.
enum class PendingReason {
  kNone,
  kPriority,                  // higher-priority jobs are ahead (or it would delay a reservation)
  kResources,                 // not enough free CPUs/memory/GPUs now
  kDependency,                // a dependency is not satisfied yet
  kDependencyNeverSatisfied,  // a dependency can never be satisfied: the job is cancelled
  kHeld,                      // held by a user or admin
  kBeginTime,                 // --begin lies in the future
  kJobArrayTaskLimit,         // the array's %N running-task limit is reached
  kQuotaExceeded,             // starting would exceed a CPU-hours quota of the user or org
  kAssocMaxJobsLimit,         // the user's running-jobs limit
  kAssocMaxCpuLimit,          // the user's running-CPUs limit
  kAssocGrpJobsLimit,         // the org's running-jobs limit
  kAssocGrpCpuLimit,          // the org's running-CPUs limit
  kQosMaxJobsPerUserLimit,    // the QoS's per-user running-jobs limit
  kQosMaxCpuPerUserLimit,     // the QoS's per-user running-CPUs limit
  kInvalidQos,                // the job names a QoS that does not exist (any more)
  kBadConstraints,            // the request can never fit this node
};
std::string_view reason_name(PendingReason r);
// The reason_detail of a held job (set by the hold itself, so it is right before any pass).
inline constexpr std::string_view kHeldDetail = "held; release it to let it run";
Result<PendingReason> parse_reason(std::string_view name);

// What happens to a job. The legal (state, event) pairs are a table (kTransitionTable).
enum class JobEvent {
  kSubmit,                    // (nothing) -> PENDING: only in a Transition whose `from` is nullopt
  kStart,                     // PENDING -> RUNNING (the scheduler decided)
  kComplete,                  // RUNNING -> COMPLETED (exit 0)
  kFail,                      // RUNNING -> FAILED (exit != 0)
  kCancel,                    // PENDING|RUNNING -> CANCELLED
  kTimeout,                   // RUNNING -> TIMEOUT
  kOutOfMemory,               // RUNNING -> OUT_OF_MEMORY
  kNodeFail,                  // RUNNING -> NODE_FAIL
  kDependencyNeverSatisfied,  // PENDING -> CANCELLED (SLURM's kill_invalid_depend)
  kRequeue,                   // RUNNING or any terminal state -> PENDING
  kHold,                      // PENDING (not held) -> PENDING (held)
  kRelease,                   // PENDING (held) -> PENDING
};
inline constexpr JobEvent kAllJobEvents[] = {
    JobEvent::kSubmit,      JobEvent::kStart,    JobEvent::kComplete,
    JobEvent::kFail,        JobEvent::kCancel,   JobEvent::kTimeout,
    JobEvent::kOutOfMemory, JobEvent::kNodeFail, JobEvent::kDependencyNeverSatisfied,
    JobEvent::kRequeue,     JobEvent::kHold,     JobEvent::kRelease};
std::string_view event_name(JobEvent e);

struct TransitionRule {
  JobState from;
  JobEvent event;
  JobState to;
};
// Every legal transition; anything not listed is refused with failed_precondition.
std::span<const TransitionRule> transition_table();
// The state `event` leads to from `from`, or failed_precondition ("illegal-transition").
Result<JobState> next_state(JobState from, JobEvent event);
// The event that ends a RUNNING job in `terminal` (COMPLETED -> kComplete, ...); invalid_argument otherwise.
Result<JobEvent> end_event(JobState terminal);

// --- dependencies -------------------------------------------------------------------------------

enum class DependencyType {
  kAfter,       // target has started (or ended)
  kAfterAny,    // target has ended, in any state
  kAfterOk,     // target COMPLETED (exit 0); never satisfiable once it ended otherwise
  kAfterNotOk,  // target ended not COMPLETED; never satisfiable once it COMPLETED
  kSingleton,   // no other job of the same user with the same name is running
};
std::string_view dependency_type_name(DependencyType t);

struct Dependency {
  DependencyType type = DependencyType::kAfterAny;
  JobId target;  // a job id, or an array id (= all of its tasks); empty for singleton
  bool operator==(const Dependency&) const = default;
};

struct DependencySpec {
  std::vector<Dependency> items;
  bool any_of = false;  // '?'-separated: one satisfied item suffices; ','-separated: all must be
  bool empty() const { return items.empty(); }
  bool operator==(const DependencySpec&) const = default;
};

// sbatch's --dependency syntax: "afterok:job_a:job_b,afterany:job_c,singleton" (all of) or
// "afterok:job_a?afternotok:job_b" (any of). Ids are 1-64 of [A-Za-z0-9_.-]. invalid_argument
// ("invalid-dependency") with the offending item otherwise.
Result<DependencySpec> parse_dependency(std::string_view text);
std::string format_dependency(const DependencySpec& spec);

// --- the job -------------------------------------------------------------------------------------

// The fair-share hierarchy a job is charged to: org -> group -> user.
struct Association {
  std::string org;
  std::string group;
  std::string user;
  bool operator==(const Association&) const = default;
  // Users differ most often: compare them first (the order only serves map keys).
  std::strong_ordering operator<=>(const Association& o) const {
    if (auto c = user <=> o.user; c != 0) return c;
    if (auto c = group <=> o.group; c != 0) return c;
    return org <=> o.org;
  }
};

struct ArrayTask {
  JobId array_id;                    // the array as a whole (what dependencies may name)
  std::uint32_t index = 0;           // SLURM_ARRAY_TASK_ID
  std::uint32_t max_concurrent = 0;  // the array's %N; 0 = no limit
};

struct Job {
  // Set at submission.
  JobId id;
  std::string name;
  Association assoc;
  std::string qos;  // empty: the policy's default QoS
  ResourceRequest request;
  Millis submit_time = 0;
  std::optional<Millis> begin_time;  // sbatch --begin
  DependencySpec dependency;
  std::optional<ArrayTask> array;
  int nice = 0;  // subtracted from the priority, like sbatch --nice

  // Lifecycle (changed only through Scheduler's mutators, which return the Transition to persist).
  JobState state = JobState::kPending;
  bool held = false;
  PendingReason reason = PendingReason::kNone;  // why PENDING, or why it ended (e.g. DependencyNeverSatisfied)
  std::string reason_detail;                    // a sentence for people
  std::optional<Millis> estimated_start;        // PENDING: from the last schedule()
  double priority = 0;                          // from the last schedule()
  std::optional<Millis> start_time;
  std::optional<Millis> end_time;
  std::optional<Allocation> allocation;  // while RUNNING, kept afterwards for the record
  std::optional<int> exit_code;
  int requeue_count = 0;
};

// One recorded state change; the caller persists these (the core stores nothing).
struct Transition {
  JobId job;
  std::optional<JobState> from;  // nullopt: the job was submitted
  JobState to = JobState::kPending;
  JobEvent event = JobEvent::kSubmit;
  PendingReason reason = PendingReason::kNone;
  Millis at = 0;
  std::string cause;
  std::optional<int> exit_code;
};

// Applies the state-machine part of `event` to `job` (state, held flag, timestamps, reason) and
// returns the transition. Resource and usage bookkeeping is Scheduler's; this is its building block.
Result<Transition> apply_event(Job& job, JobEvent event, Millis now, std::string cause);

}  // namespace atrium::compute
