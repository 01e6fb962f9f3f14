// atrium: one binary. `atrium server` runs the platform; the other subcommands are the client.
#include <CLI/CLI.hpp>

#include "app/app.hpp"
#include "cli/cli.hpp"
#include "sandbox/exec_command.hpp"
#include "tunnel/node.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Atrium: a self-hosted research computing platform", "atrium"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "atrium 0.1.0");
  int exit_code = 0;
  atrium::app::add_commands(app, exit_code);  // server, admin
  atrium::sandbox::add_exec_command(app, exit_code);  // exec (the per-job sandbox supervisor)
  atrium::tunnel::add_tunnel_command(app, exit_code);  // tunnel (an environment's link from a SLURM node)
  atrium::cli::add_commands(app, exit_code);  // login, whoami, org, group, user, role, project, token, invite, audit
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version or the usage error
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
