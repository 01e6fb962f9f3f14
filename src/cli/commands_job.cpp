// job: submit, list, show, cancel, hold, release, requeue, logs (sbatch/squeue/scancel-like).
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "cli/units.hpp"
#include "core/clock.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

CLI::App* leaf(CLI::App* parent, const std::string& name, const std::string& description) {
  return parent->add_subcommand(name, description);  // on_api adds the global options last
}

std::string str_of(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// The script's text: a file, or stdin for "-".
Result<std::string> read_script(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    if (std::cin.bad()) return usage_error("--script -: cannot read the script from stdin");
    return text;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return usage_error("--script: cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One page or every page of a job list, as a squeue-like table.
Status list_jobs(Context& ctx, ApiClient& api, ApiCall call, const PageArgs& page) {
  TRY_STATUS(add_page(call, page));
  std::vector<json> items;
  std::optional<std::string> next;
  if (page.all) {
    items = TRY(api.all_pages(call));
    if (ctx.globals.json) {
      ctx.print_json(json{{"items", items}, {"next", nullptr}});
      return {};
    }
  } else {
    ApiReply reply = TRY(api.send(call));
    if (ctx.globals.json) {
      ctx.print_json(reply.body);
      return {};
    }
    Page p = TRY(parse_page(reply.body));
    items = std::move(p.items);
    next = std::move(p.next);
  }
  if (items.empty()) {
    ctx.err() << "no jobs\n";
  } else {
    ctx.out() << render_job_table(items);
  }
  if (next) ctx.err() << "more results: rerun with --all, or with --after " << sanitize(*next) << "\n";
  return {};
}

// What a state-changing action says about one answer: a job, or every task of an array.
std::string action_message(std::string_view verb, const std::string& id, const json& body) {
  static const std::map<std::string_view, std::string_view> kPast{
      {"cancel", "Cancelled"}, {"hold", "Held"}, {"release", "Released"}, {"requeue", "Requeued"}};
  std::string past(kPast.at(verb));
  if (body.is_object() && body.contains("array_id")) {
    std::size_t n = body.contains("items") && body["items"].is_array() ? body["items"].size() : 0;
    return past + " array " + id + " (" + std::to_string(n) + (n == 1 ? " task)" : " tasks)");
  }
  std::string stop = str_of(body, "stop_requested");
  if (!stop.empty() && str_of(body, "state") == "RUNNING")
    return (verb == "cancel" ? "Cancelling" : "Requeueing") + std::string(" job ") + id +
           ": stop requested, it ends shortly";
  return past + " job " + id;
}

// Applies `verb` to each id; a failure is reported and the others still go ahead (like scancel).
Status act_on_each(Context& ctx, ApiClient& api, std::string_view verb, const std::vector<std::string>& ids) {
  json bodies = json::array();
  for (const auto& id : ids) {
    auto c = job_action(id, verb);
    if (!c) {
      ctx.report(c.error());
      continue;
    }
    auto r = api.send(*c);
    if (!r) {
      Error e = r.error();
      e.detail = id + ": " + e.detail;
      ctx.report(e);
      continue;
    }
    if (ctx.globals.json)
      bodies.push_back(r->body);
    else
      ctx.out() << sanitize(action_message(verb, id, r->body)) << "\n";
  }
  if (ctx.globals.json) {
    if (bodies.size() == 1)
      ctx.print_json(bodies[0]);
    else if (!bodies.empty())
      ctx.print_json(bodies);
  }
  return {};
}

}  // namespace

namespace {

void add_job_submit(CLI::App* job, const Ctx& ctx) {
  struct Args {
    std::string project;
    JobSubmitArgs submit;
    std::optional<std::string> script_file;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(job, "submit", "Submit a job or a job array: --script FILE, or -- COMMAND ARGS...");
  cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
  cmd->add_option("--name", a->submit.name, "Job name (default: the program's name, or \"script\")");
  cmd->add_option("--cpus", a->submit.cpus, "CPUs (default 1)");
  cmd->add_option("--mem", a->submit.mem, "Memory: 4G, 512M, 1.5GiB; a bare number is MiB (default 1G)");
  cmd->add_option("--gpus", a->submit.gpus, "GPUs (default 0)");
  cmd->add_option("--time", a->submit.time,
                  "Time limit: minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]] or 2h, 90m (default 1 hour)");
  cmd->add_option("--array", a->submit.array, "Job array: 0-99%10, 1,3,5-7, 0-15:4");
  cmd->add_option("--dependency", a->submit.dependency, "afterok:ID[:ID], afterany, afternotok, after, singleton");
  cmd->add_option("--qos", a->submit.qos, "Quality of service");
  cmd->add_option("--nice", a->submit.nice, "Lower the priority by this much (negative: administrators)");
  cmd->add_option("--env", a->submit.env, "NAME=VALUE for the job's environment (repeatable)")->allow_extra_args(false);
  cmd->add_option("--secret", a->submit.secrets,
                  "A secret by name: NAME (a variable) or NAME:file (/run/secrets/NAME) (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--image", a->submit.image,
                  "Image to run on: NAME, NAME@sha256:..., sha256:..., or none for the host's root "
                  "(default: the project's default image)");
  cmd->add_option("--dataset", a->submit.datasets, "A dataset NAME or NAME@VERSION, read-only at /data/NAME (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--begin", a->submit.begin, "Not before: RFC 3339, or now+DURATION (now+2h)");
  cmd->add_flag("--hold", a->submit.hold, "Submit held (release with `atrium job release`)");
  cmd->add_option("--partition", a->submit.partition,
                  "Where it runs: local or a SLURM partition (`atrium partitions`; default: the org's)");
  cmd->add_option("--account", a->submit.account, "The SLURM account to charge (one of the org's)");
  auto* script = cmd->add_option("--script", a->script_file, "Shell script to run (- reads stdin)");
  cmd->add_option("COMMAND", a->submit.command, "The program and its arguments, after --")->excludes(script);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    JobSubmitArgs s = a->submit;
    if (a->script_file) s.script = TRY(read_script(*a->script_file));
    ApiCall c = TRY(job_submit(a->project, s, ctx->now()));
    ApiReply r = TRY(api.send(c));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
    } else if (r.body.contains("array_id")) {
      auto tasks = r.body.value("tasks", json());
      ctx->out() << "Submitted array " << sanitize(str_of(r.body, "array_id")) << " (" << format_cell(tasks)
                 << (tasks == json(1) ? " task)" : " tasks)") << "\n";
    } else {
      ctx->out() << "Submitted job " << sanitize(str_of(r.body, "id")) << "\n";
    }
    return {};
  });
}

void add_job_list(CLI::App* job, const Ctx& ctx) {
  struct Args {
    JobListArgs list;
    std::optional<std::string> org;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(job, "list", "List jobs: yours, a project's (--project) or an org's (--org, administrators)");
  cmd->add_option("--project", a->list.project_id, "Only this project's jobs (ORG/PROJECT or id)");
  cmd->add_option("--org", a->org, "Every job of this org (id or slug; org administrators)");
  cmd->add_option("--state", a->list.states, "States, comma-separated: PENDING,RUNNING or PD,R ...")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd->add_option("--user", a->list.user, "With --project: me, or a user id");
  cmd->add_option("--array", a->list.array_id, "Only the tasks of this array");
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    if (a->list.project_id) a->list.project_id = TRY(api.resolve_project(*a->list.project_id));
    JobListArgs l = a->list;
    TRY(job_list(l));  // validate before any request
    if (a->org) l.org_id = TRY(api.resolve_org(*a->org));
    return list_jobs(*ctx, api, TRY(job_list(l)), a->page);
  });
}

