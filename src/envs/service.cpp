#include "envs/service.hpp"

#include <algorithm>
#include <fstream>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/dir.hpp"
#include "core/files.hpp"
#include "core/ids.hpp"
#include "jobs/store.hpp"
#include "quota/quota.hpp"

namespace atrium::envs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {


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

}  // namespace

Service::Service(db::Database& db, const Clock& clock, async::Runtime& rt, jobs::Service& jobs, Settings settings)
    : db_(db),
      clock_(clock),
      rt_(rt),
      jobs_(jobs),
      settings_(std::move(settings)),
      views_(db, clock, settings_.data_dir / "envs", settings_.data) {}

Service::~Service() { stop(); }

Status Service::start() {
  for (const char* d : {"envs", "homes"}) TRY_STATUS(TRY(Dir::open_or_create(settings_.data_dir / d, 0711)).chmod(0711));
  auto envs = TRY(db_.read([&](db::Tx& tx) {
    ListFilter f;
    f.active_only = true;
    f.limit = 100000;
    return list_envs(tx, f);
  }));
  for (auto& e : envs) follow(e.id);
  TRY_STATUS(views_.start());
  if (settings_.files_sync_interval > 0) {
    data_periodic_ = std::make_unique<async::Periodic>(rt_, clock_, settings_.files_sync_interval, [this] {
      periodic_data();
      return Millis{0};
    });
    data_periodic_->start();
  }
  return {};
}

void Service::stop() {
  if (data_periodic_) data_periodic_->stop();
  std::unique_lock lk(mu_);
  stopping_ = true;
  for (auto& [id, w] : watches_) w->waiter.wake();
  // (A runtime already stopped has dropped the coroutines: nothing to wait for.)
  watches_done_.wait(lk, [this] { return watches_.empty() || rt_.io().stopped(); });
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
  lp->remote = (*job)->partition != jobs::kLocalPartition;
  return uid;
}

