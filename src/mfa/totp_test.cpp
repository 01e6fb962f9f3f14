#include "mfa/totp.hpp"

#include <gtest/gtest.h>

#include "core/crypto.hpp"

namespace atrium::mfa {
namespace {

const std::string kRfcKey = "12345678901234567890";  // RFC 6238 Appendix B, SHA-1

TEST(Base32, Rfc4648Vectors) {
  const std::pair<const char*, const char*> cases[] = {{"", ""},          {"f", "MY"},          {"fo", "MZXQ"},
                                                       {"foo", "MZXW6"},  {"foob", "MZXW6YQ"},  {"fooba", "MZXW6YTB"},
                                                       {"foobar", "MZXW6YTBOI"}};
  for (auto [raw, enc] : cases) {
    EXPECT_EQ(base32_encode(raw), enc);
    EXPECT_EQ(base32_decode(enc), std::string(raw));
  }
  EXPECT_EQ(base32_decode("mzxw6ytboi======"), "foobar");  // lower case and padding accepted
  EXPECT_EQ(base32_decode("MZXW1"), std::nullopt);         // 1 is not in the alphabet
}

TEST(Hotp, Rfc4226AppendixD) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t i = 0; i < 10; ++i) EXPECT_EQ(hotp(kRfcKey, i), expected[i]) << i;
}

TEST(Totp, Rfc6238AppendixBSha1) {
  const std::pair<std::int64_t, const char*> cases[] = {{59, "94287082"},         {1111111109, "07081804"},
                                                        {1111111111, "14050471"}, {1234567890, "89005924"},
                                                        {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (auto [t, code] : cases) EXPECT_EQ(totp(kRfcKey, t * 1000, 8), code) << t;
}

TEST(Totp, VerifyWindowAndReplay) {
  ManualClock clock(1111111111LL * 1000);
  Millis now = clock.now_ms();
  std::int64_t step = step_of(now);
  auto code = totp(kRfcKey, now);
  EXPECT_EQ(verify(kRfcKey, code, now, 0), step);
  // One step of skew either way is accepted, two are not.
  EXPECT_EQ(verify(kRfcKey, totp(kRfcKey, now - kStepMs), now, 0), step - 1);
  EXPECT_EQ(verify(kRfcKey, totp(kRfcKey, now + kStepMs), now, 0), step + 1);
  EXPECT_EQ(verify(kRfcKey, totp(kRfcKey, now - 2 * kStepMs), now, 0), std::nullopt);
  EXPECT_EQ(verify(kRfcKey, totp(kRfcKey, now + 2 * kStepMs), now, 0), std::nullopt);
  // Replay: once a step was accepted, its code and older ones are refused, even inside the window.
  EXPECT_EQ(verify(kRfcKey, code, now, step), std::nullopt);
  EXPECT_EQ(verify(kRfcKey, totp(kRfcKey, now - kStepMs), now, step), std::nullopt);
  clock.advance_ms(kStepMs);
  EXPECT_EQ(verify(kRfcKey, totp(kRfcKey, clock.now_ms()), clock.now_ms(), step), step + 1);
  // Malformed codes.
  EXPECT_EQ(verify(kRfcKey, "", now, 0), std::nullopt);
  EXPECT_EQ(verify(kRfcKey, code + "0", now, 0), std::nullopt);
  EXPECT_EQ(verify(kRfcKey, "abcdef", now, 0), std::nullopt);
}

TEST(Totp, UriAndQr) {
  auto uri = otpauth_uri("ana b", "foobar");
  EXPECT_EQ(uri, "otpauth://totp/Atrium:ana%20b?secret=MZXW6YTBOI&issuer=Atrium");
  auto svg = qr_svg(uri);
  ASSERT_TRUE(svg);
  EXPECT_TRUE(svg->starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_NE(svg->find("<path"), std::string::npos);
}

}  // namespace
}  // namespace atrium::mfa
