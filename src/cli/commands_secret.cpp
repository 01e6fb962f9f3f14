// secret set|list|rm: the signed-in user's own secrets, or a project's (--project). A value is read
// from stdin (or asked for without echo on a terminal), never from the command line, which every
// user of the machine can read in /proc.
#include <algorithm>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"
#include "core/text.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

struct SecretArgs {
  std::string name, project, description;
  bool raw = false;
  PageArgs page;
};

// /api/v1/me/secrets[/NAME] or /api/v1/projects/{id}/secrets[/NAME].
Result<std::string> secrets_path(ApiClient& api, const SecretArgs& a, bool one) {
  std::string base = a.project.empty() ? api_path({"me", "secrets"})
                                       : api_path({"projects", TRY(api.resolve_project(a.project)), "secrets"});
  return one ? base + "/" + percent_encode(a.name) : base;
}

Result<std::string> read_value(bool raw) {
  std::string value;
  if (stdin_is_terminal()) {
    value = TRY(prompt_secret("Value (not shown): "));
  } else {
    value.assign(std::istreambuf_iterator<char>(std::cin), {});
    // `echo "$TOKEN" | atrium secret set NAME` must not store the newline echo adds.
    if (!raw && value.ends_with('\n')) value.pop_back();
    if (!raw && value.ends_with('\r')) value.pop_back();
  }
  if (value.empty()) return invalid("no value: pipe it on stdin (printf %s \"$VALUE\" | atrium secret set NAME)");
  if (!is_valid_utf8(value)) return invalid("the value must be UTF-8 text (base64 a binary key first)");
  return value;
}

void add_project_option(CLI::App* cmd, SecretArgs& a) {
  cmd->add_option("--project,-p", a.project, "A project's secret (prj_... or ORG/PROJECT) instead of your own");
}

}  // namespace

void add_secret_commands(CLI::App& app, const Ctx& ctx) {
  auto* secret = app.add_subcommand(
      "secret", "Secrets (API keys, tokens) your jobs and environments ask for by name: yours or a project's");
  secret->require_subcommand(1);

  auto a = std::make_shared<SecretArgs>();
  auto* set = secret->add_subcommand(
      "set", "Set a secret; the value comes from stdin (one trailing newline dropped), never from the command line");
  set->add_option("name", a->name, "NAME: A-Z, 0-9 and _ (an environment variable name)")->required();
  add_project_option(set, *a);
  set->add_option("--description", a->description, "What it is for (shown in lists)");
  set->add_flag("--raw", a->raw, "Keep stdin exactly as it is (a trailing newline included)");
  ctx->on_api(set, [ctx, a](ApiClient& api) -> Status {
    std::string value = TRY(read_value(a->raw));
    ApiCall call;
    call.method = "PUT";
    call.path = TRY(secrets_path(api, *a, true));
    call.body = json{{"value", value}};
    std::fill(value.begin(), value.end(), '\0');
    if (!a->description.empty()) (*call.body)["description"] = a->description;
    // Replacing one needs its ETag; a new one needs none.
    auto current = api.get(call.path);
    if (!current && current.error().code != ErrorCode::kNotFound) return std::unexpected(current.error());
    Headers h;
    if (current) h.emplace_back("If-Match", current->etag);
    ApiReply r = TRY(api.send(call, h));
    ctx->done(r, std::string(current ? "Replaced" : "Created") + " secret " + a->name);
    return {};
  });

  auto l = std::make_shared<SecretArgs>();
  auto* list = secret->add_subcommand("list", "List secrets: names, descriptions, who set them (never a value)");
  add_project_option(list, *l);
  add_page_options(list, l->page);
  ctx->on_api(list, [ctx, l](ApiClient& api) -> Status {
    ApiCall call;
    call.path = TRY(secrets_path(api, *l, false));
    if (ctx->globals.json) return ctx->list(api, call, l->page, "secret");
    auto items = TRY(api.all_pages(call));
    if (items.empty()) ctx->err() << "no secrets\n";
    else
      ctx->out() << render_table(std::vector<Column>{{"NAME", "name"},
                                                     {"SCOPE", "scope"},
                                                     {"DESCRIPTION", "description", 40},
                                                     {"UPDATED", "updated_at"},
                                                     {"BY", "updated_by"}},
                                 items);
    return {};
  });

  auto rm = std::make_shared<SecretArgs>();
  auto* remove = secret->add_subcommand("rm", "Remove a secret (jobs that ask for it no longer start)");
  remove->add_option("name", rm->name, "NAME")->required();
  add_project_option(remove, *rm);
  ctx->on_api(remove, [ctx, rm](ApiClient& api) -> Status {
    ApiCall call;
    call.method = "DELETE";
    call.path = TRY(secrets_path(api, *rm, true));
    ApiReply r = TRY(api.send_if_match(call, call.path));
    ctx->done(r, "Removed secret " + rm->name);
    return {};
  });
}

}  // namespace atrium::cli
