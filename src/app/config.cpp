#include "app/config.hpp"

#include <algorithm>
#include <thread>

#include "jobs/remote.hpp"

namespace atrium::app {
namespace {

Status check_server(ServerConfig& c) {
  if (c.tls_cert.empty() != c.tls_key.empty())
    return invalid("server.tls_cert and server.tls_key must be set together");
  while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
  if (!c.public_url.empty() && !c.public_url.starts_with("http://") && !c.public_url.starts_with("https://"))
    return invalid("server.public_url: '" + c.public_url + "' must start with http:// or https://");
  if (c.listen.rfind(':') == std::string::npos) return invalid("server.listen: expected host:port, got '" + c.listen + "'");
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (c.io_threads == 0) c.io_threads = static_cast<int>(cores);
  // Workers mostly wait (a shared commit, its fsync, the database lock): more of them than cores
  // keep requests flowing into the next commit while one is being flushed.
  if (c.worker_threads == 0) c.worker_threads = std::max(16, static_cast<int>(4 * cores));
  return {};
}

void declare_server(config::Registry& r, ServerConfig& c) {
  r.section("server", c)
      .string("listen", "address:port to listen on (port 0 picks a free port)", &ServerConfig::listen)
      .path("data_dir", "directory for the database and secrets", &ServerConfig::data_dir)
      .string("public_url", "external base URL used in links", &ServerConfig::public_url)
      .integer("io_threads", "HTTP I/O threads (0 = cores)", &ServerConfig::io_threads, 0, 256)
      .integer("worker_threads", "blocking worker threads (0 = max(16, 4 x cores))", &ServerConfig::worker_threads,
               0, 1024)
      .path("tls_cert", "PEM certificate chain; enables HTTPS with tls_key", &ServerConfig::tls_cert)
      .path("tls_key", "PEM private key", &ServerConfig::tls_key)
      .list("trusted_proxies", "reverse proxies (CIDR blocks, comma-separated) whose X-Forwarded-For/-Proto are believed",
            &ServerConfig::trusted_proxies)
      .check(check_server);
  r.env_alias("LISTEN", "server.listen");
  r.env_alias("DATA_DIR", "server.data_dir");
  r.env_foreign("ATRIUM_SERVER_URL");  // the client's server address (cli/credentials)
}

}  // namespace

void declare_all(config::Registry& r, Settings& s) {
  declare_server(r, s.server);
  http::declare(r, s.limits);
  identity::declare(r, s.auth);
  db::declare(r, s.database);
  r.section("log", s.log)
      .string("level", "log level", &LogConfig::level, {"trace", "debug", "info", "warn", "error"})
      .path("access_log", "access log path, - for stdout, empty for none", &LogConfig::access_log, "-");
  jobs::declare(r, s.compute);
  slurm::declare(r, s.slurm);
  r.add_check([&s]() -> Status {  // after both sections' own checks: a name jobs and slurm agree on
    const std::string& p = s.compute.default_partition;
    if (p == jobs::kLocalPartition || s.slurm.partitions.contains(p)) return {};
    return invalid("compute.default_partition: '" + p + "' is neither \"local\" nor a [compute.partitions." + p +
                   "] section");
  });
  data::declare(r, s.data);
  images::declare(r, s.images);
  envs::declare(r, s.envs);
  images::declare(r, s.image_builds);
  vcs::declare(r, s.git);
  web::declare(r, s.web);
  tasks::declare(r, s.tasks);
  obs::declare(r, s.health);
  mail::declare(r, s.mail);
  sso::declare(r, s.oidc);
  sso::declare_ldap(r, s.ldap);
}

Result<Settings> load_settings(const std::string& file, const std::map<std::string, std::string>& env,
                               const std::map<std::string, std::string>& flags, const std::string& cwd) {
  Settings s;
  config::Registry r;
  declare_all(r, s);
  TRY_STATUS(r.load(file, env, flags));
  // A provider's name keys the accounts linked through it and the mapping rules that name it: one
  // namespace for every kind of sign-in provider.
  for (auto& [name, _] : s.ldap)
    if (s.oidc.contains(name))
      return invalid("[oidc." + name + "] and [ldap." + name +
                     "] share a name: each sign-in provider needs its own (it keys the accounts linked through it)");
  if (!cwd.empty()) r.make_paths_absolute(cwd);
  return s;
}

}  // namespace atrium::app
