#include "core/config.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <filesystem>
#include <functional>
#include <thread>

#include <toml.hpp>

#include "core/text.hpp"

extern char** environ;

namespace atrium {
namespace {

struct Field {
  ConfigKey key;
  std::function<Status(Config&, const std::string&)> set;  // from text (env, flags)
};

Status parse_int(const std::string& name, const std::string& v, std::int64_t lo, std::int64_t hi,
                 std::int64_t& out) {
  std::int64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size())
    return invalid(name + ": '" + v + "' is not an integer");
  if (x < lo || x > hi)
    return invalid(name + ": " + v + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  out = x;
  return {};
}

template <typename T>
Field int_field(std::string name, std::string help, T Config::*member, std::int64_t lo, std::int64_t hi) {
  return Field{{name, "integer", std::move(help)},
               [=](Config& c, const std::string& v) -> Status {
                 std::int64_t x;
                 TRY_STATUS(parse_int(name, v, lo, hi, x));
                 c.*member = static_cast<T>(x);
                 return {};
               }};
}

Field str_field(std::string name, std::string help, std::string Config::*member,
                std::vector<std::string> allowed = {}) {
  return Field{{name, "string", std::move(help)},
               [=](Config& c, const std::string& v) -> Status {
                 if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
                   std::string list;
                   for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
                   return invalid(name + ": '" + v + "' is not one of " + list);
                 }
                 c.*member = v;
                 return {};
               }};
}

// "10.1.2.0/24, fd00::/8, 192.0.2.7": each an IPv4 or IPv6 address with an optional prefix length.
Status check_cidrs(const std::string& name, const std::string& v) {
  size_t i = 0;
  while (i < v.size()) {
    size_t j = v.find_first_of(", \t\n", i);
    if (j == std::string::npos) j = v.size();
    std::string item = v.substr(i, j - i), addr = item.substr(0, item.find('/'));
    i = j + 1;
    if (item.empty()) continue;
    unsigned char buf[16];
    bool v6 = addr.find(':') != std::string::npos;
    if (::inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), buf) != 1)
      return invalid(name + ": '" + item + "' is not an IPv4 or IPv6 address or CIDR");
    if (auto slash = item.find('/'); slash != std::string::npos) {
      std::int64_t len = 0;
      TRY_STATUS(parse_int(name + " prefix length of '" + item + "'", item.substr(slash + 1), 0, v6 ? 128 : 32, len));
    }
  }
  return {};
}

Field bool_field(std::string name, std::string help, bool Config::*member) {
  return Field{{name, "boolean", std::move(help)},
               [=](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return invalid(name + ": '" + v + "' is not true or false");
                 c.*member = v == "true";
                 return {};
               }};
}

// A DNS name under which each environment gets a host of its own: letters, digits, '-', dots
// between labels (the operator's wildcard DNS and certificate cover *.<domain>).
Status check_envs_domain(const std::string& d) {
  auto bad = [&] { return invalid("envs.domain: '" + d + "' is not a DNS name like envs.example.org"); };
  if (d.empty() || d.size() > 200 || d.front() == '.' || d.back() == '.' || d.find("..") != std::string::npos)
    return bad();
  for (char ch : d)
    if (!(std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch)) || ch == '-' ||
          ch == '.'))
      return bad();
  return {};
}

