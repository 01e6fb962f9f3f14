// The atrium client: login, whoami and the resource commands (org, group, user, role, project,
// token, invite, audit, job), which talk to an Atrium server over its HTTP API only.
#pragma once

namespace CLI {
class App;
}

namespace atrium::cli {

// Registers the client subcommands on the root app. Their callbacks set `exit_code`: 0 on success,
// 1 when the request failed, 2 for usage errors found after parsing.
void add_commands(CLI::App& app, int& exit_code);

}  // namespace atrium::cli
