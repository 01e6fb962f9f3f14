#include "slurm/rest_parse.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <vector>

namespace atrium::slurm {

bool terminal_state(const std::string& state) {
  static constexpr std::array<std::string_view, 9> kFinal = {
      "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"};
  return std::ranges::find(kFinal, state) != kFinal.end();
}

NodeCondition condition_of(const NodeState& n) {
  // "base+FLAG+FLAG" (parse_nodes); SLURM spells the base in lower case and the flags in upper case
  // in 22.05, compared here without case.
  std::string s = n.state;
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<std::string_view> parts;
  for (std::string_view rest = s; !rest.empty();) {
    auto plus = rest.find('+');
    parts.push_back(rest.substr(0, plus));
    rest = plus == std::string_view::npos ? std::string_view{} : rest.substr(plus + 1);
  }
  auto has = [&](std::string_view p) { return std::ranges::find(parts, p) != parts.end(); };
  if (parts.empty()) return NodeCondition::kUp;
  if (parts[0] == "down" || parts[0] == "error" || has("not_responding") || has("fail") || has("failing"))
    return NodeCondition::kDown;
  if (parts[0] == "drained" || parts[0] == "draining" || has("drain")) return NodeCondition::kDrained;
  return NodeCondition::kUp;
}

}  // namespace atrium::slurm

