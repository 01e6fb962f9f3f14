#include "jobs/usage.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace atrium::jobs {

namespace {

Millis floor_div(Millis a, Millis b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

Millis bucket_start(Millis t, Bucket b) {
  Millis day = floor_div(t, kDayMs) * kDayMs;
  switch (b) {
    case Bucket::kDay:
      return day;
    case Bucket::kWeek: {
      // 1970-01-01 was a Thursday: day n since the epoch is weekday (n + 3) % 7 counted from Monday.
      Millis n = day / kDayMs;
      Millis wd = ((n + 3) % 7 + 7) % 7;
      return day - wd * kDayMs;
    }
    case Bucket::kMonth: {
      using namespace std::chrono;
      year_month_day ymd{sys_days{days{day / kDayMs}}};
      sys_days first{ymd.year() / ymd.month() / 1};
      return static_cast<Millis>(first.time_since_epoch().count()) * kDayMs;
    }
  }
  return day;
}

Millis bucket_next(Millis start, Bucket b) {
  switch (b) {
    case Bucket::kDay:
      return start + kDayMs;
    case Bucket::kWeek:
      return start + 7 * kDayMs;
    case Bucket::kMonth: {
      using namespace std::chrono;
      year_month_day ymd{sys_days{days{floor_div(start, kDayMs)}}};
      sys_days next{(ymd.year() / ymd.month() / 1) + months{1}};
      return static_cast<Millis>(next.time_since_epoch().count()) * kDayMs;
    }
  }
  return start + kDayMs;
}

std::vector<UsageCell> usage_by_bucket(const Runs& runs, Millis from, Millis to, Bucket b) {
  // Over many runs and few keys: a key's number once per run, cells by (bucket, key number).
  std::unordered_map<std::string_view, int> key_of;
  std::vector<const std::string*> keys;
  std::map<std::pair<Millis, int>, UsageCell> cells;
  auto key_number = [&](const std::string& key) {
    auto [k, fresh] = key_of.try_emplace(key, static_cast<int>(keys.size()));
    if (fresh) keys.push_back(&key);
    return k->second;
  };
  for (const auto& d : runs.days) {
    Millis start = bucket_start(d.day, b);
    auto& c = cells[{start, key_number(d.key)}];
    c.day = start;
    c.cpu_hours += d.cpu_hours;
    c.gpu_hours += d.gpu_hours;
    c.cpu_hours_used += d.cpu_hours_used;
  }
  for (const auto& r : runs.spans) {
    Millis wall = r.end - r.start;
    Millis lo = std::max(r.start, from), hi = std::min(r.end, to);
    if (wall <= 0 || lo >= hi) continue;
    int k = key_number(r.key);
    for (Millis start = bucket_start(lo, b); start < hi; start = bucket_next(start, b)) {
      Millis part = std::min(hi, bucket_next(start, b)) - std::max(lo, start);
      if (part <= 0) continue;
      double hours = part / 3'600'000.0;
      auto& c = cells[{start, k}];
      c.day = start;
      c.cpu_hours += hours * r.cpus;
      c.gpu_hours += hours * r.gpus;
      if (r.cpu_seconds) c.cpu_hours_used += *r.cpu_seconds / 3600.0 * (static_cast<double>(part) / wall);
    }
  }
  std::vector<UsageCell> out;
  out.reserve(cells.size());
  for (auto& [k, c] : cells) {
    c.key = *keys[static_cast<std::size_t>(k.second)];
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const UsageCell& x, const UsageCell& y) {
    return x.day != y.day ? x.day < y.day : x.key < y.key;
  });
  return out;
}

}  // namespace atrium::jobs
