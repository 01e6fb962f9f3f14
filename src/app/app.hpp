// The composition root: reads config, opens the database, builds the modules, wires their routes,
// and runs the server. Also the `admin` subcommands that work on a data directory directly.
#pragma once

namespace CLI {
class App;
}

namespace atrium::app {
void add_commands(CLI::App& app, int& exit_code);
}
