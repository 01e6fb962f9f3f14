// Server configuration machinery: a TOML file, overridden by ATRIUM_<SECTION>_<KEY> environment
// variables, overridden by flags. Each module declares its own [section] next to its code (e.g.
// jobs/config.cpp: [compute] into jobs::Config); app/ binds them all to one Registry and loads it.
// Unknown keys and bad values are errors that stop startup with a message naming the key.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace atrium::config {

// A settable key, as "section.key", with its type and one-line help.
struct Key {
  std::string name;
  std::string type;  // string | integer | boolean
  std::string help;
};

class Registry;

// Declares the fields of one section, each bound to a member of the module's struct T.
template <typename T>
class Section {
 public:
  Section(Registry& r, std::string name, T& target) : r_(r), name_(std::move(name)), t_(target) {}

  template <typename M>
  Section& integer(const std::string& key, std::string help, M T::*member, std::int64_t lo, std::int64_t hi);
  // `allowed` non-empty: the value must be one of them.
  Section& string(const std::string& key, std::string help, std::string T::*member,
                  std::vector<std::string> allowed = {});
  // A string that a TOML file may also give as an array of strings (joined with ',').
  Section& list(const std::string& key, std::string help, std::string T::*member);
  // A file or directory: made absolute once at startup (Registry::make_paths_absolute) unless it is
  // empty, already absolute or `keep` (e.g. "-" for stdout).
  Section& path(const std::string& key, std::string help, std::string T::*member, std::string keep = "");
  Section& boolean(const std::string& key, std::string help, bool T::*member);
  // A structured value (an array of tables, an inline table, ...) kept as JSON text for the module
  // to parse: the TOML value converted to JSON; from a flag or an environment variable, JSON text.
  Section& json(const std::string& key, std::string help, std::string T::*member);
  // Runs after every layer is applied, in declaration order: cross-field validation, normalising,
  // defaults that depend on the machine.
  Section& check(std::function<Status(T&)> f);

 private:
  Registry& r_;
  std::string name_;
  T& t_;
};

// The loaded sections: the bound fields of every module, and how to fill them.
class Registry {
 public:
  template <typename T>
  Section<T> section(std::string name, T& target) {
    sections_.push_back(name);
    return Section<T>(*this, std::move(name), target);
  }
  // A family of named sections with the same keys: each `[prefix.NAME]` table of the config file adds
  // items[NAME] (default-constructed) and declares its keys with `declare` as section "prefix.NAME"
  // (e.g. [oidc.uni] and [oidc.lab]: two OIDC providers). The prefix may itself be dotted
  // ("compute.clusters": [compute.clusters.lab], nested in [compute]; the variables are then
  // ATRIUM_COMPUTE_CLUSTERS_LAB_KEY). Members come from the file only; flags and
  // ATRIUM_PREFIX_NAME_KEY variables may then override the keys of a member the file declared.
  // `items` must outlive the registry (std::map: its elements never move).
  template <typename T>
  void family(std::string prefix, std::map<std::string, T>& items, std::function<void(Section<T>&)> declare);
  // The keys of every family, with NAME as the member's name ("oidc.NAME.issuer").
  const std::vector<Key>& family_keys() const { return family_keys_; }

  // ATRIUM_<alias> is a short form of key "section.key" (ATRIUM_LISTEN for server.listen).
  void env_alias(std::string alias, std::string key) { aliases_[std::move(alias)] = std::move(key); }
  // An ATRIUM_* variable that looks like a setting but belongs to the client and tools.
  void env_foreign(std::string var) { foreign_.push_back(std::move(var)); }

  // Applies `file` (may be empty: none), then the ATRIUM_* entries of `env`, then `flags`
  // ("section.key" -> value), then every check.
  Status load(const std::string& file, const std::map<std::string, std::string>& env,
              const std::map<std::string, std::string>& flags);
  // Once at startup: paths go on to child processes and sandbox specs that run elsewhere, where a
  // relative path means something else or is refused.
  void make_paths_absolute(const std::string& cwd);

  std::vector<Key> keys() const;
  const std::vector<std::string>& sections() const { return sections_; }
  // The current value of `name` as text (an integer in decimal, a boolean as true/false), or "".
  std::string value_text(const std::string& name) const;

  // For Section<T>: one field, bound to its target.
  struct Field {
    Key key;
    std::function<Status(const std::string&)> set;  // from text (env, flags, TOML scalars)
    std::function<std::string()> get;
    std::string* path = nullptr;  // a path setting, made absolute
    std::string path_keep;
    bool list = false;
  };
  void add(Field f) { fields_.push_back(std::move(f)); }
  void add_check(std::function<Status()> f) { checks_.push_back(std::move(f)); }
  void mark_last_list() { fields_.back().list = true; }
  void mark_last_path(std::string* p, std::string keep) {
    fields_.back().path = p;
    fields_.back().path_keep = std::move(keep);
  }

