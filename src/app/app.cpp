#include "app/app.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "app/mail_wiring.hpp"
#include "audit/audit.hpp"
#include "audit/routes.hpp"
#include "core/alloc.hpp"
#include "core/async.hpp"
#include "core/crypto.hpp"
#include "core/files.hpp"
#include "data/blobs.hpp"
#include "data/routes.hpp"
#include "data/store.hpp"
#include "db/sqlite/sqlite_database.hpp"
#include "envs/routes.hpp"
#include "envs/service.hpp"
#include "app/image_builds_wiring.hpp"
#include "http/server.hpp"
#include "identity/auth.hpp"
#include "identity/routes.hpp"
#include "identity/store.hpp"
#include "app/user_work.hpp"
#include "sso/ldap.hpp"
#include "jobs/routes.hpp"
#include "jobs/service.hpp"
#include "jobs/store.hpp"
#include "mail/mail.hpp"
#include "mfa/mfa.hpp"
#include "secrets/secrets.hpp"
#include "app/secrets_wiring.hpp"
#include "app/health_wiring.hpp"
#include "app/alerts_wiring.hpp"
#include "app/slurm_wiring.hpp"
#include "app/images_wiring.hpp"
#include "app/quota_wiring.hpp"
#include "obs/metrics.hpp"
#include "projects/projects.hpp"
#include "projects/routes.hpp"
#include "proxy/proxy.hpp"
#include "app/tunnel_wiring.hpp"
#include "quota/quota.hpp"
#include "sandbox/sandbox.hpp"
#include "tasks/config.hpp"
#include "tasks/routes.hpp"
#include "tasks/tasks.hpp"
#include "sso/routes.hpp"
#include "vcs/routes.hpp"
#include "web/assets.hpp"
#include "web/site.hpp"

namespace atrium::app {
namespace {

// The parent domain (at least two labels, e.g. "example.org") that the main origin's host and the
// environments' domain share, or "". Cookies set with Domain=<it> reach both (cookie tossing).
std::string shared_parent_domain(const std::string& public_url, const std::string& envs_domain) {
  auto start = public_url.find("://");
  if (start == std::string::npos) return "";
  std::string host = public_url.substr(start + 3);
  host = host.substr(0, host.find_first_of(":/"));
  auto labels = [](const std::string& h) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i <= h.size();) {
      auto dot = h.find('.', i);
      if (dot == std::string::npos) dot = h.size();
      out.push_back(h.substr(i, dot - i));
      i = dot + 1;
    }
    return out;
  };
  auto a = labels(host), b = labels(envs_domain);
  std::string shared;
  int n = 0;
  for (auto ia = a.rbegin(), ib = b.rbegin(); ia != a.rend() && ib != b.rend() && *ia == *ib; ++ia, ++ib, ++n)
    shared = *ia + (shared.empty() ? "" : "." + shared);
  return n >= 2 ? shared : "";
}

namespace fs = std::filesystem;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "atrium: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

// Reads the instance secret, creating it (32 random bytes, mode 0600, atomically) on first start.
Result<std::string> load_or_create_secret(const fs::path& dir) {
  fs::path path = dir / "secret.key";
  if (fs::exists(path)) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return invalid("cannot read " + path.string());
    std::string s(64, '\0');
    std::size_t n = std::fread(s.data(), 1, s.size(), f);
    std::fclose(f);
    if (n != 32) return invalid(path.string() + " is damaged (expected 32 bytes); restore it from backup");
    s.resize(n);
    return s;
  }
  std::string secret = crypto::random_bytes(32);
  if (auto st = write_file_atomic(path.string(), secret, 0600); !st)
    return invalid("cannot write " + path.string() + ": " + st.error().detail);
  return secret;
}

