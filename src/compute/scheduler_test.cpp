// Scheduler: priorities, limits and quotas, arrays, the lifecycle and the configuration.
#include "compute/scheduler.hpp"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compute/test_support.hpp"

namespace atrium::compute {
namespace {

using namespace testing;  // Driver, make_job, kT0, quiet_config

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
