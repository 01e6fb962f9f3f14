// Dependencies as one scheduling pass sees them (afterok, afterany, afternotok, after, any-of),
// with whole chains that can never run found in one pass.
#include <fmt/format.h>

#include "compute/detail/scheduling.hpp"

namespace atrium::compute::detail {

const DepEval& DependencyResolver::evaluate(const Job& job) {
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

// A PENDING target that this pass cancels (its own dependency can never be satisfied).
const DepEval* DependencyResolver::doomed(const Job& t) {
  if (t.state != JobState::kPending || t.dependency.empty()) return nullptr;
  const DepEval& e = evaluate(t);
  return e.status == DepStatus::kNever ? &e : nullptr;
}

DepEval DependencyResolver::item(const Dependency& d) {
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

DepEval DependencyResolver::compute(const Job& job) {
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
const std::map<JobId, std::vector<const Job*>>& DependencyResolver::arrays() {
  if (!array_tasks_) {
    array_tasks_.emplace();
    for (const auto& [id, job] : st_.jobs) {
      if (job.array) (*array_tasks_)[job.array->array_id].push_back(&job);
    }
  }
  return *array_tasks_;
}

}  // namespace atrium::compute::detail
