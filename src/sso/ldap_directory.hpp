// Private to sso/: one LDAP directory over libldap, blocking (worker pool only). A small pool of
// connections bound as the service account does the searches; each password check binds on a
// connection of its own that is closed afterwards. Every filter value is escaped (RFC 4515).
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "sso/ldap.hpp"

typedef struct ldap LDAP;  // NOLINT: libldap's own spelling (ldap.h)

namespace atrium::sso::ldap {

// RFC 4515 escaping of a value put into a search filter: * ( ) \ NUL become \2a \28 \29 \5c \00.
std::string escape_filter_value(std::string_view v);
// `tmpl` with {username} and {dn} replaced by the escaped values.
std::string expand_filter(std::string_view tmpl, std::string_view username, std::string_view dn);
// The value of a DN's first RDN ("cn=physics-staff,ou=groups,..." -> "physics-staff"), unescaped.
std::string first_rdn_value(std::string_view dn);
// Whether the URL's host is a loopback address (127.x, ::1, localhost).
bool loopback_url(std::string_view url);
// Config checks of one section (`name` for messages).
Status check_config(const std::string& name, LdapConfig& c);

struct Person {
  std::string dn, subject, username, email, display_name;
  std::vector<std::string> group_dns;  // from groups_attribute (memberOf)
};

class Directory {
 public:
  Directory(std::string name, LdapConfig config);
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  const std::string& name() const { return name_; }
  const LdapConfig& config() const { return config_; }

  // The one entry that user_filter finds for `username`; nullopt when none or several match.
  // kUnavailable when the directory cannot be reached.
  Result<std::optional<Person>> find(const std::string& username);
  // Binds as `dn` with `password` on a fresh connection: true on success, false on invalid
  // credentials; kUnavailable when the directory cannot be reached. An empty password is false
  // without asking (an empty simple bind is an unauthenticated, "successful" bind: RFC 4513 5.1.2).
  Result<bool> check_password(const std::string& dn, const std::string& password);
  // The names of the person's groups: the group search and/or groups_attribute, sorted, unique.
  Result<std::vector<std::string>> groups(const Person& p);

 private:
  // A service connection from the pool (or a new one); returned by give_back when still healthy.
  Result<LDAP*> take();
  void give_back(LDAP* ld, bool healthy);
  // Opens a connection (TLS set up, StartTLS done); binds as the service account when `service`.
  Result<LDAP*> open(bool service);
  // Runs `op` (which answers an LDAP result code) on a service connection; a connection that failed
  // (server down, timeout) is dropped and `op` retried once on a new connection.
  Result<int> with_service(const std::function<int(LDAP*)>& op);
  Error unreachable(const std::string& why) const;

  std::string name_;
  LdapConfig config_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<LDAP*> idle_;  // GUARDED_BY(mu_)
  int in_use_ = 0;           // GUARDED_BY(mu_)
};

}  // namespace atrium::sso::ldap
