// org, group, user, role, invite.
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

CLI::App* leaf(CLI::App* parent, const Ctx&, const std::string& name, const std::string& description) {
  return parent->add_subcommand(name, description);  // on_api adds the global options last
}

ApiCall get_call(std::string path) {
  ApiCall c;
  c.path = std::move(path);
  return c;
}

ApiCall delete_call(std::string path) {
  ApiCall c;
  c.method = "DELETE";
  c.path = std::move(path);
  return c;
}

// PATCH/DELETE of a versioned object: its ETag first, then the change with If-Match.
Status change_object(Context& ctx, ApiClient& api, const ApiCall& call, const std::string& message) {
  ApiReply r = TRY(api.send_if_match(call, call.path));
  if (!r.body.is_null() && !ctx.globals.json) {
    ctx.out() << sanitize(message) << "\n";
    ctx.show(r);
  } else {
    ctx.done(r, message);
  }
  return {};
}

// A member row change (the member list supplies the row's ETag; there is no GET per member).
Status change_member(Context& ctx, ApiClient& api, const std::string& members_path, std::string_view user,
                     const std::function<Result<ApiCall>(const std::string& user_id)>& make,
                     const std::string& message) {
  MemberRef m = TRY(api.find_member(members_path, user));
  if (m.user_id.empty()) return fail(ErrorCode::kInternal, "bad-response", "the member row carries no user_id");
  ApiCall c = TRY(make(m.user_id));
  ApiReply r = TRY(api.send(c, {{"If-Match", m.etag}}));
  ctx.done(r, message);
  return {};
}

}  // namespace

void add_org_commands(CLI::App& app, const Ctx& ctx) {
  auto* org = app.add_subcommand("org", "Organizations and their members");
  org->require_subcommand(1);
  {
    auto page = std::make_shared<PageArgs>();
    auto* cmd = leaf(org, ctx, "list", "List the orgs you belong to (admin: all)");
    add_page_options(cmd, *page);
    ctx->on_api(cmd, [ctx, page](ApiClient& api) { return ctx->list(api, get_call(api_path({"orgs"})), *page, "org"); });
  }
  {
    auto o = std::make_shared<std::string>();
    auto* cmd = leaf(org, ctx, "show", "Show an org");
    cmd->add_option("ORG", *o, "Org id or slug")->required();
    ctx->on_api(cmd, [ctx, o](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(*o));
      ctx->show(TRY(api.get(api_path({"orgs", id}))));
      return {};
    });
  }
  {
    struct Args { std::string slug, name; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(org, ctx, "create", "Create an org (instance admins)");
    cmd->add_option("--slug", a->slug, "URL name: a-z 0-9 - _ .")->required();
    cmd->add_option("--name", a->name, "Display name")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      ApiReply r = TRY(api.send(TRY(org_create(a->slug, a->name))));
      ctx->show(r);
      return {};
    });
  }
  {
    struct Args { std::string org, name; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(org, ctx, "update", "Rename an org");
    cmd->add_option("ORG", a->org, "Org id or slug")->required();
    cmd->add_option("--name", a->name, "New display name")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return change_object(*ctx, api, TRY(org_update(id, a->name)), "Updated org " + a->org + ".");
    });
  }
  {
    auto o = std::make_shared<std::string>();
    auto* cmd = leaf(org, ctx, "delete", "Delete an org (it must have no projects)");
    cmd->add_option("ORG", *o, "Org id or slug")->required();
    ctx->on_api(cmd, [ctx, o](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(*o));
      return change_object(*ctx, api, delete_call(api_path({"orgs", id})), "Deleted org " + *o + ".");
    });
  }
  {
    struct Args { std::string org; PageArgs page; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(org, ctx, "members", "List an org's members");
    cmd->add_option("ORG", a->org, "Org id or slug")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return ctx->list(api, get_call(api_path({"orgs", id, "members"})), a->page, "member");
    });
  }
  {
    struct Args { std::string org, user, role; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(org, ctx, "member-add", "Add a user to an org");
    cmd->add_option("ORG", a->org, "Org id or slug")->required();
    cmd->add_option("--user", a->user, "User id or username")->required();
    cmd->add_option("--role", a->role, "Org role: org-admin, member, viewer or a custom role")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      ApiReply r = TRY(api.send(TRY(org_member_add(id, a->user, a->role))));
      ctx->done(r, "Added " + a->user + " to " + a->org + " as " + a->role + ".");
      return {};
    });
  }
  {
    struct Args { std::string org, user, role; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(org, ctx, "member-set", "Change an org member's role");
    cmd->add_option("ORG", a->org, "Org id or slug")->required();
    cmd->add_option("USER", a->user, "User id or username")->required();
    cmd->add_option("--role", a->role, "New org role")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return change_member(
          *ctx, api, api_path({"orgs", id, "members"}), a->user,
          [&](const std::string& uid) { return org_member_set(id, uid, a->role); },
          "Set " + a->user + "'s role in " + a->org + " to " + a->role + ".");
    });
  }
  {
    struct Args { std::string org, user; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(org, ctx, "member-remove", "Remove a user from an org");
    cmd->add_option("ORG", a->org, "Org id or slug")->required();
    cmd->add_option("USER", a->user, "User id or username")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return change_member(
          *ctx, api, api_path({"orgs", id, "members"}), a->user,
          [&](const std::string& uid) -> Result<ApiCall> { return delete_call(api_path({"orgs", id, "members", uid})); },
          "Removed " + a->user + " from " + a->org + ".");
    });
  }
}

