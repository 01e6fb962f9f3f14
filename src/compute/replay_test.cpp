// Randomised, seeded workloads driven through the core the way the caller will drive it, with
// the invariants checked after every pass: no overcommit, legal transitions only, every waiting
// job has a reason, nothing runs past its time limit plus the kill margin.
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "compute/scheduler.hpp"
#include "compute/test_support.hpp"

namespace atrium::compute {
namespace {

using testing::Driver;
using testing::kT0;
using testing::make_job;
using testing::no_overcommit;

// Deterministic across standard libraries: only mt19937's raw output is specified.
struct Rng {
  std::mt19937 gen;
  explicit Rng(std::uint32_t seed) : gen(seed) {}
  std::uint32_t below(std::uint32_t n) { return gen() % n; }
  bool chance(double p) { return gen() < p * 4294967296.0; }
  double unit() { return (gen() + 0.5) / 4294967296.0; }
  Millis exponential(Millis mean) { return static_cast<Millis>(-std::log(unit()) * static_cast<double>(mean)); }
  template <typename T, std::size_t N>
  const T& pick(const T (&arr)[N]) {
    return arr[below(N)];
  }
};

// Every transition must be a row of the table, and each job's transitions must chain.
struct TransitionLog {
  std::map<JobId, JobState> last;
  int count = 0;

