#include "compute/scheduler.hpp"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compute/test_support.hpp"

namespace atrium::compute {
namespace {

using testing::Driver;
using testing::kT0;
using testing::make_job;
using testing::quiet_config;

Job with_dep(Job j, std::string_view dep) {
  j.dependency = parse_dependency(dep).value();
  return j;
}

// --- dependencies -------------------------------------------------------------------------------

TEST(Dependencies, AfterOkWaitsForSuccess) {
  Driver d;
  d.submit(make_job("a", "alice"));
  d.submit(with_dep(make_job("b", "alice"), "afterok:a"));
  d.pass();
  EXPECT_TRUE(d.running("a"));
  EXPECT_EQ(d.state("b"), JobState::kPending);
  EXPECT_EQ(d.job("b").reason, PendingReason::kDependency);
  EXPECT_NE(d.job("b").reason_detail.find("job a has not ended"), std::string::npos);
  d.now += kMinute;
  d.finish("a");
  d.pass();
  EXPECT_TRUE(d.running("b"));
}

// SLURM's kill_invalid_depend, made explicit: a dependency that can never be satisfied cancels the
// dependant with reason DependencyNeverSatisfied, and whole chains go in the same pass.
TEST(Dependencies, NeverSatisfiableEndsAsCancelled) {
  Driver d;
  d.submit(make_job("a", "alice"));
  d.submit(with_dep(make_job("b", "alice"), "afterok:a"));
  d.submit(with_dep(make_job("c", "alice"), "afterok:b"));     // chain: never, in the same pass
  d.submit(with_dep(make_job("e", "alice"), "afterany:b"));    // b cancelled counts as ended
  d.submit(with_dep(make_job("f", "alice"), "afternotok:a"));  // a failed: runs
  d.pass();
  d.now += kMinute;
  d.finish("a", JobState::kFailed, 2);
  ScheduleResult r = d.sched.schedule(d.st, d.now);
  ASSERT_EQ(r.cancels.size(), 2u);
  auto t = d.sched.apply(d.st, r);
  ASSERT_TRUE(t.has_value());
  for (const char* id : {"b", "c"}) {
    EXPECT_EQ(d.state(id), JobState::kCancelled) << id;
    EXPECT_EQ(d.job(id).reason, PendingReason::kDependencyNeverSatisfied) << id;
  }
  EXPECT_NE(d.job("b").reason_detail.find("afterok: job a ended FAILED"), std::string::npos)
      << d.job("b").reason_detail;
  EXPECT_TRUE(d.running("e"));
  EXPECT_TRUE(d.running("f"));
  int cancelled = 0;
  for (const Transition& tr : *t) {
    if (tr.to == JobState::kCancelled) {
      ++cancelled;
      EXPECT_EQ(tr.event, JobEvent::kDependencyNeverSatisfied);
      EXPECT_EQ(tr.reason, PendingReason::kDependencyNeverSatisfied);
      EXPECT_EQ(tr.at, d.now);
    }
  }
  EXPECT_EQ(cancelled, 2);
}

TEST(Dependencies, AfterNotOkIsNeverSatisfiedBySuccess) {
  Driver d;
  d.submit(make_job("a", "alice"));
  d.submit(with_dep(make_job("b", "alice"), "afternotok:a"));
  d.pass();
  d.finish("a");
  d.pass();
  EXPECT_EQ(d.state("b"), JobState::kCancelled);
  EXPECT_EQ(d.job("b").reason, PendingReason::kDependencyNeverSatisfied);
}

TEST(Dependencies, AfterStartAndAnyOf) {
  Driver d(NodeResources{2, 4096, 0});
  d.submit(make_job("a", "alice", 1));
  d.submit(with_dep(make_job("b", "alice", 1), "after:a"));
  d.submit(with_dep(make_job("x", "alice", 2), "afterok:a?afterok:b"));
  d.pass();
  EXPECT_TRUE(d.running("a"));
  EXPECT_EQ(d.job("b").reason, PendingReason::kDependency);
  d.now += kMinute;
  d.pass();
  EXPECT_TRUE(d.running("b")) << "after: a has started";
  d.finish("a", JobState::kFailed, 1);
  d.pass();
  EXPECT_EQ(d.state("x"), JobState::kPending) << "one alternative failed, the other may still succeed";
  d.finish("b");
  d.pass();
  EXPECT_TRUE(d.running("x"));

  Driver e(NodeResources{2, 4096, 0});
  e.submit(make_job("a", "alice", 1));
  e.submit(make_job("b", "alice", 1));
  e.submit(with_dep(make_job("x", "alice", 1), "afterok:a?afterok:b"));
  e.pass();
  e.finish("a", JobState::kFailed, 1);
  e.finish("b", JobState::kTimeout);
  e.pass();
  EXPECT_EQ(e.state("x"), JobState::kCancelled);
  EXPECT_NE(e.job("x").reason_detail.find("no alternative"), std::string::npos);
}

TEST(Dependencies, SingletonSameNameSameUser) {
  Driver d;
  for (const char* id : {"s1", "s2"}) {
    Job j = with_dep(make_job(id, "alice"), "singleton");
    j.name = "train";
    d.submit(j);
  }
  Job other_user = with_dep(make_job("s3", "bob"), "singleton");
  other_user.name = "train";
  d.submit(other_user);
  d.pass();
  EXPECT_TRUE(d.running("s1"));
  EXPECT_FALSE(d.running("s2"));
  EXPECT_EQ(d.job("s2").reason, PendingReason::kDependency);
  EXPECT_NE(d.job("s2").reason_detail.find("singleton"), std::string::npos);
  EXPECT_TRUE(d.running("s3")) << "another user's job of the same name does not count";
  d.finish("s1");
  d.pass();
  EXPECT_TRUE(d.running("s2"));
}

TEST(Dependencies, ArrayTargetMeansAllTasks) {
  Driver d;
  Job tmpl = make_job("arr", "alice");
  std::vector<JobId> ids = {"t0", "t1", "t2"};
  ASSERT_TRUE(d.sched.submit_array(d.st, tmpl, parse_array_spec("0-2").value(), ids, d.now).has_value());
  d.submit(with_dep(make_job("post", "alice"), "afterok:arr"));
  d.pass();
  d.finish("t0");
  d.finish("t1");
  d.pass();
  EXPECT_EQ(d.job("post").reason, PendingReason::kDependency);
  d.finish("t2");
  d.pass();
  EXPECT_TRUE(d.running("post"));
}

TEST(Dependencies, SubmitRejectsUnknownAndHopelessTargets) {
  Driver d;
  auto unknown = d.sched.submit(d.st, with_dep(make_job("b", "alice"), "afterok:nope"), d.now);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().detail.find("nope, which does not exist"), std::string::npos);
  d.submit(make_job("a", "alice"));
  d.pass();
  d.finish("a", JobState::kFailed, 1);
  auto hopeless = d.sched.submit(d.st, with_dep(make_job("c", "alice"), "afterok:a"), d.now);
  ASSERT_FALSE(hopeless.has_value());
  EXPECT_NE(hopeless.error().detail.find("can never be satisfied"), std::string::npos);
  EXPECT_TRUE(d.sched.submit(d.st, with_dep(make_job("e", "alice"), "afternotok:a"), d.now).has_value());
}

TEST(Dependencies, CycleInLoadedStateIsCancelled) {
  // Submission cannot create a cycle (targets must exist); a state loaded with one must not hang.
  Driver d;
  Job x = with_dep(make_job("x", "alice"), "afterok:y");
  Job y = with_dep(make_job("y", "alice"), "afterok:x");
  d.st.jobs.emplace("x", x);
  d.st.jobs.emplace("y", y);
  d.pass();
  EXPECT_EQ(d.state("x"), JobState::kCancelled);
  EXPECT_EQ(d.state("y"), JobState::kCancelled);
  EXPECT_TRUE(d.job("x").reason_detail.find("circular") != std::string::npos ||
              d.job("y").reason_detail.find("circular") != std::string::npos)
      << d.job("x").reason_detail << " / " << d.job("y").reason_detail;
}

// --- priority -----------------------------------------------------------------------------------

TEST(Priority, QosOrdersJobs) {
  Driver d(NodeResources{4, 4096, 0});
  d.st.policy.qos["normal"] = Qos{};
  d.st.policy.qos["high"] = Qos{.priority = 100};
  d.submit(make_job("n", "alice", 4));
  Job h = make_job("h", "alice", 4);
  h.qos = "high";
  d.now += kMinute;
  d.submit(h);
  auto r = d.pass();
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job, "h");
  EXPECT_DOUBLE_EQ(r.pending[0].priority.qos, 0.0);
  Job bad = make_job("bad", "alice");
  bad.qos = "nope";
  auto rejected = d.sched.submit(d.st, bad, d.now);
  ASSERT_FALSE(rejected.has_value());
  EXPECT_NE(rejected.error().detail.find("QoS \"nope\" does not exist"), std::string::npos);
}

