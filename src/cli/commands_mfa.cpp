// mfa status|enable|disable: the signed-in user's two-factor authentication (TOTP).
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/prompt.hpp"
#include "cli/table.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

ApiCall mfa_call(const char* method, std::string path, json body) {
  ApiCall c;
  c.method = method;
  c.path = std::move(path);
  c.body = std::move(body);
  return c;
}

Result<std::string> ask(const char* prompt, bool secret) {
  if (!stdin_is_terminal())
    return fail(ErrorCode::kFailedPrecondition, "terminal-required",
                "this command asks questions: run it in a terminal");
  return secret ? prompt_secret(prompt) : prompt_line(prompt);
}

}  // namespace

void add_mfa_commands(CLI::App& app, const Ctx& ctx) {
  auto* mfa = app.add_subcommand("mfa", "Two-factor authentication (an authenticator app) for your account");
  mfa->require_subcommand(1);

  auto* status = mfa->add_subcommand("status", "Show whether two-factor authentication is on");
  ctx->on_api(status, [ctx](ApiClient& api) -> Status {
    ApiReply r = TRY(api.get(api_path({"me", "mfa"})));
    if (ctx->globals.json) ctx->print_json(r.body);
    else ctx->out() << render_object(r.body);
    return {};
  });

  auto* enable =
      mfa->add_subcommand("enable", "Turn it on (asks for your password): add the key to your app, then type its code");
  ctx->on_api(enable, [ctx](ApiClient& api) -> Status {
    std::string password = TRY(ask("Password: ", true));
    ApiReply begun = TRY(api.send(mfa_call("POST", api_path({"me", "mfa", "totp"}), json{{"password", password}})));
    ctx->out() << "Add this key to your authenticator app (or open the URI on the device):\n  key: "
               << sanitize(begun.body.value("secret", "")) << "\n  uri: " << sanitize(begun.body.value("otpauth_uri", ""))
               << "\n";
    std::string code = TRY(ask("Code from the app: ", false));
    ApiReply done = TRY(api.send(mfa_call("POST", api_path({"me", "mfa", "totp", "confirm"}), json{{"code", code}})));
    ctx->out() << "Two-factor authentication is on. Recovery codes (each works once; shown only now):\n";
    for (auto& c : done.body.value("recovery_codes", json::array()))
      if (c.is_string()) ctx->out() << "  " << sanitize(c.get<std::string>()) << "\n";
    return {};
  });

  auto* disable = mfa->add_subcommand("disable", "Turn it off (asks for your password and a code)");
  ctx->on_api(disable, [ctx](ApiClient& api) -> Status {
    std::string password = TRY(ask("Password: ", true));
    std::string code = TRY(ask("Code from the app (or a recovery code): ", false));
    bool totp = code.size() == 6 && code.find_first_not_of("0123456789") == std::string::npos;
    json body{{"password", password}, {totp ? "code" : "recovery_code", code}};
    TRY(api.send(mfa_call("DELETE", api_path({"me", "mfa"}), std::move(body))));
    ctx->out() << "Two-factor authentication is off.\n";
    return {};
  });
}

}  // namespace atrium::cli
