// One scheduling pass over a large queue: the time of Scheduler::schedule() (and apply()) with
// N pending jobs from many users in several orgs, a busy node and a few running jobs, so that
// fair share, limits, the backfill timeline and estimates all do real work.
// Usage: atrium_bench_sched [PENDING=100000] [PASSES=15]. Prints the median and the spread.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "compute/scheduler.hpp"
#include "core/alloc.hpp"

using namespace atrium;
using namespace atrium::compute;

int main(int argc, char** argv) {
  atrium::tune_allocator();  // as `atrium server` does
  int pending = argc > 1 ? std::atoi(argv[1]) : 100'000;
  int passes = argc > 2 ? std::atoi(argv[2]) : 15;
  auto sched = Scheduler::create(SchedulerConfig{});
  if (!sched) {
    std::fprintf(stderr, "%s\n", sched.error().detail.c_str());
    return 1;
  }
  const Millis t0 = 1'700'006'400'000;
  ClusterState st;
  st.node = {128, 1024 * 1024, 8};
  std::mt19937_64 rng(42);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  // History: fair share differs between users.
  for (int u = 0; u < 200; ++u) {
    Association a{fmt::format("org-{}", u % 10), fmt::format("grp-{}", u % 30), fmt::format("user-{}", u)};
    st.usage.by_association[a].add(1000.0 * (u % 17), t0 - kDay, SchedulerConfig{}.usage_half_life);
  }
  // A full node: the running jobs, then the queue.
  int id = 0;
  auto make = [&](Millis submit) {
    Job j;
    int u = pick(200);
    j.id = fmt::format("job_{:08d}", id++);
    j.name = "bench";
    j.assoc = {fmt::format("org-{}", u % 10), fmt::format("grp-{}", u % 30), fmt::format("user-{}", u)};
    int size = pick(100);
    j.request.cpus = size < 70 ? 1 : size < 90 ? 4 : size < 98 ? 16 : 64;
    j.request.mem_mb = j.request.cpus * 2048;
    j.request.gpus = pick(50) == 0 ? 1 : 0;
    j.request.time_limit = (1 + pick(48)) * 30 * kMinute;
    j.submit_time = submit;
    return j;
  };
  for (int i = 0; i < 64; ++i) {
    Job j = make(t0 - kHour);
    j.request.cpus = 2;
    j.request.mem_mb = 4096;
    j.request.gpus = i < 8 ? 1 : 0;
    if (!sched->submit(st, j, t0 - kHour)) return 1;
  }
  auto first = sched->schedule(st, t0 - kHour + 1);
  if (!sched->apply(st, first)) return 1;
  for (int i = 0; i < pending; ++i) {
    auto r = sched->submit(st, make(t0 - pick(3600) * 1000), t0);
    if (!r) {
      std::fprintf(stderr, "submit: %s\n", r.error().detail.c_str());
      return 1;
    }
  }
  std::vector<double> ms;
  std::size_t starts = 0, pend = 0;
  for (int p = 0; p < passes; ++p) {
    Millis now = t0 + p * 1000;
    auto a = std::chrono::steady_clock::now();
    auto result = sched->schedule(st, now);
    auto b = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
    starts += result.starts.size();
    pend = result.pending.size();
  }
  std::sort(ms.begin(), ms.end());
  std::printf("pending=%d running=%d passes=%d starts_per_pass=%.1f pending_after=%zu\n", pending, 64, passes,
              double(starts) / passes, pend);
  std::printf("schedule() ms: min %.1f median %.1f max %.1f\n", ms.front(), ms[ms.size() / 2], ms.back());
  return 0;
}