namespace atrium::slurm::rest_detail {
namespace {

using nlohmann::json;

std::int64_t num(const json& j, const char* key, std::int64_t def = 0) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return def;  // null: SLURM's NO_VAL / INFINITE / unset
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  return it->is_number_unsigned() ? static_cast<std::int64_t>(it->get<std::uint64_t>()) : it->get<std::int64_t>();
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// SLURM's unix seconds -> ms; 0 (never) -> nullopt.
std::optional<Millis> when(const json& j, const char* key) {
  std::int64_t s = num(j, key);
  if (s <= 0) return std::nullopt;
  return s * 1000;
}

// slurm_errno.h: the codes that say "could not talk to slurmctld", not "slurmctld said no".
bool communication_error(int n) {
  return n == -1 || n == 4 /*EINTR*/ || n == 11 /*EAGAIN*/ || n == 110 /*ETIMEDOUT*/ ||
         n == 111 /*ECONNREFUSED*/ || (n >= 1000 && n < 1100) /*SLURM_COMMUNICATIONS_*, protocol*/ ||
         (n >= 1800 && n < 1900) /*SLURMCTLD_COMMUNICATIONS_**/ ||
         (n >= 5000 && n < 6000) /*SLURM_PROTOCOL_SOCKET_**/;
}

constexpr int kInvalidJobId = 2017;  // ESLURM_INVALID_JOB_ID

std::string joined(const std::vector<SlurmError>& errs) {
  std::string out;
  for (auto& e : errs) {
    if (!out.empty()) out += "; ";
    out += e.text;
    if (e.number > 0) out += " (" + std::to_string(e.number) + ")";
  }
  return out;
}

}  // namespace

std::vector<SlurmError> errors_of(const json& body) {
  std::vector<SlurmError> out;
  if (!body.is_object()) return out;
  auto it = body.find("errors");
  if (it == body.end() || !it->is_array()) return out;
  for (auto& e : *it) {
    if (!e.is_object()) continue;
    SlurmError se;
    se.number = static_cast<int>(num(e, "error_number", num(e, "error_code", num(e, "errno", -1))));
    std::string err = str(e, "error"), desc = str(e, "description");
    se.text = err.empty() ? desc : desc.empty() || desc == err ? err : err + ": " + desc;
    if (se.text.empty()) se.text = "unspecified error";
    out.push_back(std::move(se));
  }
  return out;
}

Error classify(long http_status, const std::string& body, Op op) {
  auto unavailable = [](std::string why) {
    return Error(ErrorCode::kUnavailable, "slurm-unavailable", "SLURM is unavailable: " + std::move(why));
  };
  if (http_status == 401 || http_status == 403)
    return unavailable("slurmrestd refused the token (check the cluster's jwt_key_file and submit_user)");
  if (http_status == 404)
    return unavailable("slurmrestd does not serve this API (is openapi/v0.0.38 loaded?)");
  json parsed = json::parse(body, nullptr, false);
  std::vector<SlurmError> errs = errors_of(parsed);
  // Errors that are not SLURM's refusals (with their own error numbers) say nothing about the
  // request: slurmctld could not be asked. slurmrestd's own parse errors (9000+) are refusals.
  bool refusal = !errs.empty() && std::ranges::none_of(errs, [](auto& e) { return communication_error(e.number); });
  if (!refusal) {
    if (errs.empty()) return unavailable("slurmrestd answered HTTP " + std::to_string(http_status));
    return unavailable(joined(errs));
  }
  if (std::ranges::any_of(errs, [](auto& e) { return e.number == kInvalidJobId; }))
    return Error(ErrorCode::kNotFound, "not-found", "SLURM does not know the job: " + joined(errs));
  if (op == Op::kSubmit)
    return Error(ErrorCode::kInvalidArgument, "slurm-refused", "SLURM refused the job: " + joined(errs));
  if (op == Op::kControl)
    return Error(ErrorCode::kFailedPrecondition, "slurm-refused", "SLURM refused: " + joined(errs));
  return Error(ErrorCode::kInternal, "slurm-error", "SLURM answered: " + joined(errs));
}

int exit_status(std::int64_t wait_status) {
  if (wait_status < 0) return 255;
  int sig = static_cast<int>(wait_status & 0x7f);
  if (sig != 0) return 128 + sig;
  return static_cast<int>((wait_status >> 8) & 0xff);
}

JobInfo parse_job(const json& j) {
  JobInfo r;
  r.job_id = num(j, "job_id");
  r.array_job_id = num(j, "array_job_id");
  if (auto it = j.find("array_task_id"); it != j.end() && it->is_number()) r.array_task_id = it->get<std::int64_t>();
  r.array_task_string = str(j, "array_task_string");
  r.name = str(j, "name");
  r.comment = str(j, "comment");
  r.partition = str(j, "partition");
  r.account = str(j, "account");
  r.user_name = str(j, "user_name");
  r.state = str(j, "job_state");
  r.reason = str(j, "state_reason");
  if (r.reason == "None") r.reason.clear();
  if (std::string d = str(j, "state_description"); !d.empty()) r.reason += r.reason.empty() ? d : ": " + d;
  r.nodes = str(j, "nodes");
  r.submit_time = when(j, "submit_time");
  r.time_limit_min = std::max<std::int64_t>(0, num(j, "time_limit"));
  r.restart_count = static_cast<int>(num(j, "restart_cnt"));
  bool pending = r.state == "PENDING";
  bool final = terminal_state(r.state);
  if (pending) {
    r.estimated_start = when(j, "start_time");
    r.held = num(j, "priority", 1) == 0;
  } else {
    r.start_time = when(j, "start_time");
  }
  if (final) {
    r.end_time = when(j, "end_time");
    // Only for a script that ran and ended by itself or by a signal: SLURM says 0 for a node failure
    // and for a job cancelled before it started.
    bool ran = !r.nodes.empty() && r.state != "NODE_FAIL" && r.state != "BOOT_FAIL";
    if (auto it = j.find("exit_code"); ran && it != j.end() && it->is_number()) r.exit_code = exit_status(num(j, "exit_code"));
  }
  return r;
}

std::vector<JobInfo> parse_jobs(const json& body) {
  std::vector<JobInfo> out;
  auto it = body.find("jobs");
  if (it == body.end() || !it->is_array()) return out;
  out.reserve(it->size());
  for (auto& j : *it)
    if (j.is_object()) out.push_back(parse_job(j));
  return out;
}

int gres_gpus(const std::string& gres) {
  int total = 0;
  std::size_t pos = 0;
  while (pos <= gres.size()) {
    std::size_t end = gres.find(',', pos);
    if (end == std::string::npos) end = gres.size();
    std::string item = gres.substr(pos, end - pos);
    pos = end + 1;
    if (!item.starts_with("gpu")) continue;
    item = item.substr(0, item.find('('));
    std::size_t colon = item.rfind(':');
    if (colon == std::string::npos) continue;
    try {
      total += std::stoi(item.substr(colon + 1));
    } catch (const std::exception&) {  // "gpu:a100" without a count: not counted
    }
  }
  return total;
}

std::vector<NodeState> parse_nodes(const json& body) {
  std::vector<NodeState> out;
  auto it = body.find("nodes");
  if (it == body.end() || !it->is_array()) return out;
  for (auto& n : *it) {
    if (!n.is_object()) continue;
    NodeState s;
    s.name = str(n, "name");
    s.state = str(n, "state");
    if (auto f = n.find("state_flags"); f != n.end() && f->is_array())
      for (auto& flag : *f)
        if (flag.is_string()) s.state += "+" + flag.get<std::string>();  // "idle+DRAIN"
    s.reason = str(n, "reason");
    s.cpus = static_cast<int>(num(n, "cpus"));
    s.real_memory_mb = num(n, "real_memory");
    s.gpus = gres_gpus(str(n, "gres"));
    if (auto p = n.find("partitions"); p != n.end() && p->is_array())
      for (auto& name : *p)
        if (name.is_string()) s.partitions.push_back(name.get<std::string>());
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<PartitionState> parse_partitions(const json& partitions, const json& nodes) {
  std::vector<NodeState> ns = parse_nodes(nodes);
  std::vector<PartitionState> out;
  auto it = partitions.find("partitions");
  if (it == partitions.end() || !it->is_array()) return out;
  for (auto& p : *it) {
    if (!p.is_object()) continue;
    PartitionState s;
    s.name = str(p, "name");
    s.state = str(p, "state");
    s.max_time_min = std::max<std::int64_t>(0, num(p, "max_time_limit"));  // -1 / null: INFINITE
    int node_cpus = 0;
    std::int64_t node_mem = 0;
    for (auto& n : ns) {
      if (std::ranges::find(n.partitions, s.name) == n.partitions.end()) continue;
      s.nodes.push_back(n.name);
      node_cpus = std::max(node_cpus, n.cpus);
      node_mem = std::max(node_mem, n.real_memory_mb);
      s.max_gpus_per_node = std::max(s.max_gpus_per_node, n.gpus);
    }
    std::int64_t lim_cpus = num(p, "maximum_cpus_per_node"), lim_mem = num(p, "maximum_memory_per_node");
    s.max_cpus_per_node = lim_cpus > 0 && (node_cpus == 0 || lim_cpus < node_cpus) ? static_cast<int>(lim_cpus) : node_cpus;
    s.max_mem_mb_per_node = lim_mem > 0 && (node_mem == 0 || lim_mem < node_mem) ? lim_mem : node_mem;
    out.push_back(std::move(s));
  }
  return out;
}

Diag parse_diag(const json& body) {
  Diag d;
  auto it = body.find("statistics");
  if (it == body.end() || !it->is_object()) return d;
  const json& s = *it;
  d.server_thread_count = num(s, "server_thread_count");
  d.jobs_submitted = num(s, "jobs_submitted");
  d.schedule_cycle_total = num(s, "schedule_cycle_total");
  if (auto r = s.find("rpcs_by_message_type"); r != s.end() && r->is_array())
    for (auto& m : *r)
      if (m.is_object()) d.rpcs_total += num(m, "count");
  return d;
}

json submission(const JobSubmission& s) {
  json env = json::object();
  for (auto& [k, v] : s.environment) env[k] = v;
  if (env.empty()) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";  // v0.0.38 requires the object
  json job = {{"name", s.name},
              {"comment", s.comment},
              {"environment", std::move(env)},
              {"cpus_per_task", std::max(1, s.cpus)},
              {"requeue", s.requeue}};
  auto set = [&](const char* key, const std::string& v) {
    if (!v.empty()) job[key] = v;
  };
  set("partition", s.partition);
  set("account", s.account);
  set("current_working_directory", s.cwd);
  set("standard_output", s.std_out);
  set("standard_error", s.std_err);
  set("array", s.array);
  set("dependency", s.dependency);
  if (s.mem_mb > 0) job["memory_per_node"] = s.mem_mb;
  if (s.gpus > 0) job["gres"] = "gpu:" + std::to_string(s.gpus);
  if (s.time_limit_min > 0) job["time_limit"] = s.time_limit_min;
  if (s.hold) job["hold"] = true;
  return json{{"script", s.script}, {"job", std::move(job)}};
}

}  // namespace atrium::slurm::rest_detail