  void record(const Transition& t) {
    ++count;
    if (!t.from) {
      EXPECT_EQ(t.event, JobEvent::kSubmit) << t.job;
      EXPECT_FALSE(last.contains(t.job)) << t.job << " submitted twice";
      last[t.job] = t.to;
      return;
    }
    auto it = last.find(t.job);
    ASSERT_NE(it, last.end()) << t.job << " changed before it was submitted";
    EXPECT_EQ(it->second, *t.from) << t.job;
    auto next = next_state(*t.from, t.event);
    ASSERT_TRUE(next.has_value()) << t.job;
    EXPECT_EQ(*next, t.to) << t.job;
    it->second = t.to;
  }
  template <typename R>
  void record_all(const R& result) {
    ASSERT_TRUE(result.has_value()) << result.error().detail;
    for (const Transition& t : *result) record(t);
  }
};

void expect_pending_have_reasons(const ClusterState& st) {
  for (const auto& [id, job] : st.jobs) {
    if (job.state == JobState::kPending) {
      EXPECT_NE(job.reason, PendingReason::kNone) << id;
      EXPECT_FALSE(job.reason_detail.empty()) << id;
    }
  }
}

// Random operations in random order (submits with dependencies, arrays and holds; ends in every
// state; cancels; requeues) on random nodes: no pass may ever overcommit the node.
TEST(Replay, NoOvercommitOverRandomWorkloads) {
  for (std::uint32_t seed = 1; seed <= 30; ++seed) {
    Rng rng(seed);
    NodeResources node{4 + static_cast<int>(rng.below(29)), 4096 * (1 + rng.below(16)), static_cast<int>(rng.below(9))};
    SchedulerConfig cfg = testing::quiet_config();
    cfg.reservation_depth = 1 + static_cast<int>(rng.below(3));
    cfg.backfill = !rng.chance(0.2);
    Driver d(cfg, node);
    d.st.policy.default_user_limits.max_running_jobs = 2 + static_cast<int>(rng.below(6));
    TransitionLog log;
    int next_id = 0;
    std::vector<JobId> ids;
    for (int step = 0; step < 150; ++step) {
      d.now += rng.below(20) * kMinute;
      int submits = static_cast<int>(rng.below(4));
      for (int i = 0; i < submits; ++i) {
        Job j = make_job(
            fmt::format("j{}", next_id++), fmt::format("u{}", rng.below(4)),
            1 + static_cast<int>(rng.below(static_cast<std::uint32_t>(node.cpus))), (1 + rng.below(12)) * 10 * kMinute,
            static_cast<int>(rng.below(static_cast<std::uint32_t>(node.gpus) + 1)),
            512 * (1 + rng.below(static_cast<std::uint32_t>(node.mem_mb / 512))), fmt::format("org{}", rng.below(2)));
        if (!ids.empty() && rng.chance(0.2)) {
          const char* types[] = {"afterok", "afterany", "afternotok", "after"};
          j.dependency = parse_dependency(fmt::format("{}:{}", rng.pick(types), ids[rng.below(ids.size())])).value();
        }
        j.held = rng.chance(0.05);
        if (rng.chance(0.1)) {
          std::vector<JobId> tasks;
          for (int t = 0; t < 3; ++t) tasks.push_back(fmt::format("{}_{}", j.id, t));
          auto r = d.sched.submit_array(d.st, j, parse_array_spec("0-2%2").value(), tasks, d.now);
          if (r) {
            log.record_all(r);
            ids.insert(ids.end(), tasks.begin(), tasks.end());
          }
        } else {
          auto r = d.sched.submit(d.st, j, d.now);
          if (r) {
            log.record(*r);
            ids.push_back(j.id);
          } else {
            EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << r.error().detail;  // hopeless dependency
          }
        }
      }
      // Random ends, cancels, requeues, releases.
      std::vector<JobId> running, pending;
      for (const auto& [id, job] : d.st.jobs) {
        if (job.state == JobState::kRunning) running.push_back(id);
        if (job.state == JobState::kPending) pending.push_back(id);
      }
      for (const JobId& id : running) {
        if (!rng.chance(0.3)) continue;
        const JobState ends[] = {JobState::kCompleted, JobState::kCompleted,   JobState::kFailed,
                                 JobState::kTimeout,   JobState::kOutOfMemory, JobState::kNodeFail};
        JobState s = rng.pick(ends);
        auto t = d.sched.finish(d.st, id, JobEnd{s, s == JobState::kFailed ? 1 : 0, {1.0, 100}, ""}, d.now);
        ASSERT_TRUE(t.has_value()) << t.error().detail;
        log.record(*t);
      }
      if (!running.empty() && rng.chance(0.1)) {
        const JobId& id = running[rng.below(running.size())];
        if (d.state(id) == JobState::kRunning) {
          auto t = rng.chance(0.5) ? d.sched.requeue(d.st, id, d.now, "random") : d.sched.cancel(d.st, id, d.now, "x");
          ASSERT_TRUE(t.has_value());
          log.record(*t);
        }
      }
      for (const JobId& id : pending) {
        if (d.state(id) != JobState::kPending) continue;
        if (d.job(id).held && rng.chance(0.3)) log.record(d.sched.release(d.st, id, d.now, "random").value());
        if (rng.chance(0.02)) log.record(d.sched.cancel(d.st, id, d.now, "random").value());
      }
      ScheduleResult r = d.sched.schedule(d.st, d.now);
      log.record_all(d.sched.apply(d.st, r));
      ASSERT_TRUE(no_overcommit(d.st)) << "seed " << seed << " step " << step;
      expect_pending_have_reasons(d.st);
      if (::testing::Test::HasFailure()) return;
      prune_finished(d.st);
    }
  }
}

// A day of a busy node: a few thousand submissions from a dozen users in three orgs, arrays,
// dependencies, holds, QoS and limits, jobs that end early, fail, or overrun and are killed.
// Event-driven: the caller's 1-minute timer plus submissions, job ends and next_wakeup.
class DayReplay {
 public:
  DayReplay() : d_(config(), {128, 512 * 1024, 8}) {
    Policy& p = d_.st.policy;
    p.qos["normal"] = Qos{};
    p.qos["high"] = Qos{.priority = 100, .max_jobs_per_user = 4};
    p.default_user_limits = Limits{.max_running_jobs = 24, .max_running_cpus = 64};
    p.org_limits["org-2"] = Limits{.max_running_cpus = 16};
    p.shares.orgs["org-0"] = 2;
  }

  void run() {
    while (true) {
      Millis next = next_event();
      if (next >= kEndOfDay) break;
      ASSERT_GE(next, d_.now);
      d_.now = next;
      if (d_.now >= next_tick_) next_tick_ += kMinute;
      end_jobs();
      release_held();
      arrivals();
      if (rng_.chance(0.01)) cancel_one();  // now and then somebody cancels a waiting job
      pass();
      if (::testing::Test::HasFailure()) return;
      prune_finished(d_.st);  // like the caller: keep the working set small
    }
    check_the_end();
  }

 private:
  struct Planned {
    Millis runtime;  // how long it would run if not killed
    bool fails;
  };
  static constexpr Millis kEndOfDay = kT0 + kDay;

  static SchedulerConfig config() {
    SchedulerConfig cfg;
    cfg.kill_margin = 30'000;
    cfg.estimate_depth = 20;
    return cfg;
  }
  Millis kill_margin() const { return d_.sched.config().kill_margin; }

