#include "sso/idtoken.hpp"

#include <cjose/cjose.h>

#include <algorithm>

#include "core/crypto.hpp"

namespace atrium::sso {

struct Jwks::Key {
  std::string kid, kty, alg, crv;
  cjose_jwk_t* jwk = nullptr;
  ~Key() {
    if (jwk) cjose_jwk_release(jwk);
  }
};

Jwks::Jwks() = default;
Jwks::~Jwks() = default;
Jwks::Jwks(Jwks&&) noexcept = default;
Jwks& Jwks::operator=(Jwks&&) noexcept = default;

namespace {

using nlohmann::json;

std::string str_of(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::unexpected<Error> bad(std::string why) {
  return fail(ErrorCode::kUnauthenticated, "invalid-id-token", "the ID token was refused: " + std::move(why));
}

// The algorithm a key may verify: RS256 for RSA, ES256 for EC P-256; nothing else.
bool key_fits(const Jwks::Key& k, const std::string& alg) {
  if (!k.alg.empty() && k.alg != alg) return false;
  if (alg == "RS256") return k.kty == "RSA";
  if (alg == "ES256") return k.kty == "EC" && k.crv == "P-256";
  return false;
}

Result<json> segment_json(std::string_view seg, const char* what) {
  auto raw = crypto::base64url_decode(seg);
  if (!raw) return bad(std::string(what) + " is not base64url");
  auto j = json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad(std::string(what) + " is not a JSON object");
  return j;
}

Status check_audience(const json& c, const Expected& want) {
  auto aud = c.find("aud");
  std::vector<std::string> auds;
  if (aud != c.end() && aud->is_string()) auds.push_back(aud->get<std::string>());
  if (aud != c.end() && aud->is_array())
    for (auto& a : *aud)
      if (a.is_string()) auds.push_back(a.get<std::string>());
  if (std::find(auds.begin(), auds.end(), want.client_id) == auds.end()) return bad("aud does not name this client");
  std::string azp = str_of(c, "azp");
  if ((auds.size() > 1 || c.contains("azp")) && azp != want.client_id)
    return bad("azp does not name this client");
  return {};
}

Status check_times(const json& c, const Expected& want) {
  auto num = [&](const char* k) -> std::optional<std::int64_t> {
    auto it = c.find(k);
    if (it == c.end() || !it->is_number()) return std::nullopt;
    return static_cast<std::int64_t>(it->get<double>());
  };
  auto exp = num("exp"), iat = num("iat"), nbf = num("nbf");
  if (!exp || !iat) return bad("exp and iat are required");
  if (*exp + want.skew_s <= want.now_s) return bad("it has expired");
  if (*iat - want.skew_s > want.now_s) return bad("it was issued in the future");
  if (nbf && *nbf - want.skew_s > want.now_s) return bad("it is not valid yet");
  if (c.contains("nbf") && !nbf) return bad("nbf is not a number");
  return {};
}

}  // namespace

Result<Jwks> Jwks::parse(const std::string& json_text) {
  auto doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
    return fail(ErrorCode::kUnavailable, "provider-unavailable", "the provider's JWKS is not a JSON key set");
  Jwks out;
  for (auto& k : doc["keys"]) {
    if (!k.is_object()) continue;
    auto key = std::make_shared<Key>();
    key->kid = str_of(k, "kid");
    key->kty = str_of(k, "kty");
    key->alg = str_of(k, "alg");
    key->crv = str_of(k, "crv");
    std::string use = str_of(k, "use");
    if ((key->kty != "RSA" && key->kty != "EC") || (!use.empty() && use != "sig")) continue;
    // Only the public members: a JWKS that (wrongly) carries private parts is not trusted with them.
    json pub = {{"kty", key->kty}};
    for (const char* m : {"n", "e", "crv", "x", "y", "kid"})
      if (k.contains(m)) pub[m] = k[m];
    std::string text = pub.dump();
    cjose_err err;
    key->jwk = cjose_jwk_import(text.c_str(), text.size(), &err);
    if (key->jwk) out.keys_.push_back(std::move(key));
  }
  if (out.keys_.empty())
    return fail(ErrorCode::kUnavailable, "provider-unavailable", "the provider's JWKS holds no RSA or EC signing key");
  return out;
}

bool Jwks::has_kid(const std::string& kid) const {
  return std::any_of(keys_.begin(), keys_.end(), [&](auto& k) { return k->kid == kid; });
}

Result<json> verify_id_token(const std::string& token, const Jwks& keys, const Expected& want) {
  if (token.size() > 16384) return bad("it is too large");
  auto d1 = token.find('.');
  auto d2 = d1 == std::string::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string::npos || token.find('.', d2 + 1) != std::string::npos) return bad("it is not a compact JWS");
  auto header = TRY(segment_json(std::string_view(token).substr(0, d1), "the header"));
  std::string alg = str_of(header, "alg"), kid = str_of(header, "kid");
  // Only the asymmetric algorithms the provider signs with: never `none`, never HS256 (whose
  // "secret" an attacker would pick as our copy of the provider's public key).
  if (alg != "RS256" && alg != "ES256") return bad("alg '" + alg + "' is not allowed (RS256 or ES256)");
  if (header.contains("crit")) return bad("crit headers are not supported");
  cjose_err err;
  cjose_jws_t* jws = cjose_jws_import(token.c_str(), token.size(), &err);
  if (!jws) return bad("it is not a well-formed JWS");
  bool any_key = false, ok = false;
  for (auto& k : keys.keys()) {
    if (!kid.empty() && k->kid != kid) continue;
    if (!key_fits(*k, alg)) continue;
    any_key = true;
    if (cjose_jws_verify(jws, k->jwk, &err)) {
      ok = true;
      break;
    }
  }
  std::string payload;
  if (ok) {
    uint8_t* pl = nullptr;
    size_t n = 0;
    if (cjose_jws_get_plaintext(jws, &pl, &n, &err)) payload.assign(reinterpret_cast<const char*>(pl), n);
  }
  cjose_jws_release(jws);
  if (!any_key)
    return fail(ErrorCode::kUnauthenticated, kUnknownKid,
                "the ID token was signed with a key the provider does not publish (kid '" + kid + "')");
  if (!ok) return bad("the signature does not verify");
  auto c = json::parse(payload, nullptr, false);
  if (c.is_discarded() || !c.is_object()) return bad("the claims are not a JSON object");
  if (str_of(c, "iss") != want.issuer) return bad("iss is not the provider's issuer");
  TRY_STATUS(check_audience(c, want));
  TRY_STATUS(check_times(c, want));
  if (want.nonce.empty() || !crypto::constant_time_equal(str_of(c, "nonce"), want.nonce))
    return bad("nonce does not match this sign-in");
  if (str_of(c, "sub").empty()) return bad("sub is missing");
  return c;
}

}  // namespace atrium::sso
