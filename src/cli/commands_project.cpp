// project, audit.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

CLI::App* leaf(CLI::App* parent, const Ctx&, const std::string& name, const std::string& description) {
  return parent->add_subcommand(name, description);  // on_api adds the global options last
}

ApiCall delete_call(std::string path) {
  ApiCall c;
  c.method = "DELETE";
  c.path = std::move(path);
  return c;
}

// PATCH/DELETE of a project: its ETag first, then the change with If-Match.
Status change_project(Context& ctx, ApiClient& api, const ApiCall& call, const std::string& message) {
  ApiReply r = TRY(api.send_if_match(call, call.path));  // call.path is the project's own path
  ctx.done(r, message);
  return {};
}

struct AuditArgs {
  AuditFilters filters;
  std::string org;  // id or slug, resolved into filters.org_id
  PageArgs page;
};

void add_audit_filters(CLI::App* cmd, AuditArgs& a) {
  cmd->add_option("--actor", a.filters.actor, "Actor (user id)");
  cmd->add_option("--org", a.org, "Org id or slug");
  cmd->add_option("--action", a.filters.action, "Action, e.g. project.create");
  cmd->add_option("--target", a.filters.target, "Target object id");
  cmd->add_option("--since", a.filters.since, "From: RFC 3339, YYYY-MM-DD, or a duration ago (24h, 7d)");
  cmd->add_option("--until", a.filters.until, "Until: RFC 3339, YYYY-MM-DD, or a duration ago");
}

Result<ApiCall> audit_call(Context& ctx, ApiClient& api, AuditArgs& a) {
  ApiCall c = TRY(audit_events(a.filters, ctx.now()));  // validates the times before any request
  if (!a.org.empty()) {
    a.filters.org_id = TRY(api.resolve_org(a.org));
    c = TRY(audit_events(a.filters, ctx.now()));
  }
  return c;
}

}  // namespace

namespace {

void add_project_list(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string org;
    ProjectListArgs list;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "list", "List the projects you can see");
  cmd->add_option("--org", a->org, "Only this org (id or slug)");
  cmd->add_option("--search", a->list.search, "Full-text search in name, description and tags");
  cmd->add_flag("--archived", a->list.archived, "List archived projects");
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    ProjectListArgs args = a->list;
    if (!a->org.empty()) args.org_id = TRY(api.resolve_org(a->org));
    return ctx->list(api, TRY(project_list(args)), a->page, "project");
  });
}

void add_project_show(CLI::App* project, const Ctx& ctx) {
  auto p = std::make_shared<std::string>();
  auto* cmd = leaf(project, ctx, "show", "Show a project");
  cmd->add_option("ID", *p, "Project: ORG/PROJECT or its id")->required();
  ctx->on_api(cmd, [ctx, p](ApiClient& api) -> Status {
    ctx->show(TRY(api.get(api_path({"projects", TRY(api.resolve_project(*p))}))));
    return {};
  });
}

void add_project_create(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string org;
    ProjectCreateArgs project;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "create", "Create a project (you become its owner)");
  cmd->add_option("--org", a->org, "Org id or slug")->required();
  cmd->add_option("--slug", a->project.slug, "URL name: a-z 0-9 - _ .")->required();
  cmd->add_option("--name", a->project.name, "Display name")->required();
  cmd->add_option("--description", a->project.description, "Description");
  cmd->add_option("--tag", a->project.tags, "Tag (repeatable)")->allow_extra_args(false);
  cmd->add_option("--visibility", a->project.visibility, "private, org or instance");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    TRY(project_create("-", a->project));  // validate before any network round trip
    std::string org = TRY(api.resolve_org(a->org));
    ctx->show(TRY(api.send(TRY(project_create(org, a->project)))));
    return {};
  });
}

