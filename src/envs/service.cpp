#include "envs/service.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/files.hpp"
#include "core/ids.hpp"
#include "envs/unix_http.hpp"
#include "jobs/store.hpp"

namespace atrium::envs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kCols =
    "id, project_id, org_id, group_id, user_id, app, job_id, state, reason, spec, created_ms, ready_ms, ended_ms, "
    "last_activity_ms, stop_requested, version";

EnvRecord from_row(const db::Row& r) {
  EnvRecord e;
  e.id = r.str(0);
  e.project_id = r.str(1);
  e.org_id = r.str(2);
  e.group_id = r.str(3);
  e.user_id = r.str(4);
  e.app = r.str(5);
  e.job_id = r.str(6);
  e.state = r.str(7);
  e.reason = r.str(8);
  e.spec = json::parse(r.str(9), nullptr, false);
  if (e.spec.is_discarded()) e.spec = json::object();
  e.created = r.i64(10);
  e.ready = r.opt_i64(11);
  e.ended = r.opt_i64(12);
  e.last_activity = r.i64(13);
  e.stop_requested = r.str(14);
  e.version = r.i64(15);
  return e;
}

Status add_event(db::Tx& tx, const std::string& id, const std::string& state, const std::string& event,
                 const std::string& detail, Millis now) {
  TRY(tx.exec(
      "INSERT INTO env_events (env_id, seq, time_ms, state, event, detail) "
      "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM env_events WHERE env_id = ?), ?, ?, ?, ?)",
      {id, id, now, state, event, detail.substr(0, 4000)}));
  return {};
}

Millis spec_ms(const EnvRecord& e, const char* key) { return e.spec.value(key, std::int64_t{0}) * 1000; }

// The uid an environment's processes (and so its socket) run as: its job's per-user uid when the
// sandbox can switch to it (root), else the server's own.
std::uint32_t sandbox_uid(std::int64_t job_uid) {
  return sandbox::probe().root ? static_cast<std::uint32_t>(job_uid) : static_cast<std::uint32_t>(::getuid());
}

std::string tail_lines(const fs::path& p, int lines) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return "";
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  std::streamoff start = std::max<std::streamoff>(0, size - 16384);
  f.seekg(start);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  int n = 0;
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  while (pos > 0) {
    auto nl = text.rfind('\n', pos - 1);
    if (++n >= lines || nl == std::string::npos) {
      pos = nl == std::string::npos ? 0 : nl + 1;
      break;
    }
    pos = nl;
  }
  return text.substr(pos);
}

const Actor& system_actor() {
  static const Actor a{"", "atrium", "", "", ""};
  return a;
}

}  // namespace

Result<std::optional<EnvRecord>> get_env(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kCols + " FROM envs WHERE id = ?", {id}));
  if (!row) return std::optional<EnvRecord>();
  return std::optional<EnvRecord>(from_row(*row));
}

Result<std::vector<EnvRecord>> list_envs(db::Tx& tx, const ListFilter& f) {
  std::string sql = std::string("SELECT ") + kCols + " FROM envs WHERE id > ?";
  db::Params ps{f.after};
  if (!f.project_id.empty()) {
    sql += " AND project_id = ?";
    ps.push_back(f.project_id);
  }
  if (!f.user_id.empty()) {
    sql += " AND user_id = ?";
    ps.push_back(f.user_id);
  }
  if (f.active_only) sql += " AND state IN ('QUEUED', 'STARTING', 'READY', 'STOPPING')";
  sql += " ORDER BY id LIMIT ?";
  ps.push_back(std::int64_t{f.limit});
  std::vector<EnvRecord> out;
  for (auto& r : TRY(tx.query(sql, ps))) out.push_back(from_row(r));
  return out;
}

Result<std::int64_t> active_count(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id) {
  std::string col = kind == "org" ? "org_id" : kind == "group" ? "group_id" : "user_id";
  auto n = TRY(tx.query_one("SELECT COUNT(*) FROM envs WHERE org_id = ? AND " + col +
                                " = ? AND state IN ('QUEUED', 'STARTING', 'READY', 'STOPPING')",
                            {org_id, subject_id}));
  return n->i64(0);
}

