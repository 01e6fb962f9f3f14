// LocalExecutor without a sandbox: the "supervisor" is a stand-in program, so what is tested is
// the run directory, the spawn, the end awaited on the runtime's I/O thread and handed to the
// pool, and adoption of a run nobody holds.
#include "jobs/executor_local.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "core/io_thread.hpp"

namespace atrium::jobs {
namespace {

namespace fs = std::filesystem;

class LocalExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "hands the workspace to a job uid: needs root";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("atrium_exec_" + std::string(info->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    rt_.start();
  }
  void TearDown() override { rt_.stop(); }

  Settings settings(const std::string& exe) {
    Settings s;
    s.data_dir = dir_;
    s.exe = exe;
    return s;
  }
  static JobRecord job(const std::string& id) {
    JobRecord r;
    r.job.id = id;
    r.uid = 2'000'123;
    r.argv = {"true"};
    return r;
  }

  fs::path dir_;
  ManualClock clock_;
  async::Runtime rt_{2};
};

TEST_F(LocalExecutorTest, TheSupervisorsEndIsReportedOnThePool) {
  LocalExecutor ex(rt_, clock_, settings("/bin/true"));  // ignores `exec --spec ...` and exits 0
  std::mutex mu;
  std::condition_variable cv;
  std::string ended, cause;
  bool on_io = true;
  ex.on_exit([&](const std::string& id, const std::string& why) {
    std::lock_guard lk(mu);
    ended = id;
    cause = why;
    on_io = on_io_thread();
    cv.notify_all();
  });
  auto r = job("job_1");
  ASSERT_TRUE(ex.start({r, compute::Allocation{1, 64, {}}, std::nullopt, {}}));
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return !ended.empty(); }));  // a hang guard
  EXPECT_EQ(ended, "job_1");
  EXPECT_EQ(cause, "the job's supervisor ended without an outcome (exit 0)");
  EXPECT_FALSE(on_io);
  fs::path run = run_dir_of(dir_, r);
  EXPECT_TRUE(fs::exists(run / "spec.json"));
  EXPECT_EQ(fs::status(run.parent_path() / "workspace").permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_FALSE(ex.outcome(r));
}

// The secrets reach the supervisor on its stdin (--secrets -); spec.json holds none of them.
TEST_F(LocalExecutorTest, SecretsGoThroughStdinNotSpecJson) {
  fs::path stub = dir_ / "stub.sh";
  std::ofstream(stub) << "#!/bin/sh\nprintf '%s\\n' \"$@\" > " << (dir_ / "argv").string() << "\ncat > "
                      << (dir_ / "stdin").string() << "\n";
  fs::permissions(stub, fs::perms::owner_all);
  LocalExecutor ex(rt_, clock_, settings(stub.string()));
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  ex.on_exit([&](const std::string&, const std::string&) {
    std::lock_guard lk(mu);
    ended = true;
    cv.notify_all();
  });
  auto r = job("job_4");
  std::vector<secrets::Value> values = {{{"API_KEY", "env", "user"}, "user", "sk-in-memory-only"},
                                        {{"CERT", "file", "project"}, "project", "pem-in-memory-only"}};
  ASSERT_TRUE(ex.start({r, compute::Allocation{1, 64, {}}, std::nullopt, {}, "", values}));
  std::unique_lock lk(mu);
  ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return ended; }));
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_NE(slurp(dir_ / "argv").find("--secrets\n-\n"), std::string::npos) << slurp(dir_ / "argv");
  auto sent = nlohmann::json::parse(slurp(dir_ / "stdin"));
  EXPECT_EQ(sent["env"]["API_KEY"], "sk-in-memory-only");
  EXPECT_EQ(sent["files"]["CERT"], "pem-in-memory-only");
  std::string spec = slurp(run_dir_of(dir_, r) / "spec.json");
  EXPECT_EQ(spec.find("in-memory-only"), std::string::npos);
  EXPECT_EQ(spec.find("API_KEY"), std::string::npos);
  // A secret variable never replaces one of the job's own.
  auto clash = job("job_5");
  clash.env["API_KEY"] = "plain";
  auto st = ex.start({clash, compute::Allocation{1, 64, {}}, std::nullopt, {}, "", values});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().type, "secret-refused");
}

TEST_F(LocalExecutorTest, AStartThatCannotSpawnSaysWhy) {
  LocalExecutor ex(rt_, clock_, settings((dir_ / "missing").string()));
  auto st = ex.start({job("job_2"), compute::Allocation{1, 64, {}}, std::nullopt, {}});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().detail.find("cannot start the job's supervisor"), std::string::npos) << st.error().detail;
}

TEST_F(LocalExecutorTest, AdoptingARunNobodyHoldsAbandonsIt) {
  LocalExecutor ex(rt_, clock_, settings("/bin/true"));
  auto r = job("job_3");
  fs::path run = run_dir_of(dir_, r);
  fs::create_directories(run);
  std::ofstream(run / "outcome.json") << R"({"kind": "exited", "exit_code": 0})";
  auto found = ex.adopt(r);
  EXPECT_FALSE(found.running);
  EXPECT_EQ(found.cause, "the job's process was gone after a server restart");
  EXPECT_TRUE(fs::exists(run / "abandoned"));  // a supervisor starting this late does not run
  ASSERT_TRUE(ex.outcome(r));
  EXPECT_EQ((*ex.outcome(r))["kind"], "exited");
}

}  // namespace
}  // namespace atrium::jobs