std::optional<Service::AppSocket> Service::app_socket(const EnvRecord& e) {
  auto uid = uid_of(e);
  if (!uid) return std::nullopt;
  bool remote = false;
  {
    auto lp = live(e.id);
    std::lock_guard lk(mu_);
    remote = lp->remote;
  }
  if (!remote) return AppSocket{(run_dir(e.id) / "app.sock").string(), *uid};
  auto tunnel = settings_.tunnel_socket ? settings_.tunnel_socket(e.job_id) : std::nullopt;
  if (!tunnel) return std::nullopt;
  return AppSocket{tunnel->string(), static_cast<std::uint32_t>(::geteuid())};
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
  const int gpus = req.gpus.value_or(0);
  if (gpus > app.max_gpus) return over("gpus", std::to_string(gpus) + " GPUs (max " + std::to_string(app.max_gpus) + ")");
  // This node's GPUs bound a local launch only (a SLURM partition's limits are checked by jobs).
  std::string partition = req.partition.empty() ? TRY(jobs_.default_partition(tx, org_id)) : req.partition;
  if (int node = jobs_.node_json()["resources"].value("gpus", 0); partition == jobs::kLocalPartition && gpus > node)
    return fail(Error(ErrorCode::kInvalidArgument, "over-node",
                      "gpus: " + std::to_string(gpus) + " GPUs is more than this node has (" + std::to_string(node) + ")")
                    .with("field", "gpus"));
  if (req.files_prefix && !views_.enabled())
    return fail(Error(ErrorCode::kFailedPrecondition, "no-files-view", "this server cannot give environments the project's files")
                    .with("field", "files"));
  // Concurrent environments: the group's, org's and user's quotas (the first reached is reported).
  for (const quota::Subject& s : {quota::Subject{org_id, "group", group_id}, quota::Subject{org_id, "org", org_id},
                                  quota::Subject{org_id, "user", actor.user_id}}) {
    auto l = TRY(quota::limits_of(tx, s));
    if (!l || !l->concurrent_envs) continue;
    if (TRY(active_count(tx, org_id, s.kind, s.id)) >= *l->concurrent_envs)
      return fail(Error(ErrorCode::kQuotaExceeded, "quota-exceeded",
                        "the " + s.kind + "'s limit of " + std::to_string(*l->concurrent_envs) +
                            " concurrent environments is reached; stop one first")
                      .with("limit", "concurrent_envs")
                      .with("org_id", org_id)
                      .with("kind", s.kind)
                      .with("subject_id", s.id));
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
  sr.image = req.image;  // mounted as / by the compute service (it wins over the app's rootfs)
  sr.secrets = req.secrets;  // checked and pinned by the route; read at launch by the job
  sr.resources.gpus = gpus;
  sr.datasets = req.datasets;
  sr.partition = req.partition;
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
            {"rootfs", req.image ? std::string() : app.rootfs},
            {"files", l.files},
            {"cwd", l.cwd}};
  if (sr.commit) e.spec["commit"] = sr.commit->commit;
  if (req.image) e.spec["image"] = {{"name", req.image->name}, {"digest", req.image->digest}};
  if (!req.secrets.empty()) e.spec["secrets"] = secrets::to_json(req.secrets);  // names only
  e.spec["gpus"] = gpus;
  if (!req.datasets.empty()) {
    json ds = json::array();
    for (auto& d : req.datasets) ds.push_back({{"name", d.name}, {"dataset_id", d.dataset_id}, {"version", d.number}});
    e.spec["datasets"] = ds;
  }
  if (req.files_prefix) e.spec["view"] = {{"prefix", *req.files_prefix}};
  TRY_STATUS(insert_env(tx, e));
  TRY_STATUS(add_event(tx, e.id, e.state, "launch", app.name + " as job " + e.job_id, now));
  TRY_STATUS(audit::record(tx, actor,
                           {org_id, "env.launch", "env", e.id,
                            {{"app", app.name}, {"project_id", project_id}, {"job_id", e.job_id},
                             {"cpus", r.cpus}, {"mem_mb", r.mem_mb}, {"time_limit_s", r.time_limit / 1000},
                             {"image", e.spec.contains("image") ? e.spec["image"] : json(nullptr)},
                             {"gpus", gpus}, {"datasets", e.spec.value("datasets", json::array())},
                             {"files", e.spec.contains("view") ? e.spec["view"] : json(nullptr)}}},
                           now));
  changed_on_commit(tx);
  tx.on_end([this, id = e.id](bool committed) {
    if (committed) follow(id);
  });
  return e;
}

Result<EnvRecord> Service::request_stop(db::Tx& tx, const Actor& actor, const EnvRecord& env, const std::string& why,
                                        Millis now) {
  auto cur = TRY(get_env(tx, env.id));
  if (!cur || !cur->active())
    return fail(Error(ErrorCode::kFailedPrecondition, "env-not-running",
                      "the environment is " + (cur ? cur->state_text() : std::string("gone")) + " already"));
  if (cur->state == EnvState::kStopping) return *cur;
  auto to = TRY(next_state(cur->state, EnvEvent::kStop));
  TRY_STATUS(set_stopping(tx, env.id, why));
  TRY_STATUS(add_event(tx, env.id, to, "stop", why, now));
  TRY_STATUS(audit::record(tx, actor, {env.org_id, "env.stop", "env", env.id, {{"reason", why}}}, now));
  changed_on_commit(tx);
  tx.on_end([this, id = env.id](bool committed) {
    if (committed) wake(id);
  });
  return *TRY(get_env(tx, env.id));
}

Result<std::optional<jobs::ImageRef>> Service::image_for(db::Tx& tx, const projects::Project& p, const App& app,
                                                         const std::optional<std::string>& text) const {
  if (text) return jobs_.resolve_image(tx, p, text);
  if (!app.image.empty()) return jobs_.resolve_image(tx, p, app.image);
  if (!app.rootfs.empty()) return std::optional<jobs::ImageRef>();  // the app's own root
  return jobs_.resolve_image(tx, p, std::nullopt);
}

void Service::access_changed(db::Tx& tx) { changed_on_commit(tx); }

