// env: interactive environments (Jupyter, terminals, web apps) behind Atrium's proxy: apps,
// launch, list, show, logs, stop, share.

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "cli/units.hpp"
#include "core/clock.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

const std::vector<Column>& env_columns() {
  static const std::vector<Column> cols = {{"ID", "id"},
                                           {"APP", "app"},
                                           {"STATE", "state"},
                                           {"REASON", "reason", 48},
                                           {"PROJECT", "project_id"},
                                           {"CPUS", "cpus"},
                                           {"MEM_MB", "mem_mb"},
                                           {"CREATED", "created_at"}};
  return cols;
}

std::string server_url(const Target& t) {
  return std::string(t.url.tls ? "https://" : "http://") + t.url.authority() + t.url.base_path;
}

// An environment's URL as the server gives it: absolute (its own origin); a relative one (an older
// server) is on the server's origin.
std::string open_url(const Target& t, const std::string& url) {
  return url.starts_with("http://") || url.starts_with("https://") ? url : server_url(t) + url;
}

bool terminal_or_ready(const std::string& s) { return s == "READY" || s == "FAILED" || s == "STOPPED"; }

}  // namespace

namespace {

void add_env_apps(CLI::App* env, const Ctx& ctx) {
  auto* cmd = env->add_subcommand("apps", "The app catalog: what can be launched");
  ctx->on_api(cmd, [ctx](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"apps"})));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    std::vector<json> items = r.body.value("items", json::array()).get<std::vector<json>>();
    ctx->out() << render_table({{"NAME", "name"},
                                {"KIND", "kind"},
                                {"TITLE", "title", 60},
                                {"IDLE_S", "idle_timeout_s"},
                                {"MAX_CPUS", "max.cpus"},
                                {"MAX_MEM_MB", "max.mem_mb"}},
                               items);
    return {};
  });
}

void add_env_launch(CLI::App* env, const Ctx& ctx) {
  struct Args {
    std::string project;
    EnvLaunchArgs launch;
    bool wait = false;
    int wait_s = 300;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = env->add_subcommand("launch", "Launch an environment; --wait waits until it is READY (or FAILED)");
  EnvLaunchArgs& l = a->launch;
  cmd->add_option("--app", l.app, "The app (atrium env apps)")->required();
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--cpus", l.cpus, "CPUs (default: the app's)");
  cmd->add_option("--mem", l.mem, "Memory: 4G, 512M; a bare number is MiB (default: the app's)");
  cmd->add_option("--time", l.time, "Time limit: 8h, 90m, HH:MM:SS (default: the app's)");
  cmd->add_option("--ref", l.ref, "Branch, tag or commit for the workspace (default: the default branch)");
  cmd->add_option("--image", l.image,
                  "Image: NAME, NAME@sha256:..., sha256:..., or none for the host's root "
                  "(default: the app's, else the project's default image)");
  cmd->add_option("--dataset", l.datasets, "A dataset NAME or NAME@VERSION, read-only at /data/NAME (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--gpus", l.gpus, "GPUs (default 0; at most the app's max_gpus)");
  cmd->add_option("--partition", l.partition,
                  "Where it runs: local or a SLURM partition (`atrium partitions`; default: the org's)");
  auto* files = cmd->add_flag("--files", l.files, "The project's files, read-write at /project");
  cmd->add_option("--files-prefix", l.files_prefix, "Only this directory of the project's files at /project")
      ->excludes(files);
  cmd->add_option("--secret", l.secrets,
                  "A secret by name: NAME (a variable) or NAME:file (/run/secrets/NAME) (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--wait", a->wait, "Wait until the environment is READY, FAILED or STOPPED");
  cmd->add_option("--wait-timeout", a->wait_s, "Seconds --wait waits at most (default 300)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    ApiCall c = TRY(env_launch(a->project, a->launch));
    ApiReply r = TRY(api.send(c));
    json e = r.body;
    std::string id = e.value("id", std::string());
    if (a->wait) {
      const Stopwatch waited;
      while (!terminal_or_ready(e.value("state", std::string())) && waited.millis() < Millis{a->wait_s} * 1000) {
        client_sleep_ms(250);
        e = TRY(api.get(api_path({"envs", id}))).body;
      }
    }
    if (ctx->globals.json) {
      ctx->print_json(e);
    } else {
      std::string state = e.value("state", std::string());
      ctx->out() << "Environment " << sanitize(id) << " (" << sanitize(a->launch.app) << ") is " << sanitize(state);
      if (!e.value("reason", std::string()).empty()) ctx->out() << ": " << sanitize(e.value("reason", std::string()));
      ctx->out() << "\n";
      auto t = TRY(ctx->target(true));
      ctx->out() << "Open " << sanitize(open_url(t, e.value("url", std::string()))) << "\n";
      if (state == "FAILED" && e.contains("log_tail"))
        ctx->out() << sanitize(e.value("log_tail", std::string())) << "\n";
    }
    if (a->wait && e.value("state", std::string()) != "READY")
      return fail(ErrorCode::kFailedPrecondition, "env-not-ready",
                  "the environment is " + e.value("state", std::string()) + ": " + e.value("reason", std::string()));
    return {};
  });
}

void add_env_list(CLI::App* env, const Ctx& ctx) {
  struct Args {
    std::optional<std::string> project;
    bool active = false;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = env->add_subcommand("list", "Your environments, or a project's (--project)");
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id");
  cmd->add_flag("--active", a->active, "Only those not ended");
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    if (a->project) a->project = TRY(api.resolve_project(*a->project));
    ApiCall c;
    c.path = a->project ? api_path({"projects", *a->project, "envs"}) : api_path({"envs"});
    if (a->active) c.query.emplace_back("active", "true");
    TRY_STATUS(add_page(c, a->page));
    ApiReply r = TRY(api.send(c));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    Page p = TRY(parse_page(r.body));
    if (p.items.empty())
      ctx->err() << "no environments\n";
    else
      ctx->out() << render_table(env_columns(), p.items);
    return {};
  });
}