Result<std::unique_ptr<db::SqliteDatabase>> open_database(const Settings& c, obs::Metrics* metrics) {
  fs::path dir(c.server.data_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return invalid("server.data_dir: cannot create " + c.server.data_dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  db::DbStats stats;
  if (metrics) {
    stats.observe_query = [metrics](double s) { metrics->observe_db(s); };
    stats.observe_flush = [metrics](double s, std::uint64_t n) { metrics->observe_db_flush(s, n); };
  }
  auto db = TRY(db::SqliteDatabase::open({.path = (dir / "atrium.db").string(),
                                          .synchronous = c.database.sqlite_synchronous,
                                          .busy_timeout_ms = c.database.busy_timeout_ms,
                                          .max_connections = c.server.worker_threads + 4},
                                         std::move(stats)));
  TRY_STATUS(db->migrate("http", http::Api::migrations()));
  TRY_STATUS(db->migrate("audit", audit::migrations()));
  TRY_STATUS(db->migrate("identity", identity::migrations()));
  TRY_STATUS(db->migrate("quota", quota::migrations()));
  TRY_STATUS(db->migrate("projects", projects::migrations()));
  TRY_STATUS(db->migrate("jobs", jobs::migrations()));
  TRY_STATUS(db->migrate("data", data::migrations()));
  TRY_STATUS(db->migrate("images", images::migrations()));
  TRY_STATUS(db->migrate("vcs", vcs::migrations()));
  TRY_STATUS(db->migrate("envs", envs::migrations()));
  TRY_STATUS(db->migrate("tasks", tasks::migrations()));
  TRY_STATUS(db->migrate("mail", mail::migrations()));
  TRY_STATUS(db->migrate("sso", sso::migrations()));
  TRY_STATUS(db->migrate("mfa", mfa::migrations()));
  TRY_STATUS(db->migrate("secrets", secrets::migrations()));
  TRY_STATUS(db->migrate("image_builds", images::build_migrations()));
  TRY_STATUS(db->migrate("slurm", slurm::migrations()));
  return db;
}

// The data store and its master key. A fresh instance gets a new key file (0600); a store that
// already holds data never silently gets a new key: a missing, exposed or different key file
// stops startup with the reason.
Result<std::unique_ptr<data::BlobStore>> open_blob_store(const Settings& c) {
  fs::path root = fs::path(c.server.data_dir) / "blobs";
  fs::path key_file = c.data.key_file.empty() ? fs::path(c.server.data_dir) / "master.key" : fs::path(c.data.key_file);
  auto backend = data::local_backend(root);
  std::error_code ec;
  std::optional<data::MasterKey> key;
  if (fs::exists(key_file, ec)) {
    key = TRY(data::MasterKey::load(key_file));
  } else if (TRY(backend->get_meta("key-check"))) {
    return fail(ErrorCode::kFailedPrecondition, "master-key",
                "the data master key file " + key_file.string() + " is missing, but the data store at " +
                    root.string() + " was written with a key: restore that file (or point data.key_file at it)");
  } else {
    key = TRY(data::MasterKey::create(key_file));
    spdlog::warn("created a new data master key at {}: back it up; without it the stored data cannot be read",
                 key_file.string());
  }
  return data::BlobStore::open(std::move(*key), std::move(backend));
}

// First start: create the instance admin, with ATRIUM_ADMIN_PASSWORD or a generated password
// that is printed once.
Status bootstrap_admin(db::Database& db, const Clock& clock) {
  auto env = config::environment_map();
  std::string password;
  bool generated = false;
  if (auto it = env.find("ATRIUM_ADMIN_PASSWORD"); it != env.end() && !it->second.empty()) {
    password = it->second;
    TRY_STATUS(identity::check_password("admin", password));
  }
  bool created = false;
  TRY_STATUS(db.write_tx([&](db::Tx& tx) -> Status {
    if (TRY(identity::any_user(tx))) return {};
    if (password.empty()) {
      password = crypto::base64url(crypto::random_bytes(15));
      generated = true;
    }
    Actor system{.username = "system", .request_id = "bootstrap"};
    auto u = TRY(identity::create_user(tx, system, "admin", crypto::hash_password(password), "", "Administrator",
                                       clock.now_ms()));
    TRY_STATUS(identity::make_instance_admin(tx, system, u.id, clock.now_ms()));
    // A generated password is for the first sign-in only: the admin must choose their own.
    if (generated) TRY_STATUS(identity::require_password_change(tx, system, u.id, clock.now_ms()));
    created = true;
    return {};
  }));
  if (created && generated)
    std::printf(
        "atrium: created the instance admin 'admin' with the one-time password: %s\n"
        "atrium: (shown only now; sign in and change it: until then the account may only change its password)\n",
        password.c_str());
  else if (created)
    std::printf("atrium: created the instance admin 'admin' (password from ATRIUM_ADMIN_PASSWORD)\n");
  std::fflush(stdout);
  return {};
}

void add_ops_routes(http::Api& api, db::Database& db, obs::Metrics& metrics,
                    std::shared_ptr<std::atomic<bool>> draining) {
  using http::Access;
  using http::Context;
  using http::Response;
  api.add({"GET",
           "/healthz",
           Access::open(),
           {"Liveness: the process answers", "ops", nullptr, {{"type", "object"}}},
           [](Context&) -> Result<Response> {
             return Response::json(200, {{"status", "ok"}});
           },
           http::TxMode::kNone});
  api.add({"GET",
           "/readyz",
           Access::open(),
           {"Readiness: the database answers and the server is not draining", "ops", nullptr, {{"type", "object"}}},
           [&db, draining](Context&) -> Result<Response> {
             if (draining->load()) return fail(ErrorCode::kUnavailable, "draining", "the server is shutting down");
             if (auto st = db.ping(); !st) return fail(ErrorCode::kUnavailable, "database-unavailable", st.error().detail);
             return Response::json(200, {{"status", "ready"}});
           },
           http::TxMode::kNone});
  api.add({"GET",
           "/metrics",
           Access::open(),
           {"Prometheus metrics", "ops"},
           [&metrics](Context&) -> Result<Response> {
             return Response::text(200, metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
           },
           http::TxMode::kNone});
  api.add({"GET",
           "/api/v1/openapi.json",
           Access::open(),
           {"This API's OpenAPI 3.1 document", "ops", nullptr, {{"type", "object"}}},
           [&api](Context&) -> Result<Response> { return Response::json(200, api.openapi()); },
           http::TxMode::kNone});
}

// The built web UI, served at /; without it the server still runs (the API, git, environments)
// and / says how to build the UI.
// Atrium's own pages on environments' origins (the terminal page), from the built UI.
std::function<std::optional<http::Response>(const http::Request&)> env_pages(const std::unique_ptr<web::Assets>& ui) {
  return [&ui](const http::Request& r) { return web::serve_env_page(ui.get(), r); };
}

std::unique_ptr<web::Assets> load_web_ui(const Settings& c, const std::string& exe) {
  fs::path dir = c.web.assets_dir.empty() ? web::default_assets_dir(exe) : fs::path(c.web.assets_dir);
  auto assets = web::Assets::load(dir);
  if (!assets) {
    spdlog::warn("web UI: {}; / answers 503 until it is built (make build) or [web] assets_dir names it",
                 assets.error().detail);
    return nullptr;
  }
  spdlog::info("web UI: {} files ({} KiB with their compressed copies) from {}", assets->size(),
               assets->bytes() / 1024, dir.string());
  return std::make_unique<web::Assets>(std::move(*assets));
}

void setup_logging(const Settings& c) {
  auto err = spdlog::stderr_logger_mt("atrium");
  spdlog::set_default_logger(err);
  spdlog::set_level(spdlog::level::from_str(c.log.level));
}

std::shared_ptr<spdlog::logger> access_logger(const Settings& c) {
  if (c.log.access_log.empty()) return nullptr;
  std::shared_ptr<spdlog::logger> l;
  try {
    l = c.log.access_log == "-" ? spdlog::stdout_logger_mt("access")
                                : spdlog::basic_logger_mt("access", c.log.access_log);
  } catch (const std::exception& e) {
    die(std::string("log.access_log: ") + e.what());
  }
  l->set_pattern("%v");
  l->flush_on(spdlog::level::info);
  return l;
}

struct ServerFlags {
  std::string config, listen, data_dir;
};

Result<Settings> config_from(const ServerFlags& f) {
  std::map<std::string, std::string> flags;
  if (!f.listen.empty()) flags["server.listen"] = f.listen;
  if (!f.data_dir.empty()) flags["server.data_dir"] = f.data_dir;
  auto env = config::environment_map();
  std::string file = f.config;
  if (file.empty())
    if (auto it = env.find("ATRIUM_CONFIG"); it != env.end()) file = it->second;
  // Paths absolute once, here: a relative data_dir reached job specs ("workspace: must be an absolute path").
  std::error_code ec;
  auto cwd = fs::current_path(ec);
  if (ec) return invalid("cannot read the working directory: " + ec.message());
  return load_settings(file, env, flags, cwd.string());
}

// This node as the compute service sees it: configured, else detected.
Result<jobs::Settings> compute_settings(const Settings& c) {
  jobs::Settings s;
  s.data_dir = c.server.data_dir;
  std::error_code ec;
  s.exe = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) return invalid("cannot find the atrium binary (/proc/self/exe): " + ec.message());
  cpu_set_t set;
  int online = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  s.node.cpus = c.compute.cpus > 0 ? c.compute.cpus : online;
  std::int64_t phys_mb = static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / (1 << 20);
  s.node.mem_mb = c.compute.mem_mb > 0 ? c.compute.mem_mb : std::max<std::int64_t>(512, phys_mb * 9 / 10);
  s.node.gpus = c.compute.gpus >= 0 ? c.compute.gpus : static_cast<int>(sandbox::probe().gpu_devices.size());
  s.uid_base = c.compute.uid_base;
  s.max_output_bytes = c.compute.max_output_bytes;
  s.kill_grace = c.compute.kill_grace_s * 1000LL;
  s.cgroup_parent = c.compute.cgroup_parent;
  s.scheduler.usage_half_life = c.compute.fairshare_half_life_h * 3600'000LL;
  s.scheduler.max_time_limit = c.compute.max_time_h * 3600'000LL;
  s.scheduler.kill_margin = s.kill_grace + 5'000;
  s.default_partition = c.compute.default_partition;
  return s;
}

// Signing in: with a password (identity), through identity providers ([oidc.NAME]), whose sessions
// sign out at the provider too, and with LDAP directories ([ldap.NAME]). What it returns lives as
// long as the server (routes hold it).
struct SignIn {
  std::map<std::string, std::unique_ptr<sso::Provider>> oidc;
  std::unique_ptr<sso::LdapProviders> ldap;
};
std::unique_ptr<SignIn> add_sign_in_routes(http::Api& api, const Settings& c, const Clock& clock,
                                           const identity::AuthSettings& settings, identity::LoginLimiter& limiter,
                                           identity::RouteDeps& deps) {
  auto providers = sso::make_providers(c.oidc, clock);
  if (!providers) die(providers.error().detail);
  auto held = std::make_unique<SignIn>(SignIn{std::move(*providers), std::make_unique<sso::LdapProviders>(c.ldap)});
  deps.provider_logout_url = sso::logout_url_fn(held->oidc, settings);
  sso::add_routes(api, {held->oidc, settings, limiter, held->ldap->infos(), identity::password_reset_available(deps.mailer)});
  sso::add_ldap_routes(api, *held->ldap, settings, limiter);
  identity::add_auth_routes(api, deps);
  return held;
}

struct Listen {
  std::string host;
  int port = 0;
};

// server.listen: HOST:PORT, [IPv6]:PORT.
Listen parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  Listen l{listen.substr(0, colon)};
  if (l.host.size() > 2 && l.host.front() == '[' && l.host.back() == ']') l.host = l.host.substr(1, l.host.size() - 2);
  try {
    l.port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    l.port = -1;
  }
  if (l.port < 0 || l.port > 65535) die("server.listen: bad port in '" + listen + "'");
  return l;
}

data::Settings data_settings(const Settings& c) {
  return {.staging_dir = fs::path(c.server.data_dir) / "uploads",
          .datasets_dir = fs::path(c.server.data_dir) / "datasets",
          .max_chunk_bytes = c.data.max_chunk_bytes,
          .max_file_bytes = c.data.max_file_bytes,
          .upload_ttl = Millis{c.data.upload_ttl_h} * 3600 * 1000,
          .gc_grace = Millis{c.data.gc_grace_s} * 1000,
          .reserve_bytes = c.data.reserve_bytes,
          .capture_timeout = Millis{c.data.capture_timeout_s} * 1000};
}

// What a job needs from the data store (dataset copies, output capture) and from git (the commit
// a ref names, the workspace's files).
void connect_jobs_to_data_and_code(jobs::Settings& js, data::Service& data_service, vcs::Repos& repos) {
  js.dataset_dir = [&data_service](const std::string& id, std::int64_t n, std::int64_t uid) {
    return data_service.materialize(id, n, uid);
  };
  js.release_dataset = [&data_service](const std::string& id, std::int64_t n, std::int64_t uid) {
    return data_service.release(id, n, uid);
  };
  js.capture_outputs = [&data_service](const fs::path& ws, std::int64_t uid, const std::vector<std::string>& globs,
                                       const data::StorageOwner& owner) {
    return data_service.capture(ws, uid, globs, owner);
  };
  js.resolve_commit = [&repos](const std::string& project_id,
                               const std::optional<std::string>& ref) -> Result<std::optional<std::string>> {
    if (ref) return repos.resolve(project_id, *ref);
    return repos.resolve(project_id, TRY(repos.default_branch(project_id)));  // nullopt: an empty repository
  };
  js.checkout = [&repos](const std::string& project_id, const std::string& commit, const fs::path& ws,
                         std::int64_t uid) { return repos.export_tree(project_id, commit, ws, uid); };
}

// Where environments are served (each on its own origin); with port 0 the main origin is known
// once bound. Warns about settings that let an app's pages reach Atrium's own.
envs::Origins origins_of(const Settings& c, int port) {
  envs::Origins origins{.public_url = port ? envs::resolve_public_url(c.server.public_url, !c.server.tls_cert.empty(),
                                                                      static_cast<unsigned short>(port))
                                           : "",
                        .domain = c.envs.domain,
                        .path_mode = c.envs.path_mode};
  if (c.envs.path_mode)
    spdlog::warn(
        "envs.path_mode is on: environments are served under /env/<id>/ on Atrium's own origin, where an "
        "app's pages can act with its visitors' Atrium sessions; set envs.domain and turn it off");
  if (auto shared = shared_parent_domain(c.server.public_url, c.envs.domain); !shared.empty())
    spdlog::warn(
        "envs.domain {} and server.public_url share the parent domain {}: an app's pages can set cookies "
        "for {} that Atrium's own pages then receive; give environments a registrable domain of their own",
        c.envs.domain, shared, shared);
  return origins;
}

// The HTTP server's settings, from [server] and [limits] (and the data and git limits on bodies).
http::ServerSettings server_settings(const Settings& c, const std::string& host, int port,
                                     const std::vector<http::Cidr>& trusted, const fs::path& spool_dir) {
  http::ServerSettings ss;
  ss.host = host;
  ss.port = static_cast<unsigned short>(port);
  ss.io_threads = c.server.io_threads;
  ss.max_header_bytes = c.limits.max_header_bytes;
  ss.max_body_bytes = c.limits.max_body_bytes;
  ss.header_timeout_s = c.limits.header_timeout_s;
  ss.request_timeout_s = c.limits.request_timeout_s;
  ss.idle_timeout_s = c.limits.idle_timeout_s;
  ss.shutdown_grace_s = c.limits.shutdown_grace_s;
  ss.max_connections = c.limits.max_connections;
  ss.max_connections_per_ip = c.limits.max_connections_per_ip;
  ss.max_connections_per_user = c.limits.max_connections_per_user;
  ss.preauth_timeout_s = c.limits.preauth_timeout_s;
  ss.upstream_header_timeout_s = c.limits.upstream_header_timeout_s;
  ss.tunnel_idle_timeout_s = c.limits.tunnel_idle_timeout_s;
  ss.tls_cert = c.server.tls_cert;
  ss.tls_key = c.server.tls_key;
  ss.trusted_proxies = trusted;
  ss.access_log = access_logger(c);
  // Upload chunks may be larger than API bodies.
  ss.body_limit_for = [api_max = c.limits.max_body_bytes, chunk_max = c.data.max_chunk_bytes,
                       push_max = c.git.max_push_bytes](std::string_view method, std::string_view target) {
    if (vcs::is_git_service_request(method, target)) return push_max;
    return method == "PATCH" && target.starts_with("/api/v1/uploads/") ? chunk_max : api_max;
  };
  // git's requests (a push's pack) go to disk as they arrive, never whole into memory.
  ss.spool_body_for = vcs::is_git_service_request;
  ss.spool_dir = spool_dir.string();
  ss.spool_reserve_bytes = c.data.reserve_bytes;  // the data store's reserve holds for spooled bodies too
  return ss;
}

// Commits reach the identity cache, and the task queue when a task was enqueued (or retried).
void listen_for_commits(db::Database& db, identity::IdentityGate& gate, tasks::Queue& queue) {
  db.set_commit_listener([&gate, &queue](const std::vector<std::string>& tables) {
    gate.on_commit(tables);
    for (auto& t : tables)
      if (t == "tasks" || t == "*") queue.kick();
  });
}

void announce(const Settings& c, const std::string& host, unsigned bound, const std::string& public_url) {
  std::printf("atrium: listening on %s://%s:%u\n", c.server.tls_cert.empty() ? "http" : "https",
              host.find(':') != std::string::npos ? ("[" + host + "]").c_str() : host.c_str(), bound);
  // Browsers keep cookies per host: the address to open is the one links and redirects use.
  std::printf("atrium: open %s in a browser (server.public_url)\n", public_url.c_str());
  std::fflush(stdout);
  spdlog::info("atrium server ready on port {} (data dir {}, {} io threads, {} workers)", bound, c.server.data_dir,
               c.server.io_threads, c.server.worker_threads);
}

// Second factors (mfa/): the password login's second step (deps.second_factor), the gate's hold of
// sessions to enrolment, and mfa's routes. TOTP secrets are sealed with a key derived from the data
// master key.
std::unique_ptr<mfa::Service> add_mfa(const Settings& c, const data::MasterKey& key, identity::IdentityGate& gate,
                                      http::Api& api, identity::RouteDeps& deps) {
  auto m = std::make_unique<mfa::Service>(
      mfa::Settings{.key = key.derive("mfa"), .require_for_admins = c.auth.require_mfa_for_admins});
  gate.set_mfa_enrollment_check(
      [&m = *m](db::Tx& tx, const std::string& session_id) { return m.enrollment_only(tx, session_id); });
  deps.second_factor = m->second_factor();
  deps.forget_user = forget_second_factor(*m);  // a deleted user's second factor goes with the account
  mfa::add_routes(api, {*m, deps.settings, deps.limiter});
  return m;
}

// Plaintext dataset copies that no running (re-adopted) job mounts: left by a crash or an older layout.
void sweep_dataset_copies(data::Service& data_service) {
  if (auto n = data_service.sweep_materialized(false); !n)
    spdlog::warn("data: {}", n.error().detail);
  else if (*n > 0)
    spdlog::info("removed {} plaintext dataset copies no running job mounts", *n);
}

// Each module's task kinds (and their routes), the admin API and the metrics. The workers start
// once the server is bound (run_server).
void add_tasks(http::Api& api, obs::Metrics& metrics, tasks::Queue& queue, data::Service& data_service,
               jobs::Service& compute_service, images::Service& image_service) {
  data::add_gc(api, data_service, queue);
  add_image_routes(api, image_service, queue, compute_service, data_service.blobs());
  compute_service.add_tasks(queue);
  tasks::add_routes(api);
  metrics.add_source([&queue] { return queue.render_metrics(); });
}

// The routes of projects and what they hold: audit, code, data, jobs, environments.
void add_project_routes(http::Api& api, async::Runtime& runtime, const Settings& c, vcs::Repos& repos,
                        jobs::Service& compute_service, data::Service& data_service, envs::Service& env_service) {
  projects::add_routes(api);
  audit::add_routes(api);
  jobs::add_routes(api, compute_service, runtime);
  data::add_routes(api, data_service, runtime);
  vcs::add_routes(api, repos, runtime, {.max_blob_bytes = static_cast<std::size_t>(c.git.max_file_bytes)});
  envs::add_routes(api, env_service, runtime);
}

int run_server(const ServerFlags& flags) {
  tune_allocator();
  crypto::init();
  auto cfg = config_from(flags);
  if (!cfg) die(cfg.error().detail);
  Settings c = *cfg;
  setup_logging(c);
  auto trusted = http::parse_cidrs(c.server.trusted_proxies);
  if (!trusted) die("server.trusted_proxies: " + trusted.error().detail);
  auto [host, port] = parse_listen(c.server.listen);
  static SystemClock clock;
  async::Runtime runtime(c.server.worker_threads);  // the worker pool and the services' I/O thread
  runtime.start();
  obs::Metrics metrics;
  auto db = open_database(c, &metrics);
  if (!db) die(db.error().detail);
  auto secret = load_or_create_secret(c.server.data_dir);
  if (!secret) die(secret.error().detail);
  auto blobs = open_blob_store(c);
  if (!blobs) die("data store: " + blobs.error().detail);
  if (auto st = bootstrap_admin(**db, clock); !st) die("creating the first admin: " + st.error().detail);

  auto settings = identity::AuthSettings::from(c.auth, c.server.public_url, *secret);
  identity::IdentityGate gate(clock, settings);
  tasks::Queue task_queue(**db, runtime, clock, tasks::settings_from(c.tasks));
  listen_for_commits(**db, gate, task_queue);
  identity::LoginLimiter limiter(c.auth.login_ip_per_minute);
  http::Api api(**db, gate, clock, &metrics);
  auto draining = std::make_shared<std::atomic<bool>>(false);
  add_ops_routes(api, **db, metrics, draining);
  HealthWiring health(c, metrics, clock, runtime, api);  // modules add gauges to health.health() before start()
  auto js = compute_settings(c);
  if (!js) die(js.error().detail);
  connect_secrets(*js, (*blobs)->key());
  if (auto st = setup_mail(c, **db, clock, task_queue, settings, *js, (*blobs)->key().derive("mail")); !st)
    die(st.error().detail);
  data::Service data_service(**db, clock, **blobs, data_settings(c));
  auto image_service = connect_images(c, **db, clock, (*blobs)->key(), *js);
  vcs::Repos repos(fs::path(c.server.data_dir) / "git");
  if (auto st = repos.init(); !st) die("git: " + st.error().detail);
  connect_jobs_to_data_and_code(*js, data_service, repos);
  auto scheduler = compute::Scheduler::create(js->scheduler);
  if (!scheduler) die("compute: " + scheduler.error().detail);
  envs::Service* env_service_ptr = nullptr;  // made after the compute service it launches through
  js->prepare = [&env_service_ptr](const jobs::JobRecord& job, sandbox::Spec& spec) -> Status {
    return env_service_ptr ? env_service_ptr->prepare(job, spec) : Status{};
  };
  auto image_builds = chain_image_builds(*js);  // its builder is made after the compute service
  jobs::Service compute_service(**db, clock, runtime, std::move(*scheduler), *js);
  SlurmWiring slurm(c, **db, clock, runtime, compute_service, *js, api, metrics, health.health());  // SLURM partitions
  // Where environments are served (each on its own origin); the main origin is known once bound.
  envs::Origins origins = origins_of(c, port);
  settings.public_url = origins.public_url;
  auto outbound_allow = sandbox::parse_cidrs(c.compute.outbound_allow);
  if (!outbound_allow) die("compute.outbound_allow: " + outbound_allow.error().detail);
  auto tunnels = make_tunnels(c, **db, runtime, slurm.service());  // environments on SLURM nodes
  envs::Service env_service(**db, clock, runtime, compute_service,
                            with_tunnels(env_settings(c, *outbound_allow, origins, &data_service), *tunnels, api));
  env_service_ptr = &env_service;
  if (auto st = image_builds->start(c, **db, clock, compute_service, *image_service, repos, task_queue, api); !st)
    die(st.error().detail);
  data_service.set_version_in_use([&compute_service](const std::string& id, std::int64_t n, std::int64_t uid) {
    return compute_service.dataset_in_use(id, n, uid);
  });
  if (auto st = compute_service.start(); !st) die("compute: " + st.error().detail);
  sweep_dataset_copies(data_service);
  if (auto st = env_service.start(); !st) die("environments: " + st.error().detail);
  auto quotas = make_quotas(compute_service, data_service, *image_service);
  audit_quota_refusals(api, **db, clock);
  auto deps = identity_deps(settings, limiter, *quotas, c.auth, compute_service, env_service);
  auto mfa_service = add_mfa(c, (*blobs)->key(), gate, api, deps);  // before the sign-in routes: deps.second_factor
  add_secret_routes(api, (*blobs)->key(), deps);                     // after add_mfa: chains deps.forget_user
  auto sign_in = add_sign_in_routes(api, c, clock, settings, limiter, deps);
  identity::add_org_routes(api, deps);
  add_project_routes(api, runtime, c, repos, compute_service, data_service, env_service);
  if (auto st = add_mail_routes_and_checks(c, api, **db, clock, task_queue, *quotas); !st) die(st.error().detail);
  auto alerts = add_alerts(**db, clock, api, health.health(), task_queue, (*blobs)->key(), origins.public_url);
  add_tasks(api, metrics, task_queue, data_service, compute_service, *image_service);
  auto web_assets = load_web_ui(c, js->exe);
  api.set_fallback([&web_assets](const http::Request& req) { return web::serve(web_assets.get(), req); });

  http::ServerSettings ss = server_settings(c, host, port, *trusted, repos.root() / "tmp");
  ss.on_drain = [draining] { draining->store(true); };

  proxy::TicketLedger tickets;  // environments: /env/{id}/... through Atrium's own proxy
  proxy::DecisionCache proxy_cache;           // the environment proxy's remembered decisions: forgotten on
  proxy_cache.follow(env_service.changes());  // any change to who may reach what
  proxy_cache.follow(gate.changes());
  proxy_cache.follow(projects::changes());
  proxy::Deps proxy_deps{**db, gate, env_service, clock, &proxy_cache, &origins,
                         crypto::hmac_sha256(*secret, "atrium environment tickets and cookies"),
                         settings.session_idle_ms, &tickets, env_pages(web_assets)};
  ss.proxy.prefix = std::string(proxy::kPrefix);
  ss.proxy.owns_host = [&origins](std::string_view host) { return !origins.env_of_host(host).empty(); };
  ss.on_bound = [&origins, &settings, &c, &slurm](unsigned short bound) {
    slurm.bound(bound);
    if (!origins.public_url.empty()) return;
    origins.public_url = envs::resolve_public_url(c.server.public_url, !c.server.tls_cert.empty(), bound);
    settings.public_url = origins.public_url;
  };
  ss.proxy.route = [&proxy_deps](const http::Request& req) { return proxy::route(proxy_deps, req); };
  ss.proxy.cached_route = [&proxy_deps](const http::Request& req) { return proxy::cached_route(proxy_deps, req); };
  http::Server server(ss, api, metrics, runtime);
  auto bound = server.start();
  if (!bound) die(bound.error().detail);
  // Tasks run once the public URL is known (after binding: port 0), so a mail renders its final links;
  // every module's kinds are registered by now.
  task_queue.start();
  health.start();
  announce(c, host, *bound, origins.public_url);
  server.wait();
  task_queue.stop();  // running handlers finish first (they use the services below)
  health.stop();
  env_service.stop();
  slurm.stop();
  compute_service.stop();  // running jobs keep running; the next start re-adopts them
  runtime.stop();
  spdlog::info("atrium server stopped");
  return 0;
}

int audit_verify(const ServerFlags& flags, bool json) {
  crypto::init();
  auto cfg = config_from(flags);
  if (!cfg) die(cfg.error().detail);
  if (!fs::exists(fs::path(cfg->server.data_dir) / "atrium.db")) die("no database in " + cfg->server.data_dir);
  auto db = open_database(*cfg, nullptr);
  if (!db) die(db.error().detail);
  auto v = (*db)->read([](db::Tx& tx) { return audit::verify(tx); });
  if (!v) die(v.error().detail);
  if (json) {
    nlohmann::json j = {{"ok", v->ok}, {"checked", v->checked}, {"first_broken", nullptr}};
    if (!v->ok) j["first_broken"] = {{"seq", *v->first_broken_seq}, {"reason", v->reason}};
    std::cout << j.dump() << "\n";
  } else if (v->ok) {
    std::cout << "audit chain OK: " << v->checked << " events verified\n";
  } else {
    std::cout << "audit chain BROKEN at event " << *v->first_broken_seq << ": " << v->reason << " (" << v->checked
              << " events before it verified)\n";
  }
  return v->ok ? 0 : 1;
}

}  // namespace