void add_group_commands(CLI::App& app, const Ctx& ctx) {
  auto* group = app.add_subcommand("group", "Groups within an org");
  group->require_subcommand(1);
  {
    struct Args { std::string org; PageArgs page; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(group, ctx, "list", "List an org's groups");
    cmd->add_option("--org", a->org, "Org id or slug")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return ctx->list(api, get_call(api_path({"orgs", id, "groups"})), a->page, "group");
    });
  }
  {
    struct Args { std::string org, slug, name; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(group, ctx, "create", "Create a group");
    cmd->add_option("--org", a->org, "Org id or slug")->required();
    cmd->add_option("--slug", a->slug, "URL name: a-z 0-9 - _ .")->required();
    cmd->add_option("--name", a->name, "Display name")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      ctx->show(TRY(api.send(TRY(group_create(id, a->slug, a->name)))));
      return {};
    });
  }
  {
    auto g = std::make_shared<std::string>();
    auto* cmd = leaf(group, ctx, "show", "Show a group");
    cmd->add_option("ID", *g, "Group id")->required();
    ctx->on_api(cmd, [ctx, g](ApiClient& api) -> Status {
      ctx->show(TRY(api.get(api_path({"groups", *g}))));
      return {};
    });
  }
  {
    auto g = std::make_shared<std::string>();
    auto* cmd = leaf(group, ctx, "delete", "Delete a group");
    cmd->add_option("ID", *g, "Group id")->required();
    ctx->on_api(cmd, [ctx, g](ApiClient& api) {
      return change_object(*ctx, api, delete_call(api_path({"groups", *g})), "Deleted group " + *g + ".");
    });
  }
  {
    struct Args { std::string group; PageArgs page; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(group, ctx, "members", "List a group's members");
    cmd->add_option("ID", a->group, "Group id")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a](ApiClient& api) {
      return ctx->list(api, get_call(api_path({"groups", a->group, "members"})), a->page, "group-member");
    });
  }
  {
    struct Args { std::string group, user; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(group, ctx, "add-member", "Add an org member to a group");
    cmd->add_option("ID", a->group, "Group id")->required();
    cmd->add_option("--user", a->user, "User id or username")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      ApiReply r = TRY(api.send(TRY(group_add_member(a->group, a->user))));
      ctx->done(r, "Added " + a->user + " to group " + a->group + ".");
      return {};
    });
  }
  {
    struct Args { std::string group, user; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(group, ctx, "remove-member", "Remove a user from a group");
    cmd->add_option("ID", a->group, "Group id")->required();
    cmd->add_option("USER", a->user, "User id or username")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) {
      return change_member(
          *ctx, api, api_path({"groups", a->group, "members"}), a->user,
          [&](const std::string& uid) -> Result<ApiCall> {
            return delete_call(api_path({"groups", a->group, "members", uid}));
          },
          "Removed " + a->user + " from group " + a->group + ".");
    });
  }
}

