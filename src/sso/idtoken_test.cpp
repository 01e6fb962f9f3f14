// The ID token verifier against keys and tokens made here (cjose on OpenSSL): every forgery the
// relying party must refuse, and key rotation (a token under a kid the JWKS does not hold yet).
#include "sso/idtoken.hpp"

#include <cjose/cjose.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/crypto.hpp"

namespace atrium::sso {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;
const char* kIss = "https://idp.example.test";

struct TestKey {
  cjose_jwk_t* jwk = nullptr;
  std::string kid, alg;
  TestKey(const std::string& alg_, const std::string& kid_) : kid(kid_), alg(alg_) {
    cjose_err err;
    static const uint8_t e[] = {1, 0, 1};
    jwk = alg == "RS256" ? cjose_jwk_create_RSA_random(2048, e, 3, &err)
                         : cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    cjose_jwk_set_kid(jwk, kid.c_str(), kid.size(), &err);
  }
  ~TestKey() { cjose_jwk_release(jwk); }
  json public_jwk() const {
    cjose_err err;
    char* s = cjose_jwk_to_json(jwk, false, &err);
    json j = json::parse(s);
    std::free(s);
    j["alg"] = alg;
    j["use"] = "sig";
    return j;
  }
};

std::string sign(const cjose_jwk_t* jwk, const std::string& alg, const std::string& kid, const json& claims) {
  cjose_err err;
  cjose_header_t* h = cjose_header_new(&err);
  cjose_header_set(h, CJOSE_HDR_ALG, alg.c_str(), &err);
  if (!kid.empty()) cjose_header_set(h, CJOSE_HDR_KID, kid.c_str(), &err);
  std::string body = claims.dump();
  cjose_jws_t* jws = cjose_jws_sign(jwk, h, reinterpret_cast<const uint8_t*>(body.data()), body.size(), &err);
  const char* compact = nullptr;
  cjose_jws_export(jws, &compact, &err);
  std::string out = compact;
  cjose_jws_release(jws);
  cjose_header_release(h);
  return out;
}

json good_claims() {
  return {{"iss", kIss}, {"sub", "alice"}, {"aud", "atrium"}, {"exp", kNow + 300},
          {"iat", kNow - 5}, {"nonce", "n-123"}, {"email", "alice@uni.example"}};
}

Expected want() { return {.issuer = kIss, .client_id = "atrium", .nonce = "n-123", .now_s = kNow, .skew_s = 60}; }

class IdTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    crypto::init();
    rsa = new TestKey("RS256", "rsa-1");
    ec = new TestKey("ES256", "ec-1");
  }
  static void TearDownTestSuite() {
    delete rsa;
    delete ec;
  }
  static Jwks jwks_of(std::initializer_list<const TestKey*> ks) {
    json doc = {{"keys", json::array()}};
    for (auto* k : ks) doc["keys"].push_back(k->public_jwk());
    return *Jwks::parse(doc.dump());
  }
  static std::string error_of(const std::string& token, const Jwks& keys, Expected w = want()) {
    auto r = verify_id_token(token, keys, w);
    return r ? "" : r.error().type + ": " + r.error().detail;
  }
  static inline TestKey* rsa = nullptr;
  static inline TestKey* ec = nullptr;
};

TEST_F(IdTokenTest, AcceptsRs256AndEs256) {
  Jwks keys = jwks_of({rsa, ec});
  auto r = verify_id_token(sign(rsa->jwk, "RS256", "rsa-1", good_claims()), keys, want());
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ((*r)["sub"], "alice");
  EXPECT_EQ(error_of(sign(ec->jwk, "ES256", "ec-1", good_claims()), keys), "");
  // aud as an array with azp naming us.
  json c = good_claims();
  c["aud"] = {"atrium", "other"};
  c["azp"] = "atrium";
  EXPECT_EQ(error_of(sign(rsa->jwk, "RS256", "rsa-1", c), keys), "");
}

