// The [oidc.NAME] sections: one per OpenID Connect provider (several at once). Declared here,
// bound by app/ (config::Registry::family), turned into running providers by sso::make_providers.
#pragma once

#include <map>
#include <string>

#include "core/config.hpp"

namespace atrium::sso {

struct OidcConfig {
  std::string issuer;              // https://...; discovery at <issuer>/.well-known/openid-configuration
  std::string client_id;
  std::string client_secret_file;  // read at startup; "" = a public client (PKCE only)
  std::string scopes = "openid email profile";
  std::string display_name;        // the sign-in button's label; "" = the section's NAME
  std::string username_claim = "preferred_username";
  std::string email_claim = "email";
  std::string name_claim = "name";
  std::string groups_claim = "groups";
  bool create_users = true;
  bool link_by_verified_email = false;
  std::string ca_file;             // PEM bundle trusted instead of the system's CAs (a private CA)
  int clock_skew_s = 60;
  std::string post_logout_redirect_uri;  // "" = <server.public_url>/login
  std::string rules = "[]";        // [[oidc.NAME.rules]] tables as JSON (see docs/auth.md)
};

// Declares the keys of one [oidc.NAME] section.
void declare_oidc(config::Section<OidcConfig>& s);
// Binds the [oidc.NAME] family to `providers`.
void declare(config::Registry& r, std::map<std::string, OidcConfig>& providers);

}  // namespace atrium::sso
