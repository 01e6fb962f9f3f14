#include "cli/cli.hpp"

#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

void add_commands(CLI::App& app, int& exit_code) {
  auto ctx = std::make_shared<Context>(exit_code);
  add_login_command(app, ctx);
  add_logout_command(app, ctx);
  add_whoami_command(app, ctx);
  add_org_commands(app, ctx);
  add_group_commands(app, ctx);
  add_user_commands(app, ctx);
  add_role_commands(app, ctx);
  add_project_commands(app, ctx);
  add_token_commands(app, ctx);
  add_mfa_commands(app, ctx);
  add_invite_commands(app, ctx);
  add_audit_commands(app, ctx);
  add_job_commands(app, ctx);
  add_data_commands(app, ctx);
  add_repo_commands(app, ctx);
  add_env_commands(app, ctx);
  add_secret_commands(app, ctx);
  add_compute_commands(app, ctx);
  auto* image = add_image_commands(app, ctx);
  add_image_build(image, ctx);
  add_image_import(image, ctx);
  add_admin_commands(app, ctx);
  add_exec_secrets_command(app, ctx);
}

std::ostream& Context::out() { return std::cout; }
std::ostream& Context::err() { return std::cerr; }

void Context::add_globals(CLI::App* cmd, unsigned flags) {
  auto* g = cmd->add_option_group("Global options");
  if (flags & kServerOpt)
    g->add_option("--server", globals.server,
                  "Server URL (default: the stored login, else " + std::string(kDefaultServer) + ")")
        ->envname("ATRIUM_SERVER_URL");
  if (flags & kTokenOpt)
    g->add_option("--token", globals.token, "API token (default: the stored login)")->envname("ATRIUM_TOKEN");
  if (flags & kJsonOpt) g->add_flag("--json", globals.json, "Print the raw JSON response");
  if (flags & kInsecureOpt) g->add_flag("--insecure", globals.insecure, "Do not verify the server's TLS certificate");
}

void Context::on_run(CLI::App* cmd, std::function<Status()> fn) {
  cmd->callback([self = shared_from_this(), fn = std::move(fn)] {
    Status s;
    try {
      s = fn();
    } catch (const std::exception& e) {
      s = internal(std::string("unexpected error: ") + e.what());
    }
    if (!s) self->report(s.error());
  });
}

void Context::on_api(CLI::App* cmd, std::function<Status(ApiClient&)> fn, bool need_token) {
  add_globals(cmd);
  on_run(cmd, [self = shared_from_this(), fn = std::move(fn), need_token]() -> Status {
    Target t = TRY(self->target(need_token));
    ApiClient api = self->client_for(t);
    return fn(api);
  });
}

Result<std::optional<Credentials>> Context::stored_credentials() {
  if (!stored_) {
    auto dir = TRY(config_directory());
    auto file = credentials_file(dir);
    auto c = TRY(load_credentials(file));
    if (c && credentials_too_open(file))
      err() << "warning: " << file.string() << " is readable by others; run: chmod 600 " << file.string() << "\n";
    stored_ = std::move(c);
  }
  return *stored_;
}

Result<Target> Context::target(bool need_token) {
  std::optional<Credentials> creds;
  if (auto c = stored_credentials()) {
    creds = std::move(*c);
  } else if (globals.token.empty()) {
    return fail(c.error());
  } else {
    err() << "warning: ignoring the stored login: " << c.error().detail << "\n";
  }

  std::string server_text = !globals.server.empty() ? globals.server
                            : creds                 ? creds->server
                                                    : std::string(kDefaultServer);
  auto url = parse_url(server_text);
  if (!url) return usage_error(url.error().detail);
  Target t{*url, globals.token, false};
  std::optional<std::string> stored_server;
  if (creds) {
    if (auto su = parse_url(creds->server)) stored_server = su->to_string();
  }
  // A stored token only ever goes to the server it was minted by.
  if (t.token.empty() && creds && stored_server == t.url.to_string()) {
    t.token = creds->token;
    t.token_from_store = true;
  }
  token_from_store_ = t.token_from_store;
  if (need_token && t.token.empty()) {
    std::string detail = "not logged in to " + t.url.to_string() + ": run `atrium login`, or pass --token / set ATRIUM_TOKEN";
    if (stored_server) detail += " (the stored login is for " + *stored_server + ")";
    return fail(ErrorCode::kUnauthenticated, "not-logged-in", detail);
  }
  return t;
}

