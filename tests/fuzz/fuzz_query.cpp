// libFuzzer harness for the URL decoding at the HTTP trust boundary: parse_query and
// percent_decode must never crash, and whatever they accept must be valid UTF-8 without NUL.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/text.hpp"
#include "http/message.hpp"

namespace {

void check_decoded(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) __builtin_trap();
  if (!atrium::is_valid_utf8(s)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  for (bool plus_is_space : {false, true}) {
    auto d = atrium::http::percent_decode(in, plus_is_space);
    if (d) {
      check_decoded(*d);
      // Encoding what was decoded and decoding it again gives it back.
      auto again = atrium::http::percent_decode(atrium::http::percent_encode(*d), plus_is_space);
      if (!again || *again != *d) __builtin_trap();
    } else if (d.error().code != atrium::ErrorCode::kInvalidArgument) {
      __builtin_trap();  // bad input is a 400, nothing else
    }
  }

  auto q = atrium::http::parse_query(in);
  if (q) {
    if (q->size() > 100) __builtin_trap();
    for (const auto& [k, v] : *q) {
      check_decoded(k);
      check_decoded(v);
    }
  } else if (q.error().code != atrium::ErrorCode::kInvalidArgument) {
    __builtin_trap();
  }
  return 0;
}
