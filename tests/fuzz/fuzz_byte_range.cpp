// libFuzzer harness for Range headers (http::parse_byte_range, used by file and link downloads):
// never crashes or overflows, refuses with 416 only, and a range it accepts lies inside the body
// and is not empty.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "http/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t raw = 0;
  std::memcpy(&raw, data, 8);
  // Body sizes from 0 to 2^62, with small ones (the edges) common.
  auto body = static_cast<std::int64_t>((raw & 1) ? (raw >> 1) % 4096 : (raw >> 2));
  std::string_view header(reinterpret_cast<const char*>(data) + 8, size - 8);
  auto r = atrium::http::parse_byte_range(header, body);
  if (!r) {
    if (r.error().code != atrium::ErrorCode::kRangeNotSatisfiable || r.error().type != "range-not-satisfiable")
      __builtin_trap();
    return 0;
  }
  if (*r) {
    auto [a, b] = **r;
    if (a < 0 || a >= b || b > body) __builtin_trap();
  }
  return 0;
}
