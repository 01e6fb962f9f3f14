// The environment monitor: one coroutine per environment on the runtime's I/O thread. It reads
// on the worker pool, talks to the app over its socket asynchronously, and sleeps on its own
// Waiter until its job changes, a stop is asked for, or its next deadline (envs/state.hpp).
#include <utility>  // must precede Asio with g++ 12 + Boost 1.74 coroutines

#include "envs/service.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/dir.hpp"
#include "http/unix_client.hpp"
#include "jobs/store.hpp"

namespace atrium::envs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Millis spec_ms(const EnvRecord& e, const char* key) { return e.spec.value(key, std::int64_t{0}) * 1000; }

const Actor& system_actor() {
  static const Actor a{"", "atrium", "", "", ""};
  return a;
}

bool is_jupyter(const EnvRecord& e) { return e.spec.value("kind", std::string()) == "jupyter"; }

// What a pending job waits for, as an environment's reason.
std::string queue_text(const json& live_job) {
  auto text_of = [&](const char* k) {  // (null while the scheduler has not given one)
    auto it = live_job.find(k);
    return it != live_job.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string reason = text_of("reason"), detail = text_of("reason_detail");
  return reason.empty() || reason == "None" ? "waiting for the scheduler" : reason + (detail.empty() ? "" : ": " + detail);
}

}  // namespace

struct Service::Look {
  Millis now = 0;
  bool failed = false;                 // a read failed: look again later
  std::optional<EnvRecord> env;        // nullopt: gone
  std::optional<jobs::JobRecord> job;  // nullopt: its job is gone
  std::string queue_text;              // QUEUED: what its job waits for
  std::shared_ptr<Live> live;
  std::optional<std::uint32_t> uid;    // its socket's owner
  std::optional<AppSocket> socket;     // where its app is reached now (nullopt: not reachable)
  std::string token;
};

// ------------------------------------------------------------------------------ the coroutines

void Service::follow(const std::string& id) {
  auto w = std::make_shared<Watch>();
  {
    std::lock_guard lk(mu_);
    if (stopping_ || !watches_.emplace(id, w).second) return;
  }
  rt_.spawn(watch(id, w));
}

void Service::wake(const std::string& id) {
  std::lock_guard lk(mu_);
  if (auto it = watches_.find(id); it != watches_.end()) it->second->waiter.wake();
}

async::Task<void> Service::watch(std::string id, std::shared_ptr<Watch> w) {
  auto on_job = w->waiter.wake_on(jobs_.changes());
  auto halted = [this] { return stopping_.load(); };
  bool queued = true;  // until seen otherwise
  while (!halted()) {
    Millis next = async::kNever;
    bool ended = false;
    // A queued environment shows its job's pending reason, which each scheduling pass may move
    // without a state change: it looks again after each pass (subscribed before it looks).
    Notifier::Subscription on_pass;
    if (queued) on_pass = w->waiter.wake_on(jobs_.passes());
    try {
      auto s = co_await async::on_pool(rt_, [this, &id] { return look(id); });
      queued = s.env && s.env->state == EnvState::kQueued;
      if (s.failed)
        next = s.now + settings_.retry_interval;
      else if (!s.env || !s.env->active())
        ended = true;
      else
        next = co_await step(s);
    } catch (const std::exception& ex) {  // one environment's surprise must not stop the others
      spdlog::error("env {}: monitor: {}", id, ex.what());
      next = clock_.now_ms() + settings_.retry_interval;
    }
    if (ended || halted()) break;
    co_await w->waiter.wait(clock_, next);
  }
  std::lock_guard lk(mu_);
  watches_.erase(id);
  if (watches_.empty()) watches_done_.notify_all();
}

