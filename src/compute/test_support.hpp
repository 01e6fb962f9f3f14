// Helpers shared by the compute unit tests (not part of the library): job builders, a small
// driver that runs schedule()+apply() like the caller will, and the invariants every state must keep.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compute/scheduler.hpp"

namespace atrium::compute::testing {

inline constexpr Millis kT0 = 1'700'006'400'000;  // a whole day since the epoch

inline Job make_job(std::string id, std::string user, int cpus = 1, Millis limit = kHour, int gpus = 0,
                    std::int64_t mem_mb = 1024, std::string org = "org-a", std::string group = "grp-a") {
  Job j;
  j.id = std::move(id);
  j.name = "job";
  j.assoc = {std::move(org), std::move(group), std::move(user)};
  j.request = {cpus, mem_mb, gpus, limit};
  return j;
}

inline SchedulerConfig quiet_config() {
  SchedulerConfig c;
  c.kill_margin = 0;
  return c;
}

// Checks what must hold for any state: running jobs hold allocations within the node, GPU sets
// are disjoint, allocations match requests.
inline ::testing::AssertionResult no_overcommit(const ClusterState& st) {
  int cpus = 0;
  std::int64_t mem = 0;
  GpuMask used = 0;
  for (const auto& [id, job] : st.jobs) {
    if (job.state != JobState::kRunning) continue;
    if (!job.allocation) return ::testing::AssertionFailure() << id << " runs without an allocation";
    const Allocation& a = *job.allocation;
    if (a.cpus != job.request.cpus || a.mem_mb != job.request.mem_mb ||
        static_cast<int>(a.gpus.size()) != job.request.gpus) {
      return ::testing::AssertionFailure() << id << " allocation differs from its request";
    }
    for (int g : a.gpus) {
      if (g < 0 || g >= st.node.gpus) return ::testing::AssertionFailure() << id << " got GPU " << g;
    }
    GpuMask m = a.gpu_mask();
    if (gpu_count(m) != static_cast<int>(a.gpus.size())) return ::testing::AssertionFailure() << id << " dup GPU";
    if ((m & used) != 0) return ::testing::AssertionFailure() << id << " shares a GPU";
    used |= m;
    cpus += a.cpus;
    mem += a.mem_mb;
  }
  if (cpus > st.node.cpus) return ::testing::AssertionFailure() << cpus << " CPUs allocated of " << st.node.cpus;
  if (mem > st.node.mem_mb) return ::testing::AssertionFailure() << mem << " MB allocated of " << st.node.mem_mb;
  return ::testing::AssertionSuccess();
}

// Drives the core like the caller: mutate, then schedule() + apply() at `now`.
struct Driver {
  Scheduler sched;
  ClusterState st;
  Millis now = kT0;

  explicit Driver(SchedulerConfig cfg = quiet_config(), NodeResources node = {8, 64 * 1024, 0})
      : sched(Scheduler::create(std::move(cfg)).value()) {
    st.node = node;
  }
  explicit Driver(NodeResources node) : Driver(quiet_config(), node) {}

  void submit(Job j) {
    auto r = sched.submit(st, std::move(j), now);
    ASSERT_TRUE(r.has_value()) << r.error().detail;
  }
  ScheduleResult pass() {
    ScheduleResult r = sched.schedule(st, now);
    auto t = sched.apply(st, r);
    EXPECT_TRUE(t.has_value()) << (t ? "" : t.error().detail);
    EXPECT_TRUE(no_overcommit(st));
    return r;
  }
  void finish(const std::string& id, JobState s = JobState::kCompleted, int exit_code = 0) {
    auto r = sched.finish(st, id, JobEnd{s, exit_code, {}, {}}, now);
    ASSERT_TRUE(r.has_value()) << r.error().detail;
  }
  const Job& job(const std::string& id) const { return st.jobs.at(id); }
  JobState state(const std::string& id) const { return st.jobs.at(id).state; }
  bool running(const std::string& id) const { return state(id) == JobState::kRunning; }
};

}  // namespace atrium::compute::testing

namespace atrium::compute::testing {

// Runs every job for exactly runtime[id] (default: its time limit), event by event, until nothing
// is running. on_pass(result) sees every pass. Returns false if it stopped at max_steps.
template <typename OnPass>
bool run_to_completion(Driver& d, const std::map<JobId, Millis>& runtime, OnPass on_pass, int max_steps = 100000) {
  for (int step = 0; step < max_steps; ++step) {
    ScheduleResult r = d.pass();
    on_pass(r);
    std::optional<Millis> next;
    for (const auto& [id, job] : d.st.jobs) {
      if (job.state != JobState::kRunning) continue;
      auto it = runtime.find(id);
      Millis end = *job.start_time + (it == runtime.end() ? job.request.time_limit : it->second);
      if (!next || end < *next) next = end;
    }
    if (!next) return true;
    d.now = std::max(d.now, *next);
    std::vector<JobId> ending;
    for (const auto& [id, job] : d.st.jobs) {
      if (job.state != JobState::kRunning) continue;
      auto it = runtime.find(id);
      if (*job.start_time + (it == runtime.end() ? job.request.time_limit : it->second) <= d.now) ending.push_back(id);
    }
    for (const auto& id : ending) d.finish(id);
  }
  return false;
}

}  // namespace atrium::compute::testing
