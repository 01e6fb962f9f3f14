// ID token checks for the OIDC relying party: a provider's signing keys (its JWKS) and the
// verification of one ID token against them (signature RS256 or ES256 only, then iss, aud/azp,
// exp/iat/nbf with a clock skew, nonce). Pure functions of their inputs: no network, no clock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace atrium::sso {

// A provider's public signing keys, imported once (cjose) from its JWKS document.
class Jwks {
 public:
  // Keys of another type (encryption keys, `oct`) and keys cjose cannot import are skipped;
  // a document that is not a JWKS, or has no usable key, is an error.
  static Result<Jwks> parse(const std::string& json_text);
  bool has_kid(const std::string& kid) const;
  std::size_t size() const { return keys_.size(); }

  struct Key;  // idtoken.cpp
  Jwks();
  ~Jwks();
  Jwks(Jwks&&) noexcept;
  Jwks& operator=(Jwks&&) noexcept;
  const std::vector<std::shared_ptr<Key>>& keys() const { return keys_; }

 private:
  std::vector<std::shared_ptr<Key>> keys_;
};

struct Expected {
  std::string issuer;     // exactly the discovered issuer
  std::string client_id;  // must be in aud (and be azp when aud has several entries or azp is set)
  std::string nonce;      // the login attempt's nonce
  std::int64_t now_s = 0;
  std::int64_t skew_s = 60;
};

// The error type when the token names a key the JWKS does not hold (the caller may refetch the
// JWKS once and try again: the provider may have rotated its keys).
inline constexpr const char* kUnknownKid = "unknown-kid";

// Verifies `token`; returns its claims. Errors: kUnauthenticated with type kUnknownKid or
// "invalid-id-token" (detail says which check failed; never the token itself).
Result<nlohmann::json> verify_id_token(const std::string& token, const Jwks& keys, const Expected& want);

}  // namespace atrium::sso