Service::Look Service::look(const std::string& id) {
  Look s;
  s.now = clock_.now_ms();
  auto env = db_.read([&](db::Tx& tx) { return get_env(tx, id); });
  if (!env) {
    spdlog::error("env {}: reading it: {}", id, env.error().detail);
    s.failed = true;
    return s;
  }
  s.env = std::move(*env);
  if (!s.env || !s.env->active()) return s;
  auto job = db_.read([&](db::Tx& tx) { return jobs::get(tx, s.env->job_id); });
  if (!job) {
    spdlog::error("env {}: reading its job: {}", id, job.error().detail);
    s.failed = true;
    return s;
  }
  s.job = std::move(*job);
  s.live = live(id);
  if (!s.job) return s;
  if (s.env->state == EnvState::kQueued) s.queue_text = queue_text(jobs_.to_json(*s.job));
  if (s.env->state == EnvState::kQueued) return s;
  s.uid = uid_of(*s.env);
  s.socket = app_socket(*s.env);
  s.token = token_of(id);
  return s;
}

async::Task<Millis> Service::step(const Look& s) {
  const EnvRecord& e = *s.env;
  if (!s.job) {
    co_await async::on_pool(rt_, [&] {
      cleanup(e.id);
      log_transition(e.id, EnvEvent::kFail, "failed", "its job " + e.job_id + " is gone", s.now);
    });
    co_return 0;
  }
  if (compute::is_terminal(s.job->job.state)) {
    co_await async::on_pool(rt_, [&] { end_env(e, *s.job, s.now); });
    co_return 0;
  }
  switch (e.state) {
    case EnvState::kQueued:
      co_return co_await async::on_pool(rt_, [&] { return queued(s); });
    case EnvState::kStarting:
      co_return co_await starting(s);
    case EnvState::kStopping:
      co_return co_await stopping(s);
    default:
      co_return co_await ready(s);
  }
}

Millis Service::queued(const Look& s) {
  const EnvRecord& e = *s.env;
  if (s.job->job.state == compute::JobState::kRunning) {
    log_transition(e.id, EnvEvent::kJobStarted, "started", "the app is starting", s.now);
    return 0;
  }
  if (s.queue_text != e.reason) {
    auto st = db_.write([&](db::Tx& tx) -> Status {
      TRY_STATUS(set_queued_reason(tx, e.id, s.queue_text));
      return add_event(tx, e.id, EnvState::kQueued, "waiting", s.queue_text, s.now);
    });
    if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
    changed();
  }
  return next_look({.state = EnvState::kQueued, .now = s.now});
}

async::Task<Millis> Service::starting(const Look& s) {
  const EnvRecord& e = *s.env;
  const jobs::JobRecord& j = *s.job;
  if (e.spec.value("network", std::string()) == "outbound" && !s.live->net_attached) {
    auto st = co_await async::on_pool(rt_, [&] { return attach_network(e, j); });
    if (!st && st.error().type == "not-started") co_return s.now + settings_.health_interval;  // soon again
    if (!st) {
      co_await async::on_pool(rt_, [&] { fail_and_cancel(e, st.error().detail, st.error().detail, s.now); });
      co_return 0;
    }
    s.live->net_attached = true;
  }
  auto reply = co_await app_request(s, "GET", e.spec.value("health_path", std::string("/")));
  Millis now = clock_.now_ms();
  if (reply && reply->status >= 200 && reply->status < 400) {
    co_await async::on_pool(rt_, [&] {
      auto st = transition(e.id, EnvEvent::kHealthy, "ready", "the app answers its health check", now,
                           [&](db::Tx& tx, EnvRecord&) { return raise_last_activity(tx, e.id, now); });
      if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
    });
    Millis prev = s.live->proxy_activity.load();
    while (prev < now && !s.live->proxy_activity.compare_exchange_weak(prev, now)) {
    }
    s.live->warned = false;
    co_return 0;
  }
  Millis started = j.job.start_time.value_or(e.created);
  Millis limit = spec_ms(e, "spawn_timeout_s");
  if (limit > 0 && now - started > limit) {
    std::string why = "the app did not become ready within " + std::to_string(limit / 1000) + " s" +
                      (reply ? " (its health check answered " + std::to_string(reply->status) + ")"
                             : " (" + reply.error().detail + ")");
    co_await async::on_pool(rt_, [&] {
      auto tail = log_tail(e, 10);
      fail_and_cancel(e, why, why + (tail.empty() ? "" : "\n--- last output ---\n" + tail), now);
    });
    co_return 0;
  }
  co_return next_look({.state = EnvState::kStarting,
                       .now = now,
                       .health_interval = settings_.health_interval,
                       .started = started,
                       .spawn_timeout = limit});
}

