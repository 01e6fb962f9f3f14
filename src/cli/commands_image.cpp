// image: the images jobs and environments run on (docs/images.md): pull, list, show, rm, default,
// and the org's registry credentials (registry add|list|rm). `import` and `build` live beside.

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "core/clock.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

const std::vector<Column>& image_columns() {
  static const std::vector<Column> cols = {{"ID", "id"},          {"NAME", "name", 30},  {"STATE", "state"},
                                           {"DIGEST", "digest", 19}, {"SIZE", "size_bytes"}, {"OS", "software.os.PRETTY_NAME", 30},
                                           {"PROJECT", "project_id"}, {"DEFAULT", "default"}};
  return cols;
}

void print_items(Context& ctx, const ApiReply& r, const std::vector<Column>& cols, const char* none) {
  if (ctx.globals.json) {
    ctx.print_json(r.body);
    return;
  }
  auto p = parse_page(r.body);
  if (!p || p->items.empty())
    ctx.err() << none << "\n";
  else
    ctx.out() << render_table(cols, p->items);
}

void add_image_pull(CLI::App* image, const Ctx& ctx) {
  struct Args {
    std::string project, name, source;
    bool make_default = false, wait = false;
    int wait_s = 1800;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = image->add_subcommand("pull", "Pull an image from a registry into a project (docker://host/repo:tag or host/repo@sha256:...)");
  cmd->add_option("project", a->project, "Project: ORG/PROJECT or its id")->required();
  cmd->add_option("name", a->name, "The image's name in the project (jobs say image: NAME)")->required();
  cmd->add_option("source", a->source, "docker://host/repo:tag, host/repo@sha256:...")->required();
  cmd->add_flag("--default", a->make_default, "Make it the project's default image");
  cmd->add_flag("--wait", a->wait, "Wait until the image is ready (or failed)");
  cmd->add_option("--wait-timeout", a->wait_s, "Seconds --wait waits at most (default 1800)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    ApiCall c;
    c.method = "POST";
    c.path = api_path({"projects", a->project, "images"});
    c.body = json{{"name", a->name}, {"source", a->source}, {"default", a->make_default}};
    return wait_and_report_image(*ctx, api, TRY(api.send(c)).body, a->name, a->wait, a->wait_s, "pull");
  });
}

void add_image_list(CLI::App* image, const Ctx& ctx) {
  struct Args {
    std::string project, org;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = image->add_subcommand("list", "A project's images (with its org's org-wide ones), or an org's (--org)");
  cmd->add_option("project", a->project, "Project: ORG/PROJECT or its id");
  cmd->add_option("--org", a->org, "The org's org-wide images (id or slug)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    if (a->project.empty() == a->org.empty())
      return fail(ErrorCode::kInvalidArgument, "usage", "name a PROJECT or --org ORG");
    ApiCall c;
    c.path = a->org.empty() ? api_path({"projects", TRY(api.resolve_project(a->project)), "images"})
                            : api_path({"orgs", TRY(api.resolve_org(a->org)), "images"});
    c.query.emplace_back("limit", "200");
    print_items(*ctx, TRY(api.send(c)), image_columns(), "no images");
    return {};
  });
}

void add_image_show_rm(CLI::App* image, const Ctx& ctx) {
  auto id = std::make_shared<std::string>();
  auto* show = image->add_subcommand("show", "One image: state, digest, size, the software it holds");
  show->add_option("id", *id, "Image id (img_...)")->required();
  ctx->on_api(show, [ctx, id](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"images", *id})));
    if (ctx->globals.json) ctx->print_json(r.body);
    else ctx->out() << render_object(r.body);
    return {};
  });
  auto rid = std::make_shared<std::string>();
  auto* rm = image->add_subcommand("rm", "Remove an image; its files go once nothing else uses its digest");
  rm->add_option("id", *rid, "Image id (img_...)")->required();
  ctx->on_api(rm, [ctx, rid](ApiClient& api) -> Status {
    ApiCall c;
    c.method = "DELETE";
    c.path = api_path({"images", *rid});
    ctx->done(TRY(api.send_if_match(c, c.path)), "Removed image " + *rid);
    return {};
  });
}

