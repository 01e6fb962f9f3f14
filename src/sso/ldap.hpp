// Sign-in against an LDAP directory (OpenLDAP, Active Directory, ...): each [ldap.NAME] config
// section is a provider. A sign-in searches the person's entry with a read-only service account,
// binds as that entry with the given password on a connection of its own, reads the groups, and
// hands the result to sso::federate() like an OIDC sign-in; then a session starts as for a local
// password. Directory calls happen on the worker pool only (route handlers), with connect and
// operation timeouts; a directory outage is a 503 and never counts as a failed sign-in.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "http/api.hpp"
#include "identity/auth.hpp"
#include "sso/routes.hpp"

namespace atrium::sso {

struct LdapConfig {
  std::string display_name;    // on the login page ("" = the provider's name)
  std::string url;             // ldaps://host[:port] or ldap://host[:port] (+ start_tls)
  bool start_tls = false;      // ldap:// upgraded with StartTLS before anything is sent
  bool allow_insecure = false;  // plain ldap:// without TLS: only to a loopback host (tests)
  std::string ca_file;         // PEM CA bundle that the server's certificate must chain to ("" = system)
  std::string bind_dn;         // the read-only service account ("" = anonymous searches)
  std::string bind_password_file;
  std::string user_base;       // where people are searched (subtree)
  std::string user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))";  // {username}: escaped
  std::string username_attribute = "uid";  // AD: sAMAccountName
  std::string email_attribute = "mail";
  std::string name_attribute = "cn";       // AD: displayName
  std::string subject_attribute = "entryUUID";  // AD: objectGUID; "" = the entry's DN
  std::string group_base;      // group search (with group_filter); "" = no search
  std::string group_filter;    // e.g. (&(objectClass=groupOfNames)(member={dn})); {dn}, {username}
  std::string group_name_attribute = "cn";
  std::string groups_attribute;  // attribute of the person listing group DNs (AD: memberOf)
  bool email_verified = false;   // the mail attribute is managed by the institution: treat as verified
  bool create_users = true;
  bool link_by_verified_email = false;
  std::string rules;             // mapping rules (see sso::parse_config_rules), one per list item
  int connect_timeout_ms = 3000;
  int timeout_ms = 5000;
  int pool_size = 4;             // service-account connections kept open
  std::string bind_password;     // read from bind_password_file at startup (not a config key)
};

// Declares the [ldap.NAME] family into `items`.
void declare_ldap(config::Registry& r, std::map<std::string, LdapConfig>& items);

// The configured directories and their connection pools; built once at startup.
class LdapProviders {
 public:
  explicit LdapProviders(const std::map<std::string, LdapConfig>& configs);
  ~LdapProviders();
  LdapProviders(const LdapProviders&) = delete;
  LdapProviders& operator=(const LdapProviders&) = delete;

  // The login page's entries (GET /api/v1/auth/providers): type "ldap", a form (no start URL).
  std::vector<ProviderInfo> infos() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  friend void add_ldap_routes(http::Api&, LdapProviders&, const identity::AuthSettings&, identity::LoginLimiter&);
};

// POST /api/v1/auth/ldap/{name}/login {username, password}.
void add_ldap_routes(http::Api& api, LdapProviders& providers, const identity::AuthSettings& settings,
                     identity::LoginLimiter& limiter);

}  // namespace atrium::sso
