// The local executor: each running job is one `atrium exec` supervisor (src/sandbox) started
// detached on this host, so jobs outlive a server crash. Its end is awaited on the runtime's I/O
// thread (a coroutine per supervisor, waiting for its pidfd to become readable) and handed to the
// service on the worker pool; after a restart adopt() finds running supervisors again through
// the lock each holds on <run>/lock.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/async.hpp"
#include "core/dir.hpp"
#include "jobs/executor.hpp"
#include "jobs/inflight.hpp"
#include "jobs/service.hpp"

namespace atrium::jobs {

class LocalExecutor final : public Executor {
 public:
  // Uses `settings`' data_dir, exe, limits, cgroup_parent and the dataset_dir, checkout and
  // prepare hooks.
  LocalExecutor(async::Runtime& rt, const Clock& clock, Settings settings);
  ~LocalExecutor() override;

  Status start(const StartRequest& req) override;
  Adopted adopt(const JobRecord& rec) override;
  std::optional<nlohmann::json> outcome(const JobRecord& rec) const override;
  void stop(const std::string& id) override;
  void shutdown() override;

 private:
  struct Watch;
  Status prepare_and_spawn(const StartRequest& req);
  Status spawn(const JobRecord& rec, const std::filesystem::path& dir, const std::string& secrets);
  static Status send_secrets(int fd, const std::string& payload);
  void watch(const std::string& id, int pid, int pidfd, bool child);
  async::Task<void> wait_exit(std::shared_ptr<Watch> w);
  void reap(const Watch& w);

  async::Runtime& rt_;
  const Clock& clock_;
  Settings settings_;
  std::mutex mu_;  // a few map operations at a time: never held across a blocking call
  std::map<std::string, std::shared_ptr<Watch>> running_;  // GUARDED_BY(mu_): job id -> its supervisor
  std::set<std::string> stop_marks_;  // GUARDED_BY(mu_): stop requested: signal once watched
  bool stopping_ = false;              // GUARDED_BY(mu_)
  Inflight work_;                      // watches and the ends they hand to the pool
};

}  // namespace atrium::jobs
