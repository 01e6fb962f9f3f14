// libFuzzer harness for the job submission texts that come from users: SLURM-style array specs
// (`0-99%10`, `1,3,5-7`, `0-15:4`) and dependencies (`afterok:ID:ID,singleton`). They must never
// crash, and whatever they accept must reparse to the same spec from its canonical text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "compute/array_spec.hpp"
#include "compute/job.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto a = atrium::compute::parse_array_spec(in)) {
    // The canonical text of a union of stepped ranges can be longer than the input, so reparse
    // it without the length limit meant for user input.
    atrium::compute::ArrayLimits relaxed;
    relaxed.max_text = 1 << 20;
    auto again = atrium::compute::parse_array_spec(atrium::compute::format_array_spec(*a), relaxed);
    if (!again || atrium::compute::format_array_spec(*again) != atrium::compute::format_array_spec(*a))
      __builtin_trap();
  } else if (a.error().code != atrium::ErrorCode::kInvalidArgument) {
    __builtin_trap();
  }
  if (auto d = atrium::compute::parse_dependency(in)) {
    // An any-of list spells every id with its own prefix, so its canonical text can outgrow the
    // input limit (4096 bytes); the round trip is checked whenever it fits.
    std::string text = atrium::compute::format_dependency(*d);
    auto again = atrium::compute::parse_dependency(text);
    if (text.size() <= 4096 && (!again || atrium::compute::format_dependency(*again) != text)) __builtin_trap();
  } else if (d.error().code != atrium::ErrorCode::kInvalidArgument) {
    __builtin_trap();
  }
  return 0;
}