void add_job_show(CLI::App* job, const Ctx& ctx) {
  auto id = std::make_shared<std::string>();
  auto* cmd = leaf(job, "show", "Show a job: state, why it waits, resources, usage, events");
  cmd->add_option("ID", *id, "Job id")->required();
  ctx->on_api(cmd, [ctx, id](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"jobs", *id})));
    if (ctx->globals.json)
      ctx->print_json(r.body);
    else
      ctx->out() << render_job(r.body);
    return {};
  });
}

void add_job_cancel(CLI::App* job, const Ctx& ctx) {
  struct Args {
    std::vector<std::string> ids;
    bool all = false;
    std::optional<std::string> project, state;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(job, "cancel", "Cancel jobs (an array id cancels every task), or --all of yours");
  auto* ids = cmd->add_option("ID", a->ids, "Job or array ids");
  auto* all = cmd->add_flag("--all", a->all, "Cancel all your pending and running jobs")->excludes(ids);
  cmd->add_option("--project", a->project, "With --all: only in this project (ORG/PROJECT or id)")->needs(all);
  cmd->add_option("--state", a->state, "With --all: only PENDING or only RUNNING jobs")->needs(all);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    if (a->project) a->project = TRY(api.resolve_project(*a->project));
    if (!a->all) {
      if (a->ids.empty()) return usage_error("give job ids, or --all");
      return act_on_each(*ctx, api, "cancel", a->ids);
    }
    ApiReply r = TRY(api.send(TRY(job_cancel_all(a->project, a->state))));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    const json& ids = r.body.is_object() && r.body.contains("cancelled") ? r.body["cancelled"] : json::array();
    ctx->out() << "Cancelled " << ids.size() << (ids.size() == 1 ? " job" : " jobs") << "\n";
    for (const auto& i : ids) ctx->out() << "  " << format_cell(i) << "\n";
    return {};
  });
}

void add_job_logs(CLI::App* job, const Ctx& ctx) {
  struct Args {
    LogStream stream;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(job, "logs", "Write a job's output to stdout; -f follows it until the job ends");
  cmd->add_option("ID", a->stream.job_id, "Job id")->required();
  cmd->add_flag("--stderr", a->stream.stderr_stream, "Its standard error instead of its standard output");
  cmd->add_flag("-f,--follow", a->stream.follow, "Keep writing new output until the job has ended");
  cmd->add_option("--offset", a->stream.offset, "Start at this byte offset");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    if (a->stream.offset < 0) return usage_error("--offset must not be negative");
    auto sleep = [](std::chrono::milliseconds d) { client_sleep_ms(d.count()); };
    TRY(stream_logs(api, a->stream, ctx->out(), sleep));
    return {};
  });
}

}  // namespace

void add_job_commands(CLI::App& app, const Ctx& ctx) {
  auto* job = app.add_subcommand("job", "Batch jobs: submit, watch, control (sbatch/squeue/scancel-like)");
  job->require_subcommand(1);
  add_job_submit(job, ctx);
  add_job_list(job, ctx);
  add_job_show(job, ctx);
  add_job_cancel(job, ctx);
  for (const char* verb : {"hold", "release", "requeue"}) {
    static const std::map<std::string_view, std::string> kHelp{
        {"hold", "Hold pending jobs (they wait until released)"},
        {"release", "Release held jobs"},
        {"requeue", "Requeue running or finished jobs (they run again)"}};
    auto ids = std::make_shared<std::vector<std::string>>();
    auto* cmd = leaf(job, verb, kHelp.at(verb));
    cmd->add_option("ID", *ids, "Job or array ids")->required();
    ctx->on_api(cmd, [ctx, ids, verb](ApiClient& api) { return act_on_each(*ctx, api, verb, *ids); });
  }
  add_job_logs(job, ctx);
}

}  // namespace atrium::cli