void add_user_commands(CLI::App& app, const Ctx& ctx) {
  auto* user = app.add_subcommand("user", "User accounts");
  user->require_subcommand(1);
  {
    auto page = std::make_shared<PageArgs>();
    auto* cmd = leaf(user, ctx, "list", "List users sharing an org with you (admin: all)");
    add_page_options(cmd, *page);
    ctx->on_api(cmd, [ctx, page](ApiClient& api) { return ctx->list(api, get_call(api_path({"users"})), *page, "user"); });
  }
  {
    auto u = std::make_shared<std::string>();
    auto* cmd = leaf(user, ctx, "show", "Show a user");
    cmd->add_option("USER", *u, "User id or username")->required();
    ctx->on_api(cmd, [ctx, u](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_user(*u));
      ctx->show(TRY(api.get(api_path({"users", id}))));
      return {};
    });
  }
  {
    struct Args {
      UserCreateArgs user;
      bool password_stdin = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(user, ctx, "create", "Create a user (instance admins)");
    cmd->add_option("--username", a->user.username, "Username")->required();
    cmd->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin (else prompted)");
    cmd->add_option("--email", a->user.email, "Email address");
    cmd->add_option("--display-name", a->user.display_name, "Display name");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      UserCreateArgs args = a->user;
      args.password = TRY(read_password(a->password_stdin, /*confirm=*/true, "Password for the new user: "));
      ctx->show(TRY(api.send(TRY(user_create(args)))));
      return {};
    });
  }
  add_user_disable_commands(user, ctx);
}

void add_role_commands(CLI::App& app, const Ctx& ctx) {
  auto* role = app.add_subcommand("role", "Org roles (built-in and custom)");
  role->require_subcommand(1);
  {
    struct Args { std::string org; PageArgs page; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(role, ctx, "list", "List an org's roles");
    cmd->add_option("--org", a->org, "Org id or slug")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return ctx->list(api, get_call(api_path({"orgs", id, "roles"})), a->page, "role");
    });
  }
  {
    auto r = std::make_shared<std::string>();
    auto* cmd = leaf(role, ctx, "show", "Show a role");
    cmd->add_option("ID", *r, "Role id")->required();
    ctx->on_api(cmd, [ctx, r](ApiClient& api) -> Status {
      ctx->show(TRY(api.get(api_path({"roles", *r}))));
      return {};
    });
  }
  {
    struct Args { std::string org; RoleCreateArgs role; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(role, ctx, "create", "Create a custom role");
    cmd->add_option("--org", a->org, "Org id or slug")->required();
    cmd->add_option("--name", a->role.name, "Role name")->required();
    cmd->add_option("--perm", a->role.permissions, "Permission resource:verb:scope, e.g. projects:read:org (repeatable)")
        ->required()
        ->allow_extra_args(false);
    cmd->add_option("--description", a->role.description, "Description");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      ApiCall c = TRY(role_create("-", a->role));  // validate before any network round trip
      std::string id = TRY(api.resolve_org(a->org));
      c = TRY(role_create(id, a->role));
      ctx->show(TRY(api.send(c)));
      return {};
    });
  }
  {
    auto r = std::make_shared<std::string>();
    auto* cmd = leaf(role, ctx, "delete", "Delete a custom role (it must be unused)");
    cmd->add_option("ID", *r, "Role id")->required();
    ctx->on_api(cmd, [ctx, r](ApiClient& api) {
      return change_object(*ctx, api, delete_call(api_path({"roles", *r})), "Deleted role " + *r + ".");
    });
  }
}