TEST_F(IdTokenTest, RefusesWrongClaims) {
  Jwks keys = jwks_of({rsa});
  auto with = [&](const char* k, json v) {
    json c = good_claims();
    if (v.is_null())
      c.erase(k);
    else
      c[k] = v;
    return error_of(sign(rsa->jwk, "RS256", "rsa-1", c), keys);
  };
  EXPECT_NE(with("iss", "https://evil.example").find("iss"), std::string::npos);
  EXPECT_NE(with("iss", std::string(kIss) + "/").find("iss"), std::string::npos);
  EXPECT_NE(with("aud", "someone-else").find("aud"), std::string::npos);
  EXPECT_NE(with("aud", json::array({"atrium", "other"})).find("azp"), std::string::npos);  // no azp
  EXPECT_NE(with("azp", "other").find("azp"), std::string::npos);
  EXPECT_NE(with("nonce", "n-999").find("nonce"), std::string::npos);
  EXPECT_NE(with("nonce", nullptr).find("nonce"), std::string::npos);
  EXPECT_NE(with("exp", kNow - 61).find("expired"), std::string::npos);
  EXPECT_EQ(with("exp", kNow - 30), "");  // inside the skew
  EXPECT_NE(with("exp", nullptr).find("exp"), std::string::npos);
  EXPECT_NE(with("iat", kNow + 120).find("future"), std::string::npos);
  EXPECT_NE(with("nbf", kNow + 120).find("not valid yet"), std::string::npos);
  EXPECT_NE(with("sub", "").find("sub"), std::string::npos);
}

TEST_F(IdTokenTest, RefusesBadSignatureAndForeignKey) {
  Jwks keys = jwks_of({rsa, ec});
  std::string t = sign(rsa->jwk, "RS256", "rsa-1", good_claims());
  std::string tampered = t;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_NE(error_of(tampered, keys).find("signature"), std::string::npos);
  // A changed payload under the original signature.
  auto d1 = t.find('.'), d2 = t.find('.', d1 + 1);
  json c = good_claims();
  c["sub"] = "admin";
  std::string swapped = t.substr(0, d1 + 1) + crypto::base64url(c.dump()) + t.substr(d2);
  EXPECT_NE(error_of(swapped, keys).find("signature"), std::string::npos);
  // Signed by a key of the same kid the provider never published.
  TestKey other("RS256", "rsa-1");
  EXPECT_NE(error_of(sign(other.jwk, "RS256", "rsa-1", good_claims()), keys).find("signature"), std::string::npos);
  // An RS256 header on the EC key's kid: no key fits.
  EXPECT_NE(error_of(sign(rsa->jwk, "RS256", "ec-1", good_claims()), keys).find(kUnknownKid), std::string::npos);
}

TEST_F(IdTokenTest, RefusesAlgNoneAndHs256Confusion) {
  Jwks keys = jwks_of({rsa});
  std::string none = crypto::base64url(R"({"alg":"none","kid":"rsa-1"})") + "." +
                     crypto::base64url(good_claims().dump()) + ".";
  EXPECT_NE(error_of(none, keys).find("alg 'none'"), std::string::npos);
  // HS256 keyed with the provider's public key (the classic confusion attack).
  std::string pub = rsa->public_jwk().dump();
  cjose_err err;
  cjose_jwk_t* oct = cjose_jwk_create_oct_spec(reinterpret_cast<const uint8_t*>(pub.data()), pub.size(), &err);
  ASSERT_NE(oct, nullptr);
  EXPECT_NE(error_of(sign(oct, "HS256", "rsa-1", good_claims()), keys).find("alg 'HS256'"), std::string::npos);
  cjose_jwk_release(oct);
  EXPECT_NE(error_of("not.a.jwt", keys), "");
  EXPECT_NE(error_of("onlyone", keys), "");
  EXPECT_NE(error_of("a.b.c.d", keys), "");
}

TEST_F(IdTokenTest, UnknownKidAfterRotationThenNewJwksAccepts) {
  TestKey rotated("RS256", "rsa-2");
  std::string t = sign(rotated.jwk, "RS256", "rsa-2", good_claims());
  auto r = verify_id_token(t, jwks_of({rsa}), want());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().type, kUnknownKid);
  EXPECT_EQ(error_of(t, jwks_of({rsa, &rotated})), "");
}

TEST_F(IdTokenTest, JwksParsing) {
  EXPECT_FALSE(Jwks::parse("not json"));
  EXPECT_FALSE(Jwks::parse(R"({"keys":[]})"));
  EXPECT_FALSE(Jwks::parse(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})"));  // a symmetric key is never a signing key here
  json doc = {{"keys", {rsa->public_jwk(), {{"kty", "RSA"}, {"use", "enc"}, {"n", "x"}, {"e", "AQAB"}}}}};
  auto k = Jwks::parse(doc.dump());
  ASSERT_TRUE(k);
  EXPECT_EQ(k->size(), 1u);
  EXPECT_TRUE(k->has_kid("rsa-1"));
}

}  // namespace
}  // namespace atrium::sso
