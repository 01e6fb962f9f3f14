// Spec and Outcome <-> JSON, with strict validation: every problem is an invalid_argument that
// names the field (extra["field"] too), so `atrium exec` and the jobs API can show it as is.
#include <cmath>
#include <limits>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sandbox/sandbox.hpp"

namespace atrium::sandbox {

using nlohmann::json;

namespace {

constexpr std::int64_t kMaxBytes = std::int64_t{1} << 50;  // 1 PiB: "bounded", not a policy
constexpr std::int64_t kMinMemory = std::int64_t{4} << 20;  // below 4 MiB nothing starts
constexpr Millis kMaxWall = Millis{366} * 24 * 3600 * 1000;
constexpr Millis kMaxGrace = Millis{3600} * 1000;
constexpr int kMaxPids = 4'194'304;
constexpr double kMaxCpus = 4096;
constexpr size_t kMaxArgs = 4096;
constexpr size_t kMaxArgBytes = 1 << 20;
constexpr size_t kMaxEnv = 1024;
constexpr size_t kMaxMounts = 64;
constexpr size_t kMaxPath = 4096;

std::unexpected<Error> bad(std::string_view field, std::string_view why) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-sandbox-spec", fmt::format("{}: {}", field, why))
                  .with("field", std::string(field)));
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Absolute, no "." or ".." component, no NUL, bounded. "//" is tolerated (normalised by the kernel).
Status check_abs_path(std::string_view field, const std::string& p) {
  if (p.empty()) return bad(field, "must not be empty");
  if (p.size() > kMaxPath) return bad(field, "is too long");
  if (has_nul(p)) return bad(field, "contains a NUL byte");
  if (p[0] != '/') return bad(field, fmt::format("must be an absolute path, got \"{}\"", p));
  size_t i = 0;
  while (i < p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string_view comp(p.data() + i, j - i);
    if (comp == "..") return bad(field, fmt::format("must not contain \"..\", got \"{}\"", p));
    if (comp == ".") return bad(field, fmt::format("must not contain \".\" components, got \"{}\"", p));
    i = j + 1;
  }
  return {};
}

// "/a//b/" -> "/a/b"
std::string normalise(const std::string& p) {
  std::string out;
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool under(const std::string& path, std::string_view dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// What a bind target may not be: the sandbox's own structure and the host's system directories.
constexpr std::size_t kMaxSecretFileBytes = 4u << 20;
constexpr std::string_view kReservedTargets[] = {"/proc", "/dev", "/sys", "/usr", "/etc", "/bin", "/sbin", "/lib",
                                                 "/lib32", "/lib64", "/libx32", "/tmp", "/workspace", "/boot",
                                                 "/run", "/var/run"};

// ---- typed readers over a JSON object, each naming its field on error

class Reader {
 public:
  Reader(const json& j, std::string prefix) : j_(j), prefix_(std::move(prefix)) {}

  std::string field(std::string_view k) const { return prefix_.empty() ? std::string(k) : prefix_ + "." + std::string(k); }

  Status only(std::initializer_list<std::string_view> keys) const {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      bool known = false;
      for (auto k : keys) known = known || it.key() == k;
      if (!known) return bad(field(it.key()), "unknown field");
    }
    return {};
  }
  bool has(std::string_view k) const {
    auto it = j_.find(k);
    return it != j_.end() && !it->is_null();
  }
  const json& at(std::string_view k) const { return *j_.find(k); }

  Result<std::string> str(std::string_view k, bool required, std::string dflt = "") const {
    if (!has(k)) {
      if (required) return bad(field(k), "is required");
      return dflt;
    }
    const json& v = at(k);
    if (!v.is_string()) return bad(field(k), "must be a string");
    auto s = v.get<std::string>();
    if (has_nul(s)) return bad(field(k), "contains a NUL byte");
    return s;
  }
  Result<bool> boolean(std::string_view k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!at(k).is_boolean()) return bad(field(k), "must be true or false");
    return at(k).get<bool>();
  }
  Result<std::optional<std::int64_t>> integer(std::string_view k, std::int64_t lo, std::int64_t hi) const {
    if (!has(k)) return std::optional<std::int64_t>{};
    const json& v = at(k);
    if (!v.is_number_integer()) return bad(field(k), "must be an integer");
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
      return bad(field(k), fmt::format("must be between {} and {}", lo, hi));
    auto x = v.get<std::int64_t>();
    if (x < lo || x > hi) return bad(field(k), fmt::format("must be between {} and {}", lo, hi));
    return std::optional<std::int64_t>{x};
  }

 private:
  const json& j_;
  std::string prefix_;
};

Result<Limits> limits_from_json(const json& j) {
  if (!j.is_object()) return bad("limits", "must be an object");
  Reader r(j, "limits");
  TRY_STATUS(r.only({"memory_bytes", "cpus", "pids", "wall_ms", "kill_grace_ms", "output_bytes"}));
  Limits l;
  l.memory_bytes = TRY(r.integer("memory_bytes", kMinMemory, kMaxBytes));
  if (r.has("cpus")) {
    const json& v = r.at("cpus");
    if (!v.is_number()) return bad("limits.cpus", "must be a number");
    double c = v.get<double>();
    if (!std::isfinite(c) || c < 0.01 || c > kMaxCpus)
      return bad("limits.cpus", fmt::format("must be between 0.01 and {}", kMaxCpus));
    l.cpus = c;
  }
  if (auto p = TRY(r.integer("pids", 1, kMaxPids))) l.pids = static_cast<int>(*p);
  l.wall_ms = TRY(r.integer("wall_ms", 1, kMaxWall));
  if (auto g = TRY(r.integer("kill_grace_ms", 0, kMaxGrace))) l.kill_grace_ms = *g;
  l.output_bytes = TRY(r.integer("output_bytes", 1, kMaxBytes));
  return l;
}

json limits_to_json(const Limits& l) {
  json j = json::object();
  if (l.memory_bytes) j["memory_bytes"] = *l.memory_bytes;
  if (l.cpus) j["cpus"] = *l.cpus;
  if (l.pids) j["pids"] = *l.pids;
  if (l.wall_ms) j["wall_ms"] = *l.wall_ms;
  j["kill_grace_ms"] = l.kill_grace_ms;
  if (l.output_bytes) j["output_bytes"] = *l.output_bytes;
  return j;
}

bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

bool valid_env_name(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  if (std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

bool valid_hostname(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '-' || s.front() == '.') return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return false;
  return true;
}

Status check_cgroup_parent(const std::string& p) {
  constexpr std::string_view f = "cgroup_parent";
  if (p.empty() || p.size() > 128) return bad(f, "must be 1 to 128 characters");
  if (p.front() == '/' || p.back() == '/') return bad(f, "must be a relative path like \"atrium\" or \"atrium/jobs\"");
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string_view comp(p.data() + i, j - i);
    if (comp.empty() || comp == "." || comp == "..")
      return bad(f, fmt::format("has an empty, \".\" or \"..\" component: \"{}\"", p));
    for (char c : comp)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
        return bad(f, fmt::format("may hold only letters, digits, '_', '-', '.' and '/': \"{}\"", p));
    i = j + 1;
  }
  return {};
}

}  // namespace

