#include "compute/usage.hpp"

#include <algorithm>

namespace atrium::compute {
namespace {

void accumulate(UsageTotals& t, int alloc_cpus, Millis wall, const JobUsage& usage) {
  double wall_s = static_cast<double>(std::max<Millis>(wall, 0)) / 1000.0;
  t.jobs += 1;
  t.cpu_seconds += usage.cpu_seconds;
  t.allocated_cpu_seconds += alloc_cpus * wall_s;
  t.wall_seconds += wall_s;
  t.peak_mem_mb = std::max(t.peak_mem_mb, usage.peak_mem_mb);
}

template <typename Map, typename Key>
UsageTotals find_or_zero(const Map& m, const Key& k) {
  auto it = m.find(k);
  return it == m.end() ? UsageTotals{} : it->second;
}

}  // namespace

Millis UsageLedger::period_start_for(Millis t) const {
  if (period_ <= 0) return 0;
  Millis q = t / period_;
  if (t < 0 && t % period_ != 0) --q;
  return q * period_;
}

void UsageLedger::add(const Association& assoc, int alloc_cpus, Millis wall, const JobUsage& usage, Millis end) {
  Millis start = period_start_for(end);
  if (start < period_start_) return;
  if (start > period_start_) {
    users_.clear();
    groups_.clear();
    orgs_.clear();
    period_start_ = start;
  }
  accumulate(users_[assoc.user], alloc_cpus, wall, usage);
  accumulate(groups_[{assoc.org, assoc.group}], alloc_cpus, wall, usage);
  accumulate(orgs_[assoc.org], alloc_cpus, wall, usage);
}

UsageTotals UsageLedger::user(const std::string& user, Millis now) const {
  if (period_start_for(now) != period_start_) return {};
  return find_or_zero(users_, user);
}
UsageTotals UsageLedger::group(const std::string& org, const std::string& group, Millis now) const {
  if (period_start_for(now) != period_start_) return {};
  return find_or_zero(groups_, std::pair<std::string, std::string>{org, group});
}
UsageTotals UsageLedger::org(const std::string& org, Millis now) const {
  if (period_start_for(now) != period_start_) return {};
  return find_or_zero(orgs_, org);
}

}  // namespace atrium::compute
