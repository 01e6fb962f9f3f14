#include "core/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>
#include <toml.hpp>

extern char** environ;

namespace atrium::config {

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

Status check_allowed(const std::string& name, const std::string& v, const std::vector<std::string>& allowed) {
  if (allowed.empty() || std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return {};
  std::string list;
  for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return invalid(name + ": '" + v + "' is not one of " + list);
}

Status parse_bool(const std::string& name, const std::string& v, bool& out) {
  if (v != "true" && v != "false") return invalid(name + ": '" + v + "' is not true or false");
  out = v == "true";
  return {};
}

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

const Registry::Field* Registry::find(const std::string& name) const {
  for (auto& f : fields_)
    if (f.key.name == name) return &f;
  return nullptr;
}

namespace {

nlohmann::json to_json(const toml::value& v) {
  if (v.is_boolean()) return v.as_boolean();
  if (v.is_integer()) return v.as_integer();
  if (v.is_floating()) return v.as_floating();
  if (v.is_string()) return v.as_string().str;
  if (v.is_array()) {
    auto a = nlohmann::json::array();
    for (auto& x : v.as_array()) a.push_back(to_json(x));
    return a;
  }
  if (v.is_table()) {
    auto o = nlohmann::json::object();
    for (auto& [k, x] : v.as_table()) o[k] = to_json(x);
    return o;
  }
  return toml::format(v);  // dates and times: as TOML writes them
}
std::string to_json_text(const toml::value& v) { return to_json(v).dump(); }

// A TOML value as the text a field's setter takes, or an error naming the key.
Result<std::string> toml_text(const std::string& where, const std::string& name, const Registry::Field& f,
                              const toml::value& value) {
  if (f.key.type == "integer") {
    if (!value.is_integer()) return invalid(where + name + " must be an integer");
    return std::to_string(value.as_integer());
  }
  if (f.list && value.is_array()) {
    std::string text;
    for (auto& item : value.as_array()) {
      if (!item.is_string()) return invalid(where + name + " must be strings");
      text += (text.empty() ? "" : ",") + item.as_string().str;
    }
    return text;
  }
  if (f.key.type == "json") return to_json_text(value);
  if (f.key.type == "boolean") {
    if (!value.is_boolean()) return invalid(where + name + " must be true or false");
    return std::string(value.as_boolean() ? "true" : "false");
  }
  if (!value.is_string()) return invalid(where + name + " must be a string");
  return value.as_string().str;
}

}  // namespace

Status Registry::apply_toml(const std::string& file) {
  std::string where = "config file " + file + ": ";
  toml::value root;
  try {
    root = toml::parse(file);
  } catch (const std::exception& e) {
    return invalid(where + e.what());
  }
  if (!root.is_table()) return invalid(where + "not a table");
  // A family's prefix may be a section of its own or lie inside one ("compute.clusters": the
  // [compute.clusters.NAME] tables sit in [compute] as nested tables).
  auto family_of = [&](const std::string& name) {
    auto f = std::find_if(families_.begin(), families_.end(), [&](auto& x) { return x.prefix == name; });
    return f == families_.end() ? nullptr : &*f;
  };
  std::function<Status(const Family&, const toml::value&)> apply_family;
  std::function<Status(const std::string&, const toml::value&)> apply_table =
      [&](const std::string& section, const toml::value& table) -> Status {
    for (auto& [key, value] : table.as_table()) {
      std::string name = section + "." + key;
      if (const Family* fam = family_of(name)) {
        if (!value.is_table()) return invalid(where + "'" + name + "' must be [" + name + ".NAME] sections");
        TRY_STATUS(apply_family(*fam, value));
        continue;
      }
      const Field* f = find(name);
      if (!f) return invalid(where + "unknown key '" + name + "'");
      auto text = TRY(toml_text(where, name, *f, value));
      if (auto st = f->set(text); !st) return invalid(where + st.error().detail);
    }
    return {};
  };
  apply_family = [&](const Family& fam, const toml::value& table) -> Status {
    for (auto& [name, member] : table.as_table()) {
      if (!member.is_table())
        return invalid(where + "'" + fam.prefix + "." + name + "' must be a [" + fam.prefix + ".NAME] section");
      TRY_STATUS(add_member(fam, name, where));
      TRY_STATUS(apply_table(fam.prefix + "." + name, member));
    }
    return {};
  };
  for (auto& [section, table] : root.as_table()) {
    if (!table.is_table()) return invalid(where + "'" + section + "' must be a [section]");
    if (const Family* fam = family_of(section))
      TRY_STATUS(apply_family(*fam, table));
    else
      TRY_STATUS(apply_table(section, table));
  }
  return {};
}

Status Registry::add_member(const Family& f, const std::string& name, const std::string& where) {
  bool ok = !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  if (!ok)
    return invalid(where + "'" + f.prefix + "." + name +
                   "': a name is 1-32 characters of a-z, 0-9, '-' and '_'");
  std::string full = f.prefix + "." + name;
  if (std::find(members_.begin(), members_.end(), full) == members_.end()) members_.push_back(full);
  return f.add(name);
}

// ATRIUM_SECTION_KEY, plus the declared short forms (ATRIUM_LISTEN). Variables under a settings
// section must name a real key (a typo stops startup); other ATRIUM_* variables belong to the
// client and tools (ATRIUM_TOKEN, ATRIUM_SERVER_URL, ATRIUM_ADMIN_PASSWORD...).
Status Registry::apply_env(const std::map<std::string, std::string>& env) {
  auto env_name = [](const std::string& key) {
    std::string out;
    for (char ch : key) out += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return out;
  };
  for (auto& [var, value] : env) {
    if (var.rfind("ATRIUM_", 0) != 0) continue;
    if (std::find(foreign_.begin(), foreign_.end(), var) != foreign_.end()) continue;
    std::string rest = var.substr(7);
    if (auto a = aliases_.find(rest); a != aliases_.end()) rest = env_name(a->second);
    bool in_section = false;
    for (auto& sec : sections_) in_section = in_section || rest.rfind(env_name(sec) + "_", 0) == 0;
    if (!in_section) continue;
    const Field* match = nullptr;
    for (auto& f : fields_)
      if (env_name(f.key.name) == rest) match = &f;
    if (!match) return invalid("environment: unknown setting " + var);
    if (auto st = match->set(value); !st) return invalid("environment " + var + ": " + st.error().detail);
  }
  return {};
}

Status Registry::load(const std::string& file, const std::map<std::string, std::string>& env,
                      const std::map<std::string, std::string>& flags) {
  if (!file.empty()) TRY_STATUS(apply_toml(file));
  TRY_STATUS(apply_env(env));
  for (auto& [name, value] : flags) {
    const Field* f = find(name);
    if (!f) return invalid("unknown setting " + name);
    TRY_STATUS(f->set(value));
  }
  for (auto& check : checks_) TRY_STATUS(check());
  return {};
}

void Registry::make_paths_absolute(const std::string& cwd) {
  for (auto& f : fields_) {
    if (!f.path) continue;
    std::string& p = *f.path;
    if (p.empty() || p.front() == '/' || (!f.path_keep.empty() && p == f.path_keep)) continue;
    p = (std::filesystem::path(cwd) / p).lexically_normal().string();
    if (p.size() > 1 && p.back() == '/') p.pop_back();
  }
}

std::vector<Key> Registry::keys() const {
  std::vector<Key> k;
  for (auto& f : fields_) k.push_back(f.key);
  return k;
}

std::string Registry::value_text(const std::string& name) const {
  const Field* f = find(name);
  return f ? f->get() : "";
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

}  // namespace atrium::config