void add_env_show(CLI::App* env, const Ctx& ctx) {
  auto id = std::make_shared<std::string>();
  auto* cmd = env->add_subcommand("show", "Show an environment and its state changes");
  cmd->add_option("ID", *id, "Environment id")->required();
  ctx->on_api(cmd, [ctx, id](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"envs", *id})));
    ApiReply ev = TRY(api.get(api_path({"envs", *id, "events"})));
    if (ctx->globals.json) {
      json j = r.body;
      j["events"] = ev.body.value("items", json::array());
      ctx->print_json(j);
      return {};
    }
    json obj = r.body;
    obj.erase("log_tail");
    ctx->out() << render_env(obj);
    ctx->out() << "events:\n";
    for (auto& e : ev.body.value("items", json::array()))
      ctx->out() << "  " << format_cell(e.value("time", json())) << "  " << sanitize(e.value("state", std::string()))
                 << "  " << sanitize(e.value("event", std::string())) << "  "
                 << sanitize(e.value("detail", std::string()).substr(0, 200)) << "\n";
    if (r.body.contains("log_tail"))
      ctx->out() << "last output:\n" << sanitize(r.body.value("log_tail", std::string())) << "\n";
    return {};
  });
}

void add_env_logs(CLI::App* env, const Ctx& ctx) {
  struct Args {
    std::string id;
    bool stdout_stream = false, both = false;
    int tail = 200;
  };
  auto a = std::make_shared<Args>();
  auto* cmd =
      env->add_subcommand("logs", "Write the last lines of an environment's output (standard error by default)");
  cmd->add_option("ID", a->id, "Environment id")->required();
  cmd->add_flag("--stdout", a->stdout_stream, "Its standard output instead");
  cmd->add_flag("--both", a->both, "Standard error, then standard output");
  cmd->add_option("--tail", a->tail, "Lines (default 200)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    ApiCall c;
    c.path = api_path({"envs", a->id, "logs"});
    c.query = {{"stream", a->both            ? "both"
                          : a->stdout_stream ? "stdout"
                                             : "stderr"},
               {"tail", std::to_string(a->tail)}};
    ApiReply r = TRY(api.send(c));
    ctx->out() << r.raw.body;
    return {};
  });
}

void add_env_stop(CLI::App* env, const Ctx& ctx) {
  auto id = std::make_shared<std::string>();
  auto* cmd = env->add_subcommand("stop", "Stop an environment (gracefully, then by force)");
  cmd->add_option("ID", *id, "Environment id")->required();
  ctx->on_api(cmd, [ctx, id](ApiClient& api) -> Status {
    ApiCall c;
    c.method = "POST";
    c.path = api_path({"envs", *id, "stop"});
    ApiReply r = TRY(api.send(c));
    ctx->done(r, "Stopping environment " + sanitize(*id));
    return {};
  });
}

void add_env_share(CLI::App* env, const Ctx& ctx) {
  struct Args {
    std::string id;
    std::string ttl = "1h";
  };
  auto a = std::make_shared<Args>();
  auto* cmd = env->add_subcommand("share", "Make a time-limited guest link to a running environment of yours");
  cmd->add_option("ID", a->id, "Environment id")->required();
  cmd->add_option("--ttl", a->ttl, "How long the link works: 30m, 2h, 1d (default 1h)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    ApiCall c;
    c.method = "POST";
    c.path = api_path({"envs", a->id, "links"});
    c.body = json{{"ttl_s", TRY(parse_duration(a->ttl)).count()}};
    ApiReply r = TRY(api.send(c));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    auto t = TRY(ctx->target(true));
    ctx->out() << "Guest link " << sanitize(r.body.value("id", std::string())) << " (until "
               << format_cell(r.body.value("expires_at", json())) << "):\n"
               << sanitize(open_url(t, r.body.value("url", std::string()))) << "\n";
    return {};
  });
}

}  // namespace

void add_env_commands(CLI::App& app, const Ctx& ctx) {
  auto* env =
      app.add_subcommand("env", "Interactive environments: Jupyter, terminals and web apps in a project's sandbox");
  env->require_subcommand(1);
  add_env_apps(env, ctx);
  add_env_launch(env, ctx);
  add_env_list(env, ctx);
  add_env_show(env, ctx);
  add_env_logs(env, ctx);
  add_env_stop(env, ctx);
  add_env_share(env, ctx);
}

}  // namespace atrium::cli