void Service::changed_on_commit(db::Tx& tx) {
  tx.on_end([this](bool committed) {
    if (committed) changed();
  });
}

Status Service::prepare(const jobs::JobRecord& job, sandbox::Spec& spec) {
  auto id = TRY(db_.read([&](db::Tx& tx) { return env_of_job(tx, job.id()); }));
  if (!id) return {};  // a batch job
  auto e = TRY(db_.read([&](db::Tx& tx) { return get_env(tx, *id); }));
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
    l->remote = job.partition != jobs::kLocalPartition;  // reached through its node's tunnel
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
  // Its image (set by the compute service from the job's pin) wins over an app's host rootfs.
  if (auto rootfs = e->spec.value("rootfs", std::string()); !rootfs.empty() && spec.rootfs.empty()) spec.rootfs = rootfs;
  // An outbound env on an image resolves names as it would on the host's root: the host's
  // resolv.conf (whose nameservers its egress rules allow) and hosts, read-only over the image's.
  if (!spec.rootfs.empty() && e->spec.value("network", std::string()) == "outbound")
    for (const char* f : {"/etc/resolv.conf", "/etc/hosts"})
      if (std::error_code ec; fs::is_regular_file(f, ec)) spec.mounts.push_back({f, f, false});
  if (e->spec.contains("view"))
    spec.mounts.push_back({TRY(views_.materialize(*e, sandbox_uid(job.uid))), kSandboxProjectDir, true});
  spec.env["ATRIUM_ENV_ID"] = e->id;
  return {};  // its job's start (a committed change) wakes the monitor: STARTING, health checks
}

Upstream Service::upstream(const EnvRecord& e) {
  Upstream u{e.id, e.user_id, e.project_id, e.org_id, e.group_id, e.state_text(), "", "", 0};
  if (e.state == EnvState::kReady) {
    auto sock = app_socket(e);
    if (!sock) return u;
    u.socket_path = sock->path;
    u.token = token_of(e.id);
    u.socket_uid = sock->uid;
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
            {"state", e.state_text()},
            {"reason", e.reason},
            {"url", url(e.id)},
            {"cpus", e.spec.value("cpus", 0)},
            {"mem_mb", e.spec.value("mem_mb", std::int64_t{0})},
            {"time_limit_s", e.spec.value("time_limit_s", std::int64_t{0})},
            {"idle_timeout_s", e.spec.value("idle_timeout_s", std::int64_t{0})},
            {"max_uptime_s", e.spec.value("max_uptime_s", std::int64_t{0})},
            {"commit", e.spec.contains("commit") ? e.spec["commit"] : json(nullptr)},
            {"image", e.spec.contains("image") ? e.spec["image"] : json(nullptr)},
            {"secrets", e.spec.value("secrets", json::array())},
            {"created_at", format_rfc3339(e.created)},
            {"ready_at", e.ready ? json(format_rfc3339(*e.ready)) : json(nullptr)},
            {"ended_at", e.ended ? json(format_rfc3339(*e.ended)) : json(nullptr)},
            {"last_activity", format_rfc3339(e.last_activity)},
            {"stop_requested", e.stop_requested.empty() ? json(nullptr) : json(e.stop_requested)},
            {"etag", "\"" + std::to_string(e.version) + "\""}};
  j["gpus"] = e.spec.value("gpus", 0);
  j["datasets"] = json::array();
  for (auto& d : e.spec.value("datasets", json::array()))
    j["datasets"].push_back({{"name", d.value("name", "")},
                             {"dataset_id", d.value("dataset_id", "")},
                             {"version", d.value("version", 0)},
                             {"path", "/data/" + d.value("name", "")}});
  j["files"] = nullptr;
  if (auto v = e.spec.find("view"); v != e.spec.end())
    j["files"] = {{"prefix", v->value("prefix", "")}, {"path", kSandboxProjectDir}, {"last_sync", views_.last_report(e.id)}};
  if (e.state == EnvState::kFailed) j["log_tail"] = log_tail(e, 20);
  return j;
}

}  // namespace atrium::envs