  // The next event: an arrival, a job end (or its kill), a release, the timer, or next_wakeup.
  Millis next_event() const {
    Millis next = next_tick_;
    if (next_arrival_ < kEndOfDay) next = std::min(next, next_arrival_);
    if (wakeup_) next = std::min(next, *wakeup_);
    for (const auto& [id, job] : d_.st.jobs) {
      if (job.state != JobState::kRunning) continue;
      Millis natural = *job.start_time + plan_.at(id).runtime;
      Millis kill = *job.start_time + job.request.time_limit + kill_margin() / 2;
      next = std::min(next, std::min(natural, kill));
    }
    for (const auto& [id, at] : release_at_) next = std::min(next, at);
    return next;
  }

  // Job ends: natural ones, and overruns killed after the signal at the time limit.
  void end_jobs() {
    std::vector<JobId> running;
    for (const auto& [id, job] : d_.st.jobs) {
      if (job.state == JobState::kRunning) running.push_back(id);
    }
    for (const JobId& id : running) {
      const Job& job = d_.job(id);
      const Planned& pl = plan_.at(id);
      Millis natural = *job.start_time + pl.runtime;
      Millis kill = *job.start_time + job.request.time_limit + kill_margin() / 2;
      std::optional<JobEnd> end;
      if (kill <= d_.now && kill < natural) {
        end = JobEnd{JobState::kTimeout, 0, {}, "time limit"};
        ++killed_;
      } else if (natural <= d_.now) {
        end = pl.fails ? JobEnd{JobState::kFailed, 1, {}, "exit 1"} : JobEnd{JobState::kCompleted, 0, {}, ""};
      }
      if (!end) continue;
      double wall_s = static_cast<double>(d_.now - *job.start_time) / 1000.0;
      end->usage = {job.request.cpus * wall_s * 0.8, job.request.mem_mb / 2};
      auto t = d_.sched.finish(d_.st, id, *end, d_.now);
      ASSERT_TRUE(t.has_value()) << t.error().detail;
      log_.record(*t);
    }
  }

  void release_held() {
    for (auto it = release_at_.begin(); it != release_at_.end();) {
      if (it->second <= d_.now) {
        if (d_.st.jobs.contains(it->first) && d_.state(it->first) == JobState::kPending) {
          log_.record(d_.sched.release(d_.st, it->first, d_.now, "released").value());
        }
        it = release_at_.erase(it);
      } else {
        ++it;
      }
    }
  }

  Association user_of(int u) const {
    Association a;
    a.user = fmt::format("u{}", u);
    a.org = u < 6 ? "org-0" : u < 10 ? "org-1" : "org-2";
    a.group = u < 3 ? "g0" : u < 6 ? "g1" : "g0";
    return a;
  }

  Job make(const JobId& id) {
    int u = rng_.chance(0.2) ? 0 : static_cast<int>(rng_.below(12));  // u0 is the heavy user
    const int cpu_choices[] = {1, 1, 1, 1, 2, 2, 2, 4, 8, 16};
    const int limit_minutes[] = {5, 10, 15, 30, 60, 120};
    Job j = make_job(id, "", rng_.pick(cpu_choices), rng_.pick(limit_minutes) * kMinute);
    j.assoc = user_of(u);
    j.name = fmt::format("w{}", rng_.below(5));
    j.request.mem_mb = j.request.cpus * 2048;
    if (rng_.chance(0.1)) j.request.gpus = 1 + static_cast<int>(rng_.below(2));
    if (rng_.chance(0.1)) j.qos = "high";
    auto prev = last_of_user_.find(j.assoc.user);
    if (prev != last_of_user_.end() && rng_.chance(0.08)) {
      j.dependency = parse_dependency((rng_.chance(0.8) ? "afterok:" : "afternotok:") + prev->second).value();
    } else if (rng_.chance(0.02)) {
      j.dependency = parse_dependency("singleton").value();
    }
    j.held = rng_.chance(0.02);
    return j;
  }

  void plan_run(const Job& j) {
    Millis limit = j.request.time_limit;
    Millis runtime = rng_.chance(0.03) ? limit + 5 * kMinute  // overruns: killed
                                       : static_cast<Millis>(static_cast<double>(limit) * (0.05 + 0.3 * rng_.unit()));
    plan_[j.id] = {std::max<Millis>(runtime, 1000), rng_.chance(0.05)};
  }