Status validate(const Spec& s) {
  if (!valid_id(s.id)) return bad("id", "must be 1 to 64 of [A-Za-z0-9_-]");
  if (s.argv.empty()) return bad("argv", "must not be empty");
  if (s.argv.size() > kMaxArgs) return bad("argv", fmt::format("has more than {} items", kMaxArgs));
  size_t total = 0;
  for (size_t i = 0; i < s.argv.size(); ++i) {
    if (has_nul(s.argv[i])) return bad(fmt::format("argv[{}]", i), "contains a NUL byte");
    total += s.argv[i].size() + 1;
  }
  if (s.argv[0].empty()) return bad("argv[0]", "must not be empty");
  if (total > kMaxArgBytes) return bad("argv", "is too large");
  if (s.env.size() > kMaxEnv) return bad("env", fmt::format("has more than {} variables", kMaxEnv));
  for (const auto& [k, v] : s.env) {
    if (!valid_env_name(k)) return bad(fmt::format("env.{}", k), "is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    if (has_nul(v)) return bad(fmt::format("env.{}", k), "contains a NUL byte");
    total += k.size() + v.size() + 2;
  }
  if (total > kMaxArgBytes) return bad("env", "argv and env together are too large");
  TRY_STATUS(check_abs_path("workspace", s.workspace));
  if (normalise(s.workspace) == "/") return bad("workspace", "must not be /");
  if (s.mounts.size() > kMaxMounts) return bad("mounts", fmt::format("has more than {} items", kMaxMounts));
  std::set<std::string> targets;
  for (size_t i = 0; i < s.mounts.size(); ++i) {
    const auto& m = s.mounts[i];
    TRY_STATUS(check_abs_path(fmt::format("mounts[{}].source", i), m.source));
    auto tf = fmt::format("mounts[{}].target", i);
    TRY_STATUS(check_abs_path(tf, m.target));
    auto t = normalise(m.target);
    if (t == "/") return bad(tf, "must not be /");
    // An image root's resolver files may be replaced (an outbound env's: the host's, read-only).
    bool image_etc = !s.rootfs.empty() && (t == "/etc/resolv.conf" || t == "/etc/hosts") && !m.writable;
    for (auto r : kReservedTargets)
      if (under(t, r) && !image_etc) return bad(tf, fmt::format("must not be {} or below it", r));
    for (const auto& other : targets)
      if (under(t, other) || under(other, t)) return bad(tf, fmt::format("overlaps another mount target {}", other));
    targets.insert(t);
  }
  if (!s.rootfs.empty()) {
    TRY_STATUS(check_abs_path("rootfs", s.rootfs));
    if (normalise(s.rootfs) == "/") return bad("rootfs", "must not be / (leave it empty for the host's /usr and /etc)");
  }
  if (s.rootfs_writable && s.rootfs.empty()) return bad("rootfs_writable", "needs a rootfs (never the host's)");
  if (s.uid && (*s.uid == 0 || *s.uid >= 0xFFFFFFFEu)) return bad("uid", "must be between 1 and 4294967293 (never root)");
  if (s.gid && (*s.gid == 0 || *s.gid >= 0xFFFFFFFEu)) return bad("gid", "must be between 1 and 4294967293 (never root)");
  if (s.gid && !s.uid) return bad("gid", "is given without uid");
  std::set<int> seen;
  for (size_t i = 0; i < s.gpus.size(); ++i) {
    if (s.gpus[i] < 0 || s.gpus[i] > 254) return bad(fmt::format("gpus[{}]", i), "must be between 0 and 254");
    if (!seen.insert(s.gpus[i]).second) return bad(fmt::format("gpus[{}]", i), "is listed twice");
  }
  TRY_STATUS(check_abs_path("cwd", s.cwd));
  if (!valid_hostname(s.hostname)) return bad("hostname", "must be 1 to 64 of [A-Za-z0-9.-], not starting with - or .");
  const auto& l = s.limits;
  if (l.memory_bytes && (*l.memory_bytes < kMinMemory || *l.memory_bytes > kMaxBytes))
    return bad("limits.memory_bytes", fmt::format("must be between {} and {}", kMinMemory, kMaxBytes));
  if (l.cpus && (!std::isfinite(*l.cpus) || *l.cpus < 0.01 || *l.cpus > kMaxCpus))
    return bad("limits.cpus", fmt::format("must be between 0.01 and {}", kMaxCpus));
  if (l.pids && (*l.pids < 1 || *l.pids > kMaxPids)) return bad("limits.pids", fmt::format("must be between 1 and {}", kMaxPids));
  if (l.wall_ms && (*l.wall_ms < 1 || *l.wall_ms > kMaxWall))
    return bad("limits.wall_ms", fmt::format("must be between 1 and {}", kMaxWall));
  if (l.kill_grace_ms < 0 || l.kill_grace_ms > kMaxGrace)
    return bad("limits.kill_grace_ms", fmt::format("must be between 0 and {}", kMaxGrace));
  if (l.output_bytes && (*l.output_bytes < 1 || *l.output_bytes > kMaxBytes))
    return bad("limits.output_bytes", fmt::format("must be between 1 and {}", kMaxBytes));
  if (!s.stdout_path.empty()) TRY_STATUS(check_abs_path("stdout_path", s.stdout_path));
  if (!s.stderr_path.empty()) TRY_STATUS(check_abs_path("stderr_path", s.stderr_path));
  TRY_STATUS(check_cgroup_parent(s.cgroup_parent));
  std::size_t secret_bytes = 0;
  for (const auto& [name, content] : s.secret_files) {
    if (!valid_env_name(name) || name.size() > 64) return bad("secret_files", "a name must be 1 to 64 of [A-Za-z0-9_]");
    secret_bytes += content.size();
  }
  if (secret_bytes > kMaxSecretFileBytes) return bad("secret_files", "are too large together");
  return {};
}

Status add_secrets(Spec& spec, const json& j) {
  if (!j.is_object()) return bad("secrets", "must be a JSON object");
  for (const char* part : {"env", "files"}) {
    if (!j.contains(part)) continue;
    if (!j.at(part).is_object()) return bad(std::string("secrets.") + part, "must be an object of strings");
    for (auto it = j.at(part).begin(); it != j.at(part).end(); ++it) {
      if (!it->is_string()) return bad(std::string("secrets.") + part + "." + it.key(), "must be a string");
      auto& into = std::string_view(part) == "env" ? spec.env : spec.secret_files;
      if (!into.emplace(it.key(), it->get<std::string>()).second)
        return bad(std::string("secrets.") + part + "." + it.key(), "is given twice (a variable of the job has that name)");
    }
  }
  return validate(spec);
}

Result<Spec> spec_from_json(const json& j) {
  if (!j.is_object()) return bad("spec", "must be a JSON object");
  Reader r(j, "");
  TRY_STATUS(r.only({"id", "argv", "env", "workspace", "mounts", "rootfs", "rootfs_writable", "root_inside", "uid", "gid",
                     "network", "gpus", "hostname", "cwd", "limits", "stdout_path", "stderr_path", "cgroup_parent"}));
  Spec s;
  s.id = TRY(r.str("id", true));
  if (!r.has("argv")) return bad("argv", "is required");
  if (!r.at("argv").is_array()) return bad("argv", "must be an array of strings");
  for (size_t i = 0; i < r.at("argv").size(); ++i) {
    const auto& a = r.at("argv")[i];
    if (!a.is_string()) return bad(fmt::format("argv[{}]", i), "must be a string");
    s.argv.push_back(a.get<std::string>());
  }
  if (r.has("env")) {
    if (!r.at("env").is_object()) return bad("env", "must be an object of strings");
    for (auto it = r.at("env").begin(); it != r.at("env").end(); ++it) {
      if (!it->is_string()) return bad("env." + it.key(), "must be a string");
      s.env[it.key()] = it->get<std::string>();
    }
  }
  s.workspace = TRY(r.str("workspace", true));
  if (r.has("mounts")) {
    if (!r.at("mounts").is_array()) return bad("mounts", "must be an array");
    for (size_t i = 0; i < r.at("mounts").size(); ++i) {
      const auto& mj = r.at("mounts")[i];
      auto f = fmt::format("mounts[{}]", i);
      if (!mj.is_object()) return bad(f, "must be an object");
      Reader mr(mj, f);
      TRY_STATUS(mr.only({"source", "target", "writable"}));
      BindMount m;
      m.source = TRY(mr.str("source", true));
      m.target = TRY(mr.str("target", true));
      m.writable = TRY(mr.boolean("writable", false));
      s.mounts.push_back(std::move(m));
    }
  }
  s.rootfs = TRY(r.str("rootfs", false));
  s.rootfs_writable = TRY(r.boolean("rootfs_writable", false));
  s.root_inside = TRY(r.boolean("root_inside", false));
  if (auto u = TRY(r.integer("uid", 0, 0xFFFFFFFFll))) s.uid = static_cast<std::uint32_t>(*u);
  if (auto g = TRY(r.integer("gid", 0, 0xFFFFFFFFll))) s.gid = static_cast<std::uint32_t>(*g);
  s.network = TRY(r.boolean("network", false));
  if (r.has("gpus")) {
    if (!r.at("gpus").is_array()) return bad("gpus", "must be an array of GPU indices");
    for (size_t i = 0; i < r.at("gpus").size(); ++i) {
      const auto& g = r.at("gpus")[i];
      if (!g.is_number_integer()) return bad(fmt::format("gpus[{}]", i), "must be an integer");
      auto x = g.get<std::int64_t>();
      if (x < 0 || x > 254) return bad(fmt::format("gpus[{}]", i), "must be between 0 and 254");
      s.gpus.push_back(static_cast<int>(x));
    }
  }
  s.hostname = TRY(r.str("hostname", false, "job"));
  s.cwd = TRY(r.str("cwd", false, "/workspace"));
  if (r.has("limits")) s.limits = TRY(limits_from_json(r.at("limits")));
  s.stdout_path = TRY(r.str("stdout_path", false));
  s.stderr_path = TRY(r.str("stderr_path", false));
  s.cgroup_parent = TRY(r.str("cgroup_parent", false, "atrium"));
  TRY_STATUS(validate(s));
  return s;
}

json to_json(const Spec& s) {
  json j;
  j["id"] = s.id;
  j["argv"] = s.argv;
  j["env"] = json::object();
  for (const auto& [k, v] : s.env) j["env"][k] = v;
  j["workspace"] = s.workspace;
  j["mounts"] = json::array();
  for (const auto& m : s.mounts) j["mounts"].push_back({{"source", m.source}, {"target", m.target}, {"writable", m.writable}});
  j["rootfs"] = s.rootfs;
  if (s.rootfs_writable) j["rootfs_writable"] = true;
  if (s.root_inside) j["root_inside"] = true;
  if (s.uid) j["uid"] = *s.uid;
  if (s.gid) j["gid"] = *s.gid;
  j["network"] = s.network;
  j["gpus"] = s.gpus;
  j["hostname"] = s.hostname;
  j["cwd"] = s.cwd;
  j["limits"] = limits_to_json(s.limits);
  j["stdout_path"] = s.stdout_path;
  j["stderr_path"] = s.stderr_path;
  j["cgroup_parent"] = s.cgroup_parent;
  return j;
}

json to_json(const Capabilities& c) {
  return json{{"root", c.root},
              {"user_namespaces", c.user_namespaces},
              {"cgroup_mode", c.cgroup_mode},
              {"cgroup_kill", c.cgroup_kill},
              {"seccomp", c.seccomp},
              {"gpu_devices", c.gpu_devices},
              {"nvml", c.nvml},
              {"cgroup_controllers", c.cgroup_controllers}};
}

json to_json(const Outcome& o) {
  json j;
  j["kind"] = o.kind;
  j["exit_code"] = o.exit_code;
  j["signal"] = o.signal;
  j["cpu_seconds"] = o.cpu_seconds;
  j["peak_memory_bytes"] = o.peak_memory_bytes;
  j["wall_ms"] = o.wall_ms;
  j["started_ms"] = o.started_ms;
  j["ended_ms"] = o.ended_ms;
  j["stdout_truncated"] = o.stdout_truncated;
  j["stderr_truncated"] = o.stderr_truncated;
  j["enforced"] = json::object();
  for (const auto& [k, v] : o.enforced) j["enforced"][k] = v;
  j["detail"] = o.detail;
  return j;
}

Result<Outcome> outcome_from_json(const json& j) {
  if (!j.is_object()) return bad("outcome", "must be a JSON object");
  Reader r(j, "");
  TRY_STATUS(r.only({"kind", "exit_code", "signal", "cpu_seconds", "peak_memory_bytes", "wall_ms", "started_ms",
                     "ended_ms", "stdout_truncated", "stderr_truncated", "enforced", "detail"}));
  Outcome o;
  o.kind = TRY(r.str("kind", true));
  static const std::set<std::string> kinds = {"exited", "signaled", "timeout", "oom", "cancelled", "setup_failed"};
  if (!kinds.contains(o.kind)) return bad("kind", fmt::format("unknown kind \"{}\"", o.kind));
  constexpr auto kBig = std::numeric_limits<std::int64_t>::max();
  if (auto v = TRY(r.integer("exit_code", -1, 255))) o.exit_code = static_cast<int>(*v);
  if (auto v = TRY(r.integer("signal", 0, 128))) o.signal = static_cast<int>(*v);
  if (r.has("cpu_seconds")) {
    if (!r.at("cpu_seconds").is_number()) return bad("cpu_seconds", "must be a number");
    o.cpu_seconds = r.at("cpu_seconds").get<double>();
    if (!std::isfinite(o.cpu_seconds) || o.cpu_seconds < 0) return bad("cpu_seconds", "must be >= 0");
  }
  if (auto v = TRY(r.integer("peak_memory_bytes", 0, kBig))) o.peak_memory_bytes = *v;
  if (auto v = TRY(r.integer("wall_ms", 0, kBig))) o.wall_ms = *v;
  if (auto v = TRY(r.integer("started_ms", 0, kBig))) o.started_ms = *v;
  if (auto v = TRY(r.integer("ended_ms", 0, kBig))) o.ended_ms = *v;
  o.stdout_truncated = TRY(r.boolean("stdout_truncated", false));
  o.stderr_truncated = TRY(r.boolean("stderr_truncated", false));
  if (r.has("enforced")) {
    if (!r.at("enforced").is_object()) return bad("enforced", "must be an object of strings");
    for (auto it = r.at("enforced").begin(); it != r.at("enforced").end(); ++it) {
      if (!it->is_string()) return bad("enforced." + it.key(), "must be a string");
      o.enforced[it.key()] = it->get<std::string>();
    }
  }
  o.detail = TRY(r.str("detail", false));
  return o;
}

}  // namespace atrium::sandbox
