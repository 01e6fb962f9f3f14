#include "compute/scheduler.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "compute/detail/planner.hpp"

namespace atrium::compute {
namespace {

using detail::Planner;

constexpr Millis kNever = std::numeric_limits<Millis>::max();

// --- small helpers ------------------------------------------------------------------------------

const Limits& user_limits(const Policy& p, const std::string& user) {
  auto it = p.user_limits.find(user);
  return it == p.user_limits.end() ? p.default_user_limits : it->second;
}

// The limits set for one org or group (nullptr: none); a job without a group has no group limits.
const Limits* find_limits(const std::map<std::string, Limits, std::less<>>& by, const std::string& key) {
  if (key.empty()) return nullptr;
  auto it = by.find(key);
  return it == by.end() ? nullptr : &it->second;
}
const Limits* org_limits(const Policy& p, const std::string& org) { return find_limits(p.org_limits, org); }
const Limits* group_limits(const Policy& p, const std::string& group) { return find_limits(p.group_limits, group); }

// The QoS a job runs under: nullptr with ok=true when the policy defines no QoS at all.
struct QosLookup {
  const Qos* qos = nullptr;
  bool ok = true;
  std::string_view name;  // points into the job or the policy
};
QosLookup find_qos(const Policy& p, const Job& job) {
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

std::string when(Millis t) { return format_rfc3339(t); }

void append_int(std::string& s, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  s.append(buf, end);
}

// The most common detail of a busy queue, so built without a format string.
std::string waiting_detail(const ResourceRequest& req, const FreeResources& fr) {
  std::string s;
  s.reserve(96);
  s += "waiting for ";
  append_int(s, req.cpus);
  s += " CPUs, ";
  append_int(s, req.mem_mb);
  s += " MB, ";
  append_int(s, req.gpus);
  s += " GPUs; free now: ";
  append_int(s, fr.cpus);
  s += " CPUs, ";
  append_int(s, fr.mem_mb);
  s += " MB, ";
  append_int(s, gpu_count(fr.gpus));
  s += " GPUs";
  return s;
}

std::string gpu_list(const std::vector<int>& gpus) {
  std::string out = "[";
  for (std::size_t i = 0; i < gpus.size(); ++i) out += (i ? "," : "") + std::to_string(gpus[i]);
  return out + "]";
}

// Expected end of a running job for planning: the caller kills it at the latest kill_margin after
// its time limit; an overdue job is assumed to end momentarily.
Millis planned_end(const Job& job, Millis kill_margin, Millis now) {
  Millis start = job.start_time.value_or(now);
  return std::max(start + job.request.time_limit + kill_margin, now + 1);
}

// Takes `count` GPUs from `usable`, preferring those in `prefer`.
GpuMask choose_gpus(GpuMask usable, int count, GpuMask prefer) {
  GpuMask first = lowest_gpus(usable & prefer, count);
  int rest = count - gpu_count(first);
  return first | lowest_gpus(usable & ~first, rest);
}

Allocation make_allocation(const ResourceRequest& req, GpuMask gpus) {
  return Allocation{req.cpus, req.mem_mb, gpu_indices(gpus)};
}

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

FreeResources free_now(const ClusterState& st, const std::vector<const Job*>& running) {
  FreeResources f{st.node.cpus, st.node.mem_mb, all_gpus(st.node.gpus)};
  for (const Job* jp : running) {
    const Job& job = *jp;
    if (!job.allocation) continue;
    f.cpus -= job.allocation->cpus;
    f.mem_mb -= job.allocation->mem_mb;
    f.gpus &= ~job.allocation->gpu_mask();
  }
  return f;
}

std::unexpected<Error> quota_error(std::string detail, std::string_view limit, double max, double used,
                                   double requested) {
  return fail(Error(ErrorCode::kQuotaExceeded, "quota-exceeded", std::move(detail))
                  .with("limit", std::string(limit))
                  .with("max", max)
                  .with("used", used)
                  .with("requested", requested));
}

// --- dependencies -------------------------------------------------------------------------------

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

  const DepEval& evaluate(const Job& job) {
    static const DepEval kNone{};
    if (job.dependency.empty()) return kNone;
    if (auto it = memo_.find(&job); it != memo_.end()) return it->second;
    DepEval e;
    if (visiting_.contains(&job)) {
      e.status = DepStatus::kNever;
      e.detail = e.root = "circular dependency";
      return memo_.emplace(&job, std::move(e)).first->second;
    }
    visiting_.insert(&job);
    e = compute(job);
    visiting_.erase(&job);
    return memo_.insert_or_assign(&job, std::move(e)).first->second;
  }

  bool known(const JobId& id) { return st_.jobs.contains(id) || arrays().contains(id); }

 private:
  // A PENDING target that this pass cancels (its own dependency can never be satisfied).
  const DepEval* doomed(const Job& t) {
    if (t.state != JobState::kPending || t.dependency.empty()) return nullptr;
    const DepEval& e = evaluate(t);
    return e.status == DepStatus::kNever ? &e : nullptr;
  }

  DepEval item(const Dependency& d) {
    std::vector<const Job*> targets;
    if (auto it = st_.jobs.find(d.target); it != st_.jobs.end()) {
      targets.push_back(&it->second);
    } else if (auto at = arrays().find(d.target); at != arrays().end()) {
      targets = at->second;
    } else {
      std::string why = fmt::format("{}: job {} is unknown", dependency_type_name(d.type), d.target);
      return {DepStatus::kNever, 0, why, why};
    }
    std::string_view type = dependency_type_name(d.type);
    DepEval e{DepStatus::kSatisfied, 0, {}, {}};
    bool any_not_ok = false;
    for (const Job* t : targets) {
      // The target's state as this pass leaves it: a doomed PENDING job counts as CANCELLED now.
      JobState state = t->state;
      Millis at = t->state == JobState::kRunning ? t->start_time.value_or(now_) : t->end_time.value_or(now_);
      if (const DepEval* gone = doomed(*t)) {
        state = JobState::kCancelled;
        at = now_;
        if (d.type == DependencyType::kAfterOk) {
          std::string why = fmt::format("afterok: job {} can never run: {}", t->id, gone->root);
          return {DepStatus::kNever, 0, why, gone->root};
        }
      }
      bool ended = is_terminal(state);
      bool started = ended || state == JobState::kRunning;
      switch (d.type) {
        case DependencyType::kAfter:
          if (!started) return {DepStatus::kWaiting, 0, std::string(type) + ": job " + t->id + " has not started", {}};
          break;
        case DependencyType::kAfterAny:
        case DependencyType::kAfterNotOk:
          if (!ended) return {DepStatus::kWaiting, 0, std::string(type) + ": job " + t->id + " has not ended", {}};
          any_not_ok = any_not_ok || !is_success(state);
          break;
        case DependencyType::kAfterOk:
          if (ended && !is_success(state)) {
            std::string why = fmt::format("afterok: job {} ended {}", t->id, state_name(state));
            return {DepStatus::kNever, 0, why, why};
          }
          if (!ended) e = {DepStatus::kWaiting, 0, "afterok: job " + t->id + " has not ended", {}};
          break;
        case DependencyType::kSingleton: break;
      }
      if (e.status == DepStatus::kSatisfied) e.satisfied_at = std::max(e.satisfied_at, at);
    }
    if (d.type == DependencyType::kAfterNotOk && !any_not_ok) {
      std::string why = fmt::format("afternotok: job {} COMPLETED", d.target);
      return {DepStatus::kNever, 0, why, why};
    }
    return e;
  }

  DepEval compute(const Job& job) {
    const DependencySpec& spec = job.dependency;
    DepEval all{DepStatus::kSatisfied, 0, {}, {}};
    DepEval any{DepStatus::kNever, kNever, {}, {}};
    bool any_items = false;
    for (const Dependency& d : spec.items) {
      if (d.type == DependencyType::kSingleton) continue;  // a gate checked at start time, always ANDed
      any_items = true;
      DepEval e = item(d);
      if (spec.any_of) {
        if (e.status == DepStatus::kSatisfied) {
          any.status = DepStatus::kSatisfied;
          any.satisfied_at = std::min(any.satisfied_at, e.satisfied_at);
        } else if (e.status == DepStatus::kWaiting && any.status == DepStatus::kNever) {
          any = {DepStatus::kWaiting, kNever, e.detail, {}};
        } else if (any.status == DepStatus::kNever && any.detail.empty()) {
          any.detail = e.detail;
          any.root = e.root;
        }
      } else {
        if (e.status == DepStatus::kNever) return e;
        if (e.status == DepStatus::kWaiting && all.status == DepStatus::kSatisfied) all = e;
        if (all.status == DepStatus::kSatisfied) all.satisfied_at = std::max(all.satisfied_at, e.satisfied_at);
      }
    }
    if (!any_items) return {DepStatus::kSatisfied, 0, {}, {}};
    if (spec.any_of) {
      if (any.status == DepStatus::kNever) {
        any.detail = "no alternative can be satisfied (first: " + any.detail + ")";
        any.root = any.detail;
      }
      if (any.status == DepStatus::kSatisfied) any.detail.clear();
      return any;
    }
    return all;
  }

  // Tasks by array id, built on first use (most passes never need it).
  const std::map<JobId, std::vector<const Job*>>& arrays() {
    if (!array_tasks_) {
      array_tasks_.emplace();
      for (const auto& [id, job] : st_.jobs) {
        if (job.array) (*array_tasks_)[job.array->array_id].push_back(&job);
      }
    }
    return *array_tasks_;
  }

  const ClusterState& st_;
  Millis now_;
  std::optional<std::map<JobId, std::vector<const Job*>>> array_tasks_;
  std::map<const Job*, DepEval> memo_;
  std::set<const Job*> visiting_;
};

// --- running totals for limits ------------------------------------------------------------------

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
                                Millis now) {
  const ResourceRequest& req = job.request;
  if (job.array && job.array->max_concurrent > 0) {
    auto ai = r.array.find(job.array->array_id);
    std::uint32_t n = ai == r.array.end() ? 0 : ai->second;
    if (n >= job.array->max_concurrent) {
      return {PendingReason::kJobArrayTaskLimit, fmt::format("array {} already runs {} of at most {} tasks",
                                                             job.array->array_id, n, job.array->max_concurrent)};
    }
  }
  // `kind` + `name` say whose limit it is ("user alice", "org lab"); formatted only when one is hit.
  auto check = [&](const Limits& l, const Counts& c, PendingReason jobs_reason, PendingReason cpu_reason,
                   std::string_view kind, const std::string& name) -> LimitCheck {
    if (l.max_running_jobs && c.jobs + 1 > *l.max_running_jobs) {
      return {jobs_reason, fmt::format("{} {} runs {} jobs; the limit is {}", kind, name, c.jobs, *l.max_running_jobs)};
    }
    if (l.max_running_cpus && c.cpus + req.cpus > *l.max_running_cpus) {
      return {cpu_reason, fmt::format("{} {} runs jobs on {} CPUs; this job needs {} more; the limit is {}", kind, name,
                                      c.cpus, req.cpus, *l.max_running_cpus)};
    }
    return {};
  };
  // CPU-hours quotas: what the ledger holds + what running jobs may still use + this job's worst case.
  auto quota = [&](const Limits& l, const UsageTotals& totals, const Counts& c, std::string_view kind,
                   const std::string& name) -> LimitCheck {
    double need = req.cpus * static_cast<double>(req.time_limit) / 1000.0;
    double used = totals.allocated_cpu_seconds;
    double max = *l.max_cpu_hours * 3600.0;
    double total = used + c.committed_cpu_seconds + need;
    if (total <= max) return {};
    return {PendingReason::kQuotaExceeded,
            fmt::format("{} {}: {:.2f} CPU-hours used and {:.2f} committed to running jobs this period; this job "
                        "needs up to {:.2f}; the limit {:.2f} would be exceeded by {:.2f}",
                        kind, name, used / 3600.0, c.committed_cpu_seconds / 3600.0, need / 3600.0, *l.max_cpu_hours,
                        (total - max) / 3600.0)};
  };

  // Counts are looked up only for limits that exist: most users of a long queue have none.
  static const Counts kZeroCounts{};
  auto has_any = [](const Limits& l) {
    return l.max_running_jobs || l.max_running_cpus || l.max_cpu_hours;
  };
  const Limits& ul = user_limits(st.policy, job.assoc.user);
  const bool user_limited = has_any(ul);
  const Counts& uc = user_limited ? Running::count(r.user, job.assoc.user) : kZeroCounts;
  LimitCheck lc;
  if (user_limited) {
    lc = check(ul, uc, PendingReason::kAssocMaxJobsLimit, PendingReason::kAssocMaxCpuLimit, "user", job.assoc.user);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  const Limits* ol = org_limits(st.policy, job.assoc.org);
  const Counts& oc = ol ? Running::count(r.org, job.assoc.org) : kZeroCounts;
  if (ol) {
    lc = check(*ol, oc, PendingReason::kAssocGrpJobsLimit, PendingReason::kAssocGrpCpuLimit, "org", job.assoc.org);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  const Limits* gl = group_limits(st.policy, job.assoc.group);
  const Counts& gc = gl ? Running::count(r.group, job.assoc.group) : kZeroCounts;
  if (gl) {
    lc = check(*gl, gc, PendingReason::kAssocGrpJobsLimit, PendingReason::kAssocGrpCpuLimit, "group", job.assoc.group);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  if (q.qos && (q.qos->max_jobs_per_user || q.qos->max_cpus_per_user)) {
    const Counts* cp = &kZeroCounts;
    if (auto qi = r.qos_user.find(q.name); qi != r.qos_user.end()) {
      if (auto ui = qi->second.find(job.assoc.user); ui != qi->second.end()) cp = &ui->second;
    }
    const Counts& c = *cp;
    if (q.qos->max_jobs_per_user && c.jobs + 1 > *q.qos->max_jobs_per_user) {
      return {PendingReason::kQosMaxJobsPerUserLimit,
              fmt::format("QoS {}: user {} runs {} jobs; the limit is {}", q.name, job.assoc.user, c.jobs,
                          *q.qos->max_jobs_per_user)};
    }
    if (q.qos->max_cpus_per_user && c.cpus + req.cpus > *q.qos->max_cpus_per_user) {
      return {PendingReason::kQosMaxCpuPerUserLimit,
              fmt::format("QoS {}: user {} runs jobs on {} CPUs; this job needs {} more; the limit is {}", q.name,
                          job.assoc.user, c.cpus, req.cpus, *q.qos->max_cpus_per_user)};
    }
  }
  if (ul.max_cpu_hours) {
    lc = quota(ul, st.ledger.user(job.assoc.user, now), uc, "user", job.assoc.user);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  if (ol && ol->max_cpu_hours) {
    lc = quota(*ol, st.ledger.org(job.assoc.org, now), oc, "org", job.assoc.org);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  if (gl && gl->max_cpu_hours) {
    lc = quota(*gl, st.ledger.group(job.assoc.org, job.assoc.group, now), gc, "group", job.assoc.group);
    if (lc.reason != PendingReason::kNone) return lc;
  }
  return {};
}

// --- priority -----------------------------------------------------------------------------------

struct Candidate {
  const Job* job;
  QosLookup qos;
  const DepEval* dep;  // owned by the pass's DependencyResolver
  PriorityFactors factors;
};

// Fair-share rows at `now`: decayed usage, plus running jobs' usage so far, plus a zero row for
// every association with a pending job. `pending_rows` gets each pending job's row, in the order
// of state.jobs (map nodes are stable, so the pointers stay valid while `rows` lives).
struct AssocHash {
  std::size_t operator()(const Association& a) const {
    std::hash<std::string_view> h;
    return h(a.user) * 31 + h(a.group) * 17 + h(a.org);
  }
};

std::map<Association, FairShareRow> fair_share_rows(const ClusterState& st, const Scheduler& s, Millis now,
                                                    const JobViews& views,
                                                    std::vector<const FairShareRow*>* pending_rows) {
  std::map<Association, FairShareRow> rows;
  for (const auto& [a, u] : st.usage.by_association) rows[a].raw_usage = u.at(now, s.config().usage_half_life);
  if (s.config().count_running_usage) {
    for (const Job* job : views.running) {
      if (!job->start_time) continue;
      double secs = static_cast<double>(std::max<Millis>(now - *job->start_time, 0)) / 1000.0;
      rows[job->assoc].raw_usage += s.billing_rate(job->request) * secs;
    }
  }
  // Many pending jobs share few associations: a hash lookup each instead of a map search.
  std::unordered_map<Association, const FairShareRow*, AssocHash> seen;
  if (pending_rows) pending_rows->reserve(views.pending.size());
  for (const Job* job : views.pending) {
    auto [it, fresh] = seen.try_emplace(job->assoc, nullptr);
    if (fresh) it->second = &rows.try_emplace(job->assoc).first->second;
    if (pending_rows) pending_rows->push_back(it->second);
  }
  fill_fair_share(st.policy.shares, rows);
  return rows;
}

// Every PENDING job with its priority factors, highest priority first (ties: older, then smaller id).
std::vector<Candidate> rank_pending(const ClusterState& st, const Scheduler& s, DependencyResolver& deps, Millis now,
                                    const JobViews& views) {
  const SchedulerConfig& cfg = s.config();
  std::vector<const FairShareRow*> pending_rows;
  auto fs = fair_share_rows(st, s, now, views, &pending_rows);
  std::size_t pending_index = 0;
  double max_qos = 0;
  for (const auto& [name, q] : st.policy.qos) max_qos = std::max(max_qos, q.priority);
  std::vector<Candidate> cands;
  cands.reserve(views.pending.size());
  for (const Job* jp : views.pending) {
    const Job& job = *jp;
    Candidate c{&job, find_qos(st.policy, job), &deps.evaluate(job), {}};
    PriorityFactors& f = c.factors;
    f.fair_share = pending_rows[pending_index++]->factor;
    // Age counts from when the job became eligible (submitted, past --begin, dependencies met).
    if (c.dep->status == DepStatus::kSatisfied) {
      Millis eligible = std::max({job.submit_time, job.begin_time.value_or(0), c.dep->satisfied_at});
      f.age = std::clamp(static_cast<double>(now - eligible) / static_cast<double>(cfg.max_age), 0.0, 1.0);
    }
    // Size: the job's dominant share of the node (CPUs, memory or GPUs).
    double size = static_cast<double>(job.request.cpus) / std::max(st.node.cpus, 1);
    if (st.node.mem_mb > 0) size = std::max(size, static_cast<double>(job.request.mem_mb) / st.node.mem_mb);
    if (st.node.gpus > 0) size = std::max(size, static_cast<double>(job.request.gpus) / st.node.gpus);
    size = std::clamp(size, 0.0, 1.0);
    f.job_size = cfg.favor_small ? 1.0 - size : size;
    f.qos = c.qos.qos && max_qos > 0 ? std::clamp(c.qos.qos->priority / max_qos, 0.0, 1.0) : 0.0;
    const PriorityWeights& w = cfg.weights;
    f.priority = w.fair_share * f.fair_share + w.age * f.age + w.job_size * f.job_size + w.qos * f.qos - job.nice;
    cands.push_back(std::move(c));
  }
  // Sort small keys, then lay the candidates out in that order. `views.pending` walks the job map,
  // so the index is also the id order: the last tie-break needs no string comparison.
  struct Key {
    double priority;
    Millis submit;
    std::uint32_t index;
  };
  std::vector<Key> keys;
  keys.reserve(cands.size());
  for (std::uint32_t i = 0; i < cands.size(); ++i)
    keys.push_back({cands[i].factors.priority, cands[i].job->submit_time, i});
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.submit != b.submit) return a.submit < b.submit;
    return a.index < b.index;
  });
  std::vector<Candidate> sorted;
  sorted.reserve(cands.size());
  for (const Key& k : keys) sorted.push_back(cands[k.index]);
  return sorted;
}

}  // namespace

const PendingInfo* ScheduleResult::find_pending(std::string_view id) const {
  for (const auto& p : pending) {
    if (p.job == id) return &p;
  }
  return nullptr;
}

Result<Scheduler> Scheduler::create(SchedulerConfig config) {
  const PriorityWeights& w = config.weights;
  for (double v : {w.fair_share, w.age, w.job_size, w.qos}) {
    if (!(v >= 0) || !std::isfinite(v)) return invalid("compute: priority weights must be finite and >= 0");
  }
  const BillingWeights& b = config.billing;
  for (double v : {b.cpu, b.mem_gb, b.gpu}) {
    if (!(v >= 0) || !std::isfinite(v)) return invalid("compute: billing weights must be finite and >= 0");
  }
  if (config.max_age <= 0) return invalid("compute: max_age must be positive");
  if (config.usage_half_life < 0) return invalid("compute: usage_half_life must be >= 0 (0 = no decay)");
  if (config.reservation_depth < 1) return invalid("compute: reservation_depth must be at least 1");
  if (config.estimate_depth < 0) return invalid("compute: estimate_depth must be >= 0");
  if (config.kill_margin < 0) return invalid("compute: kill_margin must be >= 0");
  if (config.max_time_limit <= 0) return invalid("compute: max_time_limit must be positive");
  return Scheduler(std::move(config));
}

double Scheduler::billing_rate(const ResourceRequest& req) const {
  const BillingWeights& b = config_.billing;
  return b.cpu * req.cpus + b.mem_gb * static_cast<double>(req.mem_mb) / 1024.0 + b.gpu * req.gpus;
}

void Scheduler::charge(FairShareUsage& usage, const Job& finished) const {
  if (!finished.start_time || !finished.end_time) return;
  double secs = static_cast<double>(std::max<Millis>(*finished.end_time - *finished.start_time, 0)) / 1000.0;
  usage.by_association[finished.assoc].add(billing_rate(finished.request) * secs, *finished.end_time,
                                           config_.usage_half_life);
}

std::map<Association, FairShareRow> Scheduler::fair_share(const ClusterState& state, Millis now) const {
  return fair_share_rows(state, *this, now, JobViews(state), nullptr);
}

ScheduleResult Scheduler::schedule(const ClusterState& st, Millis now) const {
  ScheduleResult out;
  out.now = now;
  auto wake = [&](Millis t) {
    if (t > now && (!out.next_wakeup || t < *out.next_wakeup)) out.next_wakeup = t;
  };

  // Running jobs: what they hold now, when they give it back, and what counts toward limits.
  const JobViews views(st);
  Planner planner(free_now(st, views.running), now);
  Running running;
  for (const Job* job : views.pending) {
    for (const Dependency& d : job->dependency.items) {
      running.track_names = running.track_names || d.type == DependencyType::kSingleton;
    }
  }
  std::vector<Planner::Release> releases;
  for (const Job* jp : views.running) {
    const Job& job = *jp;
    running.add(job, find_qos(st.policy, job).name);
    Millis start = job.start_time.value_or(now);
    if (now >= start + job.request.time_limit) out.over_time_limit.push_back(job.id);
    wake(start + job.request.time_limit);
    wake(start + job.request.time_limit + config_.kill_margin);
    if (job.allocation) {
      releases.push_back({planned_end(job, config_.kill_margin, now), job.allocation->cpus, job.allocation->mem_mb,
                          job.allocation->gpu_mask()});
    }
  }
  planner.release_all(std::move(releases));

  // Priorities of every pending job.
  DependencyResolver deps(st, now);
  std::vector<Candidate> cands = rank_pending(st, *this, deps, now, views);
  out.pending.reserve(cands.size());

  // The pass: in priority order, start what fits without delaying a reservation; the first
  // reservation_depth jobs that do not fit get one.
  struct Blocked {
    const Candidate* c;
    std::size_t pending_index;
  };
  std::vector<Blocked> to_estimate;
  // A long queue repeats a few request shapes while the free resources stay the same.
  struct DetailCache {
    FreeResources fr{-1, -1, 0};
    std::map<std::tuple<int, std::int64_t, int>, SharedText> text;
    const SharedText& waiting(const ResourceRequest& req, const FreeResources& now_free) {
      if (now_free.cpus != fr.cpus || now_free.mem_mb != fr.mem_mb || now_free.gpus != fr.gpus) {
        text.clear();
        fr = now_free;
      }
      auto [it, fresh] = text.try_emplace({req.cpus, req.mem_mb, req.gpus});
      if (fresh) it->second = share(waiting_detail(req, now_free));
      return it->second;
    }
    SharedText delay;  // "would delay the reservation of …": the same for every job below it
  } detail_cache;
  static const SharedText kHeld = share(std::string(kHeldDetail));
  const JobId* first_reserved = nullptr;
  bool blocked_strict = false;  // backfill off and a job is blocked: nothing below may start
  for (const Candidate& c : cands) {
    const Job& job = *c.job;
    const ResourceRequest& req = job.request;
    if (c.dep->status == DepStatus::kNever) {
      out.cancels.push_back(
          {job.id, PendingReason::kDependencyNeverSatisfied, "dependency can never be satisfied: " + c.dep->detail});
      continue;
    }
    PendingInfo info{job.id, PendingReason::kNone, {}, std::nullopt, c.factors};
    bool may_estimate = false;
    bool singleton_blocked = false;
    for (const Dependency& d : job.dependency.items) {
      if (d.type == DependencyType::kSingleton && running.names.contains({job.assoc.user, job.name})) {
        singleton_blocked = true;
      }
    }
    LimitCheck lc;
    if (job.held) {
      info.reason = PendingReason::kHeld;
      info.detail = kHeld;
    } else if (c.dep->status == DepStatus::kWaiting) {
      info.reason = PendingReason::kDependency;
      info.detail = share(c.dep->detail);
    } else if (job.begin_time && *job.begin_time > now) {
      info.reason = PendingReason::kBeginTime;
      info.detail = share("may not start before " + when(*job.begin_time));
      wake(*job.begin_time);
      may_estimate = true;
    } else if (!c.qos.ok) {
      info.reason = PendingReason::kInvalidQos;
      info.detail = share(fmt::format("QoS \"{}\" does not exist", c.qos.name));
    } else if (!fits_node(req, st.node)) {
      info.reason = PendingReason::kBadConstraints;
      info.detail = share(fmt::format("requests {}; the node has {} CPUs, {} MB, {} GPUs", describe(req),
                                      st.node.cpus, st.node.mem_mb, st.node.gpus));
    } else if (singleton_blocked) {
      info.reason = PendingReason::kDependency;
      info.detail =
          share(fmt::format("singleton: another job named \"{}\" of user {} is running", job.name, job.assoc.user));
    } else if (lc = check_running_limits(st, job, c.qos, running, now); lc.reason != PendingReason::kNone) {
      info.reason = lc.reason;
      info.detail = share(std::move(lc.detail));
    } else {
      Millis dur = req.time_limit + config_.kill_margin;
      GpuMask usable = 0;
      if (!blocked_strict && planner.fits(now, now + dur, req, &usable)) {
        GpuMask gpus = lowest_gpus(usable, req.gpus);
        planner.claim(now, now + dur, req.cpus, req.mem_mb, gpus);
        out.starts.push_back({job.id, make_allocation(req, gpus), !out.reservations.empty()});
        running.add(job, c.qos.name);
        wake(now + req.time_limit);
        wake(now + req.time_limit + config_.kill_margin);
        continue;
      }
      FreeResources fr = planner.free_now();
      bool fits_free = fr.fits(req);
      info.reason = fits_free ? PendingReason::kPriority : PendingReason::kResources;
      if (fits_free && !detail_cache.delay)
        detail_cache.delay = share("would delay the reservation of higher-priority job " +
                                   (first_reserved ? *first_reserved : std::string("?")));
      info.detail = fits_free ? detail_cache.delay : detail_cache.waiting(req, fr);
      std::optional<Millis> start;
      if (static_cast<int>(out.reservations.size()) < config_.reservation_depth) {
        // Without backfill a job cannot start before the blocked jobs ahead of it.
        Millis from = now;
        if (!config_.backfill && !out.reservations.empty()) from = out.reservations.back().start;
        start = planner.earliest_start(from, dur, req, &usable);
      }
      if (start) {
        GpuMask gpus = choose_gpus(usable, req.gpus, ~fr.gpus);
        planner.claim(*start, *start + dur, req.cpus, req.mem_mb, gpus);
        Reservation res{job.id, *start, *start + req.time_limit, make_allocation(req, gpus)};
        info.estimated_start = *start;
        std::string text = fmt::format("reserved from {}{}; needs {}", when(*start),
                                       req.gpus > 0 ? " on GPUs " + gpu_list(res.allocation.gpus) : "", describe(req));
        if (fits_free) text += " (fits now, but would delay a higher-priority reservation)";
        info.detail = share(std::move(text));
        wake(*start);
        if (!first_reserved) {
          first_reserved = &job.id;
          detail_cache.delay = nullptr;  // names the first reserved job
        }
        out.reservations.push_back(std::move(res));
      } else {
        may_estimate = true;
      }
      if (!config_.backfill) {
        blocked_strict = true;
        if (info.estimated_start == std::nullopt) {
          info.reason = PendingReason::kPriority;
          info.detail = share("backfill is off and a higher-priority job is waiting for resources");
        }
      }
    }
    if (may_estimate) to_estimate.push_back({&c, out.pending.size()});
    out.pending.push_back(std::move(info));
  }

  // Estimated starts for the next jobs, as if each got a reservation in turn.
  Planner est = planner;
  Millis floor = now;
  for (const auto& r : out.reservations) floor = std::max(floor, r.start);
  int budget = config_.estimate_depth;
  for (const Blocked& b : to_estimate) {
    if (budget-- <= 0) break;
    const Job& job = *b.c->job;
    const ResourceRequest& req = job.request;
    Millis dur = req.time_limit + config_.kill_margin;
    Millis from = std::max(now, job.begin_time.value_or(now));
    if (!config_.backfill) from = std::max(from, floor);  // strict order: not before the jobs ahead
    GpuMask usable = 0;
    if (auto start = est.earliest_start(from, dur, req, &usable)) {
      est.claim(*start, *start + dur, req.cpus, req.mem_mb, lowest_gpus(usable, req.gpus));
      out.pending[b.pending_index].estimated_start = *start;
      floor = std::max(floor, *start);
    }
  }
  return out;
}

Result<JobExplanation> Scheduler::explain(const ClusterState& state, std::string_view id, Millis now) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  const Job& job = it->second;
  JobExplanation x;
  x.job = job.id;
  x.state = job.state;
  x.reason = job.reason;
  x.detail = job.reason_detail;
  x.priority.priority = job.priority;
  if (job.state == JobState::kRunning) {
    if (job.start_time) x.expected_end = *job.start_time + job.request.time_limit;
    x.detail = fmt::format("running since {} on {}", job.start_time ? when(*job.start_time) : "?",
                           job.allocation ? fmt::format("{} CPUs, {} MB, GPUs {}", job.allocation->cpus,
                                                        job.allocation->mem_mb, gpu_list(job.allocation->gpus))
                                          : std::string("?"));
    return x;
  }
  if (job.state != JobState::kPending) return x;
  ScheduleResult r = schedule(state, now);
  for (const auto& s : r.starts) {
    if (s.job == job.id) {
      x.reason = PendingReason::kNone;
      x.estimated_start = now;
      x.detail = "starts at the next scheduling pass";
      for (auto& [pid, f] : priorities(state, now)) {
        if (pid == job.id) x.priority = f;
      }
      return x;
    }
  }
  for (const auto& c : r.cancels) {
    if (c.job == job.id) {
      x.reason = c.reason;
      x.detail = c.cause;
      return x;
    }
  }
  if (const PendingInfo* p = r.find_pending(job.id)) {
    x.reason = p->reason;
    x.detail = p->text();
    x.estimated_start = p->estimated_start;
    x.priority = p->priority;
  }
  return x;
}

std::vector<std::pair<JobId, PriorityFactors>> Scheduler::priorities(const ClusterState& state, Millis now) const {
  DependencyResolver deps(state, now);
  std::vector<std::pair<JobId, PriorityFactors>> out;
  for (const Candidate& c : rank_pending(state, *this, deps, now, JobViews(state))) {
    out.emplace_back(c.job->id, c.factors);
  }
  return out;
}

Status Scheduler::check_submission(const ClusterState& st, std::span<const Job> jobs, Millis now) const {
  TRY_STATUS(validate_node(st.node));
  std::set<JobId> new_ids;
  std::map<std::string, int> per_user, per_org, per_group;
  DependencyResolver deps(st, now);
  for (const Job& job : jobs) {
    if (job.id.empty()) return invalid("job id is empty");
    if (st.jobs.contains(job.id) || !new_ids.insert(job.id).second) {
      return fail(ErrorCode::kAlreadyExists, "already-exists", fmt::format("job {} already exists", job.id));
    }
    if (job.assoc.user.empty() || job.assoc.org.empty()) return invalid("job must name an org and a user");
    TRY_STATUS(validate_request(job.request, st.node));
    if (job.request.time_limit > config_.max_time_limit) {
      return invalid(fmt::format("time limit {} exceeds the maximum {}", format_duration(job.request.time_limit),
                                 format_duration(config_.max_time_limit)));
    }
    QosLookup q = find_qos(st.policy, job);
    if (!q.ok) return invalid(fmt::format("QoS \"{}\" does not exist", q.name));
    if (q.qos && q.qos->max_wall && job.request.time_limit > *q.qos->max_wall) {
      return invalid(fmt::format("time limit {} exceeds QoS {}'s maximum {}", format_duration(job.request.time_limit),
                                 q.name, format_duration(*q.qos->max_wall)));
    }
    for (const Dependency& d : job.dependency.items) {
      if (d.type == DependencyType::kSingleton) continue;
      if (!deps.known(d.target)) {
        return fail(ErrorCode::kInvalidArgument, "invalid-dependency",
                    fmt::format("dependency names job {}, which does not exist", d.target));
      }
    }
    if (!job.dependency.empty()) {
      const DepEval& e = deps.evaluate(job);
      if (e.status == DepStatus::kNever) {
        return fail(ErrorCode::kInvalidArgument, "invalid-dependency",
                    "dependency can never be satisfied: " + e.detail);
      }
    }
    per_user[job.assoc.user] += 1;
    per_org[job.assoc.org] += 1;
    per_group[job.assoc.group] += 1;
  }

  // Quotas: jobs pending or running (counted only when such a limit exists), CPU-hours of the period.
  std::map<std::string, int> active_user, active_org, active_group;
  bool count_active = false;
  for (const Job& job : jobs) {
    const Limits* ol = org_limits(st.policy, job.assoc.org);
    const Limits* gl = group_limits(st.policy, job.assoc.group);
    count_active = count_active || user_limits(st.policy, job.assoc.user).max_submitted_jobs ||
                   (ol && ol->max_submitted_jobs) || (gl && gl->max_submitted_jobs);
  }
  for (const auto& [id, job] : st.jobs) {
    if (!count_active) break;
    if (job.state == JobState::kPending || job.state == JobState::kRunning) {
      active_user[job.assoc.user] += 1;
      active_org[job.assoc.org] += 1;
      active_group[job.assoc.group] += 1;
    }
  }
  auto check = [&](const Limits& l, std::string_view who, int active, int adding, double used_s,
                   const Job& job) -> Status {
    if (l.max_submitted_jobs && active + adding > *l.max_submitted_jobs) {
      return quota_error(
          fmt::format("{} may have at most {} jobs pending or running; has {}, submitting {} ({} over)", who,
                      *l.max_submitted_jobs, active, adding, active + adding - *l.max_submitted_jobs),
          "max_submitted_jobs", *l.max_submitted_jobs, active, adding);
    }
    if (l.max_cpu_hours) {
      double used = used_s / 3600.0;
      double need = job.request.cpus * static_cast<double>(job.request.time_limit) / 3.6e6;
      if (used >= *l.max_cpu_hours) {
        return quota_error(fmt::format("{} has used {:.2f} of {:.2f} CPU-hours this period ({:.2f} over)", who, used,
                                       *l.max_cpu_hours, used - *l.max_cpu_hours),
                           "max_cpu_hours", *l.max_cpu_hours, used, need);
      }
      if (need > *l.max_cpu_hours) {
        return quota_error(fmt::format("the job may use {:.2f} CPU-hours ({} CPUs x {}); {}'s limit is {:.2f} per "
                                       "period ({:.2f} over)",
                                       need, job.request.cpus, format_duration(job.request.time_limit), who,
                                       *l.max_cpu_hours, need - *l.max_cpu_hours),
                           "max_cpu_hours", *l.max_cpu_hours, used, need);
      }
    }
    return {};
  };
  for (const Job& job : jobs) {
    const std::string& u = job.assoc.user;
    const std::string& o = job.assoc.org;
    TRY_STATUS(check(user_limits(st.policy, u), "user " + u, active_user[u], per_user[u],
                     st.ledger.user(u, now).allocated_cpu_seconds, job));
    if (const Limits* ol = org_limits(st.policy, o)) {
      TRY_STATUS(check(*ol, "org " + o, active_org[o], per_org[o], st.ledger.org(o, now).allocated_cpu_seconds, job));
    }
    const std::string& g = job.assoc.group;
    if (const Limits* gl = group_limits(st.policy, g)) {
      TRY_STATUS(check(*gl, "group " + g, active_group[g], per_group[g],
                       st.ledger.group(o, g, now).allocated_cpu_seconds, job));
    }
  }
  return {};
}

Result<Transition> Scheduler::submit(ClusterState& state, Job job, Millis now) const {
  TRY_STATUS(check_submission(state, std::span<const Job>(&job, 1), now));
  job.submit_time = now;
  job.state = JobState::kPending;
  job.reason = job.held ? PendingReason::kHeld : PendingReason::kNone;
  job.reason_detail.clear();
  job.estimated_start.reset();
  job.start_time.reset();
  job.end_time.reset();
  job.allocation.reset();
  job.exit_code.reset();
  Transition t{job.id, std::nullopt, JobState::kPending, JobEvent::kSubmit, job.reason, now, "submitted", std::nullopt};
  JobId id = job.id;
  state.jobs.emplace(std::move(id), std::move(job));
  return t;
}

Result<std::vector<Transition>> Scheduler::submit_array(ClusterState& state, const Job& tmpl, const ArraySpec& spec,
                                                        std::span<const JobId> task_ids, Millis now) const {
  const ArrayLimits& limits = config_.array_limits;
  if (spec.indices.size() > limits.max_tasks || (!spec.indices.empty() && spec.indices.back() > limits.max_index)) {
    return fail(
        ErrorCode::kInvalidArgument, "invalid-array-spec",
        fmt::format("arrays may have at most {} tasks with indices up to {}", limits.max_tasks, limits.max_index));
  }
  std::vector<Job> tasks = TRY(expand_array(tmpl, spec, task_ids));
  if (state.jobs.contains(tmpl.id)) {
    return fail(ErrorCode::kAlreadyExists, "already-exists", fmt::format("array id {} is a job id", tmpl.id));
  }
  for (const auto& [id, job] : state.jobs) {
    if (job.array && job.array->array_id == tmpl.id) {
      return fail(ErrorCode::kAlreadyExists, "already-exists", fmt::format("array {} already exists", tmpl.id));
    }
  }
  TRY_STATUS(check_submission(state, tasks, now));
  std::vector<Transition> out;
  for (Job& task : tasks) out.push_back(TRY(submit(state, std::move(task), now)));
  return out;
}

Result<std::vector<Transition>> Scheduler::apply(ClusterState& state, const ScheduleResult& result) const {
  Millis now = result.now;
  auto stale = [](std::string detail) {
    return fail(ErrorCode::kAborted, "schedule-stale", detail + "; run schedule() again");
  };
  // Validate everything first, so that a stale result changes nothing.
  FreeResources free = free_now(state, JobViews(state).running);
  for (const JobStart& s : result.starts) {
    auto it = state.jobs.find(s.job);
    if (it == state.jobs.end() || it->second.state != JobState::kPending || it->second.held) {
      return stale(fmt::format("job {} is no longer a startable PENDING job", s.job));
    }
    const Allocation& a = s.allocation;
    GpuMask mask = a.gpu_mask();
    if (gpu_count(mask) != static_cast<int>(a.gpus.size()) || (mask & ~free.gpus) != 0 || a.cpus > free.cpus ||
        a.mem_mb > free.mem_mb || a.cpus != it->second.request.cpus || a.mem_mb != it->second.request.mem_mb ||
        static_cast<int>(a.gpus.size()) != it->second.request.gpus) {
      return stale(fmt::format("the allocation for job {} no longer fits", s.job));
    }
    free.cpus -= a.cpus;
    free.mem_mb -= a.mem_mb;
    free.gpus &= ~mask;
  }
  for (const JobCancel& c : result.cancels) {
    auto it = state.jobs.find(c.job);
    if (it == state.jobs.end() || it->second.state != JobState::kPending) {
      return stale(fmt::format("job {} is no longer PENDING", c.job));
    }
  }

  std::vector<Transition> out;
  for (const JobStart& s : result.starts) {
    Job& job = state.jobs.at(s.job);
    Transition t = TRY(apply_event(job, JobEvent::kStart, now, s.backfilled ? "scheduled (backfill)" : "scheduled"));
    job.allocation = s.allocation;
    job.reason_detail.clear();
    out.push_back(std::move(t));
  }
  for (const JobCancel& c : result.cancels) {
    Job& job = state.jobs.at(c.job);
    Transition t = TRY(apply_event(job, JobEvent::kDependencyNeverSatisfied, now, c.cause));
    job.reason_detail = c.cause;
    out.push_back(std::move(t));
  }
  for (const PendingInfo& p : result.pending) {
    auto it = state.jobs.find(p.job);
    if (it == state.jobs.end() || it->second.state != JobState::kPending) continue;
    it->second.reason = p.reason;
    if (it->second.reason_detail != p.text()) it->second.reason_detail = p.text();  // mostly unchanged
    it->second.estimated_start = p.estimated_start;
    it->second.priority = p.priority.priority;
  }
  return out;
}

Result<Transition> Scheduler::end_running(ClusterState& state, Job& job, JobEvent event, int exit_code,
                                          const JobUsage& usage, Millis now, std::string cause) const {
  Millis start = job.start_time.value_or(now);
  int cpus = job.allocation ? job.allocation->cpus : job.request.cpus;
  Transition t = TRY(apply_event(job, event, now, std::move(cause)));
  Millis wall = std::max<Millis>(now - start, 0);
  Job charged = job;  // requeue clears the times: charge from what the job held
  charged.start_time = start;
  charged.end_time = now;
  charge(state.usage, charged);
  state.ledger.add(job.assoc, cpus, wall, usage, now);
  if (event != JobEvent::kRequeue && event != JobEvent::kCancel) {
    job.exit_code = exit_code;
    t.exit_code = exit_code;
  }
  return t;
}

Result<Transition> Scheduler::finish(ClusterState& state, std::string_view id, const JobEnd& end, Millis now) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  Job& job = it->second;
  JobEvent event = TRY(end_event(end.state));
  if (job.state != JobState::kRunning) {
    return fail(
        ErrorCode::kFailedPrecondition, "illegal-transition",
        fmt::format("job {} is {}; only a RUNNING job can end {}", id, state_name(job.state), state_name(end.state)));
  }
  if (end.state == JobState::kCompleted && end.exit_code != 0) {
    return invalid(fmt::format("job {}: COMPLETED needs exit code 0, got {}", id, end.exit_code));
  }
  if (end.state == JobState::kFailed && end.exit_code == 0) {
    return invalid(fmt::format("job {}: FAILED needs a non-zero exit code", id));
  }
  std::string cause = end.cause.empty() ? std::string(state_name(end.state)) : end.cause;
  Result<Transition> t = end_running(state, job, event, end.exit_code, end.usage, now, std::move(cause));
  if (t && event == JobEvent::kCancel) {
    job.exit_code = end.exit_code;
    t->exit_code = end.exit_code;
  }
  return t;
}

