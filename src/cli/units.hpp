// Parsing of the human quantities the CLI accepts: durations ("90m", "1h30m", "7d"), sizes
// ("512MiB", "10G", "1.5TB"), time filters (RFC 3339, a date, or a duration ago), and sbatch's
// --time and --mem values. Hand-written: no library here parses these.
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

// A job time limit, as sbatch --time takes it: minutes ("90"), MM:SS, HH:MM:SS, D-HH,
// D-HH:MM, D-HH:MM:SS, or a duration with units ("2h", "1h30m"). At least one second; SLURM's
// "0" (no limit) is refused because Atrium jobs always have a limit.
[[nodiscard]] Result<std::chrono::seconds> parse_time_limit(std::string_view text);
// A job memory request in MiB (the unit of the API's mem_mb), as sbatch --mem takes it: a bare
// number is MiB; with a unit (parse_size's) it is rounded up to whole MiB. At least 1.
[[nodiscard]] Result<std::int64_t> parse_mem_mb(std::string_view text);
// squeue's elapsed-time form: M:SS, H:MM:SS or D-HH:MM:SS.
std::string format_elapsed(std::int64_t seconds);
// A MiB amount the way sbatch writes it: "4G" when a whole number of GiB, else "512M".
std::string format_mem_mb(std::int64_t mb);

}  // namespace atrium::cli
