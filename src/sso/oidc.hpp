// The OpenID Connect relying party: one Provider per [oidc.NAME] section, holding the provider's
// discovery document and signing keys (fetched on first use, refreshed hourly, the keys refetched
// early when a token names an unknown kid, at most once a minute), and the two back-channel steps
// of a sign-in: the authorization URL and the code exchange with ID token verification.
// Every call that fetches blocks: call it on the worker pool.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "sso/config.hpp"
#include "sso/federation.hpp"
#include "sso/idtoken.hpp"

namespace atrium::sso {

struct Discovery {
  std::string issuer, authorization_endpoint, token_endpoint, jwks_uri, end_session_endpoint;
};

// What a sign-in attempt sends to the provider (secrets of the attempt; hashed or kept server-side).
struct Attempt {
  std::string state, nonce, code_verifier;
  static Attempt fresh();
  std::string code_challenge() const;  // S256
};

class Provider {
  static constexpr Millis kHour = 3600'000;

 public:
  Provider(std::string name, OidcConfig cfg, std::string client_secret, std::vector<Rule> rules, const Clock& clock);
  const std::string& name() const { return name_; }
  const OidcConfig& config() const { return cfg_; }
  std::string display_name() const { return cfg_.display_name.empty() ? name_ : cfg_.display_name; }
  LinkPolicy link_policy() const;

  Result<Discovery> discovery();
  std::string authorization_url(const Discovery& d, const Attempt& a, const std::string& redirect_uri) const;
  // Exchanges the code (client_secret_basic, PKCE verifier) and verifies the ID token; returns
  // what it asserts, mapped through the configured claims.
  Result<ExternalIdentity> redeem(const std::string& code, const std::string& code_verifier, const std::string& nonce,
                                  const std::string& redirect_uri);
  // The RP-initiated logout URL ("" when the provider offers none); from the cached discovery
  // document only (never fetches: it runs inside the sign-out's transaction).
  std::string logout_url(const std::string& post_logout_redirect_uri);

  // For tests: claims -> identity as configured.
  ExternalIdentity identity_of(const nlohmann::json& claims) const;

 private:
  Result<std::shared_ptr<const Jwks>> keys(bool unknown_kid);
  Result<nlohmann::json> get_json(const std::string& url);

  std::string name_;
  OidcConfig cfg_;
  std::string client_secret_;
  std::vector<Rule> rules_;
  const Clock& clock_;
  std::mutex mu_;
  std::optional<Discovery> discovery_;     // GUARDED_BY(mu_)
  Millis discovery_at_ = 0;                // GUARDED_BY(mu_)
  std::shared_ptr<const Jwks> jwks_;       // GUARDED_BY(mu_)
  Millis jwks_at_ = 0;                     // GUARDED_BY(mu_)
  Millis unknown_kid_at_ = -kHour;         // GUARDED_BY(mu_): the last refetch an unknown kid caused
};

// The running providers by name, made from the config (reads each client_secret_file; errors are
// startup errors naming the section).
Result<std::map<std::string, std::unique_ptr<Provider>>> make_providers(const std::map<std::string, OidcConfig>& cfg,
                                                                        const Clock& clock);

}  // namespace atrium::sso
