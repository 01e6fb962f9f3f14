#include "slurm/translate.hpp"

#include <gtest/gtest.h>

namespace atrium::slurm {
namespace {

using compute::JobState;

// SLURM's states one to one; PREEMPTED, BOOT_FAIL, DEADLINE to the closest with SLURM's name kept.
TEST(SlurmStates, MapOneToOneAndClosest) {
  struct Case {
    const char* slurm;
    std::optional<JobState> atrium;
  };
  const Case table[] = {{"PENDING", JobState::kPending},       {"RUNNING", JobState::kRunning},
                        {"COMPLETED", JobState::kCompleted},   {"FAILED", JobState::kFailed},
                        {"CANCELLED", JobState::kCancelled},   {"TIMEOUT", JobState::kTimeout},
                        {"OUT_OF_MEMORY", JobState::kOutOfMemory}, {"NODE_FAIL", JobState::kNodeFail},
                        {"PREEMPTED", JobState::kCancelled},   {"BOOT_FAIL", JobState::kNodeFail},
                        {"DEADLINE", JobState::kTimeout},      {"SUSPENDED", JobState::kRunning},
                        {"COMPLETING", JobState::kRunning},    {"CONFIGURING", JobState::kRunning},
                        {"REQUEUED", JobState::kPending},      {"NONSENSE", std::nullopt}};
  for (auto& c : table) EXPECT_EQ(map_state(c.slurm), c.atrium) << c.slurm;
  EXPECT_TRUE(slurm_active("PENDING"));
  EXPECT_TRUE(slurm_active("COMPLETING"));
  EXPECT_FALSE(slurm_active("COMPLETED"));
  EXPECT_FALSE(slurm_active("BOOT_FAIL"));
}

TEST(SlurmStates, ObservationKeepsSlurmsNameAndReason) {
  JobInfo j{.job_id = 7, .state = "PREEMPTED", .reason = "None", .nodes = "n1"};
  auto o = observation_of(j);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->state, JobState::kCancelled);
  EXPECT_EQ(o->slurm_state, "PREEMPTED");
  EXPECT_EQ(o->reason, "SLURM PREEMPTED");
  EXPECT_EQ(o->nodes, "n1");
  j.state = "DEADLINE";
  j.reason = "DeadLine";
  EXPECT_EQ(observation_of(j)->reason, "SLURM DEADLINE: DeadLine");
  JobInfo p{.job_id = 8, .state = "PENDING", .reason = "Resources", .estimated_start = 5000, .held = true};
  o = observation_of(p);
  EXPECT_EQ(o->state, JobState::kPending);
  EXPECT_EQ(o->reason, "Resources");
  EXPECT_EQ(o->estimated_start, 5000);
  EXPECT_TRUE(o->held);
  JobInfo done{.job_id = 9, .state = "FAILED", .exit_code = 3};
  EXPECT_EQ(observation_of(done)->exit_code, 3);
  EXPECT_FALSE(observation_of(JobInfo{.state = "WHATEVER"}));
}

TEST(SlurmScript, SingleJobExecsAtriumExecWithQuotedArguments) {
  ScriptTask t{.job_id = "j1", .run_dir = "/srv/data/jobs/j1/run0",
               .exec_args = {"exec", "--spec", "/srv/data/jobs/j1/run0/spec.json", "--state-dir", "/srv/it's"}};
  std::string s = batch_script("/usr/bin/atrium", "http://10.0.0.1:8080", {t});
  EXPECT_EQ(s,
            "#!/bin/sh\n"
            "# Atrium: the run is prepared on the shared filesystem; atrium exec builds the sandbox.\n"
            "A='/usr/bin/atrium'\n"
            "exec >>'/srv/data/jobs/j1/run0/slurm.out' 2>&1\n"
            "exec \"$A\" 'exec' '--spec' '/srv/data/jobs/j1/run0/spec.json' '--state-dir' '/srv/it'\\''s'"
            " ${SLURM_JOB_GPUS:+--gpus \"$SLURM_JOB_GPUS\"}\n");
}

TEST(SlurmScript, SecretsComeThroughTheExecChannelNeverTheScript) {
  ScriptTask t{.job_id = "j2", .run_dir = "/d/run0", .exec_args = {"exec", "--spec", "/d/run0/spec.json"},
               .wants_secrets = true, .tunnel_socket = "/d/run0/app.sock"};
  std::string s = batch_script("/opt/atrium", "http://srv:1", {t});
  EXPECT_NE(s.find("\"$A\" tunnel --server 'http://srv:1' --token-file '/d/run0/exec.token' --job 'j2' --socket "
                   "'/d/run0/app.sock' &\n"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("\"$A\" exec-secrets --server 'http://srv:1' --token-file '/d/run0/exec.token' --job 'j2' | "
                   "\"$A\" 'exec' '--spec' '/d/run0/spec.json' ${SLURM_JOB_GPUS:+--gpus \"$SLURM_JOB_GPUS\"} --secrets -\n"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.find("exec \"$A\""), std::string::npos);  // the pipe's exec is not replaced
}

TEST(SlurmScript, ArrayPicksTheTasksRun) {
  std::vector<ScriptTask> ts = {{.index = 0, .job_id = "t0", .run_dir = "/r0", .exec_args = {"exec", "a"}},
                                {.index = 3, .job_id = "t3", .run_dir = "/r3", .exec_args = {"exec", "b"}}};
  std::string s = batch_script("/a", "http://s", ts);
  EXPECT_NE(s.find("case \"$SLURM_ARRAY_TASK_ID\" in\n0)\n  exec >>'/r0/slurm.out' 2>&1\n  exec \"$A\" 'exec' 'a' ${SLURM_JOB_GPUS:+--gpus \"$SLURM_JOB_GPUS\"}\n  ;;\n"
                   "3)\n  exec >>'/r3/slurm.out' 2>&1\n  exec \"$A\" 'exec' 'b' ${SLURM_JOB_GPUS:+--gpus \"$SLURM_JOB_GPUS\"}\n  ;;\n*)\n"),
            std::string::npos)
      << s;
  EXPECT_TRUE(s.ends_with("esac\n"));
}

TEST(SlurmArrays, SpecAndTaskStrings) {
  EXPECT_EQ(array_spec({0, 1, 2, 3, 7}, 0), "0-3,7");
  EXPECT_EQ(array_spec({5}, 2), "5%2");
  EXPECT_EQ(array_spec({0, 2, 4}, 0), "0,2,4");
  EXPECT_EQ(parse_task_string("3-5%2"), (std::set<std::uint32_t>{3, 4, 5}));
  EXPECT_EQ(parse_task_string("1,4-6"), (std::set<std::uint32_t>{1, 4, 5, 6}));
  EXPECT_EQ(parse_task_string("0-6:3"), (std::set<std::uint32_t>{0, 3, 6}));
  EXPECT_TRUE(parse_task_string("").empty());
  EXPECT_TRUE(parse_task_string("x-y,9-3").empty());
}

TEST(SlurmTranslate, TimeLimitPathsComments) {
  EXPECT_EQ(time_limit_minutes(3'600'000, 10'000), 62);  // 60 min + 10 s + 1 min, rounded up
  EXPECT_EQ(time_limit_minutes(60'000, 0), 2);
  EXPECT_EQ(time_limit_minutes(300'000, 10'000, 5), 5);  // a job at the partition's MaxTime: never above it
  EXPECT_EQ(time_limit_minutes(60'000, 10'000, 5), 3);
  EXPECT_EQ(rebase_path("/var/atrium/jobs/x", "/var/atrium", "/shared/atrium"), "/shared/atrium/jobs/x");
  EXPECT_EQ(rebase_path("/var/atrium", "/var/atrium", "/shared"), "/shared");
  EXPECT_EQ(rebase_path("/var/atrium2/x", "/var/atrium", "/shared"), "/var/atrium2/x");
  EXPECT_EQ(rebase_path("/var/atrium/x", "/var/atrium", "/var/atrium"), "/var/atrium/x");
  EXPECT_EQ(key_of_comment("atrium:j123"), "j123");
  EXPECT_EQ(key_of_comment("atrium:a9#2"), "a9");
  EXPECT_EQ(key_of_comment("somebody else's"), "");
  EXPECT_EQ(shell_quote(""), "''");
}

}  // namespace
}  // namespace atrium::slurm