void add_commands(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServerFlags>();
  auto* server = app.add_subcommand("server", "Run the Atrium server");
  server->add_option("--config", flags->config, "TOML config file (also ATRIUM_CONFIG)");
  server->add_option("--listen", flags->listen, "host:port to listen on (overrides config and ATRIUM_LISTEN)");
  server->add_option("--data-dir", flags->data_dir, "data directory (overrides config and ATRIUM_DATA_DIR)");
  server->callback([flags, &exit_code] { exit_code = run_server(*flags); });

  auto* admin =
      app.add_subcommand("admin", "Instance administration: audit verify on the server host, gc and tasks over the API");
  admin->require_subcommand(1);
  auto* audit_cmd = admin->add_subcommand("audit", "The audit trail");
  audit_cmd->require_subcommand(1);
  auto* verify = audit_cmd->add_subcommand("verify", "Check the audit hash chain; exit 1 at the first broken link");
  auto vflags = std::make_shared<ServerFlags>();
  auto json = std::make_shared<bool>(false);
  verify->add_option("--config", vflags->config, "TOML config file");
  verify->add_option("--data-dir", vflags->data_dir, "data directory (default from config, else ./var)");
  verify->add_flag("--json", *json, "print the result as JSON");
  verify->callback([vflags, json, &exit_code] { exit_code = audit_verify(*vflags, *json); });
}

}  // namespace atrium::app
