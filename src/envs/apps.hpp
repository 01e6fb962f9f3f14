// The app catalog: what an environment runs (built-in `jupyter`, `terminal`, admin-defined `web`
// apps), its default and maximum resources, idle timeout, maximum uptime and network policy, and
// which orgs may use it. Stored in `env_apps`; the built-ins exist until an admin changes them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::envs {

struct Resources {
  int cpus = 1;
  std::int64_t mem_mb = 2048;
  Millis time_limit = 8 * 3600'000LL;  // the environment's job's wall time
};

struct App {
  std::string name;   // [a-z0-9-]{1,40}
  std::string kind;   // jupyter | terminal | web
  std::string title;
  std::vector<std::string> command;  // web: what runs (ATRIUM_SOCKET, ATRIUM_BASE_URL, PORT set)
  std::string listen = "unix";       // web: "unix" (the app binds $ATRIUM_SOCKET) or "port" ($PORT, bridged)
  int port = 8000;                   // web, listen=port: the port inside the sandbox
  std::string health_path = "/";     // relative to the base URL; readiness is a 200 (or 3xx) there
  Resources defaults;
  Resources max{.cpus = 8, .mem_mb = 32768, .time_limit = 7 * 86400'000LL};
  int max_gpus = 0;                    // GPUs a launch may ask for (`gpus`); 0 = none
  Millis idle_timeout = 3600'000;      // 0 = never culled for idleness
  Millis max_uptime = 86400'000;       // 0 = no limit beyond the time limit
  Millis spawn_timeout = 120'000;      // STARTING longer than this: FAILED
  std::string network = "none";        // none | outbound (slirp4netns, host loopback disabled)
  std::string rootfs;                  // "" = the host's /usr, /etc read-only
  // The image its environments run on unless the launch names one ("name", "name@sha256:…" or
  // "sha256:…", resolved in the launching project); "" = none (rootfs, else the project's default).
  std::string image;
  bool enabled = true;
  std::optional<std::vector<std::string>> orgs;  // org ids that may use it; nullopt = every org
  struct OrgLimits {
    std::optional<Millis> idle_timeout, max_uptime;
  };
  std::map<std::string, OrgLimits> per_org;  // an org's own idle timeout / maximum uptime
  bool builtin = false;
  std::int64_t version = 0;            // 0 = never stored (a built-in as shipped)

  bool allowed_for(const std::string& org_id) const;
  Millis idle_timeout_for(const std::string& org_id) const;
  Millis max_uptime_for(const std::string& org_id) const;
};

std::vector<db::Migration> migrations();

nlohmann::json to_json(const App& a);
// Validates an admin's definition of `name` (fields as in to_json); a built-in keeps its kind.
Result<App> app_from_json(const std::string& name, const nlohmann::json& j, const App* builtin);
const std::vector<App>& builtin_apps();

// The stored definition, else the built-in; nullopt: no such app.
Result<std::optional<App>> get_app(db::Tx& tx, const std::string& name);
Result<std::vector<App>> list_apps(db::Tx& tx);
Status put_app(db::Tx& tx, const Actor& actor, const App& a, Millis now);
// Built-ins go back to their shipped definition; others are removed.
Status delete_app(db::Tx& tx, const Actor& actor, const std::string& name, Millis now);

inline constexpr const char* kSandboxRunDir = "/atrium/run";
inline constexpr const char* kSandboxHome = "/home/atrium";
inline constexpr const char* kSandboxAppDir = "/atrium/app";

// What runs in the sandbox for an environment of this app.
struct Launch {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> files;  // name -> content, written read-only to /atrium/app
  std::string health_path;                   // absolute, with the base URL
  // The working directory inside the sandbox: the run directory for the built-in apps' Python
  // (never the project's checkout, whose files would shadow its modules); /workspace for a web
  // app's own command.
  std::string cwd = kSandboxRunDir;
};
// base_url: "/env/<id>/"; inside the sandbox the run directory is /atrium/run (the app's socket
// app.sock and the token file), the home /home/atrium.
Launch launch_for(const App& a, const std::string& base_url, Millis idle_timeout);


}  // namespace atrium::envs
