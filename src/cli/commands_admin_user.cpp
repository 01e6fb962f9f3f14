// `atrium admin user ...`: an instance admin's actions on an account (docs/auth.md, "Administering
// users"): a one-time password-reset link, disable and enable, delete, and the user's sessions.
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

ApiCall call(std::string method, std::string path) {
  ApiCall c;
  c.method = std::move(method);
  c.path = std::move(path);
  return c;
}

CLI::App* user_leaf(CLI::App* parent, const std::string& name, const std::string& description,
                    std::shared_ptr<std::string> user) {
  auto* cmd = parent->add_subcommand(name, description);
  cmd->add_option("USER", *user, "User id or username")->required();
  return cmd;
}

void add_reset_password(CLI::App* user, const Ctx& ctx) {
  auto u = std::make_shared<std::string>();
  auto* cmd = user_leaf(user, "reset-password",
                        "Make a one-time link with which the user chooses a new password (mailed when mail is on)", u);
  ctx->on_api(cmd, [ctx, u](ApiClient& api) -> Status {
    std::string id = TRY(api.resolve_user(*u));
    ApiReply r = TRY(api.send(call("POST", api_path({"users", id, "password-reset"}))));
    if (ctx->globals.json) {
      ctx->print_json(r.body);
      return {};
    }
    bool mailed = r.body.value("mailed", false);
    ctx->out() << (mailed ? "Mailed a password-reset link to " : "Password-reset link for ") << sanitize(*u)
               << " (one use, until " << sanitize(r.body.value("expires_at", "")) << "; their sessions end when it "
               << "is used):\n"
               << sanitize(r.body.value("url", "")) << "\n";
    return {};
  });
}

}  // namespace

void add_user_disable_commands(CLI::App* user, const Ctx& ctx) {
  for (bool disable : {true, false}) {
    auto u = std::make_shared<std::string>();
    auto* cmd = user_leaf(user, disable ? "disable" : "enable",
                          disable ? "Disable a user: sessions and tokens end, jobs and environments stop"
                                  : "Enable a disabled user (revoked tokens stay revoked)",
                          u);
    ctx->on_api(cmd, [ctx, u, disable](ApiClient& api) -> Status {
      std::string id = TRY(api.resolve_user(*u));
      ApiReply r = TRY(api.send_if_match(TRY(user_set_disabled(id, disable)), api_path({"users", id})));
      ctx->done(r, std::string(disable ? "Disabled" : "Enabled") + " user " + *u + ".");
      return {};
    });
  }
}

namespace {

void add_delete(CLI::App* user, const Ctx& ctx) {
  auto u = std::make_shared<std::string>();
  auto* cmd = user_leaf(user, "delete",
                        "Delete a user: access ends, jobs and environments stop, projects stay with their org", u);
  ctx->on_api(cmd, [ctx, u](ApiClient& api) -> Status {
    std::string id = TRY(api.resolve_user(*u));
    std::string path = api_path({"users", id});
    ApiReply r = TRY(api.send_if_match(call("DELETE", path), path));
    ctx->done(r, "Deleted user " + *u + ".");
    return {};
  });
}

void add_sessions(CLI::App* user, const Ctx& ctx) {
  struct Args {
    std::string user;
    bool end = false;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = user->add_subcommand("sessions", "List a user's live sessions; --end signs them out everywhere");
  cmd->add_option("USER", a->user, "User id or username")->required();
  cmd->add_flag("--end", a->end, "End every session of the user (their API tokens stay)");
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    std::string id = TRY(api.resolve_user(a->user));
    std::string path = api_path({"users", id, "sessions"});
    if (!a->end) return ctx->list(api, call("GET", path), a->page, "session");
    ApiReply r = TRY(api.send(call("DELETE", path)));
    ctx->done(r, "Ended every session of " + a->user + ".");
    return {};
  });
}

void add_tokens(CLI::App* user, const Ctx& ctx) {
  struct Args {
    std::string user;
    PageArgs page;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = user->add_subcommand("tokens", "List a user's API tokens (never their secrets)");
  cmd->add_option("USER", a->user, "User id or username")->required();
  add_page_options(cmd, a->page);
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    std::string id = TRY(api.resolve_user(a->user));
    return ctx->list(api, call("GET", api_path({"users", id, "tokens"})), a->page, "token");
  });
}

}  // namespace

void add_admin_user_commands(CLI::App* admin, const Ctx& ctx) {
  auto* user = admin->add_subcommand("user", "Administer a user account (instance admins)");
  user->require_subcommand(1);
  add_reset_password(user, ctx);
  add_user_disable_commands(user, ctx);
  add_delete(user, ctx);
  add_sessions(user, ctx);
  add_tokens(user, ctx);
}

}  // namespace atrium::cli
