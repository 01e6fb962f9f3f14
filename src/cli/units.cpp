#include "cli/units.hpp"

#include <array>
#include <cstdio>
#include <limits>
#include <vector>

namespace atrium::cli {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

}  // namespace

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto bad = [&](std::string why) {
    return invalid("bad duration '" + std::string(text) + "': " + why + " (e.g. 90s, 15m, 1h30m, 7d, 2w)");
  };
  if (text.empty()) return bad("empty");
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 4;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) return bad("expected a number");
    std::int64_t n = 0;
    while (i < text.size() && is_digit(text[i])) {
      n = n * 10 + (text[i] - '0');
      if (n > kMax) return bad("too large");
      ++i;
    }
    if (i == text.size()) return bad("missing unit");
    std::int64_t unit = 0;
    switch (text[i]) {
      case 's': unit = 1; break;
      case 'm': unit = 60; break;
      case 'h': unit = 3600; break;
      case 'd': unit = 86400; break;
      case 'w': unit = 7 * 86400; break;
      default: return bad(std::string("unknown unit '") + text[i] + "'");
    }
    ++i;
    if (n > kMax / unit || total > kMax - n * unit) return bad("too large");
    total += n * unit;
  }
  return std::chrono::seconds(total);
}

Result<std::uint64_t> parse_size(std::string_view text) {
  auto bad = [&](std::string why) {
    return invalid("bad size '" + std::string(text) + "': " + why + " (e.g. 512MiB, 10G, 1.5TB)");
  };
  static constexpr std::uint64_t kKi = 1024, kK = 1000;
  static constexpr std::array<Unit, 16> kUnits{{
      {"B", 1},
      {"kB", kK}, {"KB", kK}, {"MB", kK * kK}, {"GB", kK * kK * kK}, {"TB", kK * kK * kK * kK},
      {"PB", kK * kK * kK * kK * kK},
      {"K", kKi}, {"M", kKi * kKi}, {"G", kKi * kKi * kKi}, {"T", kKi * kKi * kKi * kKi},
      {"KiB", kKi}, {"MiB", kKi * kKi}, {"GiB", kKi * kKi * kKi}, {"TiB", kKi * kKi * kKi * kKi},
      {"PiB", kKi * kKi * kKi * kKi * kKi},
  }};
  std::size_t i = 0;
  unsigned __int128 whole = 0;
  while (i < text.size() && is_digit(text[i])) {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<std::uint64_t>::max()) return bad("too large");
    ++i;
  }
  if (i == 0) return bad("expected a number");
  unsigned __int128 frac = 0, frac_scale = 1;
  bool has_frac = false;
  if (i < text.size() && text[i] == '.') {
    has_frac = true;
    ++i;
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) {
      if (frac_scale < static_cast<unsigned __int128>(1'000'000'000'000'000'000ULL)) {
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        frac_scale *= 10;
      }
      ++i;
    }
    if (i == start) return bad("expected digits after '.'");
  }
  std::string_view unit_text = text.substr(i);
  while (!unit_text.empty() && unit_text.front() == ' ') unit_text.remove_prefix(1);
  std::uint64_t factor = 1;
  if (!unit_text.empty()) {
    bool found = false;
    for (const auto& u : kUnits) {
      if (u.name == unit_text) {
        factor = u.factor;
        found = true;
        break;
      }
    }
    if (!found) return bad("unknown unit '" + std::string(unit_text) + "'");
  } else if (has_frac) {
    return bad("a fraction needs a unit");
  }
  unsigned __int128 bytes = whole * factor + frac * factor / frac_scale;
  if (bytes > std::numeric_limits<std::uint64_t>::max()) return bad("too large");
  return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, kNames[u]);
  return buf;
}

Result<std::string> parse_time_filter(std::string_view text, Millis now) {
  Millis t = 0;
  if (parse_rfc3339(text, t)) return format_rfc3339(t);
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    std::string full = std::string(text) + "T00:00:00Z";
    if (parse_rfc3339(full, t)) return format_rfc3339(t);
  }
  auto d = parse_duration(text);
  if (!d)
    return invalid("bad time '" + std::string(text) +
                   "': expected RFC 3339 (2026-11-25T19:16:09Z), a date (2026-11-25) or a duration ago (24h, 7d)");
  return format_rfc3339(now - std::chrono::duration_cast<std::chrono::milliseconds>(*d).count());
}