const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      str_field("server.listen", "address:port to listen on (port 0 picks a free port)", &Config::listen),
      str_field("server.data_dir", "directory for the database and secrets", &Config::data_dir),
      str_field("server.public_url", "external base URL used in links", &Config::public_url),
      int_field("server.io_threads", "HTTP I/O threads (0 = cores)", &Config::io_threads, 0, 256),
      int_field("server.worker_threads", "blocking worker threads (0 = max(16, 4 x cores))", &Config::worker_threads, 0, 1024),
      str_field("server.tls_cert", "PEM certificate chain; enables HTTPS with tls_key", &Config::tls_cert),
      str_field("server.tls_key", "PEM private key", &Config::tls_key),
      str_field("server.trusted_proxies",
                "reverse proxies (CIDR blocks, comma-separated) whose X-Forwarded-For/-Proto are believed",
                &Config::trusted_proxies),
      int_field("limits.max_header_bytes", "largest request header", &Config::max_header_bytes, 1024, 1 << 20),
      int_field("limits.max_body_bytes", "largest API request body", &Config::max_body_bytes, 1024, std::int64_t{1} << 32),
      int_field("limits.header_timeout_s", "seconds for a request header to arrive", &Config::header_timeout_s, 1, 3600),
      int_field("limits.request_timeout_s", "seconds for a whole request to arrive", &Config::request_timeout_s, 1, 86400),
      int_field("limits.idle_timeout_s", "keep-alive idle seconds", &Config::idle_timeout_s, 1, 86400),
      int_field("limits.shutdown_grace_s", "seconds in-flight requests get on SIGTERM", &Config::shutdown_grace_s, 0, 3600),
      int_field("limits.max_connections", "open connections at most", &Config::max_connections, 1, 1000000),
      int_field("limits.max_connections_per_ip", "connections not yet signed in per client IP (0 = no cap)",
                &Config::max_connections_per_ip, 0, 1000000),
      int_field("limits.max_connections_per_user", "connections of one signed-in user (0 = no cap)",
                &Config::max_connections_per_user, 0, 1000000),
      int_field("limits.preauth_timeout_s", "seconds a connection may stay open before it authenticates (0 = off)",
                &Config::preauth_timeout_s, 0, 86400),
      int_field("limits.upstream_header_timeout_s", "seconds an environment has to start its answer",
                &Config::upstream_header_timeout_s, 1, 7 * 86400),
      int_field("limits.tunnel_idle_timeout_s", "seconds a proxied WebSocket may stay silent",
                &Config::tunnel_idle_timeout_s, 1, 30 * 86400),
      int_field("auth.session_ttl_hours", "absolute session lifetime", &Config::session_ttl_hours, 1, 24 * 90),
      int_field("auth.session_idle_minutes", "session idle timeout", &Config::session_idle_minutes, 1, 60 * 24 * 30),
      int_field("auth.login_max_failures", "failed logins before lockout", &Config::login_max_failures, 1, 1000),
      int_field("auth.login_lockout_base_s", "first lockout; doubles after", &Config::login_lockout_base_s, 1, 3600),
      int_field("auth.login_ip_per_minute", "login attempts per client IP per minute", &Config::login_ip_per_minute, 1, 100000),
      int_field("auth.invite_ttl_hours_max", "longest invitation lifetime", &Config::invite_ttl_hours_max, 1, 24 * 365),
      str_field("database.sqlite_synchronous", "SQLite synchronous mode", &Config::sqlite_synchronous, {"full", "normal"}),
      int_field("database.busy_timeout_ms", "SQLite busy timeout", &Config::busy_timeout_ms, 0, 600000),
      str_field("log.level", "log level", &Config::log_level, {"trace", "debug", "info", "warn", "error"}),
      str_field("log.access_log", "access log path, - for stdout, empty for none", &Config::access_log),
      int_field("compute.cpus", "schedulable CPUs of this node (0 = all online)", &Config::compute_cpus, 0, 4096),
      int_field("compute.mem_mb", "schedulable memory in MB (0 = physical minus 10%)", &Config::compute_mem_mb, 0,
                std::int64_t{1} << 32),
      int_field("compute.gpus", "GPUs (-1 = discover, 0 = none)", &Config::compute_gpus, -1, 64),
      int_field("compute.uid_base", "first host uid for Atrium users' jobs", &Config::compute_uid_base, 1000,
                std::int64_t{4000000000}),
      int_field("compute.fairshare_half_life_h", "fair-share usage half-life in hours (0 = none)",
                &Config::compute_fairshare_half_life_h, 0, 24 * 365),
      int_field("compute.max_output_bytes", "job stdout/stderr cap per stream", &Config::compute_max_output_bytes, 1024,
                std::int64_t{1} << 40),
      int_field("compute.kill_grace_s", "seconds between SIGTERM and SIGKILL", &Config::compute_kill_grace_s, 0, 3600),
      str_field("compute.cgroup_parent", "cgroup directory (per hierarchy) for job cgroups", &Config::compute_cgroup_parent),
      int_field("compute.max_time_h", "longest job time limit in hours", &Config::compute_max_time_h, 1, 24 * 365),
      str_field("compute.outbound_allow",
                "CIDRs \"outbound\" environments may reach although private, link-local or the host's own (comma-separated)",
                &Config::compute_outbound_allow),
      str_field("data.key_file", "the data store's master key file (\"\" = <data_dir>/master.key)", &Config::data_key_file),
      int_field("data.max_chunk_bytes", "largest upload chunk (one PATCH body)", &Config::data_max_chunk_bytes, 4096,
                std::int64_t{1} << 30),
      int_field("data.max_file_bytes", "largest file", &Config::data_max_file_bytes, 1, std::int64_t{1} << 50),
      int_field("data.upload_ttl_h", "hours an untouched upload is kept", &Config::data_upload_ttl_h, 1, 24 * 365),
      int_field("data.gc_grace_s", "seconds an unreferenced blob is kept before collection", &Config::data_gc_grace_s, 0,
                86400 * 365),
      int_field("data.reserve_bytes", "free disk space that uploads never take", &Config::data_reserve_bytes, 0,
                std::int64_t{1} << 50),
      int_field("data.capture_timeout_s", "longest capture of a finished job's outputs, in seconds",
                &Config::data_capture_timeout_s, 1, 86400),
      str_field("envs.domain", "environments are served at <env>.<domain> (wildcard DNS and certificate)",
                &Config::envs_domain),
      bool_field("envs.path_mode", "serve environments at <public_url>/env/<id>/ on Atrium's own origin (unsafe)",
                 &Config::envs_path_mode),
      int_field("git.max_push_bytes", "largest git push (the pack is spooled to disk)", &Config::git_max_push_bytes,
                1 << 20, std::int64_t{1} << 44),
      int_field("git.max_file_bytes", "largest file the repository API serves", &Config::git_max_file_bytes, 1024,
                std::int64_t{1} << 30),
  };
  return f;
}