void add_project_update(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string id;
    ProjectUpdateArgs update;
    std::vector<std::string> tags;
    bool clear_tags = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "update", "Change a project's name, description, tags or visibility");
  cmd->add_option("ID", a->id, "Project: ORG/PROJECT or its id")->required();
  cmd->add_option("--name", a->update.name, "New display name");
  cmd->add_option("--description", a->update.description, "New description");
  auto* tag = cmd->add_option("--tag", a->tags, "Tag (repeatable; replaces all tags)")->allow_extra_args(false);
  cmd->add_flag("--clear-tags", a->clear_tags, "Remove all tags")->excludes(tag);
  cmd->add_option("--visibility", a->update.visibility, "private, org or instance");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    ProjectUpdateArgs u = a->update;
    if (!a->tags.empty() || a->clear_tags) u.tags = a->tags;
    ApiCall c = TRY(project_update(TRY(api.resolve_project(a->id)), u));
    ApiReply r = TRY(api.send_if_match(c, c.path));
    if (ctx->globals.json || r.body.is_null()) {
      ctx->done(r, "Updated project " + a->id + ".");
    } else {
      ctx->show(r);
    }
    return {};
  });
}

void add_project_delete(CLI::App* project, const Ctx& ctx) {
  auto p = std::make_shared<std::string>();
  auto* cmd = leaf(project, ctx, "delete", "Delete a project");
  cmd->add_option("ID", *p, "Project: ORG/PROJECT or its id")->required();
  ctx->on_api(cmd, [ctx, p](ApiClient& api) -> Status {
    return change_project(*ctx, api, delete_call(api_path({"projects", TRY(api.resolve_project(*p))})),
                          "Deleted project " + *p + ".");
  });
}

void add_project_members(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string id;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "members", "List a project's members");
  cmd->add_option("ID", a->id, "Project: ORG/PROJECT or its id")->required();
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    ApiCall c;
    c.path = api_path({"projects", TRY(api.resolve_project(a->id)), "members"});
    return ctx->list(api, c, a->page, "project-member");
  });
}

void add_project_member_add(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string id, user, role;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "member-add", "Add an org member to a project");
  cmd->add_option("ID", a->id, "Project: ORG/PROJECT or its id")->required();
  cmd->add_option("--user", a->user, "User id or username")->required();
  cmd->add_option("--role", a->role, "owner, maintainer, member or viewer")->required();
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    ApiReply r = TRY(api.send(TRY(project_member_add(TRY(api.resolve_project(a->id)), a->user, a->role))));
    ctx->done(r, "Added " + a->user + " to project " + a->id + " as " + a->role + ".");
    return {};
  });
}

void add_project_member_set(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string id, user, role;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "member-set", "Change a project member's role");
  cmd->add_option("ID", a->id, "Project: ORG/PROJECT or its id")->required();
  cmd->add_option("USER", a->user, "User id or username")->required();
  cmd->add_option("--role", a->role, "owner, maintainer, member or viewer")->required();
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    if (a->role.empty()) return usage_error("--role must not be empty");
    std::string id = TRY(api.resolve_project(a->id));
    MemberRef m = TRY(api.find_member(api_path({"projects", id, "members"}), a->user));
    ApiCall c;
    c.method = "PATCH";
    c.path = api_path({"projects", id, "members", m.user_id});
    c.body = json{{"role", a->role}};
    ApiReply r = TRY(api.send(c, {{"If-Match", m.etag}}));
    ctx->done(r, "Set " + a->user + "'s role in project " + a->id + " to " + a->role + ".");
    return {};
  });
}

void add_project_member_remove(CLI::App* project, const Ctx& ctx) {
  struct Args {
    std::string id, user;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = leaf(project, ctx, "member-remove", "Remove a member from a project");
  cmd->add_option("ID", a->id, "Project: ORG/PROJECT or its id")->required();
  cmd->add_option("USER", a->user, "User id or username")->required();
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    std::string id = TRY(api.resolve_project(a->id));
    MemberRef m = TRY(api.find_member(api_path({"projects", id, "members"}), a->user));
    ApiReply r = TRY(api.send(delete_call(api_path({"projects", id, "members", m.user_id})), {{"If-Match", m.etag}}));
    ctx->done(r, "Removed " + a->user + " from project " + a->id + ".");
    return {};
  });
}

}  // namespace

