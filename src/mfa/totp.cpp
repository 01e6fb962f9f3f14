#include "mfa/totp.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>

#include <memory>

#include "core/crypto.hpp"

namespace atrium::mfa {

namespace {
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}

std::string base32_encode(std::string_view raw) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == ' ' || c == '=') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    auto pos = kAlphabet.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(pos);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

std::string hotp(std::string_view key, std::uint64_t counter, int digits) {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), msg, sizeof msg, mac, &len);
  int offset = mac[len - 1] & 0x0f;  // dynamic truncation (RFC 4226 section 5.3)
  std::uint32_t bin = (static_cast<std::uint32_t>(mac[offset] & 0x7f) << 24) |
                      (static_cast<std::uint32_t>(mac[offset + 1]) << 16) |
                      (static_cast<std::uint32_t>(mac[offset + 2]) << 8) | mac[offset + 3];
  std::uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string code = std::to_string(bin % mod);
  return std::string(static_cast<std::size_t>(digits) - code.size(), '0') + code;
}

std::int64_t step_of(Millis now) { return now / kStepMs; }

std::string totp(std::string_view key, Millis now, int digits) {
  return hotp(key, static_cast<std::uint64_t>(step_of(now)), digits);
}

std::optional<std::int64_t> verify(std::string_view key, std::string_view code, Millis now, std::int64_t last_step) {
  if (code.size() != kDigits) return std::nullopt;
  std::int64_t current = step_of(now);
  std::optional<std::int64_t> matched;
  // Every candidate is computed and compared (no early exit), so the time taken says nothing about
  // which step, if any, matched.
  for (std::int64_t s = current - 1; s <= current + 1; ++s) {
    bool eq = crypto::constant_time_equal(hotp(key, static_cast<std::uint64_t>(s)), code);
    if (eq && s > last_step && !matched) matched = s;
  }
  return matched;
}

namespace {
std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}
}  // namespace

std::string otpauth_uri(std::string_view account, std::string_view key) {
  return "otpauth://totp/Atrium:" + percent_encode(account) + "?secret=" + base32_encode(key) + "&issuer=Atrium";
}

std::optional<std::string> qr_svg(std::string_view text) {
  std::string input(text);
  std::unique_ptr<QRcode, decltype(&QRcode_free)> qr(QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1),
                                                      &QRcode_free);
  if (!qr) return std::nullopt;
  constexpr int kQuiet = 4;  // the quiet zone the QR standard asks for, in modules
  int width = qr->width, size = width + 2 * kQuiet;
  std::string path;
  for (int y = 0; y < width; ++y)
    for (int x = 0; x < width; ++x)
      if (qr->data[y * width + x] & 1)
        path += "M" + std::to_string(x + kQuiet) + " " + std::to_string(y + kQuiet) + "h1v1h-1z";
  std::string n = std::to_string(size);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + n + " " + n + "\" width=\"" +
         std::to_string(size * 6) + "\" height=\"" + std::to_string(size * 6) +
         "\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path fill=\"#000\" d=\"" +
         path + "\"/></svg>";
}

}  // namespace atrium::mfa