Result<Transition> Scheduler::cancel(ClusterState& state, std::string_view id, Millis now, std::string cause,
                                     const JobUsage& measured) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  Job& job = it->second;
  if (job.state == JobState::kRunning) {
    return end_running(state, job, JobEvent::kCancel, 0, measured, now, std::move(cause));
  }
  return apply_event(job, JobEvent::kCancel, now, std::move(cause));
}

Result<Transition> Scheduler::hold(ClusterState& state, std::string_view id, Millis now, std::string cause) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  return apply_event(it->second, JobEvent::kHold, now, std::move(cause));
}

Result<Transition> Scheduler::release(ClusterState& state, std::string_view id, Millis now, std::string cause) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  return apply_event(it->second, JobEvent::kRelease, now, std::move(cause));
}

Result<Transition> Scheduler::requeue(ClusterState& state, std::string_view id, Millis now, std::string cause,
                                      const JobUsage& measured) const {
  auto it = state.jobs.find(std::string(id));
  if (it == state.jobs.end()) return not_found(fmt::format("job {}", id));
  Job& job = it->second;
  if (job.state == JobState::kRunning) {
    return end_running(state, job, JobEvent::kRequeue, 0, measured, now, std::move(cause));
  }
  return apply_event(job, JobEvent::kRequeue, now, std::move(cause));
}

std::size_t prune_finished(ClusterState& state) {
  std::set<JobId> needed;
  for (const auto& [id, job] : state.jobs) {
    if (job.state != JobState::kPending) continue;
    for (const Dependency& d : job.dependency.items) needed.insert(d.target);
  }
  std::size_t dropped = 0;
  for (auto it = state.jobs.begin(); it != state.jobs.end();) {
    const Job& job = it->second;
    bool keep =
        !is_terminal(job.state) || needed.contains(job.id) || (job.array && needed.contains(job.array->array_id));
    if (keep) {
      ++it;
    } else {
      it = state.jobs.erase(it);
      ++dropped;
    }
  }
  return dropped;
}

}  // namespace atrium::compute
