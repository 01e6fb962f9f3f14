#include "compute/job.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace atrium::compute {
namespace {

using S = JobState;
using E = JobEvent;

// The whole state machine as a table: every (state, event) pair not listed here must be refused.
TEST(JobStateMachine, TableOfLegalTransitions) {
  const std::map<std::pair<S, E>, S> expected = {
      {{S::kPending, E::kStart}, S::kRunning},
      {{S::kPending, E::kCancel}, S::kCancelled},
      {{S::kPending, E::kDependencyNeverSatisfied}, S::kCancelled},
      {{S::kPending, E::kHold}, S::kPending},
      {{S::kPending, E::kRelease}, S::kPending},
      {{S::kRunning, E::kComplete}, S::kCompleted},
      {{S::kRunning, E::kFail}, S::kFailed},
      {{S::kRunning, E::kCancel}, S::kCancelled},
      {{S::kRunning, E::kTimeout}, S::kTimeout},
      {{S::kRunning, E::kOutOfMemory}, S::kOutOfMemory},
      {{S::kRunning, E::kNodeFail}, S::kNodeFail},
      {{S::kRunning, E::kRequeue}, S::kPending},
      {{S::kCompleted, E::kRequeue}, S::kPending},
      {{S::kFailed, E::kRequeue}, S::kPending},
      {{S::kCancelled, E::kRequeue}, S::kPending},
      {{S::kTimeout, E::kRequeue}, S::kPending},
      {{S::kOutOfMemory, E::kRequeue}, S::kPending},
      {{S::kNodeFail, E::kRequeue}, S::kPending},
  };
  int legal = 0;
  for (S from : kAllJobStates) {
    for (E ev : kAllJobEvents) {
      auto got = next_state(from, ev);
      auto it = expected.find({from, ev});
      SCOPED_TRACE(std::string(state_name(from)) + " + " + std::string(event_name(ev)));
      if (it == expected.end()) {
        ASSERT_FALSE(got.has_value());
        EXPECT_EQ(got.error().code, ErrorCode::kFailedPrecondition);
        EXPECT_EQ(got.error().type, "illegal-transition");
        EXPECT_NE(got.error().detail.find(state_name(from)), std::string::npos);
      } else {
        ASSERT_TRUE(got.has_value());
        EXPECT_EQ(*got, it->second);
        ++legal;
      }
    }
  }
  EXPECT_EQ(legal, static_cast<int>(expected.size()));
  EXPECT_EQ(transition_table().size(), expected.size());
}

TEST(JobStateMachine, NamesRoundTrip) {
  for (S s : kAllJobStates) {
    auto back = parse_state(state_name(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, s);
    EXPECT_EQ(is_terminal(s), s != S::kPending && s != S::kRunning);
  }
  EXPECT_EQ(state_name(S::kOutOfMemory), "OUT_OF_MEMORY");
  EXPECT_EQ(state_name(S::kNodeFail), "NODE_FAIL");
  EXPECT_FALSE(parse_state("pending").has_value());
  EXPECT_EQ(reason_name(PendingReason::kDependencyNeverSatisfied), "DependencyNeverSatisfied");
  EXPECT_EQ(reason_name(PendingReason::kAssocMaxJobsLimit), "AssocMaxJobsLimit");
  for (int r = 0; r <= static_cast<int>(PendingReason::kBadConstraints); ++r) {
    auto reason = static_cast<PendingReason>(r);
    auto back = parse_reason(reason_name(reason));
    ASSERT_TRUE(back.has_value()) << r;
    EXPECT_EQ(*back, reason);
  }
}

TEST(JobStateMachine, EndEvents) {
  EXPECT_EQ(end_event(S::kCompleted).value(), E::kComplete);
  EXPECT_EQ(end_event(S::kOutOfMemory).value(), E::kOutOfMemory);
  EXPECT_FALSE(end_event(S::kPending).has_value());
  EXPECT_FALSE(end_event(S::kRunning).has_value());
}

TEST(JobStateMachine, HoldAndReleaseArePendingOnly) {
  Job j;
  j.id = "j1";
  auto t = apply_event(j, E::kHold, 10, "user hold");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, S::kPending);
  EXPECT_EQ(t->to, S::kPending);
  EXPECT_EQ(t->reason, PendingReason::kHeld);
  EXPECT_EQ(t->at, 10);
  EXPECT_EQ(t->cause, "user hold");
  EXPECT_TRUE(j.held);
  EXPECT_FALSE(apply_event(j, E::kHold, 11, "again").has_value());
  EXPECT_FALSE(apply_event(j, E::kStart, 11, "start").has_value()) << "a held job cannot start";
  ASSERT_TRUE(apply_event(j, E::kRelease, 12, "release").has_value());
  EXPECT_FALSE(j.held);
  EXPECT_FALSE(apply_event(j, E::kRelease, 13, "again").has_value());
  ASSERT_TRUE(apply_event(j, E::kStart, 14, "go").has_value());
  EXPECT_EQ(j.start_time, 14);
  auto h = apply_event(j, E::kHold, 15, "too late");
  ASSERT_FALSE(h.has_value());
  EXPECT_EQ(h.error().code, ErrorCode::kFailedPrecondition);
}

TEST(JobStateMachine, RequeueClearsTheRun) {
  Job j;
  j.id = "j1";
  ASSERT_TRUE(apply_event(j, E::kStart, 1, "").has_value());
  j.allocation = Allocation{2, 100, {0}};
  ASSERT_TRUE(apply_event(j, E::kFail, 5, "exit 3").has_value());
  j.exit_code = 3;
  EXPECT_EQ(j.end_time, 5);
  EXPECT_FALSE(apply_event(j, E::kCancel, 6, "").has_value()) << "terminal jobs cannot be cancelled";
  auto t = apply_event(j, E::kRequeue, 7, "requeue");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, S::kFailed);
  EXPECT_EQ(j.state, S::kPending);
  EXPECT_FALSE(j.start_time || j.end_time || j.exit_code || j.allocation);
  EXPECT_EQ(j.requeue_count, 1);
}

