// Private to src/cli: what every command handler shares (global options, the API client for the
// chosen server, output and error reporting), and the registration functions per command family.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/api.hpp"
#include "cli/credentials.hpp"
#include "cli/http_client.hpp"
#include "cli/requests.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"

namespace CLI {
class App;
}

namespace atrium::cli {

inline constexpr std::string_view kDefaultServer = "http://127.0.0.1:8080";

// --server, --token (and their environment variables), --json, --insecure.
struct Globals {
  std::string server;
  std::string token;
  bool json = false;
  bool insecure = false;
};

// Which global options a command takes.
enum GlobalFlags : unsigned {
  kServerOpt = 1,
  kTokenOpt = 2,
  kJsonOpt = 4,
  kInsecureOpt = 8,
  kAllGlobals = 15,
};

// Server and token a command talks to, after applying flag > environment > stored login > default.
struct Target {
  Url url;
  std::string token;
  bool token_from_store = false;
};

class Context : public std::enable_shared_from_this<Context> {
 public:
  explicit Context(int& exit_code) : exit_code_(exit_code) {}

  Globals globals;
  EnvLookup env = process_env;
  std::ostream& out();
  std::ostream& err();
  Millis now() const { return SystemClock{}.now_ms(); }

  void add_globals(CLI::App* cmd, unsigned flags = kAllGlobals);
  // Sets cmd's callback: runs `fn`, reports its error (exit 2 for usage errors, else 1).
  void on_run(CLI::App* cmd, std::function<Status()> fn);
  // Same, with an API client for the target server; `need_token` fails early when not logged in.
  // Also registers all global options on cmd (so they are listed after the command's own).
  void on_api(CLI::App* cmd, std::function<Status(ApiClient&)> fn, bool need_token = true);

  [[nodiscard]] Result<std::filesystem::path> config_directory() const { return config_dir(env); }
  [[nodiscard]] Result<std::optional<Credentials>> stored_credentials();
  [[nodiscard]] Result<Target> target(bool need_token);
  // The server for an unauthenticated call (login, invite accept): no token, and an unreadable
  // credentials file is only a warning.
  [[nodiscard]] Result<Target> anonymous_target();
  ClientOptions client_options() const;
  ApiClient client_for(const Target& t) const;

  // Output. With --json the response body is printed as is.
  void print_json(const nlohmann::json& j);
  void show(const ApiReply& reply);
  // A list command: one page (--limit/--after) or every page (--all).
  [[nodiscard]] Status list(ApiClient& api, ApiCall call, const PageArgs& page, std::string_view kind);
  // After a change: the body under --json, `message` otherwise.
  void done(const ApiReply& reply, const std::string& message);

  void report(const Error& e);

 private:
  int& exit_code_;
  bool token_from_store_ = false;
  std::optional<std::optional<Credentials>> stored_;  // loaded once
};

// Registers --limit, --after and --all on a list command.
void add_page_options(CLI::App* cmd, PageArgs& page);

using Ctx = std::shared_ptr<Context>;
// commands_auth.cpp
void add_login_command(CLI::App& app, const Ctx& ctx);
void add_logout_command(CLI::App& app, const Ctx& ctx);
void add_whoami_command(CLI::App& app, const Ctx& ctx);
void add_token_commands(CLI::App& app, const Ctx& ctx);
void add_mfa_commands(CLI::App& app, const Ctx& ctx);
// commands_org.cpp
void add_org_commands(CLI::App& app, const Ctx& ctx);
void add_group_commands(CLI::App& app, const Ctx& ctx);
void add_user_commands(CLI::App& app, const Ctx& ctx);
void add_role_commands(CLI::App& app, const Ctx& ctx);
void add_invite_commands(CLI::App& app, const Ctx& ctx);
// commands_project.cpp
void add_project_commands(CLI::App& app, const Ctx& ctx);
void add_audit_commands(CLI::App& app, const Ctx& ctx);
// commands_job.cpp
void add_job_commands(CLI::App& app, const Ctx& ctx);
// commands_exec.cpp: `atrium exec-secrets` (on a compute node, for a SLURM job)
void add_exec_secrets_command(CLI::App& app, const Ctx& ctx);
// commands_data.cpp
void add_data_commands(CLI::App& app, const Ctx& ctx);
// commands_admin_user.cpp: `admin user reset-password|disable|enable|delete|sessions|tokens USER`
void add_admin_user_commands(CLI::App* admin, const Ctx& ctx);
// `disable` and `enable` USER under `parent` (`atrium user` and `atrium admin user`).
void add_user_disable_commands(CLI::App* parent, const Ctx& ctx);
void add_admin_commands(CLI::App& app, const Ctx& ctx);
// commands_tasks.cpp: `admin tasks`
void add_task_commands(CLI::App* admin, const Ctx& ctx);
// commands_repo.cpp
void add_repo_commands(CLI::App& app, const Ctx& ctx);
// commands_env.cpp
void add_env_commands(CLI::App& app, const Ctx& ctx);
// commands_compute.cpp: `partitions`, `org compute` (after add_org_commands)
void add_compute_commands(CLI::App& app, const Ctx& ctx);
// commands_secret.cpp
void add_secret_commands(CLI::App& app, const Ctx& ctx);
// commands_image.cpp: `image pull|list|show|rm|registry`; returns the `image` command, to which
// `import` and `build` are added.
CLI::App* add_image_commands(CLI::App& app, const Ctx& ctx);
// commands_image_build.cpp: `image build`.
void add_image_build(CLI::App* image, const Ctx& ctx);
// With --wait, polls the image `im` (as a POST answered it) until it is not pending; prints it (JSON
// or a line) and fails when it failed. `what`: "pull", "import".
Status wait_and_report_image(Context& ctx, ApiClient& api, nlohmann::json im, const std::string& name, bool wait,
                             int wait_s, const char* what);
// commands_image_import.cpp: `image import`
void add_image_import(CLI::App* image, const Ctx& ctx);
// commands_data.cpp: `data put` for other commands (a resumable upload of `file` to `path`).
Status upload_file(Context& ctx, ApiClient& api, const std::string& file, const std::string& project,
                   const std::string& path, bool overwrite);

// A password from stdin (--password-stdin), else from the terminal (asked twice when `confirm`).
[[nodiscard]] Result<std::string> read_password(bool from_stdin, bool confirm, std::string_view prompt);

}  // namespace atrium::cli
