// `atrium exec-secrets`: run by a SLURM batch script on a node, before `atrium exec --secrets -`.
// It fetches the job's secrets over the exec channel with the job-scoped token the server wrote
// into the run directory (never in argv, never in the script) and prints them to stdout, a pipe.
#include <chrono>
#include <thread>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "core/files.hpp"

namespace atrium::cli {

namespace {

struct ExecSecretsArgs {
  std::string server, token_file, job;
  bool insecure = false;
};

Status exec_secrets(Context& ctx, const ExecSecretsArgs& a) {
  auto url = TRY(parse_url(a.server));
  auto read = read_token_file(a.token_file);
  if (!read) return invalid("the token file: " + read.error().detail);
  std::string token = std::move(*read);
  HttpRequest req{.target = "/api/v1/exec/jobs/" + a.job + "/secrets",
                  .headers = {{"Authorization", "Bearer " + token}, {"Accept", "application/json"}}};
  ClientOptions opts{.insecure = a.insecure, .timeout = std::chrono::seconds(30)};
  // A node may start a job while the server restarts: a few tries over ~15 s before giving up.
  Result<HttpResponse> r = internal("not sent");
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::seconds(attempt));
    r = http_send(url, req, opts);
    if (r && r->status < 500) break;
  }
  std::fill(token.begin(), token.end(), '\0');
  if (!r) return std::unexpected(r.error());
  if (r->status != 200)
    return fail(ErrorCode::kFailedPrecondition, "exec-secrets",
                "the server answered " + std::to_string(r->status) + ": " + r->body.substr(0, 500));
  ctx.out() << r->body;
  ctx.out().flush();
  return {};
}

}  // namespace

void add_exec_secrets_command(CLI::App& app, const Ctx& ctx) {
  auto a = std::make_shared<ExecSecretsArgs>();
  auto* cmd = app.add_subcommand("exec-secrets",
                                 "On a compute node: print a SLURM job's secrets for `atrium exec --secrets -`");
  cmd->add_option("--server", a->server, "The Atrium server as the nodes reach it")->required();
  cmd->add_option("--token-file", a->token_file, "The job's exec token (RUN/exec.token)")->required();
  cmd->add_option("--job", a->job, "The Atrium job id")->required();
  cmd->add_flag("--insecure", a->insecure, "Do not verify the server's TLS certificate");
  ctx->on_run(cmd, [ctx, a] { return exec_secrets(*ctx, *a); });
}

}  // namespace atrium::cli
