// libFuzzer harness for project file paths (src/data/paths): normalize_path never crashes, refuses
// with a 400 only, and what it accepts obeys every rule and is its own canonical form (so no two
// accepted spellings can name different files once normalised).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/text.hpp"
#include "data/paths.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto p = atrium::data::normalize_path(in);
  if (!p) {
    if (p.error().code != atrium::ErrorCode::kInvalidArgument || p.error().type != "invalid-path") __builtin_trap();
    return 0;
  }
  const std::string& s = *p;
  if (s.empty() || s.size() > atrium::data::kMaxPathBytes || !atrium::is_valid_utf8(s)) __builtin_trap();
  if (s.front() == '/' || s.back() == '/' || s.find("//") != std::string::npos) __builtin_trap();
  if (s.find('\\') != std::string::npos || s.find('\0') != std::string::npos) __builtin_trap();
  std::size_t depth = 0, start = 0;
  for (;;) {
    auto end = s.find('/', start);
    auto comp = std::string_view(s).substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (comp == "." || comp == ".." || comp.size() > atrium::data::kMaxComponentBytes) __builtin_trap();
    if (comp.back() == ' ' || comp.back() == '.') __builtin_trap();
    ++depth;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (depth > atrium::data::kMaxPathDepth) __builtin_trap();
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) __builtin_trap();
  auto again = atrium::data::normalize_path(s);
  if (!again || *again != s) __builtin_trap();  // a fixed point
  return 0;
}