// Graceful first (the app's own shutdown), then the job is cancelled: SIGTERM, the grace period,
// then the whole cgroup. Its job's end wakes the coroutine again.
async::Task<Millis> Service::stopping(const Look& s) {
  const EnvRecord& e = *s.env;
  if (std::exchange(s.live->stop_sent, true)) co_return async::kNever;
  if (is_jupyter(e) && s.job->job.state == compute::JobState::kRunning)
    (void)co_await app_request(s, "POST", "/env/" + e.id + "/api/shutdown");
  co_await async::on_pool(rt_, [&] {
    auto st = db_.write([&](db::Tx& tx) { return cancel_job(tx, e.job_id, s.now); });
    if (!st) spdlog::error("env {}: stopping its job: {}", e.id, st.error().detail);
  });
  co_return async::kNever;
}

// READY: culling. Activity = the later of the proxy's last request and the app's own.
async::Task<Millis> Service::ready(const Look& s) {
  const EnvRecord& e = *s.env;
  Live& l = *s.live;
  if (is_jupyter(e) && s.now - l.app_polled >= settings_.activity_poll) {
    l.app_polled = s.now;
    // api/status does not count as activity itself (its handler does not track it).
    auto reply = co_await app_request(s, "GET", "/env/" + e.id + "/api/status");
    if (reply && reply->status == 200) {
      auto js = json::parse(reply->body, nullptr, false);
      Millis t = 0;
      if (js.is_object() && js.contains("last_activity") && js["last_activity"].is_string() &&
          parse_rfc3339(js["last_activity"].get<std::string>(), t))
        l.app_activity = t;
    }
  }
  co_return co_await async::on_pool(rt_, [&] { return cull(s); });
}

Millis Service::cull(const Look& s) {
  const EnvRecord& e = *s.env;
  Live& l = *s.live;
  Millis now = s.now;
  Millis activity = std::max({e.last_activity, l.proxy_activity.load(), l.app_activity});
  Millis persist_at = 0;
  if (activity > e.last_activity + 30'000 || (activity > e.last_activity && now - activity > 60'000)) {
    auto st = db_.write([&](db::Tx& tx) { return raise_last_activity(tx, e.id, activity); });
    if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
  } else if (activity > e.last_activity) {
    persist_at = activity + 60'001;  // written once it has been quiet a minute
  }
  CullInput in{now, e.ready.value_or(e.created), activity, spec_ms(e, "idle_timeout_s"), spec_ms(e, "max_uptime_s"),
               settings_.warn_before};
  auto d = decide_cull(in);
  bool warn = d.kind == CullDecision::kWarn && !std::exchange(l.warned, true);
  if (d.kind != CullDecision::kWarn) l.warned = false;
  if (warn) {
    auto st = db_.write([&](db::Tx& tx) -> Status {
      TRY_STATUS(add_event(tx, e.id, EnvState::kReady, "warning", d.reason, now));
      return settings_.on_cull_warning ? settings_.on_cull_warning(tx, e, d.reason, d.at, now) : Status{};
    });
    if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
    changed();
  } else if (d.kind == CullDecision::kStop) {
    stop_env(e, d.reason, now);
    return 0;
  }
  return next_look({.state = EnvState::kReady,
                    .now = now,
                    .app_poll_at = is_jupyter(e) ? l.app_polled + settings_.activity_poll : 0,
                    .persist_at = persist_at,
                    .cull_at = d.next});
}

async::Task<Result<http::UnixReply>> Service::app_request(const Look& s, std::string method, std::string target) {
  if (!s.uid) co_return fail(ErrorCode::kUnavailable, "env-unreachable", "the environment's job is gone");
  if (!s.socket) co_return fail(ErrorCode::kUnavailable, "env-unreachable", "its node's tunnel is not connected");
  http::UnixRequest req;
  req.socket_path = s.socket->path;
  req.owner_uid = s.socket->uid;
  req.method = std::move(method);
  req.target = std::move(target);
  req.headers.emplace_back("Authorization", "token " + s.token);
  req.timeout = settings_.health_timeout;
  co_return co_await http::unix_request(std::move(req));
}