const Field* find_field(const std::string& name) {
  for (auto& f : fields())
    if (f.key.name == name) return &f;
  return nullptr;
}

Status apply_toml(Config& c, const std::string& file) {
  toml::value root;
  try {
    root = toml::parse(file);
  } catch (const std::exception& e) {
    return invalid("config file " + file + ": " + e.what());
  }
  if (!root.is_table()) return invalid("config file " + file + ": not a table");
  for (auto& [section, table] : root.as_table()) {
    if (!table.is_table())
      return invalid("config file " + file + ": '" + section + "' must be a [section]");
    for (auto& [key, value] : table.as_table()) {
      std::string name = section + "." + key;
      const Field* f = find_field(name);
      if (!f) return invalid("config file " + file + ": unknown key '" + name + "'");
      std::string text;
      if (f->key.type == "integer") {
        if (!value.is_integer()) return invalid("config file " + file + ": " + name + " must be an integer");
        text = std::to_string(value.as_integer());
      } else if (name == "server.trusted_proxies" && value.is_array()) {
        for (auto& item : value.as_array()) {
          if (!item.is_string()) return invalid("config file " + file + ": " + name + " must be strings");
          text += (text.empty() ? "" : ",") + item.as_string().str;
        }
      } else if (f->key.type == "boolean") {
        if (!value.is_boolean()) return invalid("config file " + file + ": " + name + " must be true or false");
        text = value.as_boolean() ? "true" : "false";
      } else {
        if (!value.is_string()) return invalid("config file " + file + ": " + name + " must be a string");
        text = value.as_string().str;
      }
      if (auto st = f->set(c, text); !st)
        return invalid("config file " + file + ": " + st.error().detail);
    }
  }
  return {};
}

}  // namespace

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> k;
    for (auto& f : fields()) k.push_back(f.key);
    return k;
  }();
  return keys;
}

