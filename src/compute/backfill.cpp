// The scheduling pass: EASY backfill in priority order, reservations for the first jobs that do
// not fit, estimated starts for the next ones.
#include <charconv>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "compute/detail/planner.hpp"
#include "compute/detail/scheduling.hpp"

namespace atrium::compute {
namespace {

using namespace detail;

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
};

// One pass over a state: in priority order, start what fits without delaying a reservation; the
// first reservation_depth jobs that do not fit get one; the next estimate_depth get estimates.
class Pass {
 public:
  Pass(const SchedulerConfig& cfg, const ClusterState& st, Millis now)
      : cfg_(cfg), st_(st), now_(now), views_(st), planner_(free_now(st, views_.running), now) {
    out_.now = now;
  }

  ScheduleResult run(const Scheduler& s) {
    account_running();
    DependencyResolver deps(st_, now_);
    std::vector<Candidate> cands = rank_pending(st_, s, deps, now_, views_);
    out_.pending.reserve(cands.size());
    for (const Candidate& c : cands) visit(c);
    estimate();
    return std::move(out_);
  }

 private:
  struct Blocked {
    const Candidate* c;
    std::size_t pending_index;
  };

  void wake(Millis t) {
    if (t > now_ && (!out_.next_wakeup || t < *out_.next_wakeup)) out_.next_wakeup = t;
  }

  // Running jobs: what they hold now, when they give it back, and what counts toward limits.
  void account_running() {
    for (const Job* job : views_.pending) {
      for (const Dependency& d : job->dependency.items) {
        running_.track_names = running_.track_names || d.type == DependencyType::kSingleton;
      }
    }
    std::vector<Planner::Release> releases;
    for (const Job* jp : views_.running) {
      const Job& job = *jp;
      running_.add(job, find_qos(st_.policy, job).name);
      Millis start = job.start_time.value_or(now_);
      if (now_ >= start + job.request.time_limit) out_.over_time_limit.push_back(job.id);
      wake(start + job.request.time_limit);
      wake(start + job.request.time_limit + cfg_.kill_margin);
      if (job.allocation) {
        releases.push_back({planned_end(job, cfg_.kill_margin, now_), job.allocation->cpus, job.allocation->mem_mb,
                            job.allocation->gpu_mask()});
      }
    }
    planner_.release_all(std::move(releases));
  }

  void visit(const Candidate& c) {
    const Job& job = *c.job;
    if (c.dep->status == DepStatus::kNever) {
      out_.cancels.push_back(
          {job.id, PendingReason::kDependencyNeverSatisfied, "dependency can never be satisfied: " + c.dep->detail});
      return;
    }
    PendingInfo info{job.id, PendingReason::kNone, {}, std::nullopt, c.factors};
    bool may_estimate = false;
    if (!held_back(c, info, may_estimate) && start_or_reserve(c, info, may_estimate)) return;
    if (may_estimate) to_estimate_.push_back({&c, out_.pending.size()});
    out_.pending.push_back(std::move(info));
  }

