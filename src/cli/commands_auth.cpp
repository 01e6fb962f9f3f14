// login, logout, whoami, token.
#include <iostream>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

// Revokes a token with its own credentials: GET for the ETag, then DELETE with If-Match.
Status revoke_token(ApiClient& api, const std::string& token_id) {
  ApiCall del;
  del.method = "DELETE";
  del.path = api_path({"tokens", token_id});
  TRY(api.send_if_match(del, del.path));
  return {};
}

}  // namespace

void add_login_command(CLI::App& app, const Ctx& ctx) {
  struct Args {
    std::string username;
    bool password_stdin = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("login", "Log in and store an API token for this machine");
  cmd->add_option("--username,-u", a->username, "Username (prompted for when omitted)");
  cmd->add_flag("--password-stdin", a->password_stdin, "Read the password from stdin");
  ctx->add_globals(cmd, kServerOpt | kJsonOpt | kInsecureOpt);
  ctx->on_run(cmd, [ctx, a]() -> Status {
    auto dir = TRY(ctx->config_directory());
    Target t = TRY(ctx->anonymous_target());  // the login itself is anonymous
    std::optional<Credentials> previous;
    if (auto c = ctx->stored_credentials()) previous = *c;

    std::string username = a->username;
    if (username.empty()) {
      if (a->password_stdin || !stdin_is_terminal())
        return usage_error("--username is required when stdin is not a terminal");
      username = TRY(prompt_line("Username: "));
      if (username.empty()) return usage_error("the username must not be empty");
    }
    std::string password = TRY(read_password(a->password_stdin, /*confirm=*/false, "Password: "));

    ApiClient anon = ctx->client_for(t);
    ApiReply login = TRY(anon.send(login_call(username, password)));
    auto session = set_cookie_value(login.raw, "atrium_session");
    std::string csrf = str(login.body, "csrf_token");
    if (csrf.empty()) csrf = set_cookie_value(login.raw, "atrium_csrf").value_or("");
    if (!session || session->empty())
      return fail(ErrorCode::kInternal, "bad-response", "the login response set no atrium_session cookie");
    std::string cookie = "atrium_session=" + *session;
    if (!csrf.empty()) cookie += "; atrium_csrf=" + csrf;
    Headers session_headers{{"Cookie", cookie}, {"X-CSRF-Token", csrf}};

    auto minted = anon.send(*token_create({cli_token_name(hostname()), {}, std::nullopt}), session_headers);
    // End the browser-style session whatever happened: the CLI keeps only the API token.
    ApiCall logout;
    logout.method = "POST";
    logout.path = api_path({"auth", "logout"});
    if (auto out = anon.send(logout, session_headers); !out)
      ctx->err() << "warning: could not end the login session: " << sanitize(out.error().detail) << "\n";
    if (!minted) return fail(minted.error());

    Credentials creds;
    creds.server = t.url.to_string();
    creds.username = str(login.body.value("user", json::object()), "username");
    if (creds.username.empty()) creds.username = username;
    creds.token = str(minted->body, "token");
    creds.token_id = str(minted->body, "id");
    if (creds.token.empty()) return fail(ErrorCode::kInternal, "bad-response", "the server minted no token");
    TRY_STATUS(save_credentials(dir, creds));

    // The token from an earlier login to the same server is now unused: revoke it (best effort).
    if (previous && previous->token != creds.token && !previous->token_id.empty()) {
      auto prev_url = parse_url(previous->server);
      if (prev_url && prev_url->to_string() == creds.server) {
        Target old = t;
        old.token = previous->token;
        ApiClient old_api = ctx->client_for(old);
        (void)revoke_token(old_api, previous->token_id);
      }
    }

    if (ctx->globals.json) {
      ctx->print_json({{"server", creds.server},
                       {"username", creds.username},
                       {"token_id", creds.token_id},
                       {"credentials", credentials_file(dir).string()}});
    } else {
      ctx->out() << "Logged in to " << creds.server << " as " << sanitize(creds.username) << ".\n"
                 << "API token " << sanitize(creds.token_id) << " saved to " << credentials_file(dir).string()
                 << "\n";
    }
    return {};
  });
}

void add_logout_command(CLI::App& app, const Ctx& ctx) {
  auto* cmd = app.add_subcommand("logout", "Revoke the stored API token and forget it");
  ctx->add_globals(cmd, kJsonOpt | kInsecureOpt);
  ctx->on_run(cmd, [ctx]() -> Status {
    auto dir = TRY(ctx->config_directory());
    auto file = credentials_file(dir);
    auto creds = TRY(ctx->stored_credentials());
    if (!creds) {
      if (!ctx->globals.json) ctx->out() << "Not logged in.\n";
      return {};
    }
    auto url = parse_url(creds->server);
    bool revoked = false;
    if (url && !creds->token_id.empty()) {
      ApiClient api = ctx->client_for(Target{*url, creds->token, true});
      auto r = revoke_token(api, creds->token_id);
      if (r) {
        revoked = true;
      } else if (r.error().code == ErrorCode::kUnauthenticated || r.error().code == ErrorCode::kNotFound) {
        // Already expired or revoked: nothing left to revoke.
      } else {
        // Keep the file so the user can retry once the server is reachable again.
        return fail(Error(r.error().code, r.error().type,
                          "could not revoke the stored token: " + r.error().detail +
                              " (delete " + file.string() + " to forget it anyway)"));
      }
    }
    TRY_STATUS(remove_credentials(file));
    if (ctx->globals.json) {
      ctx->print_json({{"server", creds->server}, {"token_id", creds->token_id}, {"revoked", revoked}});
    } else {
      ctx->out() << "Logged out of " << sanitize(creds->server) << (revoked ? " (token revoked)" : "") << ".\n";
    }
    return {};
  });
}

void add_whoami_command(CLI::App& app, const Ctx& ctx) {
  auto* cmd = app.add_subcommand("whoami", "Show the signed-in user and their orgs");
  ctx->on_api(cmd, [ctx](ApiClient& api) -> Status {
    ApiReply me = TRY(api.get(api_path({"me"})));
    if (ctx->globals.json) {
      ctx->print_json(me.body);
      return {};
    }
    const json& b = me.body;
    const json& user = b.contains("user") && b["user"].is_object() ? b["user"] : b;
    json summary = json::object();
    for (const char* k : {"username", "id", "display_name", "email"})
      if (user.contains(k)) summary[k] = user[k];
    if (b.contains("instance_admin")) summary["instance_admin"] = b["instance_admin"];
    ctx->out() << render_object(summary);
    if (b.contains("orgs") && b["orgs"].is_array() && !b["orgs"].empty()) {
      ctx->out() << "\n" << render_table(columns_for("my-org"), b["orgs"].get<std::vector<json>>());
    }
    return {};
  });
}

void add_token_commands(CLI::App& app, const Ctx& ctx) {
  auto* token = app.add_subcommand("token", "Manage your API tokens");
  token->require_subcommand(1);

  {
    auto page = std::make_shared<PageArgs>();
    auto* cmd = token->add_subcommand("list", "List your API tokens");
    add_page_options(cmd, *page);
    ctx->on_api(cmd, [ctx, page](ApiClient& api) -> Status {
      ApiCall c;
      c.path = api_path({"tokens"});
      return ctx->list(api, c, *page, "token");
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* cmd = token->add_subcommand("show", "Show one API token");
    cmd->add_option("ID", *id, "Token id")->required();
    ctx->on_api(cmd, [ctx, id](ApiClient& api) -> Status {
      ctx->show(TRY(api.get(api_path({"tokens", *id}))));
      return {};
    });
  }
  {
    auto a = std::make_shared<TokenCreateArgs>();
    auto* cmd = token->add_subcommand("create", "Create an API token (the secret is shown once)");
    cmd->add_option("--name", a->name, "Token name")->required();
    cmd->add_option("--scope", a->scopes, "Scope narrowing your rights, e.g. '*:read' (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--expires-in-days", a->expires_in_days, "Lifetime in days (default: no expiry)");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      ApiCall c = TRY(token_create(*a));
      ApiReply r = TRY(api.send(c));
      ctx->err() << "warning: the token secret is shown only this once; store it somewhere safe.\n";
      if (ctx->globals.json) {
        ctx->print_json(r.body);
      } else {
        json summary = r.body;
        if (summary.is_object()) summary.erase("token");
        ctx->out() << render_object(summary) << "\n" << sanitize(str(r.body, "token")) << "\n";
      }
      return {};
    });
  }
  {
    auto id = std::make_shared<std::string>();
    auto* cmd = token->add_subcommand("revoke", "Revoke an API token");
    cmd->add_option("ID", *id, "Token id")->required();
    ctx->on_api(cmd, [ctx, id](ApiClient& api) -> Status {
      ApiCall del;
      del.method = "DELETE";
      del.path = api_path({"tokens", *id});
      ApiReply r = TRY(api.send_if_match(del, del.path));
      ctx->done(r, "Revoked token " + *id + ".");
      return {};
    });
  }
}

}  // namespace atrium::cli