TEST(Priority, QosMaxWallIsCheckedAtSubmit) {
  Driver d;
  d.st.policy.qos["normal"] = Qos{.max_wall = 2 * kHour};
  auto r = d.sched.submit(d.st, make_job("j", "alice", 1, 3 * kHour), d.now);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().detail.find("exceeds QoS normal's maximum 2h"), std::string::npos) << r.error().detail;
}

TEST(Priority, AgeGrowsUntilMaxAge) {
  SchedulerConfig cfg = quiet_config();
  cfg.weights = {.fair_share = 0, .age = 1000, .job_size = 0, .qos = 0};
  cfg.max_age = 7 * kDay;
  Driver d(cfg, {1, 1024, 0});
  d.submit(make_job("old", "alice"));
  d.now += kDay;
  d.submit(make_job("young", "bob"));
  d.now += kDay;
  auto p = d.sched.priorities(d.st, d.now);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].first, "old");
  EXPECT_NEAR(p[0].second.age, 2.0 / 7.0, 1e-12);
  EXPECT_NEAR(p[1].second.age, 1.0 / 7.0, 1e-12);
  EXPECT_NEAR(p[0].second.priority, 1000.0 * 2 / 7, 1e-9);
  d.now += 30 * kDay;
  p = d.sched.priorities(d.st, d.now);
  EXPECT_DOUBLE_EQ(p[0].second.age, 1.0) << "capped at max_age";
  EXPECT_DOUBLE_EQ(p[0].second.priority, p[1].second.priority);
}

