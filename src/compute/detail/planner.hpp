// A timeline of free node resources from `now` on (piecewise constant), used by the backfill pass
// to place starts and reservations without overlap. Not API: Scheduler's private helper.
#pragma once

#include <optional>
#include <vector>

#include "compute/resources.hpp"
#include "core/clock.hpp"

namespace atrium::compute::detail {

class Planner {
 public:
  // `free_now` holds from `now` until something is released or claimed.
  Planner(const FreeResources& free_now, Millis now);

  struct Release {
    Millis at;
    int cpus;
    std::int64_t mem_mb;
    GpuMask gpus;
  };
  // Many releases at once (running jobs' expected ends): one sort instead of one insert each.
  void release_all(std::vector<Release> releases);

  // Resources that a running job holds come back at `at` (its expected end).
  void release(Millis at, int cpus, std::int64_t mem_mb, GpuMask gpus);
  // Resources held over [start, end) by a job that starts now or a reservation.
  void claim(Millis start, Millis end, int cpus, std::int64_t mem_mb, GpuMask gpus);

  const FreeResources& free_now() const { return points_.front().free; }
  // Whether `req` fits throughout [start, end); if so, `usable` gets the GPUs free throughout.
  bool fits(Millis start, Millis end, const ResourceRequest& req, GpuMask* usable) const;
  // The earliest start >= from at which `req` fits for `duration`; nullopt if never.
  std::optional<Millis> earliest_start(Millis from, Millis duration, const ResourceRequest& req, GpuMask* usable) const;
  std::size_t size() const { return points_.size(); }

 private:
  struct Point {
    Millis t;
    FreeResources free;  // over [t, next point's t)
  };
  std::size_t split(Millis t);  // index of the point starting exactly at t (t >= now)
  std::size_t index_at(Millis t) const;

  std::vector<Point> points_;
};

}  // namespace atrium::compute::detail
