// Interactive environments: an app from the catalog run as a long-running job of the compute
// service (fair share, quotas, usage, the same sandbox), reached only through Atrium's proxy.
//
// States: QUEUED (its job is pending; the job's reason) -> STARTING (the job runs; the health check
// has not passed yet) -> READY -> STOPPING (a stop was asked for: by the user, the idle culler or
// the maximum uptime) -> STOPPED; or FAILED (with the reason and the last log lines) from any of
// them. Every change is a row in env_events, committed before anyone is told.
//
// The monitor drives the states: one coroutine per environment on the runtime's I/O thread, woken
// by its job's changes, a stop asked for, or its own deadlines on the injected clock. It follows
// the env's job, health-checks a starting app over its unix socket (async), culls idle ones (the
// later of the proxy's last request and the app's own last_activity, with a warning event first)
// and those past their maximum uptime, and after a server restart finds running environments
// again (their jobs are re-adopted by the compute service) or ends them FAILED. Database work and
// state changes run on the worker pool. The states and their legal moves: envs/state.hpp; the
// tables: envs/store.hpp.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/async.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "envs/apps.hpp"
#include "envs/cull.hpp"
#include "envs/files_view.hpp"
#include "envs/origin.hpp"
#include "envs/state.hpp"
#include "envs/store.hpp"
#include "jobs/service.hpp"
#include "sandbox/sandbox.hpp"
#include "secrets/secrets.hpp"

namespace atrium::http {
struct UnixReply;
}
namespace atrium::projects {
struct Project;
}

namespace atrium::envs {

struct Settings {
  std::filesystem::path data_dir;  // <data_dir>/envs/<id>/{run,app}, <data_dir>/homes/<project>/<user>
  Millis retry_interval = 250;     // after a look that failed (the database), how soon to look again
  Millis health_interval = 20;     // between a STARTING app's health checks
  Millis health_timeout = 2000;    // one request to an app over its socket
  Millis activity_poll = 60'000;   // how often a READY app's own last_activity is asked for
  Millis warn_before = 300'000;    // the warning event comes this long before a cull ([envs] cull_warning_s)
  // Called in the transaction that records the warning (mail queues its notice there); `stop_at`
  // is when the cull will come. Unset: nothing.
  std::function<Status(db::Tx& tx, const EnvRecord& env, const std::string& reason, Millis stop_at, Millis now)>
      on_cull_warning;
  std::string slirp4netns = "/usr/bin/slirp4netns";  // for apps with network "outbound"
  // network "outbound": what it may reach although private, link-local or the host's own (CIDRs;
  // compute.outbound_allow). Everything else of that kind is refused inside the sandbox.
  std::vector<std::string> outbound_allow;
  const Origins* origins = nullptr;  // where environments are served; null: path mode on a relative URL
  data::Service* data = nullptr;     // the project views' store; null: launches with `files` are refused
  Millis files_sync_interval = 300'000;  // views synced and homes measured this often ([envs] files_sync_s; 0: never)
  // An environment whose job runs on a remote partition (a SLURM node) is reached through its
  // tunnel: the server-side socket of the job's connected tunnel (tunnel::Service::socket_for),
  // nullopt while none is. Unset: such environments are never reachable.
  std::function<std::optional<std::filesystem::path>(const std::string& job_id)> tunnel_socket;
};

struct LaunchRequest {
  std::optional<int> cpus;
  std::optional<std::int64_t> mem_mb;
  std::optional<Millis> time_limit;
  std::optional<std::string> ref;  // the commit the workspace is checked out at (default branch)
  std::optional<jobs::ImageRef> image;  // pinned by image_for(); nullopt: the app's rootfs or the host's
  std::vector<secrets::Request> secrets;  // checked and pinned (secrets::check_requests)
  std::optional<int> gpus;         // within the app's max_gpus and the node's
  std::vector<jobs::DatasetMount> datasets;  // pinned by the caller (jobs::parse_datasets)
  // The project's files (those under `files_prefix`, "" = all) read-write at /project, synced
  // back (envs/files_view.hpp); nullopt: no view.
  std::optional<std::string> files_prefix;
  std::string partition;  // where its job runs ("" = the org's default, else the server's; jobs checks it)
};

// What the proxy needs of a READY environment.
struct Upstream {
  std::string env_id, user_id, project_id, org_id, group_id, state;
  std::string socket_path;
  std::string token;
  std::uint32_t socket_uid = 0;  // the socket must be owned by this uid (the env's), never followed
};

class Service {
 public:
  Service(db::Database& db, const Clock& clock, async::Runtime& rt, jobs::Service& jobs, Settings settings);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Follows every environment not yet ended (left by a previous server: found again, or ended).
  Status start();
  // Ends the monitor's coroutines (before the runtime stops).
  void stop();