TEST(Priority, AgeCanOutweighFairShare) {
  SchedulerConfig cfg = quiet_config();
  cfg.weights = {.fair_share = 1000, .age = 10000, .job_size = 0, .qos = 0};
  Driver d(cfg, {1, 1024, 0});
  d.st.usage.by_association[{"org-a", "grp-a", "alice"}].add(1e6, kT0, cfg.usage_half_life);
  d.submit(make_job("heavy-old", "alice"));
  d.now += 3 * kDay;
  d.submit(make_job("light-new", "bob"));
  auto r = d.pass();
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job, "heavy-old");
}

TEST(Priority, SizeFactorAndNice) {
  SchedulerConfig cfg = quiet_config();
  cfg.weights = {.fair_share = 0, .age = 0, .job_size = 1000, .qos = 0};
  Driver d(cfg, {8, 8192, 2});
  d.submit(make_job("small", "alice", 1));
  d.submit(make_job("gpu", "alice", 1, kHour, 2));  // dominant share: all GPUs
  Job niced = make_job("niced", "alice", 4);
  niced.nice = 100;
  d.submit(niced);
  auto p = d.sched.priorities(d.st, d.now);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].first, "gpu");
  EXPECT_DOUBLE_EQ(p[0].second.job_size, 1.0);
  EXPECT_EQ(p[1].first, "niced");
  EXPECT_DOUBLE_EQ(p[1].second.priority, 1000 * 0.5 - 100);
  cfg.favor_small = true;
  Driver s(cfg, {8, 8192, 2});
  s.submit(make_job("small", "alice", 1));
  s.submit(make_job("big", "alice", 8));
  EXPECT_EQ(s.sched.priorities(s.st, s.now)[0].first, "small");
}

// --- resources ----------------------------------------------------------------------------------

TEST(Resources, ExactDisjointGpuIndicesFreedOnCompletion) {
  Driver d(NodeResources{16, 64 * 1024, 4});
  d.submit(make_job("g1", "alice", 1, kHour, 1));
  d.submit(make_job("g2", "alice", 1, kHour, 2));
  d.submit(make_job("g3", "alice", 1, kHour, 1));
  d.submit(make_job("g4", "alice", 1, kHour, 1));
  d.pass();
  std::vector<int> all;
  for (const char* id : {"g1", "g2", "g3"}) {
    ASSERT_TRUE(d.running(id)) << id;
    for (int g : d.job(id).allocation->gpus) all.push_back(g);
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(d.job("g4").reason, PendingReason::kResources);
  std::vector<int> g2_gpus = d.job("g2").allocation->gpus;
  d.now += kMinute;
  d.finish("g2");
  d.pass();
  ASSERT_TRUE(d.running("g4"));
  ASSERT_EQ(d.job("g4").allocation->gpus.size(), 1u);
  EXPECT_EQ(d.job("g4").allocation->gpus[0], g2_gpus[0]) << "the freed GPU is reused";
  EXPECT_EQ(d.job("g2").allocation->gpus, g2_gpus) << "the finished job keeps its record";
}

TEST(Resources, SubmitRejectsWhatCanNeverFit) {
  Driver d(NodeResources{8, 4096, 1});
  struct Case {
    ResourceRequest req;
    std::string why;
  };
  const Case cases[] = {
      {{9, 1024, 0, kHour}, "requests 9 CPUs; this node has 8"}, {{1, 8192, 0, kHour}, "requests 8192 MB"},
      {{1, 1024, 2, kHour}, "requests 2 GPUs; this node has 1"}, {{0, 1024, 0, kHour}, "cpus must be at least 1"},
      {{1, 1024, 0, 0}, "time limit must be positive"},          {{1, 1024, 0, 31 * kDay}, "exceeds the maximum 30d"},
  };
  int n = 0;
  for (const Case& c : cases) {
    Job j = make_job("j" + std::to_string(n++), "alice");
    j.request = c.req;
    auto r = d.sched.submit(d.st, j, d.now);
    ASSERT_FALSE(r.has_value()) << c.why;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().detail.find(c.why), std::string::npos) << r.error().detail;
  }
  d.submit(make_job("ok", "alice"));
  auto dup = d.sched.submit(d.st, make_job("ok", "alice"), d.now);
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
}

