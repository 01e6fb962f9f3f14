// libFuzzer harness for the SIF descriptor table parser (src/images/sif.cpp), whose input is an
// uploaded file: sif_partition never crashes, refuses with invalid-image only, and what it accepts
// is a squashfs partition (its magic first) wholly inside the file and past the header.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "images/sif.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto read = [&](std::int64_t off, char* buf, std::size_t n) {
    if (off < 0 || static_cast<std::uint64_t>(off) > in.size() || n > in.size() - static_cast<std::size_t>(off))
      return false;
    std::memcpy(buf, in.data() + off, n);
    return true;
  };
  auto r = atrium::images::sif_partition(read, static_cast<std::int64_t>(size));
  (void)atrium::images::sniff_format(in);
  if (!r) {
    if (r.error().code != atrium::ErrorCode::kInvalidArgument || r.error().type != "invalid-image") __builtin_trap();
    return 0;
  }
  if (atrium::images::sniff_format(in) != "sif") __builtin_trap();
  if (r->offset < atrium::images::kSifHeaderSize || r->size < 96) __builtin_trap();
  if (r->offset > static_cast<std::int64_t>(size) || r->size > static_cast<std::int64_t>(size) - r->offset) __builtin_trap();
  if (in.substr(static_cast<std::size_t>(r->offset), 4) != "hsqs") __builtin_trap();
  return 0;
}
