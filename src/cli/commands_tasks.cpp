// `atrium admin tasks`: the server's background tasks (instance admins): list them (--state,
// --kind), show one, and retry or delete a dead one.
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace atrium::cli {
namespace {

using nlohmann::json;

// `admin tasks retry ID`, `admin tasks delete ID`, `admin tasks show ID`.
void add_task_action(CLI::App* tasks, const Ctx& ctx, const char* name, const char* help) {
  auto id = std::make_shared<std::string>();
  auto* cmd = tasks->add_subcommand(name, help);
  cmd->add_option("ID", *id, "Task id (tsk_...)")->required();
  std::string verb = name;
  ctx->on_api(cmd, [ctx, id, verb](ApiClient& api) -> Status {
    if (verb == "show") {
      ctx->show(TRY(api.get(api_path({"tasks", *id}))));
      return {};
    }
    ApiCall c;
    c.method = verb == "retry" ? "POST" : "DELETE";
    c.path = verb == "retry" ? api_path({"tasks", *id, "retry"}) : api_path({"tasks", *id});
    auto r = TRY(api.send(c));
    ctx->done(r, verb == "retry" ? "task " + sanitize(*id) + " queued again" : "task " + sanitize(*id) + " deleted");
    return {};
  });
}

}  // namespace

void add_task_commands(CLI::App* admin, const Ctx& ctx) {
  struct Args {
    std::string state, kind;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = admin->add_subcommand("tasks", "Background tasks: list (--state dead), show, retry or delete a dead one");
  cmd->add_option("--state", a->state, "queued, running, succeeded or dead")
      ->check(CLI::IsMember({"queued", "running", "succeeded", "dead"}));
  cmd->add_option("--kind", a->kind, "Only this kind (data.gc, jobs.capture_outputs, mail.send, ...)");
  add_page_options(cmd, a->page);
  add_task_action(cmd, ctx, "show", "Show a task: its state, attempts, next run, last error and result");
  add_task_action(cmd, ctx, "retry", "Queue a dead task again, its attempts reset");
  add_task_action(cmd, ctx, "delete", "Delete a dead task");
  ctx->add_globals(cmd);
  ctx->on_run(cmd, [ctx, a, cmd]() -> Status {
    if (!cmd->get_subcommands().empty()) return {};  // `tasks retry ID` and friends ran
    Target t = TRY(ctx->target(true));
    ApiClient api = ctx->client_for(t);
    ApiCall c;
    c.path = api_path({"tasks"});
    if (!a->state.empty()) c.query.emplace_back("state", a->state);
    if (!a->kind.empty()) c.query.emplace_back("kind", a->kind);
    return ctx->list(api, c, a->page, "task");
  });
}

}  // namespace atrium::cli