TEST(Resources, BadConstraintsInLoadedStateDoNotBlock) {
  Driver d(NodeResources{4, 4096, 0});
  d.st.jobs.emplace("huge", make_job("huge", "alice", 64));  // the node shrank since it was submitted
  d.submit(make_job("small", "bob", 1));
  auto r = d.pass();
  EXPECT_EQ(d.job("huge").reason, PendingReason::kBadConstraints);
  EXPECT_TRUE(d.running("small"));
  EXPECT_TRUE(r.reservations.empty());
}

// --- backfill -----------------------------------------------------------------------------------

TEST(Backfill, ShortJobBackfillsLongJobDoesNotDelayTheTopJob) {
  Driver d(NodeResources{8, 64 * 1024, 0});
  d.submit(make_job("r", "alice", 4, 60 * kMinute));
  d.pass();
  ASSERT_TRUE(d.running("r"));
  d.now += kMinute;
  d.submit(make_job("big", "alice", 8, 60 * kMinute));    // top: largest size factor
  d.submit(make_job("short", "alice", 2, 30 * kMinute));  // ends before r does
  d.submit(make_job("long", "alice", 2, 120 * kMinute));  // would still run when big should start
  auto r = d.pass();
  ASSERT_EQ(r.reservations.size(), 1u);
  EXPECT_EQ(r.reservations[0].job, "big");
  const Millis shadow = kT0 + 60 * kMinute;
  EXPECT_EQ(r.reservations[0].start, shadow);
  EXPECT_EQ(d.job("big").reason, PendingReason::kResources);
  EXPECT_EQ(d.job("big").estimated_start, shadow);
  ASSERT_TRUE(d.running("short"));
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_TRUE(r.starts[0].backfilled);
  EXPECT_FALSE(d.running("long"));
  EXPECT_EQ(d.job("long").reason, PendingReason::kPriority);
  EXPECT_NE(d.job("long").reason_detail.find("would delay the reservation of higher-priority job big"),
            std::string::npos);
  EXPECT_EQ(d.job("long").estimated_start, shadow + 60 * kMinute) << "after big, in the estimate pass";

  auto x = d.sched.explain(d.st, "big", d.now);
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->reason, PendingReason::kResources);
  EXPECT_EQ(x->estimated_start, shadow);
  EXPECT_NE(x->detail.find("reserved from"), std::string::npos);
  auto xr = d.sched.explain(d.st, "r", d.now);
  ASSERT_TRUE(xr.has_value());
  EXPECT_EQ(xr->state, JobState::kRunning);
  EXPECT_EQ(xr->expected_end, shadow);
  EXPECT_FALSE(d.sched.explain(d.st, "nope", d.now).has_value());

  d.now = kT0 + 31 * kMinute;
  d.finish("short");
  d.pass();
  EXPECT_FALSE(d.running("long")) << "still in the way of big's reservation";
  d.now = shadow;
  d.finish("r");
  d.pass();
  EXPECT_TRUE(d.running("big"));
  EXPECT_EQ(d.job("big").start_time, shadow);
}

TEST(Backfill, LongJobMayUseWhatTheReservationDoesNotNeed) {
  Driver d(NodeResources{8, 64 * 1024, 4});
  d.submit(make_job("r", "alice", 2, 60 * kMinute, 2));
  d.pass();
  ASSERT_EQ(d.job("r").allocation->gpus, (std::vector<int>{0, 1}));
  d.now += kMinute;
  d.submit(make_job("big", "alice", 4, 60 * kMinute, 3));
  d.submit(make_job("long-gpu", "alice", 1, 300 * kMinute, 1));
  d.submit(make_job("long-cpu", "alice", 2, 300 * kMinute, 0));
  d.submit(make_job("long-gpu2", "alice", 1, 300 * kMinute, 1));
  auto r = d.pass();
  ASSERT_EQ(r.reservations.size(), 1u);
  // The reservation prefers GPUs that are busy now, leaving free ones to backfill.
  EXPECT_EQ(r.reservations[0].allocation.gpus, (std::vector<int>{0, 1, 2}));
  ASSERT_TRUE(d.running("long-gpu"));
  EXPECT_EQ(d.job("long-gpu").allocation->gpus, (std::vector<int>{3}));
  EXPECT_TRUE(d.running("long-cpu")) << "8 CPUs - 4 reserved leave room for it during the reservation";
  EXPECT_FALSE(d.running("long-gpu2")) << "no GPU left that the reservation does not need";
  d.now = kT0 + 60 * kMinute;
  d.finish("r");
  d.pass();
  EXPECT_TRUE(d.running("big"));
  EXPECT_EQ(d.job("big").allocation->gpus, (std::vector<int>{0, 1, 2}));
}

