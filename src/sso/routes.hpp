// HTTP routes of sso/: the sign-in options for the login page, the OIDC code flow (start and
// callback), and each org's mapping rules.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "http/api.hpp"
#include "identity/auth.hpp"
#include "identity/routes.hpp"
#include "sso/oidc.hpp"

namespace atrium::sso {

// A sign-in option other modules offer (ldap/): shown on the login page.
struct ProviderInfo {
  std::string name, display_name, type, start_url;  // start_url "" = a form on the login page
};

struct RouteDeps {
  std::map<std::string, std::unique_ptr<Provider>>& providers;
  const identity::AuthSettings& auth;  // public_url (redirect URIs), session lifetime and cookies
  identity::LoginLimiter& limiter;     // sign-in attempts per client address, shared with passwords
  std::vector<ProviderInfo> others = {};  // e.g. [ldap.NAME] sections
  bool password_reset = false;            // whether "forgot your password" is offered (account/)
};

void add_routes(http::Api& api, RouteDeps deps);
void add_rules_routes(http::Api& api, const RouteDeps& deps);  // routes_rules.cpp

// For identity's logout: the provider's sign-out URL for a session that came from it ("" otherwise).
identity::RouteDeps::LogoutUrlFn logout_url_fn(std::map<std::string, std::unique_ptr<Provider>>& providers,
                                               const identity::AuthSettings& auth);

}  // namespace atrium::sso