// ------------------------------------------------------------------------------ state changes

Status Service::transition(const std::string& id, EnvEvent event, const std::string& name, const std::string& detail,
                           Millis now, const std::function<Status(db::Tx&, EnvRecord&)>& extra,
                           const std::string& reason) {
  auto st = db_.write([&](db::Tx& tx) -> Status {
    auto cur = TRY(get_env(tx, id));
    if (!cur) return {};
    auto to = next_state(cur->state, event);
    if (!to) return {};  // it moved meanwhile (ended, or a stop was asked for)
    TRY_STATUS(set_state(tx, id, *to, reason.empty() ? detail : reason, now));
    TRY_STATUS(add_event(tx, id, *to, name, detail, now));
    if (extra) TRY_STATUS(extra(tx, *cur));
    return {};
  });
  changed();
  return st;
}

void Service::log_transition(const std::string& id, EnvEvent event, const std::string& name, const std::string& detail,
                             Millis now) {
  if (auto st = transition(id, event, name, detail, now); !st) spdlog::error("env {}: {}", id, st.error().detail);
}

Status Service::attach_network(const EnvRecord& e, const jobs::JobRecord& job) {
  std::ifstream f(jobs_.run_dir(job) / "supervisor.json");
  auto sup = json::parse(f, nullptr, false);
  if (sup.is_discarded() || !sup.contains("sandbox_pid"))
    return fail(ErrorCode::kUnavailable, "not-started", "the sandbox has not started yet");
  std::string ns = "/proc/" + std::to_string(sup["sandbox_pid"].get<long long>()) + "/ns/net";
  fs::path log = env_dir(e.id) / "slirp.log", pidfile = env_dir(e.id) / "slirp.pid";
  // The egress rules go into the namespace first, while it has only lo: private, link-local and
  // this host's own addresses are refused inside the sandbox from the first packet (sandbox.hpp).
  auto rules = TRY(sandbox::egress_rules(settings_.outbound_allow, sandbox::host_addresses(), sandbox::host_nameservers()));
  fs::path rules4 = env_dir(e.id) / "egress4.batch", rules6 = env_dir(e.id) / "egress6.batch";
  auto dir = TRY(Dir::open(env_dir(e.id)));
  TRY_STATUS(dir.write_file(rules4.filename().string(), rules.v4, 0600));
  TRY_STATUS(dir.write_file(rules6.filename().string(), rules.v6, 0600));
  // Started through sh, which exits at once: slirp4netns is then nobody's child but init's (no
  // zombie here, and it outlives a server restart like the sandbox does). It ends with the
  // namespace; cleanup() stops it too.
  std::string script = "exec </dev/null >>\"$1\" 2>&1; nsenter --net=\"$3\" ip -4 -batch \"$5\" || exit 1; "
                       "[ ! -e /proc/net/if_inet6 ] || nsenter --net=\"$3\" ip -6 -batch \"$6\" || exit 1; "
                       "\"$2\" --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp "
                       "--netns-type=path \"$3\" tap0 & echo $! > \"$4\"";
  std::string log_s = log.string(), pid_s = pidfile.string(), r4 = rules4.string(), r6 = rules6.string();
  std::vector<char*> argv{const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), script.data(),
                          const_cast<char*>("sh"),      log_s.data(),             settings_.slirp4netns.data(),
                          ns.data(),                    pid_s.data(),             r4.data(),
                          r6.data(),                    nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return fail(ErrorCode::kInternal, "env-network", std::string("cannot start slirp4netns: ") + std::strerror(rc));
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail(ErrorCode::kInternal, "env-network", "cannot start slirp4netns (see " + log.string() + ")");
  return {};
}

Status Service::cancel_job(db::Tx& tx, const std::string& job_id, Millis now) {
  auto job = TRY(jobs::get(tx, job_id));
  if (!job || compute::is_terminal(job->job.state) || !job->stop_requested.empty()) return {};  // none, or on its way
  TRY(jobs_.cancel(tx, system_actor(), *job, now));
  return {};
}