TEST(Backfill, OffMeansStrictPriorityOrder) {
  SchedulerConfig cfg = quiet_config();
  cfg.backfill = false;
  Driver d(cfg, {8, 64 * 1024, 0});
  d.submit(make_job("r", "alice", 4, 60 * kMinute));
  d.pass();
  d.submit(make_job("big", "alice", 8, 60 * kMinute));
  d.submit(make_job("short", "alice", 2, 10 * kMinute));
  auto r = d.pass();
  EXPECT_TRUE(r.starts.empty());
  EXPECT_EQ(d.job("short").reason, PendingReason::kPriority);
  EXPECT_EQ(d.job("short").estimated_start, kT0 + 120 * kMinute) << "strict order: not before big (which takes all)";
}

TEST(Backfill, ReservationDepthReservesMoreJobs) {
  for (int depth : {1, 2}) {
    SchedulerConfig cfg = quiet_config();
    cfg.reservation_depth = depth;
    Driver d(cfg, {8, 64 * 1024, 0});
    d.submit(make_job("r", "alice", 4, 60 * kMinute));
    d.pass();
    d.submit(make_job("a", "alice", 8, 60 * kMinute));
    d.submit(make_job("b", "alice", 6, 60 * kMinute));
    d.submit(make_job("s", "alice", 2, 45 * kMinute));  // fits beside r until a's reservation
    auto r = d.pass();
    ASSERT_EQ(r.reservations.size(), static_cast<std::size_t>(depth));
    EXPECT_EQ(r.reservations[0].job, "a");
    EXPECT_EQ(d.job("b").estimated_start, kT0 + 120 * kMinute) << "reserved or estimated, after a";
    EXPECT_TRUE(d.running("s"));
    if (depth == 2) {
      EXPECT_EQ(r.reservations[1].start, kT0 + 120 * kMinute);
    }
  }
}

// Property: with jobs that run exactly their limits and fixed priorities, backfill never makes a
// reserved job start later than its reservation, nor later than it would without backfill.
TEST(Backfill, NeverDelaysTheReservedJob) {
  SchedulerConfig cfg = quiet_config();
  cfg.weights = {.fair_share = 0, .age = 0, .job_size = 0, .qos = 0};  // order = submit order
  int backfilled_total = 0;
  for (std::uint32_t seed = 1; seed <= 25; ++seed) {
    std::mt19937 rng(seed);
    std::vector<Job> jobs;
    for (int i = 0; i < 30; ++i) {
      Job j = make_job(fmt::format("j{:02}", i), i % 2 ? "alice" : "bob", 1 + static_cast<int>(rng() % 8),
                       (1 + rng() % 24) * 10 * kMinute, static_cast<int>(rng() % 3) == 0 ? 1 : 0,
                       512 * (1 + static_cast<int>(rng() % 8)));
      jobs.push_back(j);
    }
    std::map<JobId, Millis> start_on, start_off;
    std::map<JobId, Millis> first_reservation;
    for (bool backfill : {true, false}) {
      SchedulerConfig c = cfg;
      c.backfill = backfill;
      Driver d(c, {8, 8 * 1024, 2});
      for (const Job& j : jobs) d.submit(j);
      bool done = testing::run_to_completion(d, {}, [&](const ScheduleResult& r) {
        if (!backfill) return;
        for (const auto& res : r.reservations) first_reservation.try_emplace(res.job, res.start);
        for (const auto& s : r.starts) backfilled_total += s.backfilled;
      });
      ASSERT_TRUE(done);
      for (const auto& [id, job] : d.st.jobs) {
        ASSERT_EQ(job.state, JobState::kCompleted) << id;
        (backfill ? start_on : start_off)[id] = *job.start_time;
      }
    }
    for (const auto& [id, reserved] : first_reservation) {
      EXPECT_LE(start_on[id], reserved) << "seed " << seed << " job " << id;
    }
    // The first job that had to wait is the same in both runs (nothing differs before it).
    for (const Job& j : jobs) {
      if (start_off[j.id] > kT0) {
        EXPECT_LE(start_on[j.id], start_off[j.id]) << "seed " << seed << " job " << j.id;
        break;
      }
    }
  }
  EXPECT_GT(backfilled_total, 25) << "the workloads exercise backfill";
}

// --- limits and quotas --------------------------------------------------------------------------