 private:
  const Field* find(const std::string& name) const;
  Status apply_toml(const std::string& file);
  Status apply_env(const std::map<std::string, std::string>& env);

  struct Family {
    std::string prefix;
    std::function<Status(const std::string& name)> add;  // declares member `name` (once)
  };
  Status add_member(const Family& f, const std::string& name, const std::string& where);

  std::vector<std::string> sections_;
  std::vector<Family> families_;
  std::vector<Key> family_keys_;
  std::vector<std::string> members_;  // "prefix.NAME" of the members declared so far
  std::vector<Field> fields_;
  std::vector<std::function<Status()>> checks_;
  std::map<std::string, std::string> aliases_;
  std::vector<std::string> foreign_;
};

// ---- building blocks (config.cpp)

Status parse_int(const std::string& name, const std::string& v, std::int64_t lo, std::int64_t hi, std::int64_t& out);
Status check_allowed(const std::string& name, const std::string& v, const std::vector<std::string>& allowed);
Status parse_bool(const std::string& name, const std::string& v, bool& out);
// "10.1.2.0/24, fd00::/8, 192.0.2.7": each an IPv4 or IPv6 address with an optional prefix length.
Status check_cidrs(const std::string& name, const std::string& v);

std::map<std::string, std::string> environment_map();

// ---- Section<T>

template <typename T>
template <typename M>
Section<T>& Section<T>::integer(const std::string& key, std::string help, M T::*member, std::int64_t lo,
                                std::int64_t hi) {
  std::string name = name_ + "." + key;
  T* t = &t_;
  r_.add({.key = {name, "integer", std::move(help)},
          .set = [=](const std::string& v) -> Status {
            std::int64_t x = 0;
            TRY_STATUS(parse_int(name, v, lo, hi, x));
            t->*member = static_cast<M>(x);
            return {};
          },
          .get = [=] { return std::to_string(t->*member); }});
  return *this;
}

template <typename T>
Section<T>& Section<T>::string(const std::string& key, std::string help, std::string T::*member,
                               std::vector<std::string> allowed) {
  std::string name = name_ + "." + key;
  T* t = &t_;
  r_.add({.key = {name, "string", std::move(help)},
          .set = [=](const std::string& v) -> Status {
            TRY_STATUS(check_allowed(name, v, allowed));
            t->*member = v;
            return {};
          },
          .get = [=] { return t->*member; }});
  return *this;
}

template <typename T>
Section<T>& Section<T>::list(const std::string& key, std::string help, std::string T::*member) {
  string(key, std::move(help), member);
  r_.mark_last_list();
  return *this;
}

template <typename T>
Section<T>& Section<T>::path(const std::string& key, std::string help, std::string T::*member, std::string keep) {
  string(key, std::move(help), member);
  r_.mark_last_path(&(t_.*member), std::move(keep));
  return *this;
}

template <typename T>
Section<T>& Section<T>::boolean(const std::string& key, std::string help, bool T::*member) {
  std::string name = name_ + "." + key;
  T* t = &t_;
  r_.add({.key = {name, "boolean", std::move(help)},
          .set = [=](const std::string& v) -> Status { return parse_bool(name, v, t->*member); },
          .get = [=] { return std::string(t->*member ? "true" : "false"); }});
  return *this;
}

template <typename T>
Section<T>& Section<T>::json(const std::string& key, std::string help, std::string T::*member) {
  std::string name = name_ + "." + key;
  T* t = &t_;
  r_.add({.key = {name, "json", std::move(help)},
          .set = [=](const std::string& v) -> Status {
            t->*member = v;
            return {};
          },
          .get = [=] { return t->*member; }});
  return *this;
}

template <typename T>
void Registry::family(std::string prefix, std::map<std::string, T>& items, std::function<void(Section<T>&)> declare) {
  {  // the keys, for documentation and checks: declared once on a scratch member
    Registry scratch;
    T dummy{};
    Section<T> s(scratch, prefix + ".NAME", dummy);
    declare(s);
    for (auto& k : scratch.keys()) family_keys_.push_back(k);
  }
  sections_.push_back(prefix);
  std::map<std::string, T>* m = &items;
  families_.push_back({prefix, [this, prefix, m, declare](const std::string& name) -> Status {
                         auto [it, fresh] = m->try_emplace(name);
                         if (!fresh) return {};
                         Section<T> s(*this, prefix + "." + name, it->second);
                         declare(s);
                         return {};
                       }});
}

template <typename T>
Section<T>& Section<T>::check(std::function<Status(T&)> f) {
  T* t = &t_;
  r_.add_check([t, f = std::move(f)] { return f(*t); });
  return *this;
}

}  // namespace atrium::config