TEST(JobStateMachine, NeverSatisfiedIsAnExplicitCancel) {
  Job j;
  j.id = "j1";
  auto t = apply_event(j, E::kDependencyNeverSatisfied, 3, "afterok: job x ended FAILED");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, S::kCancelled);
  EXPECT_EQ(t->reason, PendingReason::kDependencyNeverSatisfied);
  EXPECT_EQ(j.reason, PendingReason::kDependencyNeverSatisfied);
  EXPECT_EQ(j.end_time, 3);
}

TEST(DependencyParse, ValidInputs) {
  using T = DependencyType;
  struct Case {
    std::string text;
    DependencySpec want;
    std::string canonical;
  };
  const Case cases[] = {
      {"afterok:a", {{{T::kAfterOk, "a"}}, false}, "afterok:a"},
      {"afterok:a:b", {{{T::kAfterOk, "a"}, {T::kAfterOk, "b"}}, false}, "afterok:a:b"},
      {"afterany:job_01X,afternotok:j-2",
       {{{T::kAfterAny, "job_01X"}, {T::kAfterNotOk, "j-2"}}, false},
       "afterany:job_01X,afternotok:j-2"},
      {"singleton", {{{T::kSingleton, ""}}, false}, "singleton"},
      {"after:a,singleton", {{{T::kAfter, "a"}, {T::kSingleton, ""}}, false}, "after:a,singleton"},
      {"afterok:a?afternotok:b", {{{T::kAfterOk, "a"}, {T::kAfterNotOk, "b"}}, true}, "afterok:a?afternotok:b"},
  };
  for (const Case& c : cases) {
    auto got = parse_dependency(c.text);
    ASSERT_TRUE(got.has_value()) << c.text << ": " << got.error().detail;
    EXPECT_EQ(*got, c.want) << c.text;
    EXPECT_EQ(format_dependency(*got), c.canonical);
  }
}

TEST(DependencyParse, InvalidInputs) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"},
      {"afterok", "names no job"},
      {"afterok:", "empty job id"},
      {"afterok:a,,afterany:b", "empty item"},
      {"afterok:a,", "empty item"},
      {"afterok:a,afterany:b?after:c", "mixes"},
      {"afterbad:a", "unknown type"},
      {"aftercorr:a", "unknown type"},
      {"afterok:a b", "invalid character"},
      {"afterok:a;rm", "invalid character"},
      {"after:a+10", "'+time'"},
      {"afterok:" + std::string(65, 'x'), "longer than 64"},
      {std::string(5000, 'a'), "longer than 4096"},
  };
  for (const auto& [text, why] : cases) {
    auto got = parse_dependency(text);
    ASSERT_FALSE(got.has_value()) << text;
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(got.error().type, "invalid-dependency");
    EXPECT_NE(got.error().detail.find(why), std::string::npos) << text << " -> " << got.error().detail;
  }
}

}  // namespace
}  // namespace atrium::compute
