// `atrium exec --spec FILE [--state-dir DIR]`: runs one sandboxed job as this process (the
// supervisor) and reports its outcome; what the server starts per job and SLURM runs on a node.
#pragma once

namespace CLI {
class App;
}

namespace atrium::sandbox {

void add_exec_command(CLI::App& app, int& exit_code);

}  // namespace atrium::sandbox
