#include "core/ids.hpp"

#include <array>
#include <cstdint>
#include <mutex>

#include "core/crypto.hpp"

namespace atrium {
namespace {
constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford base32
constexpr std::size_t kBody = 26;

std::mutex g_mu;
Millis g_last_ms = 0;                 // GUARDED_BY(g_mu)
std::array<std::uint8_t, 10> g_last{};  // GUARDED_BY(g_mu): random part of the last id
}  // namespace

std::string new_id(std::string_view prefix, Millis now) {
  std::array<std::uint8_t, 16> b{};
  {
    std::lock_guard lock(g_mu);
    if (now <= g_last_ms) {
      // Same (or earlier) millisecond: increment the random part so ids stay strictly ordered.
      now = g_last_ms;
      for (int i = 9; i >= 0; --i)
        if (++g_last[i] != 0) break;
    } else {
      std::string r = crypto::random_bytes(10);
      for (int i = 0; i < 10; ++i) g_last[i] = static_cast<std::uint8_t>(r[i]);
      g_last_ms = now;
    }
    for (int i = 0; i < 6; ++i) b[i] = static_cast<std::uint8_t>(now >> (8 * (5 - i)));
    for (int i = 0; i < 10; ++i) b[6 + i] = g_last[i];
  }
  // 128 bits -> 26 base32 chars (first char carries 3 bits).
  std::string out(prefix);
  out += '_';
  unsigned __int128 v = 0;
  for (auto x : b) v = (v << 8) | x;
  char body[kBody];
  for (int i = kBody - 1; i >= 0; --i) {
    body[i] = kAlphabet[static_cast<int>(v & 31)];
    v >>= 5;
  }
  out.append(body, kBody);
  return out;
}

bool is_id(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 1 + kBody) return false;
  if (id.substr(0, prefix.size()) != prefix || id[prefix.size()] != '_') return false;
  for (char c : id.substr(prefix.size() + 1)) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U');
    if (!ok) return false;
  }
  return true;
}

}  // namespace atrium
