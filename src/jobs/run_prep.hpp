// A run prepared for `atrium exec`, wherever it runs: the run directory, the workspace checked
// out at the pinned commit, the dataset copies, the image root and spec.json (never a secret).
// The local executor spawns the supervisor on this host; a remote partition's backend has a node
// run it (jobs::Service::prepare_remote).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "jobs/executor.hpp"
#include "jobs/service.hpp"
#include "sandbox/sandbox.hpp"

namespace atrium::jobs {

struct PreparedRun {
  std::filesystem::path dir;  // <data_dir>/jobs/<id>/run<n>, as this server sees it
  sandbox::Spec spec;         // as written to <dir>/spec.json
};

// Blocking (the worker pool). Paths under `s.data_dir` in spec.json are written under
// `node_data_dir` instead (where the nodes see the shared data directory; "" = the same path).
Result<PreparedRun> prepare_run(const Settings& s, const StartRequest& req,
                                const std::filesystem::path& node_data_dir = {});

// `p` with the prefix `from` replaced by `to` ("" = unchanged; so is a path not under `from`).
std::string rebase_path(const std::string& p, const std::filesystem::path& from, const std::filesystem::path& to);

// {"env": {...}, "files": {...}} for `atrium exec --secrets -` ("" when there are none). A secret
// variable never replaces one the job already has (`env`: its sandbox environment).
Result<std::string> secret_payload(const std::vector<secrets::Value>& values,
                                   const std::map<std::string, std::string>& env);

}  // namespace atrium::jobs