  // --- inside a request's write transaction
  Result<EnvRecord> launch(db::Tx& tx, const Actor& actor, const std::string& project_id, const std::string& org_id,
                           const std::string& group_id, const App& app, const LaunchRequest& req, Millis now);
  // The image an environment of `app` launched in project p runs on: `text` when given ("none":
  // no image), else the app's own image, else (an app without a rootfs) the project's default.
  Result<std::optional<jobs::ImageRef>> image_for(db::Tx& tx, const projects::Project& p, const App& app,
                                                  const std::optional<std::string>& text) const;
  // Asks the environment to stop (graceful: the app's own shutdown, then SIGTERM, then the cgroup).
  Result<EnvRecord> request_stop(db::Tx& tx, const Actor& actor, const EnvRecord& env, const std::string& why,
                                 Millis now);
  // Who may reach an environment changed in `tx` (a guest link revoked): changes() fires on its commit.
  void access_changed(db::Tx& tx);

  // The compute service's launch hook: the run directory (socket, token), the home, the app's files,
  // the project's files (envs/files_view.hpp).
  Status prepare(const jobs::JobRecord& job, sandbox::Spec& spec);

  // --- the project's files and the home (files_view.hpp; data.cpp), on the worker pool
  // Writes a running environment's view back now (POST /envs/{id}/sync).
  Result<SyncReport> sync_files(const EnvRecord& e, const Actor& actor);
  // Measures the environment's home and records its size (it counts against storage quotas).
  Status measure_home(const EnvRecord& e);

  // --- the proxy
  // Where a READY environment is reached (socket path and token; both empty when it is not READY).
  Upstream upstream(const EnvRecord& e);
  void touch(const std::string& env_id);  // a request went through the proxy now

  nlohmann::json to_json(const EnvRecord& e) const;
  // Where a browser opens the environment (its own origin; see envs/origin.hpp).
  std::string url(const std::string& env_id) const;
  std::filesystem::path env_dir(const std::string& id) const { return settings_.data_dir / "envs" / id; }
  std::filesystem::path run_dir(const std::string& id) const { return env_dir(id) / "run"; }
  // The last lines of the environment's output: its job's "stderr", "stdout" or "both".
  std::string log_tail(const EnvRecord& e, int lines, const std::string& stream = "both") const;
  std::filesystem::path log_path(const EnvRecord& e, const std::string& stream) const;
  // Bumped after every committed state change (and guest link revoked): followers (server-sent
  // events, the proxy's cache) re-read when it moves.
  std::int64_t change_count() const { return changes_.load(); }
  // Fired with each bump of change_count().
  const Notifier& changes() const { return change_notifier_; }
  const Clock& clock() const { return clock_; }