Result<json> env_events(db::Tx& tx, const std::string& id, std::int64_t after_seq) {
  json out = json::array();
  for (auto& r : TRY(tx.query("SELECT seq, time_ms, state, event, detail FROM env_events WHERE env_id = ? AND seq > ? "
                              "ORDER BY seq LIMIT 1000",
                              {id, after_seq})))
    out.push_back({{"seq", r.i64(0)},
                   {"time", format_rfc3339(r.i64(1))},
                   {"state", r.str(2)},
                   {"event", r.str(3)},
                   {"detail", r.str(4)}});
  return out;
}

Service::Service(db::Database& db, const Clock& clock, jobs::Service& jobs, Settings settings)
    : db_(db), clock_(clock), jobs_(jobs), settings_(std::move(settings)) {}

Service::~Service() { stop(); }

Status Service::start() {
  for (const char* d : {"envs", "homes"}) TRY_STATUS(TRY(Dir::open_or_create(settings_.data_dir / d, 0711)).chmod(0711));
  pass();  // environments left by a previous server: found again, or ended
  thread_ = std::thread([this] { loop(); });
  return {};
}

void Service::stop() {
  {
    std::lock_guard lk(wake_mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Service::loop() {
  for (;;) {
    {
      std::unique_lock lk(wake_mu_);
      // Starting and stopping environments are looked at every fast_poll (readiness is seen
      // within that), the others every poll_interval; a launch or a job start wakes it at once.
      wake_cv_.wait_for(lk, std::chrono::milliseconds(fast_ ? settings_.fast_poll : settings_.poll_interval),
                        [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return;
    }
    pass();
  }
}

std::shared_ptr<Service::Live> Service::live(const std::string& id) {
  std::lock_guard lk(mu_);
  auto& p = live_[id];
  if (!p) p = std::make_shared<Live>();
  return p;
}

std::string Service::token_of(const std::string& id) {
  auto lp = live(id);
  auto& l = *lp;
  {
    std::lock_guard lk(mu_);
    if (!l.token.empty()) return l.token;
  }
  // The run directory is the env's uid's: the token is read beneath it, never through a link
  // (a link to a host file would send that file to the app as its token).
  std::string t;
  if (auto run = Dir::open(run_dir(id)); run) {
    if (auto r = run->read_file("token", 256)) t = std::move(*r);
  }
  std::lock_guard lk(mu_);
  if (!t.empty()) l.token = t;  // (re)read once the file is there
  return t;
}

std::optional<std::uint32_t> Service::uid_of(const EnvRecord& e) {
  auto lp = live(e.id);
  {
    std::lock_guard lk(mu_);
    if (lp->uid) return lp->uid;
  }
  auto job = db_.read([&](db::Tx& tx) { return jobs::get(tx, e.job_id); });
  if (!job || !*job) return std::nullopt;
  std::uint32_t uid = sandbox_uid((*job)->uid);
  std::lock_guard lk(mu_);
  lp->uid = uid;
  return uid;
}

Result<UnixReply> Service::app_http(const EnvRecord& e, const std::string& method, const std::string& target) {
  auto uid = uid_of(e);
  if (!uid) return fail(ErrorCode::kUnavailable, "env-unreachable", "the environment's job is gone");
  return unix_http((run_dir(e.id) / "app.sock").string(), *uid, method, target,
                   {{"Authorization", "token " + token_of(e.id)}}, 2000);
}

Result<EnvRecord> Service::launch(db::Tx& tx, const Actor& actor, const std::string& project_id,
                                  const std::string& org_id, const std::string& group_id, const App& app,
                                  const LaunchRequest& req, Millis now) {
  Resources r = app.defaults;
  if (req.cpus) r.cpus = *req.cpus;
  if (req.mem_mb) r.mem_mb = *req.mem_mb;
  if (req.time_limit) r.time_limit = *req.time_limit;
  auto over = [&](const char* field, const std::string& what) {
    return fail(Error(ErrorCode::kInvalidArgument, "over-app-maximum",
                      std::string(field) + ": " + what + " is more than the app " + app.name + " allows")
                    .with("field", field));
  };
  if (r.cpus > app.max.cpus) return over("cpus", std::to_string(r.cpus) + " CPUs (max " + std::to_string(app.max.cpus) + ")");
  if (r.mem_mb > app.max.mem_mb)
    return over("mem_mb", std::to_string(r.mem_mb) + " MiB (max " + std::to_string(app.max.mem_mb) + ")");
  if (r.time_limit > app.max.time_limit)
    return over("time_limit_s", std::to_string(r.time_limit / 1000) + " s (max " + std::to_string(app.max.time_limit / 1000) + ")");
  // Concurrent environments: the user's, group's and org's quotas.
  auto quotas = TRY(tx.query(
      "SELECT subject_kind, subject_id, concurrent_envs FROM quotas WHERE concurrent_envs IS NOT NULL AND org_id = ? AND "
      "((subject_kind = 'org' AND subject_id = ?) OR (subject_kind = 'group' AND subject_id = ?) OR "
      "(subject_kind = 'user' AND subject_id = ?))",
      {org_id, org_id, group_id, actor.user_id}));
  for (auto& q : quotas) {
    if (TRY(active_count(tx, org_id, q.str(0), q.str(1))) >= q.i64(2))
      return fail(Error(ErrorCode::kQuotaExceeded, "quota-exceeded",
                        "the " + q.str(0) + "'s limit of " + std::to_string(q.i64(2)) +
                            " concurrent environments is reached; stop one first")
                      .with("limit", "concurrent_envs"));
  }
  EnvRecord e;
  e.id = new_id("env", now);
  e.project_id = project_id;
  e.org_id = org_id;
  e.group_id = group_id;
  e.user_id = actor.user_id;
  e.app = app.name;
  e.created = now;
  e.last_activity = now;
  std::string base = settings_.origins ? settings_.origins->base_url(e.id) : "/env/" + e.id + "/";
  Millis idle = app.idle_timeout_for(org_id), uptime = app.max_uptime_for(org_id);
  Launch l = launch_for(app, base, idle);

  jobs::SubmitRequest sr;
  sr.project_id = project_id;
  sr.org_id = org_id;
  sr.group_id = group_id;
  sr.name = "env:" + app.name;
  sr.argv = l.argv;
  sr.env = l.env;
  sr.resources.cpus = r.cpus;
  sr.resources.mem_mb = r.mem_mb;
  sr.resources.time_limit = r.time_limit;
  if (auto commit = TRY(jobs_.resolve_commit(project_id, req.ref)))
    sr.commit = jobs::CommitPin{req.ref.value_or(""), *commit};
  else if (req.ref)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-ref",
                      "ref: '" + req.ref->substr(0, 100) + "' names no branch, tag or commit of the project's repository")
                    .with("field", "ref"));
  auto sub = TRY(jobs_.submit(tx, actor, sr, now));
  e.job_id = sub.jobs.front().id();
  // Its lifecycle is the environment's: no hold, release or requeue through the jobs API (a
  // requeued job would run the app again outside the environment and its quota).
  TRY_STATUS(jobs::set_managed_by(tx, e.job_id, "environment"));
  e.reason = "waiting for the scheduler";
  e.spec = {{"kind", app.kind},
            {"cpus", r.cpus},
            {"mem_mb", r.mem_mb},
            {"time_limit_s", r.time_limit / 1000},
            {"idle_timeout_s", idle / 1000},
            {"max_uptime_s", uptime / 1000},
            {"spawn_timeout_s", app.spawn_timeout / 1000},
            {"health_path", l.health_path},
            {"network", app.network},
            {"rootfs", app.rootfs},
            {"files", l.files},
            {"cwd", l.cwd}};
  if (sr.commit) e.spec["commit"] = sr.commit->commit;
  TRY(tx.exec(std::string("INSERT INTO envs (") + kCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, '', 1)",
              {e.id, e.project_id, e.org_id, e.group_id, e.user_id, e.app, e.job_id, e.state, e.reason, e.spec.dump(),
               e.created, e.last_activity}));
  TRY_STATUS(add_event(tx, e.id, e.state, "launch", app.name + " as job " + e.job_id, now));
  TRY_STATUS(audit::record(tx, actor,
                           {org_id, "env.launch", "env", e.id,
                            {{"app", app.name}, {"project_id", project_id}, {"job_id", e.job_id},
                             {"cpus", r.cpus}, {"mem_mb", r.mem_mb}, {"time_limit_s", r.time_limit / 1000}}},
                           now));
  changed();
  poke();
  return e;
}

Result<EnvRecord> Service::request_stop(db::Tx& tx, const Actor& actor, const EnvRecord& env, const std::string& why,
                                        Millis now) {
  auto cur = TRY(get_env(tx, env.id));
  if (!cur || !cur->active())
    return fail(Error(ErrorCode::kFailedPrecondition, "env-not-running",
                      "the environment is " + (cur ? cur->state : std::string("gone")) + " already"));
  if (cur->state == "STOPPING") return *cur;
  TRY(tx.exec("UPDATE envs SET state = 'STOPPING', reason = ?, stop_requested = ?, version = version + 1 WHERE id = ?",
              {why, why, env.id}));
  TRY_STATUS(add_event(tx, env.id, "STOPPING", "stop", why, now));
  TRY_STATUS(audit::record(tx, actor, {env.org_id, "env.stop", "env", env.id, {{"reason", why}}}, now));
  changed();
  poke();
  return *TRY(get_env(tx, env.id));
}

Status Service::prepare(const jobs::JobRecord& job, sandbox::Spec& spec) {
  auto row = TRY(db_.read([&](db::Tx& tx) -> Result<std::optional<db::Row>> {
    return tx.query_one("SELECT id FROM envs WHERE job_id = ?", {job.id()});
  }));
  if (!row) return {};  // a batch job
  auto e = TRY(db_.read([&](db::Tx& tx) { return get_env(tx, row->str(0)); }));
  if (!e) return {};
  // Everything below is done as root in directories the env's uid can write (its run directory,
  // its home): through directory fds, never following a link it planted (core/dir.hpp).
  fs::path run_path = run_dir(e->id), app_path = env_dir(e->id) / "app";
  fs::path home_path = settings_.data_dir / "homes" / e->project_id / e->user_id;
  Owner owner{static_cast<std::uint32_t>(job.uid), static_cast<std::uint32_t>(job.uid)};
  Dir dir = TRY(TRY(Dir::open(settings_.data_dir / "envs")).make_dirs(e->id, 0711));
  // The run directory holds the app's socket and its token: the env's uid only (and the server).
  // New for each launch: nothing the previous run left in it is used.
  Dir run = TRY(dir.make_fresh("run", 0700, owner));
  TRY(run.make_dirs("jupyter", 0700, owner));
  Dir homes = TRY(TRY(Dir::open(settings_.data_dir / "homes")).make_dirs(e->project_id, 0711));
  TRY(homes.make_dirs(e->user_id, 0700, owner));  // persistent across launches
  std::string token = crypto::hex(crypto::random_bytes(24));
  TRY_STATUS(run.write_file("token", token, 0400, owner));
  {
    auto l = live(e->id);
    std::lock_guard lk(mu_);
    l->token = token;
    l->uid = sandbox_uid(job.uid);
  }
  spec.mounts.push_back({run_path.string(), kSandboxRunDir, true});
  spec.mounts.push_back({home_path.string(), kSandboxHome, true});
  if (e->spec.contains("files") && e->spec["files"].is_object() && !e->spec["files"].empty()) {
    Dir app_dir = TRY(dir.make_fresh("app", 0755));
    for (auto& [name, content] : e->spec["files"].items())
      TRY_STATUS(app_dir.write_file(name, content.get<std::string>(), 0644));
    spec.mounts.push_back({app_path.string(), kSandboxAppDir, false});
  }
  // Python (Jupyter, its kernels, the built-in apps' helpers) must not start in the project's
  // checkout: its sys.path[0] and config files would be code any project member committed.
  auto kind = e->spec.value("kind", std::string());
  spec.cwd = e->spec.value("cwd", std::string(kind == "web" ? "/workspace" : kSandboxRunDir));
  spec.hostname = "env";
  spec.network = false;  // only lo: nothing but the proxy (through the socket) reaches the app
  if (auto rootfs = e->spec.value("rootfs", std::string()); !rootfs.empty()) spec.rootfs = rootfs;
  spec.env["ATRIUM_ENV_ID"] = e->id;
  poke();  // its job is RUNNING now: STARTING, and health checks at the fast pace
  return {};
}

void Service::poke() {
  {
    std::lock_guard lk(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_all();
}

Upstream Service::upstream(const EnvRecord& e) {
  Upstream u{e.id, e.user_id, e.project_id, e.org_id, e.group_id, e.state, "", "", 0};
  if (e.state == "READY") {
    auto uid = uid_of(e);
    if (!uid) return u;
    u.socket_path = (run_dir(e.id) / "app.sock").string();
    u.token = token_of(e.id);
    u.socket_uid = *uid;
  }
  return u;
}

void Service::touch(const std::string& env_id) {
  auto lp = live(env_id);
  auto& l = *lp;
  Millis now = clock_.now_ms();
  Millis prev = l.proxy_activity.load();
  while (prev < now && !l.proxy_activity.compare_exchange_weak(prev, now)) {
  }
}

fs::path Service::log_path(const EnvRecord& e, const std::string& stream) const {
  auto job = db_.read([&](db::Tx& tx) { return jobs::get(tx, e.job_id); });
  if (!job || !*job) return {};
  return jobs_.run_dir(**job) / stream;
}

std::string Service::log_tail(const EnvRecord& e, int lines, const std::string& stream) const {
  if (stream != "both") {
    auto p = log_path(e, stream);
    return p.empty() ? "" : tail_lines(p, lines);
  }
  std::string err = log_tail(e, lines, "stderr"), out = log_tail(e, lines, "stdout");
  return out.empty() ? err : err + (err.empty() ? "" : "\n") + out;
}

std::string Service::url(const std::string& env_id) const {
  return settings_.origins ? settings_.origins->url(env_id) : "/env/" + env_id + "/";
}

json Service::to_json(const EnvRecord& e) const {
  json j = {{"id", e.id},
            {"project_id", e.project_id},
            {"org_id", e.org_id},
            {"user_id", e.user_id},
            {"app", e.app},
            {"kind", e.spec.value("kind", std::string())},
            {"job_id", e.job_id},
            {"state", e.state},
            {"reason", e.reason},
            {"url", url(e.id)},
            {"cpus", e.spec.value("cpus", 0)},
            {"mem_mb", e.spec.value("mem_mb", std::int64_t{0})},
            {"time_limit_s", e.spec.value("time_limit_s", std::int64_t{0})},
            {"idle_timeout_s", e.spec.value("idle_timeout_s", std::int64_t{0})},
            {"max_uptime_s", e.spec.value("max_uptime_s", std::int64_t{0})},
            {"commit", e.spec.contains("commit") ? e.spec["commit"] : json(nullptr)},
            {"created_at", format_rfc3339(e.created)},
            {"ready_at", e.ready ? json(format_rfc3339(*e.ready)) : json(nullptr)},
            {"ended_at", e.ended ? json(format_rfc3339(*e.ended)) : json(nullptr)},
            {"last_activity", format_rfc3339(e.last_activity)},
            {"stop_requested", e.stop_requested.empty() ? json(nullptr) : json(e.stop_requested)},
            {"etag", "\"" + std::to_string(e.version) + "\""}};
  if (e.state == "FAILED") j["log_tail"] = log_tail(e, 20);
  return j;
}

Status Service::transition(const std::string& id, const std::string& to, const std::string& event,
                           const std::string& detail, Millis now,
                           const std::function<Status(db::Tx&, EnvRecord&)>& extra, const std::string& reason) {
  auto st = db_.write([&](db::Tx& tx) -> Status {
    auto cur = TRY(get_env(tx, id));
    if (!cur || !cur->active()) return {};  // ended meanwhile
    bool terminal = to == "STOPPED" || to == "FAILED";
    TRY(tx.exec("UPDATE envs SET state = ?, reason = ?, version = version + 1, ready_ms = COALESCE(ready_ms, ?), "
                "ended_ms = ? WHERE id = ?",
                {to, (reason.empty() ? detail : reason).substr(0, 2000), to == "READY" ? db::Value(now) : db::Value(nullptr),
                 terminal ? db::Value(now) : db::Value(nullptr), id}));
    TRY_STATUS(add_event(tx, id, to, event, detail, now));
    if (extra) TRY_STATUS(extra(tx, *cur));
    return {};
  });
  changed();
  return st;
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
  auto st = transition(
      e.id, "FAILED", "failed", detail, now,
      [&](db::Tx& tx, EnvRecord&) -> Status {
        TRY(tx.exec("UPDATE envs SET stop_requested = ? WHERE id = ?", {why, e.id}));
        return cancel_job(tx, e.job_id, now);
      },
      why);
  if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
  cleanup(e.id);
}

void Service::cleanup(const std::string& id) {
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
  std::string to = "FAILED", why;
  std::string code = job.job.exit_code ? std::to_string(*job.job.exit_code) : "?";
  if (!e.stop_requested.empty() || e.state == "STOPPING") {
    to = "STOPPED";
    why = e.stop_requested.empty() ? "stopped" : e.stop_requested;
  } else if (s == JobState::kCancelled) {
    to = "STOPPED";
    why = "its job " + job.id() + " was cancelled";
  } else if (s == JobState::kTimeout) {
    to = "STOPPED";
    why = "reached its time limit of " + std::to_string(job.job.request.time_limit / 1000) + " s";
  } else if (s == JobState::kOutOfMemory) {
    why = "ran out of memory (" + std::to_string(job.job.request.mem_mb) + " MiB)";
  } else if (s == JobState::kNodeFail) {
    why = "its job ended with NODE_FAIL: " + job.job.reason_detail;
  } else if (e.state == "STARTING" || e.state == "QUEUED") {
    why = "the app exited with code " + code + " before it was ready";
  } else {
    why = "the app exited with code " + code;
  }
  std::string detail = why;
  if (to == "FAILED") {
    auto tail = log_tail(e, 10);
    if (!tail.empty()) detail += "\n--- last output ---\n" + tail;
  }
  if (auto st = transition(e.id, to, to == "FAILED" ? "failed" : "stopped", detail, now, {}, why); !st)
    spdlog::error("env {}: {}", e.id, st.error().detail);
  cleanup(e.id);
}

void Service::stop_env(const EnvRecord& e, const std::string& why, Millis now) {
  auto st = db_.write([&](db::Tx& tx) -> Status {
    auto cur = TRY(get_env(tx, e.id));
    if (!cur || !cur->active() || cur->state == "STOPPING") return {};
    TRY(tx.exec("UPDATE envs SET state = 'STOPPING', reason = ?, stop_requested = ?, version = version + 1 WHERE id = ?",
                {why, why, e.id}));
    TRY_STATUS(add_event(tx, e.id, "STOPPING", "cull", why, now));
    return audit::record(tx, system_actor(), {e.org_id, "env.cull", "env", e.id, {{"reason", why}}}, now);
  });
  if (!st) spdlog::error("env {}: {}", e.id, st.error().detail);
  changed();
}

void Service::step(const EnvRecord& e, Millis now) {
  using compute::JobState;
  auto job = db_.read([&](db::Tx& tx) { return jobs::get(tx, e.job_id); });
  if (!job) {
    spdlog::error("env {}: reading its job: {}", e.id, job.error().detail);
    return;
  }
  if (!*job) {
    if (auto st = transition(e.id, "FAILED", "failed", "its job " + e.job_id + " is gone", now); !st)
      spdlog::error("env {}: {}", e.id, st.error().detail);
    cleanup(e.id);
    return;
  }
  const jobs::JobRecord& j = **job;
  if (compute::is_terminal(j.job.state)) return end_env(e, j, now);
  auto lp = live(e.id);
  Live& l = *lp;
  if (e.state == "QUEUED") {
    if (j.job.state == JobState::kRunning) {
      if (auto st = transition(e.id, "STARTING", "started", "the app is starting", now); !st)
        spdlog::error("env {}: {}", e.id, st.error().detail);
      return;
    }
    auto live_job = jobs_.to_json(j);
    // (null while the scheduler has not given one)
    auto text_of = [&](const char* k) {
      auto it = live_job.find(k);
      return it != live_job.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    std::string reason = text_of("reason"), detail = text_of("reason_detail");
    std::string text = reason.empty() || reason == "None" ? "waiting for the scheduler" : reason + (detail.empty() ? "" : ": " + detail);
    if (text != e.reason) {
      db_.write([&](db::Tx& tx) -> Status {
        TRY(tx.exec("UPDATE envs SET reason = ? WHERE id = ? AND state = 'QUEUED'", {text, e.id}));
        return add_event(tx, e.id, "QUEUED", "waiting", text, now);
      });
      changed();
    }
    return;
  }
  if (e.state == "STOPPING") {
    // Graceful first (the app's own shutdown), then the job is cancelled: SIGTERM, the grace
    // period, then the whole cgroup.
    bool send = false;
    {
      std::lock_guard lk(mu_);
      send = !l.stop_sent;
      l.stop_sent = true;
    }
    if (!send) return;
    changed();  // (a stop asked for through the API counted before its commit: the proxy's cache forgets it now)
    if (e.spec.value("kind", std::string()) == "jupyter" && j.job.state == JobState::kRunning)
      (void)app_http(e, "POST", "/env/" + e.id + "/api/shutdown");
    auto st = db_.write([&](db::Tx& tx) { return cancel_job(tx, e.job_id, now); });
    if (!st) spdlog::error("env {}: stopping its job: {}", e.id, st.error().detail);
    return;
  }
  if (e.state == "STARTING") {
    if (e.spec.value("network", std::string()) == "outbound" && !l.net_attached) {
      auto st = attach_network(e, j);
      if (!st && st.error().type == "not-started") return;  // the next pass
      if (!st) return fail_and_cancel(e, st.error().detail, st.error().detail, now);
      std::lock_guard lk(mu_);
      l.net_attached = true;
    }
    auto reply = app_http(e, "GET", e.spec.value("health_path", std::string("/")));
    if (reply && reply->status >= 200 && reply->status < 400) {
      if (auto st = transition(e.id, "READY", "ready", "the app answers its health check", now,
                               [&](db::Tx& tx, EnvRecord&) -> Status {
                                 TRY(tx.exec("UPDATE envs SET last_activity_ms = ? WHERE id = ?", {now, e.id}));
                                 return {};
                               });
          !st)
        spdlog::error("env {}: {}", e.id, st.error().detail);
      std::lock_guard lk(mu_);
      l.proxy_activity = std::max(l.proxy_activity.load(), now);
      l.warned = false;
      return;
    }
    Millis started = j.job.start_time.value_or(e.created);
    Millis limit = spec_ms(e, "spawn_timeout_s");
    if (limit > 0 && now - started > limit) {
      std::string why = "the app did not become ready within " + std::to_string(limit / 1000) + " s" +
                        (reply ? " (its health check answered " + std::to_string(reply->status) + ")"
                               : " (" + reply.error().detail + ")");
      auto tail = log_tail(e, 10);
      fail_and_cancel(e, why, why + (tail.empty() ? "" : "\n--- last output ---\n" + tail), now);
    }
    return;
  }
  // READY: culling. Activity = the later of the proxy's last request and the app's own.
  if (e.spec.value("kind", std::string()) == "jupyter" && now - l.app_polled >= settings_.activity_poll) {
    l.app_polled = now;
    // api/status does not count as activity itself (its handler does not track it).
    auto reply = app_http(e, "GET", "/env/" + e.id + "/api/status");
    if (reply && reply->status == 200) {
      auto js = json::parse(reply->body, nullptr, false);
      Millis t = 0;
      if (js.is_object() && js.contains("last_activity") && js["last_activity"].is_string() &&
          parse_rfc3339(js["last_activity"].get<std::string>(), t))
        l.app_activity = t;
    }
  }
  Millis activity = std::max({e.last_activity, l.proxy_activity.load(), l.app_activity});
  if (activity > e.last_activity + 30'000 || (activity > e.last_activity && now - activity > 60'000)) {
    db_.write([&](db::Tx& tx) -> Status {
      TRY(tx.exec("UPDATE envs SET last_activity_ms = MAX(last_activity_ms, ?) WHERE id = ?", {activity, e.id}));
      return {};
    });
  }
  CullInput in{now, e.ready.value_or(e.created), activity, spec_ms(e, "idle_timeout_s"), spec_ms(e, "max_uptime_s"),
               settings_.warn_before};
  auto d = decide_cull(in);
  if (d.kind == CullDecision::kWarn) {
    bool first = false;
    {
      std::lock_guard lk(mu_);
      first = !l.warned;
      l.warned = true;
    }
    if (first) {
      db_.write([&](db::Tx& tx) { return add_event(tx, e.id, "READY", "warning", d.reason, now); });
      changed();
    }
  } else if (d.kind == CullDecision::kStop) {
    {
      std::lock_guard lk(mu_);
      l.warned = false;
    }
    stop_env(e, d.reason, now);
  } else {
    std::lock_guard lk(mu_);
    l.warned = false;
  }
}

void Service::pass() {
  auto envs = db_.read([&](db::Tx& tx) {
    ListFilter f;
    f.active_only = true;
    f.limit = 100000;
    return list_envs(tx, f);
  });
  if (!envs) {
    spdlog::error("envs: {}", envs.error().detail);
    return;
  }
  Millis now = clock_.now_ms();
  bool busy = false;
  for (auto& e : *envs) {
    busy = busy || e.state == "STARTING" || e.state == "STOPPING";
    try {
      step(e, now);
    } catch (const std::exception& ex) {  // one environment's surprise must not stop the others
      spdlog::error("env {}: monitor: {}", e.id, ex.what());
    }
  }
  fast_ = busy;
}

}  // namespace atrium::envs