  // Submits `j` (an array now and then); the ids of the jobs it made (none: refused).
  std::vector<JobId> submit(const Job& j) {
    std::vector<JobId> new_ids;
    if (rng_.chance(0.08)) {
      ArraySpec spec = parse_array_spec(fmt::format("0-{}%{}", 1 + rng_.below(9), 2 + rng_.below(3))).value();
      for (std::uint32_t idx : spec.indices) new_ids.push_back(fmt::format("{}_{}", j.id, idx));
      auto r = d_.sched.submit_array(d_.st, j, spec, new_ids, d_.now);
      if (r) log_.record_all(r);
      if (!r) new_ids.clear();
    } else {
      auto r = d_.sched.submit(d_.st, j, d_.now);
      if (r) log_.record(*r);
      if (r) new_ids.push_back(j.id);
      if (!r) {
        EXPECT_EQ(r.error().type, "invalid-dependency") << r.error().detail;
      }
    }
    return new_ids;
  }

  void arrivals() {
    while (next_arrival_ <= d_.now && next_arrival_ < kEndOfDay) {
      next_arrival_ += rng_.exponential(kDay / 3000);
      JobId id = fmt::format("job{:05}", submitted_++);
      Job j = make(id);
      std::vector<JobId> new_ids = submit(j);
      // A dependency on a job that failed (afterok) or is no longer in the working set is refused:
      // the caller would load the target from the database first; the stream just moves on.
      if (new_ids.empty()) continue;
      for (const JobId& t : new_ids) {
        plan_run(d_.job(t));
        if (j.held) release_at_[t] = d_.now + kHour;
      }
      last_of_user_[j.assoc.user] = id;  // for an array, afterok:<array id> waits for every task
    }
  }

  void cancel_one() {
    for (const auto& [id, job] : d_.st.jobs) {
      if (job.state == JobState::kPending) {
        log_.record(d_.sched.cancel(d_.st, id, d_.now, "user").value());
        break;
      }
    }
  }

  // The pass, and the invariants.
  void pass() {
    ScheduleResult r = d_.sched.schedule(d_.st, d_.now);
    ++passes_;
    for (const JobStart& s : r.starts) backfilled_ += s.backfilled;
    log_.record_all(d_.sched.apply(d_.st, r));
    wakeup_ = r.next_wakeup;
    ASSERT_TRUE(no_overcommit(d_.st)) << "at " << (d_.now - kT0) / 1000 << " s";
    expect_pending_have_reasons(d_.st);
    std::set<JobId> over(r.over_time_limit.begin(), r.over_time_limit.end());
    int pending = 0;
    for (const auto& [id, job] : d_.st.jobs) {
      if (job.state == JobState::kPending) ++pending;
      if (job.state != JobState::kRunning) continue;
      Millis limit_end = *job.start_time + job.request.time_limit;
      EXPECT_LE(d_.now, limit_end + kill_margin()) << id << " ran past its time limit plus the kill margin";
      if (job.start_time != d_.now) {
        EXPECT_EQ(over.contains(id), d_.now >= limit_end) << id;
      }
    }
    max_pending_ = std::max(max_pending_, pending);
  }

  // The end of the day: every job is finished, or waits with a reason, or runs within its limit.
  void check_the_end() {
    int finished = 0;
    for (const auto& [id, last] : log_.last) {
      auto it = d_.st.jobs.find(id);
      if (it == d_.st.jobs.end()) {
        EXPECT_TRUE(is_terminal(last)) << id << " was dropped while " << state_name(last);
        ++finished;
        continue;
      }
      EXPECT_EQ(it->second.state, last) << id;
      finished += is_terminal(last);
    }
    EXPECT_GT(submitted_, 2500);
    EXPECT_GT(finished, submitted_ * 8 / 10);
    EXPECT_GT(killed_, 0);
    EXPECT_GT(backfilled_, 0);
    std::printf(
        "[ replay ] %d submissions (%zu jobs incl. array tasks), %d passes, %d transitions, %d finished, "
        "%d killed at the time limit, %d backfilled, max %d pending, %.3f s\n",
        submitted_, log_.last.size(), passes_, log_.count, finished, killed_, backfilled_, max_pending_,
        elapsed_.seconds());
  }

  Stopwatch elapsed_;
  Driver d_;
  Rng rng_{20240601};
  std::unordered_map<JobId, Planned> plan_;
  std::map<JobId, Millis> release_at_;  // held jobs: released an hour after submission
  std::map<std::string, JobId> last_of_user_;
  TransitionLog log_;
  Millis next_arrival_ = kT0;
  Millis next_tick_ = kT0;
  int submitted_ = 0, passes_ = 0, max_pending_ = 0, killed_ = 0, backfilled_ = 0;
  std::optional<Millis> wakeup_;
};

TEST(Replay, ADay) { DayReplay().run(); }

}  // namespace
}  // namespace atrium::compute