 private:
  struct Live {
    std::atomic<Millis> proxy_activity{0};
    Millis app_activity = 0;       // from the app's own status
    Millis app_polled = 0;         // when it was last asked
    bool warned = false;
    bool stop_sent = false;        // STOPPING: the graceful stop and the cancel went out
    bool net_attached = false;     // network "outbound": slirp4netns runs for it
    std::string token;             // read from the token file once
    std::optional<std::uint32_t> uid;  // the uid its app (and so app.sock) runs as
    bool remote = false;               // its job runs on a remote partition (set with uid)
  };
  // Where the app is reached: its socket in the run directory (owned by its uid), or, for a job on
  // a remote partition, its tunnel's socket on this server (owned by the server's uid).
  struct AppSocket {
    std::string path;
    std::uint32_t uid = 0;
  };
  // nullopt: not reachable now (its job is unknown, or its tunnel is not connected).
  std::optional<AppSocket> app_socket(const EnvRecord& e);
  struct Watch {  // one environment's coroutine
    async::Waiter waiter;
  };
  struct Look;   // what one look at an environment read (monitor.cpp)

  // --- the monitor (monitor.cpp)
  // Starts following an environment (once; not after stop()).
  void follow(const std::string& id);
  void wake(const std::string& id);
  async::Task<void> watch(std::string id, std::shared_ptr<Watch> w);
  Look look(const std::string& id);
  // One step of the state machine; returns when to look again.
  async::Task<Millis> step(const Look& s);
  Millis queued(const Look& s);
  async::Task<Millis> starting(const Look& s);
  async::Task<Millis> stopping(const Look& s);
  async::Task<Millis> ready(const Look& s);
  Millis cull(const Look& s);
  // A request to the app over its socket, which must be a socket its uid owns (not a link).
  async::Task<Result<http::UnixReply>> app_request(const Look& s, std::string method, std::string target);
  // Moves the environment by `event` (nothing when the table refuses it: it moved meanwhile). The
  // row's reason is `reason` ("" = the event's detail).
  Status transition(const std::string& id, EnvEvent event, const std::string& name, const std::string& detail,
                    Millis now, const std::function<Status(db::Tx&, EnvRecord&)>& extra = {},
                    const std::string& reason = "");
  void log_transition(const std::string& id, EnvEvent event, const std::string& name, const std::string& detail,
                      Millis now);
  void stop_env(const EnvRecord& e, const std::string& why, Millis now);
  void end_env(const EnvRecord& e, const jobs::JobRecord& job, Millis now);
  void cleanup(const std::string& id);
  // The environment's end for its data: a last sync of its view, its home measured (data.cpp).
  void finish_data(const std::string& id);
  // Every envs.files_sync_s: the READY environments' views synced, the active ones' homes measured.
  void periodic_data();
  // Cancels an environment's job unless it has ended or a stop is on its way already.
  Status cancel_job(db::Tx& tx, const std::string& job_id, Millis now);
  // FAILED with `why` as the reason (`detail` in the event), the job cancelled, the run directory cleaned.
  void fail_and_cancel(const EnvRecord& e, const std::string& why, const std::string& detail, Millis now);
  // network "outbound": slirp4netns on the sandbox's network namespace (host loopback disabled).
  Status attach_network(const EnvRecord& e, const jobs::JobRecord& job);
  std::shared_ptr<Live> live(const std::string& id);
  std::string token_of(const std::string& id);
  // The uid an environment's app runs as (its socket's owner); nullopt when its job is unknown.
  std::optional<std::uint32_t> uid_of(const EnvRecord& e);
  void changed() {
    changes_++;
    change_notifier_.notify();
  }
  // changed() once `tx` commits.
  void changed_on_commit(db::Tx& tx);

  db::Database& db_;
  const Clock& clock_;
  async::Runtime& rt_;
  jobs::Service& jobs_;
  Settings settings_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Live>> live_;      // GUARDED_BY(mu_); held by its users: cleanup may drop it
  std::map<std::string, std::shared_ptr<Watch>> watches_;  // GUARDED_BY(mu_): the environments followed
  std::atomic<bool> stopping_{false};                      // set under mu_: no follow() after stop()
  std::condition_variable watches_done_;                   // watches_ became empty
  std::atomic<std::int64_t> changes_{0};
  Notifier change_notifier_;
  FilesView views_;
  std::unique_ptr<async::Periodic> data_periodic_;
};

}  // namespace atrium::envs
