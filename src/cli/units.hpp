// Parsing of the human quantities the CLI accepts: durations ("90m", "1h30m", "7d"), sizes
// ("512MiB", "10G", "1.5TB") and time filters (RFC 3339, a date, or a duration ago).
// Hand-written: no library here parses these; parse_size is for the quota commands to come.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::cli {

// One or more <number><unit> parts, units s m h d w: "45s", "1h30m", "2w". A unit is required.
[[nodiscard]] Result<std::chrono::seconds> parse_duration(std::string_view text);

// Bytes. Units: B; kB MB GB TB PB (powers of 1000); KiB MiB GiB TiB PiB and the bare K M G T P
// (powers of 1024, as du and ls -h print them). A fraction is allowed with a unit ("1.5GiB");
// the result is rounded down. A bare number is bytes.
[[nodiscard]] Result<std::uint64_t> parse_size(std::string_view text);
std::string format_size(std::uint64_t bytes);  // "1.5 GiB", "512 B"

// A --since/--until value: an RFC 3339 timestamp, a date (YYYY-MM-DD, midnight UTC), or a
// duration meaning that long before `now` ("24h"). Returns RFC 3339 UTC.
[[nodiscard]] Result<std::string> parse_time_filter(std::string_view text, Millis now);

}  // namespace atrium::cli
