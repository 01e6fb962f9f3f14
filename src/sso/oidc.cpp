#include "sso/oidc.hpp"

#include <fstream>
#include <sstream>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "sso/fetch.hpp"

namespace atrium::sso {
namespace {

using nlohmann::json;

constexpr Millis kRefreshMs = 3600'000;        // discovery and keys: refetched hourly (rotation)
constexpr Millis kUnknownKidMinMs = 60'000;    // an unknown kid refetches the keys at most once a minute

std::unexpected<Error> unavailable(const std::string& why) {
  return fail(ErrorCode::kUnavailable, "provider-unavailable", why);
}

std::string str_claim(const json& c, const std::string& k) {
  auto it = c.find(k);
  return it != c.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Attempt Attempt::fresh() {
  return {crypto::base64url(crypto::random_bytes(32)), crypto::base64url(crypto::random_bytes(32)),
          crypto::base64url(crypto::random_bytes(32))};
}

std::string Attempt::code_challenge() const { return crypto::base64url(crypto::sha256(code_verifier)); }

Provider::Provider(std::string name, OidcConfig cfg, std::string client_secret, std::vector<Rule> rules,
                   const Clock& clock)
    : name_(std::move(name)), cfg_(std::move(cfg)), client_secret_(std::move(client_secret)),
      rules_(std::move(rules)), clock_(clock) {}

LinkPolicy Provider::link_policy() const {
  return {.create_users = cfg_.create_users, .link_by_verified_email = cfg_.link_by_verified_email, .rules = rules_};
}

Result<json> Provider::get_json(const std::string& url) {
  auto r = TRY(fetch({.url = url, .ca_file = cfg_.ca_file}));
  if (r.status != 200) return unavailable("the identity provider answered " + std::to_string(r.status) + " for " + url);
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return unavailable("the identity provider's answer from " + url + " is not JSON");
  return j;
}

Result<Discovery> Provider::discovery() {
  Millis now = clock_.now_ms();
  {
    std::lock_guard lock(mu_);
    if (discovery_ && now - discovery_at_ < kRefreshMs) return *discovery_;
  }
  auto j = TRY(get_json(cfg_.issuer + "/.well-known/openid-configuration"));
  Discovery d{str_claim(j, "issuer"), str_claim(j, "authorization_endpoint"), str_claim(j, "token_endpoint"),
              str_claim(j, "jwks_uri"), str_claim(j, "end_session_endpoint")};
  // The issuer must be exactly the configured one (OIDC Discovery 4.3): a document that names
  // another issuer could make us accept that issuer's tokens.
  if (d.issuer != cfg_.issuer)
    return unavailable("the provider's discovery document names the issuer '" + d.issuer + "', not '" + cfg_.issuer + "'");
  for (auto* u : {&d.authorization_endpoint, &d.token_endpoint, &d.jwks_uri})
    if (!u->starts_with("https://")) return unavailable("the provider's discovery document lacks an https endpoint");
  if (!d.end_session_endpoint.empty() && !d.end_session_endpoint.starts_with("https://")) d.end_session_endpoint.clear();
  std::lock_guard lock(mu_);
  discovery_ = d;
  discovery_at_ = now;
  return d;
}

Result<std::shared_ptr<const Jwks>> Provider::keys(bool unknown_kid) {
  Millis now = clock_.now_ms();
  {
    std::lock_guard lock(mu_);
    bool fresh = jwks_ && now - jwks_at_ < kRefreshMs;
    // A token under an unknown kid may mean a rotation: refetch, but not for every such token
    // (forged tokens with made-up kids must not make us fetch per request).
    if (fresh && (!unknown_kid || now - unknown_kid_at_ < kUnknownKidMinMs)) return jwks_;
    if (unknown_kid) unknown_kid_at_ = now;
  }
  auto d = TRY(discovery());
  auto r = TRY(fetch({.url = d.jwks_uri, .ca_file = cfg_.ca_file}));
  if (r.status != 200) return unavailable("the identity provider answered " + std::to_string(r.status) + " for its keys");
  auto parsed = std::make_shared<const Jwks>(TRY(Jwks::parse(r.body)));
  std::lock_guard lock(mu_);
  jwks_ = parsed;
  jwks_at_ = now;
  return jwks_;
}

std::string Provider::authorization_url(const Discovery& d, const Attempt& a, const std::string& redirect_uri) const {
  std::string sep = d.authorization_endpoint.find('?') == std::string::npos ? "?" : "&";
  return d.authorization_endpoint + sep +
         form_encode({{"response_type", "code"},
                      {"client_id", cfg_.client_id},
                      {"redirect_uri", redirect_uri},
                      {"scope", cfg_.scopes},
                      {"state", a.state},
                      {"nonce", a.nonce},
                      {"code_challenge", a.code_challenge()},
                      {"code_challenge_method", "S256"}});
}

ExternalIdentity Provider::identity_of(const json& c) const {
  ExternalIdentity who{.provider = name_, .subject = str_claim(c, "sub")};
  who.email = str_claim(c, cfg_.email_claim);
  auto v = c.find("email_verified");
  who.email_verified = v != c.end() && ((v->is_boolean() && v->get<bool>()) || (v->is_string() && *v == "true"));
  who.username_hint = str_claim(c, cfg_.username_claim);
  who.display_name = str_claim(c, cfg_.name_claim);
  if (check_display_text("name", who.display_name, 200, true).has_value() == false) who.display_name.clear();
  if (check_display_text("email", who.email, 254, true).has_value() == false) who.email.clear(), who.email_verified = false;
  auto g = c.find(cfg_.groups_claim);
  if (g != c.end() && g->is_string()) who.groups.push_back(g->get<std::string>());
  if (g != c.end() && g->is_array())
    for (auto& x : *g)
      if (x.is_string() && who.groups.size() < 1000) who.groups.push_back(x.get<std::string>());
  return who;
}

Result<ExternalIdentity> Provider::redeem(const std::string& code, const std::string& code_verifier,
                                          const std::string& nonce, const std::string& redirect_uri) {
  auto d = TRY(discovery());
  std::vector<std::pair<std::string, std::string>> form = {{"grant_type", "authorization_code"},
                                                           {"code", code},
                                                           {"redirect_uri", redirect_uri},
                                                           {"code_verifier", code_verifier}};
  FetchRequest req{.url = d.token_endpoint, .ca_file = cfg_.ca_file};
  if (client_secret_.empty()) {
    form.emplace_back("client_id", cfg_.client_id);
  } else {
    req.basic_user = cfg_.client_id;
    req.basic_password = client_secret_;
  }
  req.form_body = form_encode(form);
  auto r = TRY(fetch(req));
  auto j = json::parse(r.body, nullptr, false);
  if (r.status != 200 || j.is_discarded() || !j.is_object()) {
    std::string err = j.is_object() ? str_claim(j, "error") : "";
    return fail(Error(ErrorCode::kUnauthenticated, "sso-token-refused",
                      "the identity provider refused the sign-in code" + (err.empty() ? "" : " (" + err + ")")));
  }
  std::string id_token = str_claim(j, "id_token");
  if (id_token.empty()) return fail(ErrorCode::kUnauthenticated, "invalid-id-token", "the provider sent no ID token");
  Expected want{.issuer = d.issuer,
                .client_id = cfg_.client_id,
                .nonce = nonce,
                .now_s = clock_.now_ms() / 1000,
                .skew_s = cfg_.clock_skew_s};
  auto ks = TRY(keys(false));
  auto claims = verify_id_token(id_token, *ks, want);
  if (!claims && claims.error().type == kUnknownKid) {
    ks = TRY(keys(true));
    claims = verify_id_token(id_token, *ks, want);
  }
  if (!claims) return std::unexpected(claims.error());
  return identity_of(*claims);
}

std::string Provider::logout_url(const std::string& post_logout_redirect_uri) {
  std::optional<Discovery> d;
  {
    std::lock_guard lock(mu_);
    d = discovery_;
  }
  if (!d || d->end_session_endpoint.empty()) return "";
  std::string sep = d->end_session_endpoint.find('?') == std::string::npos ? "?" : "&";
  return d->end_session_endpoint + sep +
         form_encode({{"client_id", cfg_.client_id}, {"post_logout_redirect_uri", post_logout_redirect_uri}});
}

Result<std::map<std::string, std::unique_ptr<Provider>>> make_providers(const std::map<std::string, OidcConfig>& cfg,
                                                                        const Clock& clock) {
  std::map<std::string, std::unique_ptr<Provider>> out;
  for (auto& [name, c] : cfg) {
    if (!is_valid_slug(name)) return invalid("[oidc." + name + "]: the name must be a-z 0-9 - _ .");
    std::string secret;
    if (!c.client_secret_file.empty()) {
      std::ifstream f(c.client_secret_file);
      if (!f) return invalid("[oidc." + name + "] client_secret_file: cannot read " + c.client_secret_file);
      std::stringstream ss;
      ss << f.rdbuf();
      secret = ss.str();
      while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
      if (secret.empty()) return invalid("[oidc." + name + "] client_secret_file: " + c.client_secret_file + " is empty");
    }
    auto rules = parse_config_rules(json::parse(c.rules, nullptr, false), name);
    if (!rules) return invalid("[oidc." + name + "] rules: " + rules.error().detail);
    out.emplace(name, std::make_unique<Provider>(name, c, secret, *rules, clock));
  }
  return out;
}

}  // namespace atrium::sso
