// Module-internal (images/): runs the image tools (skopeo, umoci) as child processes, optionally as
// an unprivileged uid and inside a directory given by fd (so that uid needs no access to the
// directories above it), with a deadline and bounded output.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::images {

struct ToolOptions {
  int cwd_fd = -1;                      // fchdir() here first (-1: stay)
  std::vector<int> keep_fds;            // inherited as 3, 4, ... (/proc/self/fd/3 ...)
  std::optional<uid_t> uid;             // run as uid:uid without supplementary groups (when we are root)
  Millis timeout_ms = 30 * 60'000;      // killed after this
  std::size_t max_output = 4 << 20;     // stdout kept (more is an error)
  std::vector<std::string> env;         // the child's whole environment ("K=V")
};

struct ToolResult {
  int status = 0;  // exit status; 128 + signal when killed
  std::string out, err;
  bool timed_out = false;
};

// Runs argv (argv[0] found on PATH) to completion. An error only when it could not run at all.
Result<ToolResult> run_tool(const std::vector<std::string>& argv, const ToolOptions& o);

}  // namespace atrium::images
