#include "sso/ldap_directory.hpp"

#include <arpa/inet.h>
#include <ldap.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

namespace atrium::sso::ldap {

// ---- filters and names

std::string escape_filter_value(std::string_view v) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0') {
      out += '\\';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string expand_filter(std::string_view tmpl, std::string_view username, std::string_view dn) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size();) {
    if (tmpl.substr(i, 10) == "{username}") {
      out += escape_filter_value(username);
      i += 10;
    } else if (tmpl.substr(i, 4) == "{dn}") {
      out += escape_filter_value(dn);
      i += 4;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

std::string first_rdn_value(std::string_view dn) {
  auto eq = dn.find('=');
  if (eq == std::string_view::npos) return std::string(dn);
  std::string out;
  for (std::size_t i = eq + 1; i < dn.size(); ++i) {
    char c = dn[i];
    if (c == ',' || c == '+') break;
    if (c != '\\' || i + 1 >= dn.size()) {
      out += c;
      continue;
    }
    auto is_hex = [](char h) { return std::isxdigit(static_cast<unsigned char>(h)) != 0; };
    if (i + 2 < dn.size() && is_hex(dn[i + 1]) && is_hex(dn[i + 2])) {  // \2c: a hex pair
      out += static_cast<char>(std::stoi(std::string(dn.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {  // \, \+ \\ ...: the character itself
      out += dn[++i];
    }
  }
  return out;
}

bool loopback_url(std::string_view url) {
  auto p = url.find("://");
  if (p == std::string_view::npos) return false;
  std::string_view host = url.substr(p + 3);
  host = host.substr(0, host.find('/'));
  if (host.starts_with("[")) return host.starts_with("[::1]");
  host = host.substr(0, host.find(':'));
  in_addr a{};
  if (inet_pton(AF_INET, std::string(host).c_str(), &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return host == "localhost";
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::unexpected<Error> bad(const std::string& key, const std::string& why) {
  return fail(ErrorCode::kInvalidArgument, "invalid-config", key + ": " + why);
}

Result<std::string> read_secret_file(const std::string& key, const std::string& path) {
  std::ifstream f(path);
  if (!f) return bad(key, "cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return bad(key, path + " is empty");
  return s;
}

bool connection_lost(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE ||
         rc == LDAP_BUSY || rc == LDAP_LOCAL_ERROR || rc == LDAP_ENCODING_ERROR || rc == LDAP_DECODING_ERROR;
}

// libldap writes to its sockets without MSG_NOSIGNAL: a write to a directory that went away would
// raise SIGPIPE and end the server. Blocks it on this thread for the guard's life and swallows one
// that arrived meanwhile (the call sees EPIPE instead).
class NoSigpipe {
 public:
  NoSigpipe() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~NoSigpipe() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      timespec zero{0, 0};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  NoSigpipe(const NoSigpipe&) = delete;
  NoSigpipe& operator=(const NoSigpipe&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

timeval to_timeval(int ms) { return {ms / 1000, (ms % 1000) * 1000}; }

void close(LDAP* ld) {
  if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
}

// The first value of `attr` in `entry`; a binary value (AD's objectGUID) as lowercase hex.
std::string first_value(LDAP* ld, LDAPMessage* entry, const std::string& attr) {
  if (attr.empty()) return "";
  berval** vals = ldap_get_values_len(ld, entry, attr.c_str());
  if (!vals) return "";
  std::string v(vals[0] ? std::string(vals[0]->bv_val, vals[0]->bv_len) : "");
  ldap_value_free_len(vals);
  bool printable = std::all_of(v.begin(), v.end(), [](unsigned char c) { return c >= 0x20 && c != 0x7f; });
  if (printable) return v;
  static const char* hex = "0123456789abcdef";
  std::string h;
  for (unsigned char c : v) h += {hex[c >> 4], hex[c & 15]};
  return h;
}

std::vector<std::string> all_values(LDAP* ld, LDAPMessage* entry, const std::string& attr) {
  std::vector<std::string> out;
  if (attr.empty()) return out;
  berval** vals = ldap_get_values_len(ld, entry, attr.c_str());
  if (!vals) return out;
  for (int i = 0; vals[i]; ++i) out.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
  ldap_value_free_len(vals);
  return out;
}

}  // namespace

Status check_config(const std::string& name, LdapConfig& c) {
  std::string k = "ldap." + name + ".";
  std::string scheme = lower(c.url.substr(0, c.url.find("://") == std::string::npos ? 0 : c.url.find("://")));
  if (scheme != "ldap" && scheme != "ldaps") return bad(k + "url", "must be ldaps://host[:port] or ldap://host[:port]");
  if (c.url.find_first_of(" \t,") != std::string::npos) return bad(k + "url", "must be one URL");
  if (scheme == "ldaps" && c.start_tls) return bad(k + "start_tls", "ldaps:// is TLS already: leave start_tls off");
  if (scheme == "ldap" && !c.start_tls && !(c.allow_insecure && loopback_url(c.url)))
    return bad(k + "url", "ldap:// sends passwords in the clear: use ldaps://, or start_tls = true "
                          "(allow_insecure = true is accepted for a loopback host only)");
  if (c.user_base.empty()) return bad(k + "user_base", "required (where people are searched)");
  if (c.user_filter.find("{username}") == std::string::npos || !c.user_filter.starts_with("("))
    return bad(k + "user_filter", "must be an LDAP filter containing {username}");
  if (c.group_filter.empty() != c.group_base.empty())
    return bad(k + "group_filter", "group_base and group_filter go together");
  if (!c.group_filter.empty() && !c.group_filter.starts_with("("))
    return bad(k + "group_filter", "must be an LDAP filter (with {dn} or {username})");
  if (c.bind_dn.empty() != c.bind_password_file.empty())
    return bad(k + "bind_password_file", "bind_dn and bind_password_file go together");
  if (!c.bind_password_file.empty()) c.bind_password = TRY(read_secret_file(k + "bind_password_file", c.bind_password_file));
  if (!c.ca_file.empty() && !std::ifstream(c.ca_file)) return bad(k + "ca_file", "cannot read " + c.ca_file);
  if (c.display_name.empty()) c.display_name = name;
  return {};
}

// ---- Directory

Directory::Directory(std::string name, LdapConfig config) : name_(std::move(name)), config_(std::move(config)) {}

Directory::~Directory() {
  NoSigpipe guard;
  for (LDAP* ld : idle_) close(ld);
}

Error Directory::unreachable(const std::string& why) const {
  spdlog::warn("ldap.{}: {} ({})", name_, why, config_.url);
  return Error(ErrorCode::kUnavailable, "directory-unavailable",
               "the directory \"" + config_.display_name + "\" is not reachable; try again later")
      .with("provider", name_);
}

Result<LDAP*> Directory::open(bool service) {
  LDAP* ld = nullptr;
  int rc = ldap_initialize(&ld, config_.url.c_str());
  if (rc != LDAP_SUCCESS) return std::unexpected(unreachable(std::string("bad URL: ") + ldap_err2string(rc)));
  int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, server = 0;
  timeval connect = to_timeval(config_.connect_timeout_ms), op = to_timeval(config_.timeout_ms);
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);  // AD answers with referrals we do not chase
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connect);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op);
  ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12);
  if (!config_.ca_file.empty()) ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, config_.ca_file.c_str());
  ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &server);  // the options above apply to this handle's TLS
  if (config_.start_tls && (rc = ldap_start_tls_s(ld, nullptr, nullptr)) != LDAP_SUCCESS) {
    close(ld);
    return std::unexpected(unreachable(std::string("StartTLS: ") + ldap_err2string(rc)));
  }
  if (service) {
    berval cred{static_cast<ber_len_t>(config_.bind_password.size()), config_.bind_password.data()};
    const char* dn = config_.bind_dn.empty() ? nullptr : config_.bind_dn.c_str();
    rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, dn ? &cred : nullptr, nullptr, nullptr, nullptr);
    if (rc != LDAP_SUCCESS) {
      close(ld);
      return std::unexpected(unreachable(std::string("service account bind: ") + ldap_err2string(rc)));
    }
  }
  return ld;
}

Result<LDAP*> Directory::take() {
  {
    std::unique_lock lock(mu_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.timeout_ms);
    while (idle_.empty() && in_use_ >= config_.pool_size)
      if (freed_.wait_until(lock, deadline) == std::cv_status::timeout)
        return std::unexpected(unreachable("every pooled connection is busy"));
    ++in_use_;
    if (!idle_.empty()) {
      LDAP* ld = idle_.back();
      idle_.pop_back();
      return ld;
    }
  }
  auto ld = open(true);
  if (!ld) give_back(nullptr, false);
  return ld;
}

void Directory::give_back(LDAP* ld, bool healthy) {
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (healthy && ld) {
      idle_.push_back(ld);
      ld = nullptr;
    }
  }
  freed_.notify_one();
  close(ld);
}

Result<int> Directory::with_service(const std::function<int(LDAP*)>& op) {
  int rc = LDAP_SERVER_DOWN;
  for (int attempt = 0; attempt < 2; ++attempt) {
    LDAP* ld = TRY(take());
    rc = op(ld);
    bool lost = connection_lost(rc);
    give_back(ld, !lost);
    if (!lost) return rc;
  }
  return std::unexpected(unreachable(std::string("search: ") + ldap_err2string(rc)));
}

Result<std::optional<Person>> Directory::find(const std::string& username) {
  NoSigpipe guard;
  std::string filter = expand_filter(config_.user_filter, username, "");
  std::vector<std::string> names = {config_.username_attribute, config_.email_attribute, config_.name_attribute};
  for (auto* a : {&config_.subject_attribute, &config_.groups_attribute})
    if (!a->empty()) names.push_back(*a);
  std::vector<char*> attrs;
  for (auto& n : names) attrs.push_back(n.data());
  attrs.push_back(nullptr);
  std::optional<Person> found;
  int count = 0;
  auto rc = TRY(with_service([&](LDAP* ld) {
    LDAPMessage* res = nullptr;
    timeval tv = to_timeval(config_.timeout_ms);
    int r = ldap_search_ext_s(ld, config_.user_base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs.data(), 0,
                              nullptr, nullptr, &tv, 2, &res);
    count = res ? ldap_count_entries(ld, res) : 0;
    LDAPMessage* e = res ? ldap_first_entry(ld, res) : nullptr;
    if (e && count == 1 && r == LDAP_SUCCESS) {
      char* dn = ldap_get_dn(ld, e);
      found = Person{.dn = dn ? dn : ""};
      ldap_memfree(dn);
      found->subject = config_.subject_attribute.empty() ? found->dn : first_value(ld, e, config_.subject_attribute);
      found->username = first_value(ld, e, config_.username_attribute);
      found->email = first_value(ld, e, config_.email_attribute);
      found->display_name = first_value(ld, e, config_.name_attribute);
      found->group_dns = all_values(ld, e, config_.groups_attribute);
    }
    if (res) ldap_msgfree(res);
    return r;
  }));
  if (rc == LDAP_SIZELIMIT_EXCEEDED || count > 1) {
    spdlog::warn("ldap.{}: user_filter matches several entries for one username; refused", name_);
    return std::nullopt;
  }
  if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
    return std::unexpected(unreachable(std::string("user search: ") + ldap_err2string(rc)));
  if (found && (found->dn.empty() || found->subject.empty())) {
    spdlog::warn("ldap.{}: entry {} has no {}; refused", name_, found->dn, config_.subject_attribute);
    return std::nullopt;
  }
  return found;
}

Result<bool> Directory::check_password(const std::string& dn, const std::string& password) {
  if (password.empty() || dn.empty()) return false;
  NoSigpipe guard;
  LDAP* ld = TRY(open(false));
  berval cred{static_cast<ber_len_t>(password.size()), const_cast<char*>(password.data())};
  int rc = ldap_sasl_bind_s(ld, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  close(ld);
  if (rc == LDAP_SUCCESS) return true;
  if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH || rc == LDAP_UNWILLING_TO_PERFORM ||
      rc == LDAP_INVALID_DN_SYNTAX)
    return false;
  return std::unexpected(unreachable(std::string("bind: ") + ldap_err2string(rc)));
}

Result<std::vector<std::string>> Directory::groups(const Person& p) {
  NoSigpipe guard;
  std::set<std::string> names;
  for (auto& dn : p.group_dns) names.insert(first_rdn_value(dn));
  if (!config_.group_filter.empty()) {
    std::string filter = expand_filter(config_.group_filter, p.username, p.dn);
    std::string attr = config_.group_name_attribute;
    char* attrs[] = {attr.data(), nullptr};
    std::vector<std::string> found;
    auto rc = TRY(with_service([&](LDAP* ld) {
      found.clear();
      LDAPMessage* res = nullptr;
      timeval tv = to_timeval(config_.timeout_ms);
      int r = ldap_search_ext_s(ld, config_.group_base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attrs, 0,
                                nullptr, nullptr, &tv, 1000, &res);
      for (LDAPMessage* e = res ? ldap_first_entry(ld, res) : nullptr; e; e = ldap_next_entry(ld, e))
        if (auto v = first_value(ld, e, attr); !v.empty()) found.push_back(v);
      if (res) ldap_msgfree(res);
      return r;
    }));
    if (rc == LDAP_SIZELIMIT_EXCEEDED) spdlog::warn("ldap.{}: over 1000 groups for {}; the rest ignored", name_, p.dn);
    else if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
      return std::unexpected(unreachable(std::string("group search: ") + ldap_err2string(rc)));
    names.insert(found.begin(), found.end());
  }
  return std::vector<std::string>(names.begin(), names.end());
}

}  // namespace atrium::sso::ldap