TEST(Limits, PerUserRunningJobsAndCpus) {
  Driver d;
  d.st.policy.default_user_limits.max_running_jobs = 2;
  d.st.policy.user_limits["bob"] = Limits{.max_running_cpus = 4};
  for (const char* id : {"a1", "a2", "a3"}) d.submit(make_job(id, "alice", 1));
  d.submit(make_job("b1", "bob", 3));
  d.submit(make_job("b2", "bob", 2));
  d.pass();
  EXPECT_TRUE(d.running("a1"));
  EXPECT_TRUE(d.running("a2"));
  EXPECT_EQ(d.job("a3").reason, PendingReason::kAssocMaxJobsLimit);
  EXPECT_NE(d.job("a3").reason_detail.find("user alice runs 2 jobs; the limit is 2"), std::string::npos);
  EXPECT_TRUE(d.running("b1"));
  EXPECT_EQ(d.job("b2").reason, PendingReason::kAssocMaxCpuLimit);
  d.finish("a1");
  d.pass();
  EXPECT_TRUE(d.running("a3"));
}

TEST(Limits, PerOrgAndQos) {
  Driver d(NodeResources{16, 64 * 1024, 0});
  d.st.policy.org_limits["org-a"] = Limits{.max_running_jobs = 2, .max_running_cpus = 6};
  d.st.policy.qos["normal"] = Qos{.max_jobs_per_user = 1};
  d.submit(make_job("a1", "alice", 4));
  d.submit(make_job("a2", "alice", 1));                                 // QoS: alice already runs one
  d.submit(make_job("b1", "bob", 4));                                   // org: 4 + 4 > 6 CPUs
  d.submit(make_job("c1", "carol", 1));                                 // org: 2nd job
  d.submit(make_job("d1", "dave", 1));                                  // org: 3rd job
  d.submit(make_job("x1", "xavier", 8, kHour, 0, 1024, "org-x", "g"));  // another org: runs
  d.pass();
  EXPECT_TRUE(d.running("a1"));
  EXPECT_EQ(d.job("a2").reason, PendingReason::kQosMaxJobsPerUserLimit);
  EXPECT_EQ(d.job("b1").reason, PendingReason::kAssocGrpCpuLimit);
  EXPECT_TRUE(d.running("c1"));
  EXPECT_EQ(d.job("d1").reason, PendingReason::kAssocGrpJobsLimit);
  EXPECT_NE(d.job("d1").reason_detail.find("org org-a runs 2 jobs"), std::string::npos);
  EXPECT_TRUE(d.running("x1")) << "limit-blocked jobs get no reservation and block nobody";
}

TEST(Limits, PerGroup) {
  Driver d(NodeResources{16, 64 * 1024, 0});
  d.st.policy.group_limits["grp-a"] = Limits{.max_running_jobs = 1};
  d.submit(make_job("a1", "alice", 1));                                   // grp-a
  d.submit(make_job("b1", "bob", 1));                                     // grp-a: 2nd job waits
  d.submit(make_job("c1", "carol", 1, kHour, 0, 1024, "org-a", "grp-b"));  // another group: runs
  d.pass();
  EXPECT_TRUE(d.running("a1"));
  EXPECT_EQ(d.job("b1").reason, PendingReason::kAssocGrpJobsLimit);
  EXPECT_NE(d.job("b1").reason_detail.find("group grp-a runs 1 jobs"), std::string::npos) << d.job("b1").reason_detail;
  EXPECT_TRUE(d.running("c1"));

  d.st.policy.group_limits["grp-b"] = Limits{.max_cpu_hours = 5};
  d.st.ledger.add({"org-a", "grp-b", "carol"}, 6, kHour, {}, d.now);  // 6 CPU-hours used
  auto refused = d.sched.submit(d.st, make_job("c2", "dave", 1, kHour, 0, 1024, "org-a", "grp-b"), d.now);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().detail.find("group grp-b has used 6.00 of 5.00 CPU-hours"), std::string::npos)
      << refused.error().detail;
}

TEST(Quotas, SubmitTimeErrorsSayWhichLimitAndByHowMuch) {
  Driver d;
  d.st.policy.default_user_limits = Limits{.max_submitted_jobs = 2, .max_cpu_hours = 10};
  d.submit(make_job("a1", "alice"));
  d.submit(make_job("a2", "alice"));
  auto third = d.sched.submit(d.st, make_job("a3", "alice"), d.now);
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.error().code, ErrorCode::kQuotaExceeded);
  EXPECT_EQ(third.error().type, "quota-exceeded");
  EXPECT_NE(third.error().detail.find("user alice may have at most 2 jobs pending or running; has 2, submitting 1 "
                                      "(1 over)"),
            std::string::npos)
      << third.error().detail;
  EXPECT_EQ(third.error().extra["limit"], "max_submitted_jobs");

  auto big = d.sched.submit(d.st, make_job("b1", "bob", 8, 2 * kHour), d.now);
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, ErrorCode::kQuotaExceeded);
  EXPECT_NE(big.error().detail.find("16.00 CPU-hours (8 CPUs x 2h); user bob's limit is 10.00 per period (6.00 over)"),
            std::string::npos)
      << big.error().detail;

  d.st.ledger.add({"org-a", "grp-a", "carol"}, 11, kHour, {}, d.now);  // 11 CPU-hours used
  auto used_up = d.sched.submit(d.st, make_job("c1", "carol"), d.now);
  ASSERT_FALSE(used_up.has_value());
  EXPECT_NE(used_up.error().detail.find("user carol has used 11.00 of 10.00 CPU-hours this period (1.00 over)"),
            std::string::npos)
      << used_up.error().detail;
  EXPECT_EQ(used_up.error().extra["limit"], "max_cpu_hours");
  EXPECT_DOUBLE_EQ(used_up.error().extra["used"].get<double>(), 11.0);

  // An array counts all its tasks.
  std::vector<JobId> ids = {"t0", "t1", "t2"};
  auto arr = d.sched.submit_array(d.st, make_job("arr", "dave"), parse_array_spec("0-2").value(), ids, d.now);
  ASSERT_FALSE(arr.has_value());
  EXPECT_NE(arr.error().detail.find("has 0, submitting 3 (1 over)"), std::string::npos) << arr.error().detail;
  EXPECT_FALSE(d.st.jobs.contains("t0")) << "all or nothing";
}

