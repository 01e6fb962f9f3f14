// Scheduler: resources (exact GPU indices, what never fits) and EASY backfill.
#include "compute/scheduler.hpp"

#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compute/test_support.hpp"

namespace atrium::compute {
namespace {

using namespace testing;  // Driver, make_job, kT0, quiet_config

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

}  // namespace
}  // namespace atrium::compute