void add_registry_commands(CLI::App* image, const Ctx& ctx) {
  auto* reg = image->add_subcommand("registry", "An org's registry credentials (org admins)");
  reg->require_subcommand(1);
  struct Args {
    std::string org, host, username, id;
    bool password_stdin = false;
  };
  auto a = std::make_shared<Args>();
  auto* add = reg->add_subcommand("add", "Add credentials for a registry host (the password is asked, or read from stdin)");
  add->add_option("org", a->org, "Org id or slug")->required();
  add->add_option("host", a->host, "Registry host[:port], e.g. ghcr.io")->required();
  add->add_option("username", a->username, "User name at the registry")->required();
  add->add_flag("--password-stdin", a->password_stdin, "Read the password (or token) from stdin");
  ctx->on_api(add, [ctx, a](ApiClient& api) -> Status {
    std::string password = TRY(read_password(a->password_stdin, /*confirm=*/false, "Registry password: "));
    ApiCall c;
    c.method = "POST";
    c.path = api_path({"orgs", TRY(api.resolve_org(a->org)), "registries"});
    c.body = json{{"host", a->host}, {"username", a->username}, {"password", password}};
    ApiReply r = TRY(api.send(c));
    ctx->done(r, "Added credentials for " + a->host + " (" + r.body.value("id", std::string()) + ")");
    return {};
  });
  auto l = std::make_shared<std::string>();
  auto* list = reg->add_subcommand("list", "The org's registry credentials (never the passwords)");
  list->add_option("org", *l, "Org id or slug")->required();
  ctx->on_api(list, [ctx, l](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"orgs", TRY(api.resolve_org(*l)), "registries"})));
    print_items(*ctx, r, {{"ID", "id"}, {"HOST", "host", 40}, {"USERNAME", "username", 30}, {"CREATED", "created_at"}},
                "no registry credentials");
    return {};
  });
  auto r = std::make_shared<Args>();
  auto* rm = reg->add_subcommand("rm", "Remove registry credentials");
  rm->add_option("org", r->org, "Org id or slug")->required();
  rm->add_option("id", r->id, "Credentials id (reg_...)")->required();
  ctx->on_api(rm, [ctx, r](ApiClient& api) -> Status {
    ApiCall c;
    c.method = "DELETE";
    c.path = api_path({"orgs", TRY(api.resolve_org(r->org)), "registries", r->id});
    ctx->done(TRY(api.send(c)), "Removed credentials " + r->id);
    return {};
  });
}

}  // namespace

Status wait_and_report_image(Context& ctx, ApiClient& api, json im, const std::string& name, bool wait, int wait_s,
                             const char* what) {
  std::string id = im.value("id", std::string());
  const Stopwatch waited;
  while (wait && im.value("state", std::string()) == "pending" && waited.millis() < Millis{wait_s} * 1000) {
    client_sleep_ms(250);
    im = TRY(api.get(api_path({"images", id}))).body;
  }
  if (ctx.globals.json) {
    ctx.print_json(im);
  } else {
    ctx.out() << "Image " << sanitize(name) << " (" << sanitize(id) << ") is " << sanitize(im.value("state", std::string()));
    if (im.contains("digest") && im["digest"].is_string()) ctx.out() << ": " << sanitize(im["digest"].get<std::string>());
    ctx.out() << "\n";
  }
  if (im.value("state", std::string()) == "failed")
    return fail(ErrorCode::kFailedPrecondition, "image-failed",
                std::string("the ") + what + " failed: " + (im["error"].is_string() ? im["error"].get<std::string>() : std::string()));
  return {};
}

CLI::App* add_image_commands(CLI::App& app, const Ctx& ctx) {
  auto* image = app.add_subcommand("image", "Images that jobs and environments run on: pull, list, show, rm, registry");
  image->require_subcommand(1);
  add_image_pull(image, ctx);
  add_image_list(image, ctx);
  add_image_show_rm(image, ctx);
  add_registry_commands(image, ctx);
  return image;
}

}  // namespace atrium::cli