TEST(Quotas, StartTimeQuotaLeavesTheJobPending) {
  Driver d;
  d.st.policy.org_limits["org-a"] = Limits{.max_cpu_hours = 10};
  d.st.ledger.add({"org-a", "grp-a", "alice"}, 7, kHour, {}, d.now);  // 7 of 10 used
  d.submit(make_job("a", "alice", 2, kHour));                         // 7 + 2 <= 10: runs
  Job b = make_job("b", "bob", 2, kHour);                             // 7 + 2 committed + 2 > 10
  b.nice = 100;                                                       // after a
  d.submit(b);
  d.pass();
  EXPECT_TRUE(d.running("a"));
  EXPECT_EQ(d.job("b").reason, PendingReason::kQuotaExceeded);
  EXPECT_NE(d.job("b").reason_detail.find("would be exceeded by 1.00"), std::string::npos) << d.job("b").reason_detail;
  d.now += 30 * kMinute;
  d.finish("a");  // charged 1 CPU-hour (2 CPUs x 30 min) instead of the 2 committed: 7 + 1 + 2 <= 10
  d.pass();
  EXPECT_TRUE(d.running("b"));
}

// --- arrays, holds, begin times, the result's bookkeeping ----------------------------------------

TEST(Arrays, MaxConcurrentTasks) {
  Driver d;
  std::vector<JobId> ids = {"t0", "t1", "t2", "t3", "t4"};
  auto t = d.sched.submit_array(d.st, make_job("arr", "alice"), parse_array_spec("0-4%2").value(), ids, d.now);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->size(), 5u);
  d.pass();
  EXPECT_TRUE(d.running("t0"));
  EXPECT_TRUE(d.running("t1"));
  EXPECT_EQ(d.job("t2").reason, PendingReason::kJobArrayTaskLimit);
  d.finish("t0");
  d.pass();
  EXPECT_TRUE(d.running("t2"));
  EXPECT_EQ(d.job("t3").reason, PendingReason::kJobArrayTaskLimit);
  auto again = d.sched.submit_array(d.st, make_job("arr", "alice"), parse_array_spec("9").value(),
                                    std::vector<JobId>{"t9"}, d.now);
  EXPECT_FALSE(again.has_value());
  SchedulerConfig small = testing::quiet_config();
  small.array_limits.max_tasks = 2;
  Driver s(small);
  auto too_big = s.sched.submit_array(s.st, make_job("big", "alice"), parse_array_spec("0-2").value(),
                                      std::vector<JobId>{"b0", "b1", "b2"}, s.now);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().type, "invalid-array-spec");
}

TEST(Lifecycle, HoldReleaseCancelRequeue) {
  Driver d(NodeResources{2, 4096, 0});
  d.submit(make_job("a", "alice", 2));
  d.submit(make_job("b", "alice", 2));
  ASSERT_TRUE(d.sched.hold(d.st, "a", d.now, "by alice").has_value());
  d.pass();
  EXPECT_EQ(d.job("a").reason, PendingReason::kHeld);
  EXPECT_TRUE(d.running("b")) << "a held job blocks nobody";
  ASSERT_TRUE(d.sched.release(d.st, "a", d.now, "by alice").has_value());
  d.now += 10 * kMinute;
  auto rq = d.sched.requeue(d.st, "b", d.now, "node drained");
  ASSERT_TRUE(rq.has_value());
  EXPECT_EQ(rq->from, JobState::kRunning);
  EXPECT_EQ(rq->to, JobState::kPending);
  EXPECT_EQ(d.job("b").requeue_count, 1);
  EXPECT_GT(d.st.usage.by_association.at({"org-a", "grp-a", "alice"}).value, 0) << "the run was charged";
  d.pass();
  int running = d.running("a") + d.running("b");
  EXPECT_EQ(running, 1);
  const char* run = d.running("a") ? "a" : "b";
  const char* wait = d.running("a") ? "b" : "a";
  auto c = d.sched.cancel(d.st, wait, d.now, "by alice");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->from, JobState::kPending);
  auto cr = d.sched.cancel(d.st, run, d.now + kMinute, "by admin");
  ASSERT_TRUE(cr.has_value());
  EXPECT_EQ(cr->from, JobState::kRunning);
  EXPECT_EQ(cr->to, JobState::kCancelled);
  EXPECT_FALSE(d.sched.cancel(d.st, run, d.now, "again").has_value());
  EXPECT_FALSE(d.sched.hold(d.st, "nope", d.now, "").has_value());
}

