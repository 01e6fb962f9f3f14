// Every module's config section in one struct, loaded at startup: [server] and [log] are the
// composition root's own; the others are declared by their modules (jobs/config.hpp ...).
#pragma once

#include <map>
#include <string>

#include "core/config.hpp"
#include "data/config.hpp"
#include "db/config.hpp"
#include "envs/config.hpp"
#include "images/build_config.hpp"
#include "http/config.hpp"
#include "identity/config.hpp"
#include "images/config.hpp"
#include "jobs/config.hpp"
#include "mail/config.hpp"
#include "obs/config.hpp"
#include "slurm/config.hpp"
#include "sso/ldap.hpp"
#include "tasks/config.hpp"
#include "sso/config.hpp"
#include "vcs/config.hpp"
#include "web/config.hpp"

namespace atrium::app {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./var";
  std::string public_url;         // the main origin, used in every link; "" = http(s)://localhost:<bound port>
  int io_threads = 0;             // 0 = number of cores
  int worker_threads = 0;         // blocking pool (database, filesystem); 0 = max(16, 4 x cores)
  std::string tls_cert;           // PEM files; both set = HTTPS
  std::string tls_key;
  // Reverse proxies whose X-Forwarded-For/-Proto are believed: CIDR blocks, comma-separated (or a
  // TOML array of strings); "" = none, the headers are ignored.
  std::string trusted_proxies;
};

struct LogConfig {
  std::string level = "info";  // trace|debug|info|warn|error
  std::string access_log = "-";  // path, "-" = stdout, "" = off
};

struct Settings {
  ServerConfig server;      // [server]
  http::Config limits;      // [limits]
  identity::Config auth;    // [auth]
  db::Config database;      // [database]
  LogConfig log;            // [log]
  jobs::Config compute;     // [compute]
  slurm::Config slurm;      // [compute.clusters.NAME], [compute.partitions.NAME]: SLURM
  data::Config data;        // [data]
  images::Config images;    // [images]
  envs::Config envs;        // [envs]
  images::BuildConfig image_builds;  // [image_builds]
  vcs::Config git;          // [git]
  web::Config web;          // [web]
  tasks::Config tasks;      // [tasks]
  obs::HealthConfig health; // [health]
  mail::Config mail;        // [mail]
  std::map<std::string, sso::OidcConfig> oidc;  // [oidc.NAME], one per OpenID Connect provider
  std::map<std::string, sso::LdapConfig> ldap;  // [ldap.NAME]: directories to sign in with
};

// Binds every section of `s` to `r`, in the order of the example file.
void declare_all(config::Registry& r, Settings& s);

// The file (may be empty: none) < ATRIUM_* variables of `env` < `flags` ("section.key" -> value).
// `cwd` non-empty: every path setting is made absolute against it (Registry::make_paths_absolute).
Result<Settings> load_settings(const std::string& file, const std::map<std::string, std::string>& env,
                               const std::map<std::string, std::string>& flags, const std::string& cwd = "");

}  // namespace atrium::app
