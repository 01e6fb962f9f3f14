// Against a real slurmrestd (skipped unless ATRIUM_SLURM_REST_URL is set), e.g. after
// `scripts/slurm-dev-cluster.sh start DIR` or `bench/jobs/slurm-local.sh start DIR`:
//   ATRIUM_SLURM_REST_URL=http://127.0.0.1:16820 ATRIUM_SLURM_JWT_KEY_FILE=DIR/etc/jwt_hs256.key
//   ATRIUM_SLURM_PARTITION=debug ATRIUM_SLURM_CWD=DIR/jobs build/src/slurm/slurm_unit_tests --gtest_filter='SlurmLive*'
// ATRIUM_SLURM_BENCH_JOBS=N also measures held submissions per second through Rest with 1 and 8 threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "slurm/rest.hpp"

namespace atrium::slurm {
namespace {

std::string env(const char* name, const char* def = "") {
  const char* v = std::getenv(name);
  return v ? v : def;
}

class SlurmLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (env("ATRIUM_SLURM_REST_URL").empty()) GTEST_SKIP() << "ATRIUM_SLURM_REST_URL is not set";
    RestConfig cfg{.url = env("ATRIUM_SLURM_REST_URL"), .jwt_key = "", .user = env("ATRIUM_SLURM_USER", "root")};
    if (std::string key_file = env("ATRIUM_SLURM_JWT_KEY_FILE"); !key_file.empty()) {
      std::ifstream in(key_file, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      cfg.jwt_key = ss.str();
    }
    rest_ = std::make_unique<Rest>(cfg);
  }

  JobSubmission job(const std::string& name, const std::string& script) {
    JobSubmission s;
    s.name = name;
    s.comment = "atrium:live-" + name;
    s.partition = env("ATRIUM_SLURM_PARTITION");
    s.cwd = env("ATRIUM_SLURM_CWD", "/tmp");
    s.std_out = s.std_err = "/dev/null";
    s.script = "#!/bin/sh\n" + script + "\n";
    s.mem_mb = 64;
    return s;
  }

