// Server configuration: a TOML file, overridden by ATRIUM_* environment variables, overridden by
// flags. Unknown keys and bad values are errors that stop startup with a message naming the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace atrium {

struct Config {
  // [server]
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./var";
  std::string public_url;         // the main origin, used in every link; "" = http(s)://localhost:<bound port>
  int io_threads = 0;             // 0 = number of cores
  int worker_threads = 0;         // blocking pool (database, filesystem); 0 = 2 x cores, >= 4
  std::string tls_cert;           // PEM files; both set = HTTPS
  std::string tls_key;
  // Reverse proxies whose X-Forwarded-For/-Proto are believed: CIDR blocks, comma-separated (or a
  // TOML array of strings); "" = none, the headers are ignored.
  std::string trusted_proxies;
  // [limits]
  std::int64_t max_header_bytes = 16 * 1024;
  std::int64_t max_body_bytes = 1 * 1024 * 1024;
  int header_timeout_s = 10;      // a request's header must arrive within this (slowloris)
  int request_timeout_s = 60;     // the whole request (header + body) must arrive within this
  int idle_timeout_s = 75;        // keep-alive connection idle time
  int shutdown_grace_s = 20;      // SIGTERM: in-flight requests get this long
  int max_connections = 10000;
  int max_connections_per_ip = 256;     // connections not yet signed in, per client IP
  int max_connections_per_user = 256;   // connections of one signed-in user
  int preauth_timeout_s = 10;           // a connection must authenticate a request within this
  int upstream_header_timeout_s = 300;  // a proxied environment must start its answer within this
  int tunnel_idle_timeout_s = 4 * 3600; // a proxied WebSocket with no traffic this long is closed
  // [auth]
  int session_ttl_hours = 12;
  int session_idle_minutes = 120;
  int login_max_failures = 5;     // before the account locks
  int login_lockout_base_s = 30;  // doubles with every further failure, capped at 1 h
  int login_ip_per_minute = 30;   // login attempts per client IP per minute
  int invite_ttl_hours_max = 24 * 30;
  // [database]
  std::string sqlite_synchronous = "full";  // full | normal
  int busy_timeout_ms = 5000;
  // [log]
  std::string log_level = "info";  // trace|debug|info|warn|error
  std::string access_log = "-";    // path, "-" = stdout, "" = off
  // [compute] (the embedded executor on this node)
  int compute_cpus = 0;                 // schedulable CPUs; 0 = all online CPUs
  std::int64_t compute_mem_mb = 0;      // schedulable memory; 0 = physical memory minus 10% (at least 512 MB)
  int compute_gpus = -1;                // -1 = discover (NVML, /dev/nvidiaN), 0 = none
  std::int64_t compute_uid_base = 2000000;  // Atrium user n runs jobs as host uid uid_base + n
  int compute_fairshare_half_life_h = 168;  // fair-share usage decay half-life; 0 = no decay
  std::int64_t compute_max_output_bytes = 64LL << 20;  // per job and stream (stdout, stderr)
  int compute_kill_grace_s = 10;        // SIGTERM -> SIGKILL on cancel and time limit
  std::string compute_cgroup_parent = "atrium";  // job cgroups: <hierarchy>/<parent>/<job id>
  std::int64_t compute_max_time_h = 24 * 30;     // longest --time
  // What "outbound" environments may reach although it is private, link-local or the host's own
  // ("10.1.2.0/24,fd00:1::/64"); "" = only public addresses.
  std::string compute_outbound_allow;

  // [data]
  std::string data_key_file;  // the data store's master key; "" = <data_dir>/master.key
  std::int64_t data_max_chunk_bytes = 64LL << 20;  // one upload chunk (PATCH body)
  std::int64_t data_max_file_bytes = 1LL << 40;
  int data_upload_ttl_h = 24 * 7;                  // an upload untouched this long is dropped
  int data_gc_grace_s = 3600;                      // unreferenced blobs are kept this long
  std::int64_t data_reserve_bytes = 256LL << 20;   // free disk space uploads never take
  int data_capture_timeout_s = 600;                // longest capture of a job's outputs

  // [envs]
  std::string envs_domain = "env.localhost";  // each environment at <env-label>.<domain> (its own origin)
  bool envs_path_mode = false;                // opt-in: serve at <public_url>/env/<id>/ (shares the origin)

  // [git]
  std::int64_t git_max_push_bytes = 8LL << 30;     // one push (its pack), spooled to disk as it arrives
  std::int64_t git_max_file_bytes = 10LL << 20;    // file content served by the repository API
};

// Every settable key, as "section.key", with its type and one-line help (for the example file
// and for error messages).
struct ConfigKey {
  std::string name;
  std::string type;  // string | integer | boolean
  std::string help;
};
const std::vector<ConfigKey>& config_keys();

// Builds the config. `file` may be empty (no file). `env` is the process environment as a map
// (only ATRIUM_* entries are read). `flags` are "section.key" -> value from the command line.
Result<Config> load_config(const std::string& file, const std::map<std::string, std::string>& env,
                           const std::map<std::string, std::string>& flags);

std::map<std::string, std::string> environment_map();

// Makes every path setting (data_dir, tls_cert, tls_key, data.key_file, a log.access_log file)
// absolute against `cwd`, once at startup: paths go on to child processes and sandbox specs that
// run elsewhere, where a relative path means something else or is refused.
void make_paths_absolute(Config& c, const std::string& cwd);

}  // namespace atrium
