#include "slurm/translate.hpp"

#include <algorithm>
#include <charconv>

namespace atrium::slurm {

using compute::JobState;

std::optional<JobState> map_state(std::string_view s) {
  if (s == "PENDING" || s == "REQUEUED" || s == "REQUEUE_HOLD" || s == "REQUEUE_FED") return JobState::kPending;
  if (s == "RUNNING" || s == "SUSPENDED" || s == "CONFIGURING" || s == "COMPLETING" || s == "STOPPED" ||
      s == "RESIZING" || s == "SIGNALING" || s == "STAGE_OUT")
    return JobState::kRunning;
  if (s == "COMPLETED") return JobState::kCompleted;
  if (s == "FAILED") return JobState::kFailed;
  if (s == "CANCELLED" || s == "PREEMPTED" || s == "REVOKED") return JobState::kCancelled;
  if (s == "TIMEOUT" || s == "DEADLINE") return JobState::kTimeout;
  if (s == "OUT_OF_MEMORY") return JobState::kOutOfMemory;
  if (s == "NODE_FAIL" || s == "BOOT_FAIL") return JobState::kNodeFail;
  return std::nullopt;
}

bool slurm_active(std::string_view s) {
  auto m = map_state(s);
  return !m || !compute::is_terminal(*m);
}

std::optional<jobs::Observation> observation_of(const JobInfo& j) {
  auto state = map_state(j.state);
  if (!state) return std::nullopt;
  jobs::Observation o;
  o.state = *state;
  o.slurm_state = j.state;
  o.reason = j.reason == "None" ? "" : j.reason;
  // SLURM's own name where Atrium has no state of that name: the reason keeps it.
  if (j.state == "PREEMPTED" || j.state == "BOOT_FAIL" || j.state == "DEADLINE" || j.state == "REVOKED")
    o.reason = "SLURM " + j.state + (o.reason.empty() ? "" : ": " + o.reason);
  o.start_time = j.start_time;
  o.end_time = j.end_time;
  if (*state == JobState::kPending) o.estimated_start = j.estimated_start;
  o.exit_code = j.exit_code;
  o.nodes = j.nodes;
  o.held = j.held;
  return o;
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

namespace {

std::string words(const std::vector<std::string>& args) {
  std::string out;
  for (auto& a : args) out += " " + shell_quote(a);
  return out;
}

// The GPUs SLURM allocated (global indices; unset without GPUs) replace the spec's 0..n-1, which
// on a node shared by several jobs would be another job's.
constexpr const char* kSlurmGpus = " ${SLURM_JOB_GPUS:+--gpus \"$SLURM_JOB_GPUS\"}";

// The lines that run one task (indent: inside a case branch).
std::string task_lines(const std::string& server_url, const ScriptTask& t, const std::string& indent) {
  std::string run = t.run_dir, token = run + "/exec.token";
  std::string channel = " --server " + shell_quote(server_url) + " --token-file " + shell_quote(token) + " --job " +
                        shell_quote(t.job_id);
  std::string out = indent + "exec >>" + shell_quote(run + "/slurm.out") + " 2>&1\n";
  if (!t.tunnel_socket.empty())
    out += indent + "\"$A\" tunnel" + channel + " --socket " + shell_quote(t.tunnel_socket) + " &\n";
  if (t.wants_secrets)
    out += indent + "\"$A\" exec-secrets" + channel + " | \"$A\"" + words(t.exec_args) + kSlurmGpus + " --secrets -\n";
  else
    out += indent + "exec \"$A\"" + words(t.exec_args) + kSlurmGpus + "\n";
  return out;
}

}  // namespace

std::string batch_script(const std::string& atrium_path, const std::string& server_url,
                         const std::vector<ScriptTask>& tasks) {
  std::string s = "#!/bin/sh\n# Atrium: the run is prepared on the shared filesystem; atrium exec builds the sandbox.\n";
  s += "A=" + shell_quote(atrium_path) + "\n";
  if (tasks.size() == 1 && !tasks.front().index) return s + task_lines(server_url, tasks.front(), "");
  s += "case \"$SLURM_ARRAY_TASK_ID\" in\n";
  for (auto& t : tasks) {
    s += std::to_string(t.index.value_or(0)) + ")\n";
    s += task_lines(server_url, t, "  ");
    s += "  ;;\n";
  }
  s += "*)\n  echo \"atrium: no task $SLURM_ARRAY_TASK_ID in this array\" >&2\n  exit 1\n  ;;\nesac\n";
  return s;
}

std::string array_spec(const std::set<std::uint32_t>& indexes, std::uint32_t max_concurrent) {
  std::string out;
  for (auto it = indexes.begin(); it != indexes.end();) {
    std::uint32_t first = *it, last = first;
    while (++it != indexes.end() && *it == last + 1) last = *it;
    out += (out.empty() ? "" : ",") + std::to_string(first);
    if (last != first) out += "-" + std::to_string(last);
  }
  if (max_concurrent > 0) out += "%" + std::to_string(max_concurrent);
  return out;
}

std::set<std::uint32_t> parse_task_string(std::string_view s) {
  std::set<std::uint32_t> out;
  s = s.substr(0, s.find('%'));
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    auto num = [](std::string_view t, std::uint32_t& v) {
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      return ec == std::errc() && p == t.data() + t.size();
    };
    std::uint32_t step = 1;
    if (auto colon = item.find(':'); colon != std::string_view::npos) {
      if (!num(item.substr(colon + 1), step) || step == 0) continue;
      item = item.substr(0, colon);
    }
    std::uint32_t a = 0, b = 0;
    auto dash = item.find('-');
    if (dash == std::string_view::npos) {
      if (num(item, a)) out.insert(a);
      continue;
    }
    if (!num(item.substr(0, dash), a) || !num(item.substr(dash + 1), b) || b < a || b - a > 1'000'000) continue;
    for (std::uint32_t i = a; i <= b; i += step) out.insert(i);
  }
  return out;
}

std::int64_t time_limit_minutes(Millis job_limit, Millis kill_grace, std::int64_t max_min) {
  Millis total = job_limit + kill_grace + 60'000;
  std::int64_t minutes = (total + 59'999) / 60'000;
  return max_min > 0 ? std::min(minutes, max_min) : minutes;
}

std::string rebase_path(const std::string& path, const std::string& from, const std::string& to) {
  if (from.empty() || to.empty() || from == to) return path;
  if (path == from) return to;
  if (path.size() > from.size() && path.starts_with(from) && path[from.size()] == '/')
    return to + path.substr(from.size());
  return path;
}

std::string key_of_comment(std::string_view comment) {
  if (!comment.starts_with("atrium:")) return "";
  comment.remove_prefix(7);
  return std::string(comment.substr(0, comment.find('#')));
}

}  // namespace atrium::slurm
