#include "core/text.hpp"

#include <cstdint>

namespace atrium {

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) { ++i; continue; }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Reject overlong encodings, surrogates and values past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

bool is_valid_slug(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

Status check_display_text(std::string_view field, std::string_view s, std::size_t max_len, bool allow_empty) {
  if (!allow_empty && s.empty()) return invalid(std::string(field) + " must not be empty");
  if (s.size() > max_len)
    return invalid(std::string(field) + " is longer than " + std::to_string(max_len) + " bytes");
  if (!is_valid_utf8(s)) return invalid(std::string(field) + " is not valid UTF-8");
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) {
      if (c == '\n' || c == '\t') continue;
      return invalid(std::string(field) + " contains a control character");
    }
  return {};
}

std::string percent_encode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool safe_next(std::string_view next) {
  if (!next.starts_with('/') || next.starts_with("//") || next.size() > 4000) return false;
  for (unsigned char c : next)
    if (c < 0x21 || c == 0x7f || c == '\\') return false;
  return true;
}

}  // namespace atrium
