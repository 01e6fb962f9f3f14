// Interactive environments: an app from the catalog run as a long-running job of the compute
// service (fair share, quotas, usage, the same sandbox), reached only through Atrium's proxy.
//
// States: QUEUED (its job is pending; the job's reason) -> STARTING (the job runs; the health check
// has not passed yet) -> READY -> STOPPING (a stop was asked for: by the user, the idle culler or
// the maximum uptime) -> STOPPED; or FAILED (with the reason and the last log lines) from any of
// them. Every change is a row in env_events, committed before anyone is told.
//
// A monitor thread drives the states: it follows the env's job, health-checks starting apps over
// their unix socket, culls idle ones (the later of the proxy's last request and the app's own
// last_activity, with a warning event first) and those past their maximum uptime, and after a
// server restart finds running environments again (their jobs are re-adopted by the compute
// service) or ends them FAILED.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "db/database.hpp"
#include "envs/apps.hpp"
#include "envs/cull.hpp"
#include "envs/origin.hpp"
#include "envs/unix_http.hpp"
#include "jobs/service.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::envs {

struct Settings {
  std::filesystem::path data_dir;  // <data_dir>/envs/<id>/{run,app}, <data_dir>/homes/<project>/<user>
  Millis poll_interval = 250;      // the monitor's pass
  Millis fast_poll = 20;           // ... while an environment is STARTING or STOPPING
  Millis activity_poll = 60'000;   // how often a READY app's own last_activity is asked for
  Millis warn_before = 300'000;    // the warning event comes this long before a cull
  std::string slirp4netns = "/usr/bin/slirp4netns";  // for apps with network "outbound"
  // network "outbound": what it may reach although private, link-local or the host's own (CIDRs;
  // compute.outbound_allow). Everything else of that kind is refused inside the sandbox.
  std::vector<std::string> outbound_allow;
  const Origins* origins = nullptr;  // where environments are served; null: path mode on a relative URL
};

struct EnvRecord {
  std::string id, project_id, org_id, group_id, user_id, app, job_id;
  std::string state = "QUEUED";
  std::string reason;
  nlohmann::json spec = nlohmann::json::object();  // kind, resources, timeouts, health path, as launched
  Millis created = 0;
  std::optional<Millis> ready, ended;
  Millis last_activity = 0;
  std::string stop_requested;  // why a stop was asked for ("" = none)
  std::int64_t version = 1;
  bool active() const { return state == "QUEUED" || state == "STARTING" || state == "READY" || state == "STOPPING"; }
};

struct LaunchRequest {
  std::optional<int> cpus;
  std::optional<std::int64_t> mem_mb;
  std::optional<Millis> time_limit;
  std::optional<std::string> ref;  // the commit the workspace is checked out at (default branch)
};

// What the proxy needs of a READY environment.
struct Upstream {
  std::string env_id, user_id, project_id, org_id, group_id, state;
  std::string socket_path;
  std::string token;
  std::uint32_t socket_uid = 0;  // the socket must be owned by this uid (the env's), never followed
};

Result<std::optional<EnvRecord>> get_env(db::Tx& tx, const std::string& id);
struct ListFilter {
  std::string project_id, user_id;
  bool active_only = false;
  std::string after;
  int limit = 50;
};
Result<std::vector<EnvRecord>> list_envs(db::Tx& tx, const ListFilter& f);
// Environments not yet ended of a quota subject ("org", "group" or "user") in an org.
Result<std::int64_t> active_count(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id);
Result<nlohmann::json> env_events(db::Tx& tx, const std::string& id, std::int64_t after_seq);

class Service {
 public:
  Service(db::Database& db, const Clock& clock, jobs::Service& jobs, Settings settings);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  Status start();
  void stop();

  // --- inside a request's write transaction
  Result<EnvRecord> launch(db::Tx& tx, const Actor& actor, const std::string& project_id, const std::string& org_id,
                           const std::string& group_id, const App& app, const LaunchRequest& req, Millis now);
  // Asks the environment to stop (graceful: the app's own shutdown, then SIGTERM, then the cgroup).
  Result<EnvRecord> request_stop(db::Tx& tx, const Actor& actor, const EnvRecord& env, const std::string& why,
                                 Millis now);

  // The compute service's launch hook: the run directory (socket, token), the home, the app's files.
  Status prepare(const jobs::JobRecord& job, sandbox::Spec& spec);

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
  // Bumped on every state change: followers (server-sent events) re-read when it moves.
  std::int64_t change_count() const { return changes_.load(); }
  // Fired with each bump of change_count().
  const Notifier& changes() const { return change_notifier_; }
  const Clock& clock() const { return clock_; }

  // One monitor pass now (tests; the thread does this by itself).
  void pass();

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
  };

  void loop();
  void poke();
  void step(const EnvRecord& e, Millis now);
  // The row's reason is `reason` ("" = the event's detail).
  Status transition(const std::string& id, const std::string& to, const std::string& event, const std::string& detail,
                    Millis now, const std::function<Status(db::Tx&, EnvRecord&)>& extra = {},
                    const std::string& reason = "");
  void stop_env(const EnvRecord& e, const std::string& why, Millis now);
  void end_env(const EnvRecord& e, const jobs::JobRecord& job, Millis now);
  void cleanup(const std::string& id);
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
  // A request to the app over its socket, which must be a socket its uid owns (not a link).
  Result<UnixReply> app_http(const EnvRecord& e, const std::string& method, const std::string& target);

  db::Database& db_;
  const Clock& clock_;
  jobs::Service& jobs_;
  Settings settings_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Live>> live_;  // held by the users of an entry: cleanup may drop it
  std::atomic<std::int64_t> changes_{0};
  Notifier change_notifier_;
  void changed() {
    changes_++;
    change_notifier_.notify();
  }
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::atomic<bool> fast_{false};
  std::thread thread_;
};

}  // namespace atrium::envs