Result<Config> load_config(const std::string& file, const std::map<std::string, std::string>& env,
                           const std::map<std::string, std::string>& flags) {
  Config c;
  if (!file.empty()) TRY_STATUS(apply_toml(c, file));
  // ATRIUM_SECTION_KEY, plus the short forms ATRIUM_LISTEN and ATRIUM_DATA_DIR. Variables under
  // a settings section must name a real key (a typo stops startup); other ATRIUM_* variables
  // belong to the client and tools (ATRIUM_TOKEN, ATRIUM_SERVER_URL, ATRIUM_ADMIN_PASSWORD...).
  for (auto& [var, value] : env) {
    if (var.rfind("ATRIUM_", 0) != 0) continue;
    std::string rest = var.substr(7);
    if (rest == "LISTEN") rest = "SERVER_LISTEN";
    if (rest == "DATA_DIR") rest = "SERVER_DATA_DIR";
    bool in_section = false;
    for (const char* sec : {"SERVER_", "LIMITS_", "AUTH_", "DATABASE_", "LOG_", "COMPUTE_", "DATA_", "ENVS_"})
      in_section = in_section || rest.rfind(sec, 0) == 0;
    if (!in_section || rest == "SERVER_URL") continue;
    const Field* match = nullptr;
    for (auto& f : fields()) {
      std::string want;
      for (char ch : f.key.name) want += ch == '.' ? '_' : static_cast<char>(std::toupper(ch));
      if (want == rest) match = &f;
    }
    if (!match) return invalid("environment: unknown setting " + var);
    if (auto st = match->set(c, value); !st) return invalid("environment " + var + ": " + st.error().detail);
  }
  for (auto& [name, value] : flags) {
    const Field* f = find_field(name);
    if (!f) return invalid("unknown setting " + name);
    TRY_STATUS(f->set(c, value));
  }
  if (c.tls_cert.empty() != c.tls_key.empty())
    return invalid("server.tls_cert and server.tls_key must be set together");
  for (char ch : c.compute_cgroup_parent)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '/')
      return invalid("compute.cgroup_parent: only letters, digits, - _ / are allowed");
  if (c.compute_cgroup_parent.empty() || c.compute_cgroup_parent.find("..") != std::string::npos)
    return invalid("compute.cgroup_parent must be a relative path without ..");
  TRY_STATUS(check_cidrs("compute.outbound_allow", c.compute_outbound_allow));
  c.envs_domain = to_lower(c.envs_domain);
  TRY_STATUS(check_envs_domain(c.envs_domain));
  while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
  if (!c.public_url.empty() && !c.public_url.starts_with("http://") && !c.public_url.starts_with("https://"))
    return invalid("server.public_url: '" + c.public_url + "' must start with http:// or https://");
  if (c.listen.rfind(':') == std::string::npos) return invalid("server.listen: expected host:port, got '" + c.listen + "'");
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  if (c.io_threads == 0) c.io_threads = static_cast<int>(cores);
  // Workers mostly wait (a shared commit, its fsync, the database lock): more of them than cores
  // keep requests flowing into the next commit while one is being flushed.
  if (c.worker_threads == 0) c.worker_threads = std::max(16, static_cast<int>(4 * cores));
  return c;
}

void make_paths_absolute(Config& c, const std::string& cwd) {
  auto abs = [&](std::string& p) {
    if (p.empty() || p.front() == '/') return;
    p = (std::filesystem::path(cwd) / p).lexically_normal().string();
    if (p.size() > 1 && p.back() == '/') p.pop_back();
  };
  abs(c.data_dir);
  abs(c.tls_cert);
  abs(c.tls_key);
  abs(c.data_key_file);
  if (c.access_log != "-") abs(c.access_log);
}

std::map<std::string, std::string> environment_map() {
  std::map<std::string, std::string> m;
  for (char** e = environ; e && *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return m;
}

}  // namespace atrium
