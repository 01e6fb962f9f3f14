#include "sso/config.hpp"

#include <nlohmann/json.hpp>

#include "sso/federation.hpp"

namespace atrium::sso {
namespace {

Status check(OidcConfig& c) {
  while (!c.issuer.empty() && c.issuer.back() == '/' && c.issuer.size() > 8) c.issuer.pop_back();
  if (!c.issuer.starts_with("https://"))
    return invalid("oidc: issuer '" + c.issuer + "' must be an https:// URL (the provider's issuer identifier)");
  if (c.client_id.empty()) return invalid("oidc: client_id is required (" + c.issuer + ")");
  if (c.scopes.find("openid") == std::string::npos) return invalid("oidc: scopes must include openid");
  if (c.post_logout_redirect_uri.size() && !c.post_logout_redirect_uri.starts_with("http"))
    return invalid("oidc: post_logout_redirect_uri must be an http(s) URL");
  auto rules = nlohmann::json::parse(c.rules, nullptr, false);
  if (rules.is_discarded()) return invalid("oidc: rules must be an array of tables ([[oidc.NAME.rules]])");
  if (auto r = parse_config_rules(rules, ""); !r) return invalid("oidc: " + r.error().detail);
  return {};
}

}  // namespace

void declare_oidc(config::Section<OidcConfig>& s) {
  s.string("issuer", "the provider's issuer URL (https)", &OidcConfig::issuer)
      .string("client_id", "Atrium's client id at the provider", &OidcConfig::client_id)
      .path("client_secret_file", "file holding the client secret (read at startup; empty = public client)",
            &OidcConfig::client_secret_file)
      .string("scopes", "scopes to request (space-separated, with openid)", &OidcConfig::scopes)
      .string("display_name", "label of the sign-in button (default: the section's name)", &OidcConfig::display_name)
      .string("username_claim", "claim proposing the new user's name", &OidcConfig::username_claim)
      .string("email_claim", "claim holding the email address", &OidcConfig::email_claim)
      .string("name_claim", "claim holding the display name", &OidcConfig::name_claim)
      .string("groups_claim", "claim holding the groups (for mapping rules)", &OidcConfig::groups_claim)
      .boolean("create_users", "first sign-in creates the user", &OidcConfig::create_users)
      .boolean("link_by_verified_email", "link an existing account with the same provider-verified email",
               &OidcConfig::link_by_verified_email)
      .path("ca_file", "PEM CA bundle to trust for this provider (a private CA)", &OidcConfig::ca_file)
      .integer("clock_skew_s", "tolerated clock difference for ID token times", &OidcConfig::clock_skew_s, 0, 600)
      .string("post_logout_redirect_uri", "where the provider returns after sign-out (default <public_url>/login)",
              &OidcConfig::post_logout_redirect_uri)
      .json("rules", "mapping rules ([[oidc.NAME.rules]]: email_domain or claim_group, org, role, group)",
            &OidcConfig::rules)
      .check(check);
}

void declare(config::Registry& r, std::map<std::string, OidcConfig>& providers) {
  r.family<OidcConfig>("oidc", providers, [](config::Section<OidcConfig>& s) { declare_oidc(s); });
}

}  // namespace atrium::sso