  // Whether something other than resources keeps the job waiting (held, dependencies, begin
  // time, QoS, node size, limits): then `info` says what.
  bool held_back(const Candidate& c, PendingInfo& info, bool& may_estimate) {
    static const SharedText kHeld = share(std::string(kHeldDetail));
    const Job& job = *c.job;
    bool singleton_blocked = false;
    for (const Dependency& d : job.dependency.items) {
      if (d.type == DependencyType::kSingleton && running_.names.contains({job.assoc.user, job.name})) {
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
    } else if (job.begin_time && *job.begin_time > now_) {
      info.reason = PendingReason::kBeginTime;
      info.detail = share("may not start before " + when(*job.begin_time));
      wake(*job.begin_time);
      may_estimate = true;
    } else if (!c.qos.ok) {
      info.reason = PendingReason::kInvalidQos;
      info.detail = share(fmt::format("QoS \"{}\" does not exist", c.qos.name));
    } else if (!fits_node(job.request, st_.node)) {
      info.reason = PendingReason::kBadConstraints;
      info.detail = share(fmt::format("requests {}; the node has {} CPUs, {} MB, {} GPUs", describe(job.request),
                                      st_.node.cpus, st_.node.mem_mb, st_.node.gpus));
    } else if (singleton_blocked) {
      info.reason = PendingReason::kDependency;
      info.detail =
          share(fmt::format("singleton: another job named \"{}\" of user {} is running", job.name, job.assoc.user));
    } else if (lc = check_running_limits(st_, job, c.qos, running_, now_); lc.reason != PendingReason::kNone) {
      info.reason = lc.reason;
      info.detail = share(std::move(lc.detail));
    } else {
      return false;
    }
    return true;
  }

  // A job limits allow: true when it starts now; otherwise `info` gets its reservation or why not.
  bool start_or_reserve(const Candidate& c, PendingInfo& info, bool& may_estimate) {
    const Job& job = *c.job;
    const ResourceRequest& req = job.request;
    Millis dur = req.time_limit + cfg_.kill_margin;
    GpuMask usable = 0;
    if (!blocked_strict_ && planner_.fits(now_, now_ + dur, req, &usable)) {
      GpuMask gpus = lowest_gpus(usable, req.gpus);
      planner_.claim(now_, now_ + dur, req.cpus, req.mem_mb, gpus);
      out_.starts.push_back({job.id, make_allocation(req, gpus), !out_.reservations.empty()});
      running_.add(job, c.qos.name);
      wake(now_ + req.time_limit);
      wake(now_ + req.time_limit + cfg_.kill_margin);
      return true;
    }
    FreeResources fr = planner_.free_now();
    bool fits_free = fr.fits(req);
    info.reason = fits_free ? PendingReason::kPriority : PendingReason::kResources;
    if (fits_free && !detail_cache_.delay)
      detail_cache_.delay = share("would delay the reservation of higher-priority job " +
                                  (first_reserved_ ? *first_reserved_ : std::string("?")));
    info.detail = fits_free ? detail_cache_.delay : detail_cache_.waiting(req, fr);
    std::optional<Millis> start;
    if (static_cast<int>(out_.reservations.size()) < cfg_.reservation_depth) {
      // Without backfill a job cannot start before the blocked jobs ahead of it.
      Millis from = now_;
      if (!cfg_.backfill && !out_.reservations.empty()) from = out_.reservations.back().start;
      start = planner_.earliest_start(from, dur, req, &usable);
    }
    if (start) reserve(job, *start, usable, fr, fits_free, info);
    else may_estimate = true;
    if (!cfg_.backfill) {
      blocked_strict_ = true;
      if (info.estimated_start == std::nullopt) {
        info.reason = PendingReason::kPriority;
        info.detail = share("backfill is off and a higher-priority job is waiting for resources");
      }
    }
    return false;
  }

  void reserve(const Job& job, Millis start, GpuMask usable, const FreeResources& fr, bool fits_free,
               PendingInfo& info) {
    const ResourceRequest& req = job.request;
    Millis dur = req.time_limit + cfg_.kill_margin;
    GpuMask gpus = choose_gpus(usable, req.gpus, ~fr.gpus);
    planner_.claim(start, start + dur, req.cpus, req.mem_mb, gpus);
    Reservation res{job.id, start, start + req.time_limit, make_allocation(req, gpus)};
    info.estimated_start = start;
    std::string text = fmt::format("reserved from {}{}; needs {}", when(start),
                                   req.gpus > 0 ? " on GPUs " + gpu_list(res.allocation.gpus) : "", describe(req));
    if (fits_free) text += " (fits now, but would delay a higher-priority reservation)";
    info.detail = share(std::move(text));
    wake(start);
    if (!first_reserved_) {
      first_reserved_ = &job.id;
      detail_cache_.delay = nullptr;  // names the first reserved job
    }
    out_.reservations.push_back(std::move(res));
  }

  // Estimated starts for the next jobs, as if each got a reservation in turn.
  void estimate() {
    Planner est = planner_;
    Millis floor = now_;
    for (const auto& r : out_.reservations) floor = std::max(floor, r.start);
    int budget = cfg_.estimate_depth;
    for (const Blocked& b : to_estimate_) {
      if (budget-- <= 0) break;
      const Job& job = *b.c->job;
      const ResourceRequest& req = job.request;
      Millis dur = req.time_limit + cfg_.kill_margin;
      Millis from = std::max(now_, job.begin_time.value_or(now_));
      if (!cfg_.backfill) from = std::max(from, floor);  // strict order: not before the jobs ahead
      GpuMask usable = 0;
      if (auto start = est.earliest_start(from, dur, req, &usable)) {
        est.claim(*start, *start + dur, req.cpus, req.mem_mb, lowest_gpus(usable, req.gpus));
        out_.pending[b.pending_index].estimated_start = *start;
        floor = std::max(floor, *start);
      }
    }
  }

  const SchedulerConfig& cfg_;
  const ClusterState& st_;
  Millis now_;
  ScheduleResult out_;
  const JobViews views_;
  Planner planner_;
  Running running_;
  std::vector<Blocked> to_estimate_;
  DetailCache detail_cache_;
  const JobId* first_reserved_ = nullptr;
  bool blocked_strict_ = false;  // backfill off and a job is blocked: nothing below may start
};

}  // namespace

ScheduleResult Scheduler::schedule(const ClusterState& st, Millis now) const { return Pass(config_, st, now).run(*this); }

}  // namespace atrium::compute