void add_project_commands(CLI::App& app, const Ctx& ctx) {
  auto* project = app.add_subcommand("project", "Research projects");
  project->require_subcommand(1);
  add_project_list(project, ctx);
  add_project_show(project, ctx);
  add_project_create(project, ctx);
  add_project_update(project, ctx);
  for (bool archive : {true, false}) {
    auto p = std::make_shared<std::string>();
    auto* cmd = leaf(project, ctx, archive ? "archive" : "unarchive",
                     archive ? "Archive a project (read-only until unarchived)" : "Unarchive a project");
    cmd->add_option("ID", *p, "Project: ORG/PROJECT or its id")->required();
    ctx->on_api(cmd, [ctx, p, archive](ApiClient& api) -> Status {
      return change_project(*ctx, api, TRY(project_set_archived(TRY(api.resolve_project(*p)), archive)),
                            std::string(archive ? "Archived" : "Unarchived") + " project " + *p + ".");
    });
  }
  add_project_delete(project, ctx);
  add_project_members(project, ctx);
  add_project_member_add(project, ctx);
  add_project_member_set(project, ctx);
  add_project_member_remove(project, ctx);
}

namespace {

void add_audit_list(CLI::App* audit, const Ctx& ctx) {
  auto a = std::make_shared<AuditArgs>();
  auto* cmd = leaf(audit, ctx, "list", "List audit events");
  add_audit_filters(cmd, *a);
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    return ctx->list(api, TRY(audit_call(*ctx, api, *a)), a->page, "audit");
  });
}

void add_audit_export(CLI::App* audit, const Ctx& ctx) {
  auto a = std::make_shared<AuditArgs>();
  auto max_events = std::make_shared<std::optional<std::size_t>>();
  auto* cmd = leaf(audit, ctx, "export", "Write every matching event to stdout as JSON lines");
  add_audit_filters(cmd, *a);
  cmd->add_option("--limit", *max_events, "Stop after this many events (default: all)");
  ctx->on_api(cmd, [ctx, a, max_events](ApiClient& api) -> Status {
    if (*max_events && **max_events == 0) return usage_error("--limit must be at least 1");
    ApiCall c = TRY(audit_call(*ctx, api, *a));
    a->page.all = true;
    if (*max_events) a->page.limit = static_cast<int>(std::min<std::size_t>(**max_events, 200));
    TRY_STATUS(add_page(c, a->page));
    // Stream page by page so a long export starts at once and holds one page in memory.
    std::size_t count = 0;
    TRY_STATUS(api.each_page(c, [&](Page& p) {
      for (const auto& e : p.items) {
        if (*max_events && count >= **max_events) break;
        ctx->out() << e.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
        ++count;
      }
      ctx->out().flush();
      if (*max_events && count >= **max_events) p.next.reset();  // enough: stop following cursors
    }));
    if (!ctx->out()) return fail(ErrorCode::kInternal, "io", "writing to stdout failed");
    ctx->err() << "exported " << count << " events\n";
    return {};
  });
}

void add_audit_verify(CLI::App* audit, const Ctx& ctx) {
  auto* cmd = leaf(audit, ctx, "verify", "Verify the audit log's hash chain (admins); exit 1 when broken");
  ctx->on_api(cmd, [ctx](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"audit", "verify"})));
    const json& b = r.body;
    bool ok = b.is_object() && b.value("ok", false);
    if (ctx->globals.json) {
      ctx->print_json(b);
    } else if (ok) {
      ctx->out() << "ok: " << format_cell(b.value("checked", json())) << " events checked, chain intact\n";
    } else {
      const json& broken = b.is_object() ? b.value("first_broken", json()) : json();
      ctx->out() << "BROKEN: " << format_cell(b.value("checked", json())) << " events checked; first broken at seq "
                 << format_cell(broken.is_object() ? broken.value("seq", json()) : json()) << ": "
                 << format_cell(broken.is_object() ? broken.value("reason", json()) : json()) << "\n";
    }
    if (!ok) return fail(ErrorCode::kFailedPrecondition, "audit-chain-broken", "the audit chain does not verify");
    return {};
  });
}

}  // namespace

void add_audit_commands(CLI::App& app, const Ctx& ctx) {
  auto* audit = app.add_subcommand("audit", "The audit log");
  audit->require_subcommand(1);
  add_audit_list(audit, ctx);
  add_audit_export(audit, ctx);
  add_audit_verify(audit, ctx);
}

}  // namespace atrium::cli
