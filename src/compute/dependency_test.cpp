// Scheduler: dependencies (after*, singleton, arrays, chains that can never run).
#include "compute/scheduler.hpp"

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "compute/test_support.hpp"

namespace atrium::compute {
namespace {

using testing::Driver;
using testing::make_job;

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

}  // namespace
}  // namespace atrium::compute
