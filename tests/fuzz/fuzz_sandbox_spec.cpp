// libFuzzer harness for the sandbox spec (`atrium exec --spec`, written by the server from user
// input: argv, env, mounts, limits). Parsing never crashes; whatever validates must survive a
// round trip through its JSON unchanged, and must still be valid.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sandbox/sandbox.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) return 0;
  auto spec = atrium::sandbox::spec_from_json(j);
  if (!spec) {
    if (spec.error().code != atrium::ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  auto out = atrium::sandbox::to_json(*spec);
  auto again = atrium::sandbox::spec_from_json(out);
  if (!again || atrium::sandbox::to_json(*again) != out) __builtin_trap();
  return 0;
}