Result<Target> Context::anonymous_target() {
  std::optional<Credentials> creds;
  if (auto c = stored_credentials()) {
    creds = std::move(*c);
  } else {
    err() << "warning: ignoring the stored login: " << sanitize(c.error().detail) << "\n";
  }
  auto url = parse_url(!globals.server.empty() ? globals.server
                       : creds                 ? creds->server
                                               : std::string(kDefaultServer));
  if (!url) return usage_error(url.error().detail);
  return Target{*url, "", false};
}

ClientOptions Context::client_options() const {
  ClientOptions o;
  o.insecure = globals.insecure;
  return o;
}

ApiClient Context::client_for(const Target& t) const {
  Transport transport = [url = t.url, options = client_options()](const HttpRequest& req) {
    return http_send(url, req, options);
  };
  return ApiClient(std::move(transport), t.token);
}

void Context::print_json(const json& j) {
  out() << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

void Context::show(const ApiReply& reply) {
  if (globals.json) {
    print_json(reply.body);
  } else {
    out() << render_object(reply.body);
  }
}

Status Context::list(ApiClient& api, ApiCall call, const PageArgs& page, std::string_view kind) {
  TRY_STATUS(add_page(call, page));
  std::vector<json> items;
  std::optional<std::string> next;
  if (page.all) {
    items = TRY(api.all_pages(call));
    if (globals.json) {
      print_json(json{{"items", items}, {"next", nullptr}});
      return {};
    }
  } else {
    ApiReply reply = TRY(api.send(call));
    if (globals.json) {
      print_json(reply.body);
      return {};
    }
    Page p = TRY(parse_page(reply.body));
    items = std::move(p.items);
    next = std::move(p.next);
  }
  if (items.empty()) {
    err() << "no results\n";
  } else {
    out() << render_table(columns_for(kind), items);
  }
  if (next) err() << "more results: rerun with --all, or with --after " << sanitize(*next) << "\n";
  return {};
}

void Context::done(const ApiReply& reply, const std::string& message) {
  if (globals.json) {
    if (!reply.body.is_null()) print_json(reply.body);
    return;
  }
  out() << sanitize(message) << "\n";
}

void Context::report(const Error& e) {
  bool usage = e.type == kUsageErrorType;
  std::string line = "error: " + sanitize(e.detail);
  if (auto it = e.extra.find("status"); it != e.extra.end()) {
    line += " (HTTP " + it->dump() + " " + sanitize(e.type);
    if (auto rid = e.extra.find("request_id"); rid != e.extra.end() && rid->is_string())
      line += ", request " + sanitize(rid->get<std::string>());
    line += ")";
  }
  err() << line << "\n";
  if (usage) err() << "Run with --help for usage.\n";
  if (e.code == ErrorCode::kUnauthenticated && e.extra.contains("status") && token_from_store_)
    err() << "The stored login may have expired or been revoked: run `atrium login` again.\n";
  if (auto ra = e.extra.find("retry_after"); ra != e.extra.end() && ra->is_string())
    err() << "Retry after " << sanitize(ra->get<std::string>()) << " seconds.\n";
  exit_code_ = usage ? 2 : 1;
}

void add_page_options(CLI::App* cmd, PageArgs& page) {
  cmd->add_option("--limit", page.limit, "Page size (1-200, server default 50)");
  cmd->add_option("--after", page.after, "Start after this cursor (from a previous page)");
  cmd->add_flag("--all", page.all, "Fetch every page");
}

Result<std::string> read_password(bool from_stdin, bool confirm, std::string_view prompt) {
  if (from_stdin) return read_secret_line(std::cin);
  if (!stdin_is_terminal()) return usage_error("stdin is not a terminal: pass the password with --password-stdin");
  if (confirm) return prompt_new_secret(prompt);
  auto p = TRY(prompt_secret(prompt));
  if (p.empty()) return usage_error("the password must not be empty");
  return p;
}

}  // namespace atrium::cli