void Service::fail_and_cancel(const EnvRecord& e, const std::string& why, const std::string& detail, Millis now) {
  cleanup(e.id);
  auto st = transition(
      e.id, EnvEvent::kFail, "failed", detail, now,
      [&](db::Tx& tx, EnvRecord&) -> Status {
        TRY_STATUS(set_stop_requested(tx, e.id, why));
        return cancel_job(tx, e.job_id, now);
      },
      why);
  if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
}

void Service::cleanup(const std::string& id) {
  finish_data(id);  // a last sync of the project's view (its processes have ended or are ending)
  std::error_code ec;
  if (std::ifstream pf(env_dir(id) / "slirp.pid"); pf) {
    long pid = 0;
    pf >> pid;
    std::ifstream cmd("/proc/" + std::to_string(pid) + "/cmdline");
    std::string c((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (pid > 1 && c.find("slirp4netns") != std::string::npos)
      ::kill(static_cast<pid_t>(pid), SIGTERM);
    fs::remove(env_dir(id) / "slirp.pid", ec);
  }
  // The run directory is the env's uid's: removed beneath the env's directory fd, links and all,
  // never followed.
  if (auto dir = Dir::open(env_dir(id)); dir) {
    for (const char* sub : {"run", "app"})
      if (auto st = dir->remove(sub); !st) spdlog::warn("env {}: cleanup: {}", id, st.error().detail);
  }
  std::lock_guard lk(mu_);
  live_.erase(id);
}

void Service::end_env(const EnvRecord& e, const jobs::JobRecord& job, Millis now) {
  using compute::JobState;
  auto s = job.job.state;
  EnvEvent to = EnvEvent::kFail;
  std::string why;
  std::string code = job.job.exit_code ? std::to_string(*job.job.exit_code) : "?";
  if (!e.stop_requested.empty() || e.state == EnvState::kStopping) {
    to = EnvEvent::kEnded;
    why = e.stop_requested.empty() ? "stopped" : e.stop_requested;
  } else if (s == JobState::kCancelled) {
    to = EnvEvent::kEnded;
    why = "its job " + job.id() + " was cancelled";
  } else if (s == JobState::kTimeout) {
    to = EnvEvent::kEnded;
    why = "reached its time limit of " + std::to_string(job.job.request.time_limit / 1000) + " s";
  } else if (s == JobState::kOutOfMemory) {
    why = "ran out of memory (" + std::to_string(job.job.request.mem_mb) + " MiB)";
  } else if (s == JobState::kNodeFail) {
    why = "its job ended with NODE_FAIL: " + job.job.reason_detail;
  } else if (e.state == EnvState::kStarting || e.state == EnvState::kQueued) {
    why = "the app exited with code " + code + " before it was ready";
  } else {
    why = "the app exited with code " + code;
  }
  std::string detail = why;
  if (to == EnvEvent::kFail) {
    auto tail = log_tail(e, 10);
    if (!tail.empty()) detail += "\n--- last output ---\n" + tail;
  }
  cleanup(e.id);  // before the end is visible: an ended environment has left nothing behind
  if (auto st = transition(e.id, to, to == EnvEvent::kFail ? "failed" : "stopped", detail, now, {}, why); !st)
    spdlog::error("env {}: {}", e.id, st.error().detail);
}

void Service::stop_env(const EnvRecord& e, const std::string& why, Millis now) {
  auto st = db_.write([&](db::Tx& tx) -> Status {
    auto cur = TRY(get_env(tx, e.id));
    if (!cur || cur->state == EnvState::kStopping) return {};
    auto to = next_state(cur->state, EnvEvent::kStop);
    if (!to) return {};
    TRY_STATUS(set_stopping(tx, e.id, why));
    TRY_STATUS(add_event(tx, e.id, *to, "cull", why, now));
    return audit::record(tx, system_actor(), {e.org_id, "env.cull", "env", e.id, {{"reason", why}}}, now);
  });
  if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
  changed();
}

}  // namespace atrium::envs
