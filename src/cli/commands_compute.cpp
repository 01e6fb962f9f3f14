// partitions: where jobs and environments can run (this server, or partitions of SLURM clusters);
// org compute: an org's default partition.
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

void add_org_compute_command(CLI::App* org, const Ctx& ctx);

}  // namespace

void add_compute_commands(CLI::App& app, const Ctx& ctx) {
  add_org_compute_command(app.get_subcommand("org"), ctx);
  auto* cmd = app.add_subcommand("partitions",
                                 "Partitions you may run jobs and environments on (local: this server; "
                                 "others: SLURM), with their limits");
  auto org = std::make_shared<std::optional<std::string>>();
  cmd->add_option("--org", *org, "Only those this org may use, its default marked (id or slug)");
  ctx->on_api(cmd, [ctx, org](ApiClient& api) -> Status {
    ApiCall c{.method = "GET", .path = api_path({"compute", "partitions"})};
    if (*org) c.query.emplace_back("org", TRY(api.resolve_org(**org)));
    ApiReply r = TRY(api.send(c));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    std::vector<json> items;
    if (const json& it = field_at(r.body, "items"); it.is_array()) items.assign(it.begin(), it.end());
    if (items.empty()) {
      ctx->err() << "no partitions\n";
      return {};
    }
    ctx->out() << render_partition_table(items);
    return {};
  });
}

namespace {

void add_org_compute_command(CLI::App* org, const Ctx& ctx) {
  struct Args {
    std::string org;
    std::optional<std::string> default_partition;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = org->add_subcommand("compute", "Show an org's compute settings, or set its default partition "
                                             "(org administrators)");
  cmd->add_option("ORG", a->org, "Org id or slug")->required();
  cmd->add_option("--default-partition", a->default_partition,
                  "The partition its jobs and environments use unless they name one");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    std::string org_id = TRY(api.resolve_org(a->org));
    std::string path = api_path({"orgs", org_id, "compute"});
    if (!a->default_partition) {
      ctx->show(TRY(api.get(path)));
      return {};
    }
    if (a->default_partition->empty()) return usage_error("--default-partition must not be empty");
    ApiCall c{.method = "PUT", .path = path, .body = json{{"default_partition", *a->default_partition}}};
    ApiReply r = TRY(api.send_if_match(c, path));
    ctx->done(r, "Default partition of " + a->org + ": " + *a->default_partition);
    return {};
  });
}

}  // namespace

}  // namespace atrium::cli