Result<std::chrono::seconds> parse_time_limit(std::string_view text) {
  auto bad = [&](std::string why) {
    return invalid("bad time limit '" + std::string(text) + "': " + why +
                   " (minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]], or a duration like 2h, 90m)");
  };
  if (text.empty()) return bad("empty");
  bool slurm_form = true;
  for (char c : text) slurm_form = slurm_form && (is_digit(c) || c == ':' || c == '-');
  std::int64_t total = 0;
  if (!slurm_form) {
    auto d = parse_duration(text);
    if (!d) return bad("not a duration");
    total = d->count();
  } else {
    // Split "D-rest" and rest's ':'-separated fields; every field 1-9 digits.
    auto number = [](std::string_view f, std::int64_t& out) {
      if (f.empty() || f.size() > 9) return false;
      out = 0;
      for (char c : f) {
        if (!is_digit(c)) return false;
        out = out * 10 + (c - '0');
      }
      return true;
    };
    std::int64_t days = 0;
    bool has_days = false;
    std::string_view rest = text;
    if (auto dash = rest.find('-'); dash != std::string_view::npos) {
      if (!number(rest.substr(0, dash), days)) return bad("expected days before '-'");
      has_days = true;
      rest.remove_prefix(dash + 1);
    }
    std::vector<std::int64_t> fields;
    while (true) {
      auto colon = rest.find(':');
      std::int64_t v = 0;
      if (!number(rest.substr(0, colon), v)) return bad("expected a number");
      fields.push_back(v);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
    if (fields.size() > 3) return bad("too many ':' fields");
    // Fields after the first are minutes or seconds.
    for (std::size_t i = 1; i < fields.size(); ++i)
      if (fields[i] > 59) return bad("minutes and seconds must be below 60");
    if (has_days) {
      if (fields[0] > 23) return bad("hours must be below 24 after days");
      std::int64_t h = fields[0], m = fields.size() > 1 ? fields[1] : 0, s = fields.size() > 2 ? fields[2] : 0;
      total = days * 86400 + h * 3600 + m * 60 + s;
    } else if (fields.size() == 1) {
      total = fields[0] * 60;  // minutes
    } else if (fields.size() == 2) {
      total = fields[0] * 60 + fields[1];  // MM:SS
    } else {
      total = fields[0] * 3600 + fields[1] * 60 + fields[2];
    }
  }
  if (total < 1) return bad("must be at least one second");
  return std::chrono::seconds(total);
}

Result<std::int64_t> parse_mem_mb(std::string_view text) {
  auto bad = [&](std::string why) {
    return invalid("bad memory size '" + std::string(text) + "': " + why +
                   " (e.g. 4G, 512M, 1.5GiB; a bare number is MiB)");
  };
  if (text.empty()) return bad("empty");
  constexpr std::uint64_t kMiB = 1 << 20;
  constexpr std::uint64_t kMaxMb = std::uint64_t{1} << 40;  // far above any node; keeps int64 safe
  std::uint64_t mb = 0;
  bool bare = true;
  for (char c : text) bare = bare && is_digit(c);
  if (bare) {
    if (text.size() > 13) return bad("too large");
    for (char c : text) mb = mb * 10 + static_cast<std::uint64_t>(c - '0');
  } else {
    auto bytes = parse_size(text);
    if (!bytes) return bad("not a size");
    mb = *bytes / kMiB + (*bytes % kMiB != 0 ? 1 : 0);
  }
  if (mb == 0) return bad("must be at least 1 MiB");
  if (mb > kMaxMb) return bad("too large");
  return static_cast<std::int64_t>(mb);
}

std::string format_elapsed(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  std::int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60, s = seconds % 60;
  char buf[64];
  if (d > 0) {
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(d), static_cast<long long>(h),
                  static_cast<long long>(m), static_cast<long long>(s));
  } else if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(h), static_cast<long long>(m),
                  static_cast<long long>(s));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(m), static_cast<long long>(s));
  }
  return buf;
}

std::string format_mem_mb(std::int64_t mb) {
  if (mb > 0 && mb % 1024 == 0) return std::to_string(mb / 1024) + "G";
  return std::to_string(mb) + "M";
}

}  // namespace atrium::cli
