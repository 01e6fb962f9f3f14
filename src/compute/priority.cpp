// Priorities: fair share (classic SLURM), age, size and QoS factors, and the ranking of the queue.
#include <algorithm>
#include <unordered_map>

#include "compute/detail/scheduling.hpp"

namespace atrium::compute {
namespace detail {
namespace {

// Fair-share rows at `now`: decayed usage, plus running jobs' usage so far, plus a zero row for
// every association with a pending job. `pending_rows` gets each pending job's row, in the order
// of state.jobs (map nodes are stable, so the pointers stay valid while `rows` lives).
struct AssocHash {
  std::size_t operator()(const Association& a) const {
    std::hash<std::string_view> h;
    return h(a.user) * 31 + h(a.group) * 17 + h(a.org);
  }
};

}  // namespace

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

}  // namespace detail

std::map<Association, FairShareRow> Scheduler::fair_share(const ClusterState& state, Millis now) const {
  return detail::fair_share_rows(state, *this, now, detail::JobViews(state), nullptr);
}

std::vector<std::pair<JobId, PriorityFactors>> Scheduler::priorities(const ClusterState& state, Millis now) const {
  detail::DependencyResolver deps(state, now);
  std::vector<std::pair<JobId, PriorityFactors>> out;
  for (const detail::Candidate& c : detail::rank_pending(state, *this, deps, now, detail::JobViews(state))) {
    out.emplace_back(c.job->id, c.factors);
  }
  return out;
}

}  // namespace atrium::compute
