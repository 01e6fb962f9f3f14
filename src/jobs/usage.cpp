#include "jobs/usage.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace atrium::jobs {

std::vector<UsageCell> usage_by_day(const std::vector<RunSpan>& runs, Millis from, Millis to) {
  std::map<std::pair<Millis, std::string>, UsageCell> cells;
  for (const auto& r : runs) {
    Millis wall = r.end - r.start;
    Millis lo = std::max(r.start, from), hi = std::min(r.end, to);
    if (wall <= 0 || lo >= hi) continue;
    for (Millis day = lo - lo % kDayMs; day < hi; day += kDayMs) {
      Millis part = std::min(hi, day + kDayMs) - std::max(lo, day);
      if (part <= 0) continue;
      double hours = part / 3'600'000.0;
      auto& c = cells[{day, r.project_id}];
      c.project_id = r.project_id;
      c.day = day;
      c.cpu_hours += hours * r.cpus;
      c.gpu_hours += hours * r.gpus;
      if (r.cpu_seconds) c.cpu_hours_used += *r.cpu_seconds / 3600.0 * (static_cast<double>(part) / wall);
    }
  }
  std::vector<UsageCell> out;
  out.reserve(cells.size());
  for (auto& [k, c] : cells) out.push_back(std::move(c));
  return out;
}

}  // namespace atrium::jobs