void add_invite_commands(CLI::App& app, const Ctx& ctx) {
  auto* invite = app.add_subcommand("invite", "Invitations to join an org");
  invite->require_subcommand(1);
  {
    struct Args { std::string org; InviteCreateArgs invite; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(invite, ctx, "create", "Invite someone to an org (the link is shown once)");
    cmd->add_option("--org", a->org, "Org id or slug")->required();
    cmd->add_option("--role", a->invite.role, "Org role the invitee gets")->required();
    cmd->add_option("--email", a->invite.email, "Invitee's email address");
    cmd->add_option("--expires-in-hours", a->invite.expires_in_hours, "Lifetime in hours");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      ApiReply r = TRY(api.send(TRY(invite_create(id, a->invite))));
      ctx->err() << "warning: the invitation token is shown only this once; send it to the invitee privately.\n";
      ctx->show(r);
      return {};
    });
  }
  {
    struct Args { std::string org; PageArgs page; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(invite, ctx, "list", "List an org's invitations");
    cmd->add_option("--org", a->org, "Org id or slug")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_org(a->org));
      return ctx->list(api, get_call(api_path({"orgs", id, "invitations"})), a->page, "invitation");
    });
  }
  {
    struct Args { std::string id, org; };
    auto a = std::make_shared<Args>();
    auto* cmd = leaf(invite, ctx, "revoke", "Revoke an invitation");
    cmd->add_option("ID", a->id, "Invitation id")->required();
    cmd->add_option("--org", a->org, "Org of the invitation (saves searching your orgs)");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      // The API has no GET per invitation: its ETag comes from the org's invitation list.
      std::vector<std::string> orgs;
      if (!a->org.empty()) {
        orgs.push_back(TRY(api.resolve_org(a->org)));
      } else {
        ApiReply me = TRY(api.get(api_path({"me"})));
        if (me.body.contains("orgs") && me.body["orgs"].is_array())
          for (const auto& o : me.body["orgs"])
            if (o.contains("id") && o["id"].is_string()) orgs.push_back(o["id"].get<std::string>());
      }
      for (const auto& org_id : orgs) {
        ApiCall list = get_call(api_path({"orgs", org_id, "invitations"}));
        list.query.emplace_back("limit", "200");
        auto rows = api.all_pages(list);
        if (!rows) {
          if (!a->org.empty()) return fail(rows.error());
          continue;  // an org whose invitations we may not read
        }
        for (const auto& row : *rows) {
          if (!row.is_object() || row.value("id", json()) != json(a->id)) continue;
          std::string etag = row.contains("etag") && row["etag"].is_string() ? quote_etag(row["etag"].get<std::string>()) : "*";
          ApiReply r = TRY(api.send(delete_call(api_path({"invitations", a->id})), {{"If-Match", etag}}));
          ctx->done(r, "Revoked invitation " + a->id + ".");
          return {};
        }
      }
      return fail(ErrorCode::kNotFound, "not-found", "invitation " + a->id + " not found in " +
                                                         (a->org.empty() ? std::string("any of your orgs") : a->org));
    });
  }
  {
    struct Args {
      InviteAcceptArgs accept;
      bool password_stdin = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = invite->add_subcommand("accept", "Accept an invitation by creating your account (no login needed)");
    cmd->add_option("--token", a->accept.token, "Invitation token")->required();
    cmd->add_option("--username", a->accept.username, "Username for your new account")->required();
    cmd->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin (else prompted)");
    cmd->add_option("--email", a->accept.email, "Email address");
    cmd->add_option("--display-name", a->accept.display_name, "Display name");
    ctx->add_globals(cmd, kServerOpt | kJsonOpt | kInsecureOpt);  // no global --token: it is the invitation's
    ctx->on_run(cmd, [ctx, a]() -> Status {
      InviteAcceptArgs args = a->accept;
      args.password = TRY(read_password(a->password_stdin, /*confirm=*/true, "Choose a password: "));
      ApiCall c = TRY(invite_accept(args));
      Target t = TRY(ctx->anonymous_target());  // accept is public: never send a stored token along
      ApiClient api = ctx->client_for(t);
      ApiReply r = TRY(api.send(c));
      if (ctx->globals.json) {
        ctx->print_json(r.body);
        return {};
      }
      const json& org = r.body.value("org", json::object());
      std::string org_name = org.is_object() ? org.value("slug", org.value("name", std::string("the org"))) : "the org";
      ctx->out() << "Welcome, " << sanitize(args.username) << ": you joined " << sanitize(org_name) << ".\n"
                 << "Log in with: atrium login --server " << t.url.to_string() << " --username "
                 << sanitize(args.username) << "\n";
      return {};
    });
  }
}

}  // namespace atrium::cli