  // Polls SLURM until `pred` holds for the job (at most ~30 s).
  JobInfo wait_for(std::int64_t id, const std::function<bool(const JobInfo&)>& pred) {
    JobInfo last;
    for (int i = 0; i < 300; ++i) {
      auto j = rest_->job(id);
      EXPECT_TRUE(j) << j.error().detail;
      if (j && *j) {
        last = **j;
        if (pred(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " stayed " << last.state << " (" << last.reason << ")";
    return last;
  }

  std::unique_ptr<Rest> rest_;
};

TEST_F(SlurmLive, PingDiagPartitionsNodes) {
  ASSERT_TRUE(rest_->ping());
  auto d = rest_->diag();
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_GT(d->rpcs_total, 0);
  auto parts = rest_->partitions();
  ASSERT_TRUE(parts) << parts.error().detail;
  ASSERT_FALSE(parts->empty());
  EXPECT_FALSE((*parts)[0].nodes.empty());
  EXPECT_GT((*parts)[0].max_cpus_per_node, 0);
  auto nodes = rest_->nodes();
  ASSERT_TRUE(nodes) << nodes.error().detail;
  ASSERT_FALSE(nodes->empty());
  EXPECT_GT((*nodes)[0].cpus, 0);
}

TEST_F(SlurmLive, SubmitRunsAndEndsWithItsExitCode) {
  auto sub = rest_->submit(job("exit3", "exit 3"));
  ASSERT_TRUE(sub) << sub.error().detail;
  JobInfo j = wait_for(sub->job_id, [](const JobInfo& j) { return terminal_state(j.state); });
  EXPECT_EQ(j.state, "FAILED");
  EXPECT_EQ(j.exit_code, 3);
  EXPECT_EQ(j.comment, "atrium:live-exit3");
  EXPECT_FALSE(j.nodes.empty());
  EXPECT_TRUE(j.start_time);
  EXPECT_TRUE(j.end_time);
  auto all = rest_->jobs();
  ASSERT_TRUE(all) << all.error().detail;
  EXPECT_TRUE(std::ranges::any_of(all->jobs, [&](const JobInfo& x) { return x.job_id == sub->job_id; }));
}

TEST_F(SlurmLive, HoldReleaseCancelAndRefusals) {
  auto s = job("held", "sleep 60");
  s.hold = true;
  auto sub = rest_->submit(s);
  ASSERT_TRUE(sub) << sub.error().detail;
  JobInfo j = wait_for(sub->job_id, [](const JobInfo& j) { return j.held; });
  EXPECT_EQ(j.state, "PENDING");
  // A job pending on the held one stays PENDING: hold and release it.
  auto d = job("waiter", "true");
  d.dependency = "afterok:" + std::to_string(sub->job_id);
  auto waiter = rest_->submit(d);
  ASSERT_TRUE(waiter) << waiter.error().detail;
  ASSERT_TRUE(rest_->hold(waiter->job_id));
  wait_for(waiter->job_id, [](const JobInfo& j) { return j.held; });
  ASSERT_TRUE(rest_->release(waiter->job_id));
  wait_for(waiter->job_id, [](const JobInfo& j) { return !j.held && j.state == "PENDING"; });
  ASSERT_TRUE(rest_->cancel(waiter->job_id));
  ASSERT_TRUE(rest_->release(sub->job_id));
  wait_for(sub->job_id, [](const JobInfo& j) { return !j.held; });
  ASSERT_TRUE(rest_->cancel(sub->job_id));
  j = wait_for(sub->job_id, [](const JobInfo& j) { return terminal_state(j.state); });
  EXPECT_EQ(j.state, "CANCELLED");
  EXPECT_EQ(rest_->hold(sub->job_id).error().code, ErrorCode::kFailedPrecondition);  // finished
  EXPECT_EQ(rest_->cancel(999'999'999).error().code, ErrorCode::kNotFound);
  auto none = rest_->job(999'999'999);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto bad = job("bad", "true");
  bad.partition = "no-such-partition";
  auto refused = rest_->submit(bad);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().detail.find("Invalid partition"), std::string::npos) << refused.error().detail;
}

TEST_F(SlurmLive, ArraysAndDependencies) {
  auto a = job("array", "true");
  a.array = "0-3%1";
  a.hold = true;
  auto sub = rest_->submit(a);
  ASSERT_TRUE(sub) << sub.error().detail;
  auto d = job("dep", "true");
  d.dependency = "afterok:" + std::to_string(sub->job_id);
  auto dep = rest_->submit(d);
  ASSERT_TRUE(dep) << dep.error().detail;
  JobInfo rest = wait_for(sub->job_id, [](const JobInfo&) { return true; });
  EXPECT_EQ(rest.array_job_id, sub->job_id);
  EXPECT_EQ(rest.array_task_string, "0-3%1");
  EXPECT_TRUE(rest.held);
  JobInfo dj = wait_for(dep->job_id, [](const JobInfo&) { return true; });
  EXPECT_EQ(dj.reason, "Dependency");
  ASSERT_TRUE(rest_->release(sub->job_id));
  JobInfo done = wait_for(dep->job_id, [](const JobInfo& j) { return terminal_state(j.state); });
  EXPECT_EQ(done.state, "COMPLETED");
  auto all = rest_->jobs();
  ASSERT_TRUE(all);
  int tasks = 0;
  for (auto& j : all->jobs)
    if (j.array_job_id == sub->job_id && j.array_task_id) ++tasks;
  EXPECT_EQ(tasks, 4);
}

TEST_F(SlurmLive, GpusWhereTheClusterHasThem) {
  auto parts = rest_->partitions();
  ASSERT_TRUE(parts) << parts.error().detail;
  std::string name = env("ATRIUM_SLURM_PARTITION");
  auto it = std::ranges::find_if(*parts, [&](const PartitionState& p) { return p.name == name || name.empty(); });
  if (it == parts->end() || it->max_gpus_per_node == 0) GTEST_SKIP() << "no GPUs (gres gpu) in the partition";
  auto s = job("gpu", "test -n \"$CUDA_VISIBLE_DEVICES\"");
  s.gpus = 1;
  auto sub = rest_->submit(s);
  ASSERT_TRUE(sub) << sub.error().detail;
  JobInfo j = wait_for(sub->job_id, [](const JobInfo& j) { return terminal_state(j.state); });
  EXPECT_EQ(j.state, "COMPLETED");  // SLURM set CUDA_VISIBLE_DEVICES
  s.gpus = it->max_gpus_per_node + 1;
  auto refused = rest_->submit(s);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

// With ATRIUM_SLURM_EXPECT_DOWN=1 and slurmctld stopped (slurmrestd up): every call is kUnavailable,
// never a refusal or "no such job".
TEST_F(SlurmLive, ControllerDownIsUnavailable) {
  if (env("ATRIUM_SLURM_EXPECT_DOWN") != "1") GTEST_SKIP() << "ATRIUM_SLURM_EXPECT_DOWN is not 1";
  auto code = [](const auto& r) { return r ? std::optional<ErrorCode>() : std::optional(r.error().code); };
  EXPECT_EQ(code(rest_->ping()), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->jobs()), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->jobs(1000)), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->job(1)), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->partitions()), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->nodes()), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->diag()), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->hold(1)), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->cancel(1)), ErrorCode::kUnavailable);
  EXPECT_EQ(code(rest_->submit(job("down", "true"))), ErrorCode::kUnavailable);
}

TEST_F(SlurmLive, SubmitRate) {
  int n = std::atoi(env("ATRIUM_SLURM_BENCH_JOBS", "0").c_str());
  if (n <= 0) GTEST_SKIP() << "ATRIUM_SLURM_BENCH_JOBS is not set";
  for (int threads : {1, 8}) {
    std::vector<std::int64_t> ids(static_cast<std::size_t>(n));
    std::atomic<int> next{0}, failed{0};
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&] {
        for (int i; (i = next++) < n;) {
          auto s = job("bench", "true");
          s.hold = true;
          auto r = rest_->submit(s);
          if (r) {
            ids[static_cast<std::size_t>(i)] = r->job_id;
          } else {
            ++failed;
          }
        }
      });
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("slurm rest submit: %d held jobs, %d threads: %.1f jobs/s (%d failed)\n", n, threads, n / secs,
                failed.load());
    EXPECT_EQ(failed.load(), 0);
    for (auto id : ids) {
      if (id) {
        EXPECT_TRUE(rest_->cancel(id));
      }
    }
  }
}

}  // namespace
}  // namespace atrium::slurm