TEST(Lifecycle, FinishValidatesTheOutcome) {
  Driver d;
  d.submit(make_job("a", "alice"));
  auto pending = d.sched.finish(d.st, "a", JobEnd{}, d.now);
  ASSERT_FALSE(pending.has_value());
  EXPECT_EQ(pending.error().code, ErrorCode::kFailedPrecondition);
  d.pass();
  EXPECT_FALSE(d.sched.finish(d.st, "a", JobEnd{JobState::kCompleted, 3, {}, ""}, d.now).has_value());
  EXPECT_FALSE(d.sched.finish(d.st, "a", JobEnd{JobState::kFailed, 0, {}, ""}, d.now).has_value());
  EXPECT_FALSE(d.sched.finish(d.st, "a", JobEnd{JobState::kPending, 0, {}, ""}, d.now).has_value());
  EXPECT_EQ(d.sched.finish(d.st, "nope", JobEnd{}, d.now).error().code, ErrorCode::kNotFound);
  auto t = d.sched.finish(d.st, "a", JobEnd{JobState::kFailed, 137, {}, "killed"}, d.now + kMinute);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->exit_code, 137);
  EXPECT_EQ(t->cause, "killed");
  EXPECT_EQ(d.job("a").exit_code, 137);
  EXPECT_EQ(d.job("a").end_time, d.now + kMinute);
}

TEST(Lifecycle, ApplyRefusesAStaleResult) {
  Driver d(NodeResources{2, 4096, 0});
  d.submit(make_job("a", "alice", 2));
  ScheduleResult r = d.sched.schedule(d.st, d.now);
  ASSERT_EQ(r.starts.size(), 1u);
  ASSERT_TRUE(d.sched.cancel(d.st, "a", d.now, "changed my mind").has_value());
  auto t = d.sched.apply(d.st, r);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, ErrorCode::kAborted);
  // A forged allocation that would overcommit is refused too.
  d.submit(make_job("b", "alice", 2));
  d.submit(make_job("c", "alice", 2));
  ScheduleResult forged = d.sched.schedule(d.st, d.now);
  ASSERT_EQ(forged.starts.size(), 1u);
  forged.starts.push_back({forged.starts[0].job == "b" ? "c" : "b", {2, 1024, {}}, false});
  EXPECT_EQ(d.sched.apply(d.st, forged).error().code, ErrorCode::kAborted);
  EXPECT_EQ(d.state("b"), JobState::kPending) << "nothing applied";
}

TEST(Lifecycle, BeginTimeTimeLimitsAndWakeups) {
  Driver d;
  Job later = make_job("later", "alice");
  later.begin_time = d.now + 2 * kHour;
  d.submit(later);
  d.submit(make_job("short", "alice", 1, 10 * kMinute));
  auto r = d.pass();
  EXPECT_EQ(d.job("later").reason, PendingReason::kBeginTime);
  EXPECT_EQ(d.job("later").estimated_start, kT0 + 2 * kHour);
  ASSERT_TRUE(r.next_wakeup.has_value());
  EXPECT_EQ(*r.next_wakeup, kT0 + 10 * kMinute) << "the short job's time limit comes first";
  d.now += 11 * kMinute;
  r = d.pass();
  EXPECT_EQ(r.over_time_limit, (std::vector<JobId>{"short"}));
  d.finish("short", JobState::kTimeout);
  EXPECT_EQ(d.state("short"), JobState::kTimeout);
  r = d.pass();
  EXPECT_EQ(r.next_wakeup, kT0 + 2 * kHour);
  d.now = kT0 + 2 * kHour;
  d.pass();
  EXPECT_TRUE(d.running("later"));
}

TEST(Config, CreateValidates) {
  SchedulerConfig c;
  c.weights.age = -1;
  EXPECT_FALSE(Scheduler::create(c).has_value());
  c = {};
  c.reservation_depth = 0;
  EXPECT_FALSE(Scheduler::create(c).has_value());
  c = {};
  c.max_age = 0;
  EXPECT_FALSE(Scheduler::create(c).has_value());
  EXPECT_TRUE(Scheduler::create({}).has_value());
}

}  // namespace
}  // namespace atrium::compute
