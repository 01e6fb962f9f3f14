// How a started job runs: the executor behind jobs::Service. The scheduler (src/compute) decides
// when a job starts and with which allocation; an executor makes it run and reports its end.
// The local executor (executor_local.hpp) runs each job as an `atrium exec` supervisor on this
// host; a SLURM executor is the next implementation.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compute/resources.hpp"
#include "core/error.hpp"
#include "jobs/store.hpp"

namespace atrium::jobs {

// A job's files, whatever runs it: <data_dir>/jobs/<id>/run<requeue_count>/ (stdout, stderr,
// outcome.json), beside <data_dir>/jobs/<id>/workspace.
std::filesystem::path run_dir_of(const std::filesystem::path& data_dir, const JobRecord& r);

// What a start needs besides the job: read from the database by the service.
struct StartRequest {
  JobRecord rec;
  compute::Allocation alloc;
  std::optional<CommitPin> commit;     // checked out into the workspace
  std::vector<DatasetMount> datasets;  // mounted read-only at /data/<name>
  std::string rootfs;                  // the job's image root (mounted read-only as /); "" = the host's
  std::vector<secrets::Value> secrets;  // resolved at this launch: held in memory only
};

class Executor {
 public:
  // A started (or adopted) job's process has ended; `cause`: why, should it have left no outcome.
  using ExitFn = std::function<void(const std::string& id, const std::string& cause)>;
  // After a restart: whether a job recorded RUNNING still runs (then it is watched again and a
  // stop requested before is sent again); if not, why it is gone.
  struct Adopted {
    bool running = false;
    std::string cause;
  };

  virtual ~Executor() = default;
  // Set once, before anything starts: the service's handler of ends (called on the worker pool).
  void on_exit(ExitFn f) { exited_ = std::move(f); }

  // Prepares the job's run and starts it. Blocking: the service calls it on the worker pool. An
  // error: the job did not start (its detail says why).
  virtual Status start(const StartRequest& req) = 0;
  virtual Adopted adopt(const JobRecord& rec) = 0;
  // What an ended job left (nullopt: nothing readable).
  virtual std::optional<nlohmann::json> outcome(const JobRecord& rec) const = 0;
  // Asks a running job to stop (one being started: as soon as it runs); its end comes as ExitFn.
  virtual void stop(const std::string& id) = 0;
  // Stops watching: jobs keep running (the next server start adopts them) and no ExitFn runs
  // after it returns.
  virtual void shutdown() = 0;

 protected:
  void exited(const std::string& id, const std::string& cause) {
    if (exited_) exited_(id, cause);
  }

 private:
  ExitFn exited_;
};

}  // namespace atrium::jobs
