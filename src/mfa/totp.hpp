// TOTP (RFC 6238, HOTP of RFC 4226 with HMAC-SHA-1) and its encodings: base32 (RFC 4648), the
// otpauth:// URI authenticator apps read, and that URI as a QR code in SVG. Pure functions over an
// injected time, so the RFC's test vectors run as unit tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace atrium::mfa {

inline constexpr int kDigits = 6;           // what authenticator apps show
inline constexpr Millis kStepMs = 30'000;   // RFC 6238's default time step
inline constexpr std::size_t kSecretBytes = 20;  // 160 bits, RFC 4226's recommendation for SHA-1

// RFC 4648 base32, upper case, without padding.
std::string base32_encode(std::string_view raw);
// Accepts upper or lower case, ignores spaces and '=' padding; nullopt on any other character.
std::optional<std::string> base32_decode(std::string_view text);

// HOTP (RFC 4226): the `digits`-digit code of `key` at `counter`, zero-padded.
std::string hotp(std::string_view key, std::uint64_t counter, int digits = kDigits);
// The time step of `now` (Unix time / 30 s).
std::int64_t step_of(Millis now);
// The TOTP code of `key` at `now`.
std::string totp(std::string_view key, Millis now, int digits = kDigits);

// Checks a code against the steps now-1, now and now+1 (a 30 s clock skew either way), each compared
// in constant time. Steps at or before `last_step` (the one last accepted) are refused: a code is
// usable once. Returns the step it matched, for the caller to store as the new last_step.
std::optional<std::int64_t> verify(std::string_view key, std::string_view code, Millis now, std::int64_t last_step);

// otpauth://totp/Atrium:<account>?secret=<base32>&issuer=Atrium (the account percent-encoded).
std::string otpauth_uri(std::string_view account, std::string_view key);
// A QR code of `text` as a standalone SVG document (libqrencode, error correction level M).
std::optional<std::string> qr_svg(std::string_view text);

}  // namespace atrium::mfa
