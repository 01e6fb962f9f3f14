// What the scheduler's parts share (not API): limit and QoS lookups, the running totals limits
// are checked against, dependency resolution for one pass, and the priority ranking.
#pragma once

#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "compute/fairshare.hpp"
#include "compute/scheduler.hpp"
#include "core/clock.hpp"

namespace atrium::compute::detail {

constexpr Millis kNever = std::numeric_limits<Millis>::max();

// --- lookups -------------------------------------------------------------------------------------

inline const Limits& user_limits(const Policy& p, const std::string& user) {
  auto it = p.user_limits.find(user);
  return it == p.user_limits.end() ? p.default_user_limits : it->second;
}

// The limits set for one org or group (nullptr: none); a job without a group has no group limits.
inline const Limits* find_limits(const std::map<std::string, Limits, std::less<>>& by, const std::string& key) {
  if (key.empty()) return nullptr;
  auto it = by.find(key);
  return it == by.end() ? nullptr : &it->second;
}
inline const Limits* org_limits(const Policy& p, const std::string& org) { return find_limits(p.org_limits, org); }
inline const Limits* group_limits(const Policy& p, const std::string& group) {
  return find_limits(p.group_limits, group);
}

// The QoS a job runs under: nullptr with ok=true when the policy defines no QoS at all.
struct QosLookup {
  const Qos* qos = nullptr;
  bool ok = true;
  std::string_view name;  // points into the job or the policy
};
inline QosLookup find_qos(const Policy& p, const Job& job) {
  QosLookup q;
  q.name = job.qos.empty() ? p.default_qos : job.qos;
  auto it = p.qos.find(q.name);
  if (it != p.qos.end()) {
    q.qos = &it->second;
  } else if (!job.qos.empty() || !p.qos.empty()) {
    q.ok = false;
  }
  return q;
}

inline std::string when(Millis t) { return format_rfc3339(t); }
std::string gpu_list(const std::vector<int>& gpus);

// The PENDING and RUNNING jobs of a state, found in one walk of the map (a pass over a large
// queue would otherwise walk it several times).
struct JobViews {
  std::vector<const Job*> pending, running;
  explicit JobViews(const ClusterState& st) {
    pending.reserve(st.jobs.size());
    for (const auto& [id, job] : st.jobs) {
      if (job.state == JobState::kPending) pending.push_back(&job);
      else if (job.state == JobState::kRunning) running.push_back(&job);
    }
  }
};


FreeResources free_now(const ClusterState& st, const std::vector<const Job*>& running);

// --- dependencies (dependencies.cpp) ------------------------------------------------------------

enum class DepStatus { kSatisfied, kWaiting, kNever };
struct DepEval {
  DepStatus status = DepStatus::kSatisfied;
  Millis satisfied_at = 0;  // when the last needed condition became true
  std::string detail;
  std::string root;  // kNever: the first cause down a chain (kept short for long chains)
};

// Resolves dependencies for one pass. A PENDING target whose own dependencies can never be
// satisfied counts as CANCELLED already, so a whole chain is cancelled in one pass.
class DependencyResolver {
 public:
  DependencyResolver(const ClusterState& st, Millis now) : st_(st), now_(now) {}
  const DepEval& evaluate(const Job& job);
  bool known(const JobId& id) { return st_.jobs.contains(id) || arrays().contains(id); }

 private:
  const DepEval* doomed(const Job& t);
  DepEval item(const Dependency& d);
  DepEval compute(const Job& job);
  const std::map<JobId, std::vector<const Job*>>& arrays();

  const ClusterState& st_;
  Millis now_;
  std::optional<std::map<JobId, std::vector<const Job*>>> array_tasks_;
  std::map<const Job*, DepEval> memo_;
  std::set<const Job*> visiting_;
};

// --- running totals for limits (limits.cpp) -----------------------------------------------------

struct Counts {
  int jobs = 0;
  int cpus = 0;
  double committed_cpu_seconds = 0;  // running jobs' CPUs x time limit: not yet in the ledger
};

// Keys are views into the jobs of the state being scheduled, which outlive the pass.
struct Running {
  std::map<std::string_view, Counts> user, org, group;
  std::map<std::string_view, std::map<std::string_view, Counts>> qos_user;  // qos -> user
  std::map<std::string_view, std::uint32_t> array;
  bool track_names = false;                                       // only when a pending job asks for singleton
  std::set<std::pair<std::string_view, std::string_view>> names;  // (user, name) of running jobs

  static const Counts& count(const std::map<std::string_view, Counts>& m, std::string_view key) {
    static const Counts kZero{};
    auto it = m.find(key);
    return it == m.end() ? kZero : it->second;
  }

  void add(const Job& job, std::string_view qos_name) {
    double committed = job.request.cpus * static_cast<double>(job.request.time_limit) / 1000.0;
    for (Counts* c : {&user[job.assoc.user], &org[job.assoc.org], &qos_user[qos_name][job.assoc.user]}) {
      c->jobs += 1;
      c->cpus += job.request.cpus;
      c->committed_cpu_seconds += committed;
    }
    if (!job.assoc.group.empty()) {
      Counts& g = group[job.assoc.group];
      g.jobs += 1;
      g.cpus += job.request.cpus;
      g.committed_cpu_seconds += committed;
    }
    if (job.array) array[job.array->array_id] += 1;
    if (track_names) names.insert({job.assoc.user, job.name});
  }
};

struct LimitCheck {
  PendingReason reason = PendingReason::kNone;
  std::string detail;
};
LimitCheck check_running_limits(const ClusterState& st, const Job& job, const QosLookup& q, const Running& r,
                                Millis now);

// --- priority (priority.cpp) ----------------------------------------------------------------------

struct Candidate {
  const Job* job;
  QosLookup qos;
  const DepEval* dep;  // owned by the pass's DependencyResolver
  PriorityFactors factors;
};

std::map<Association, FairShareRow> fair_share_rows(const ClusterState& st, const Scheduler& s, Millis now,
                                                    const JobViews& views,
                                                    std::vector<const FairShareRow*>* pending_rows);
// Every PENDING job with its priority factors, highest priority first (ties: older, then smaller id).
std::vector<Candidate> rank_pending(const ClusterState& st, const Scheduler& s, DependencyResolver& deps, Millis now,
                                    const JobViews& views);

}  // namespace atrium::compute::detail
