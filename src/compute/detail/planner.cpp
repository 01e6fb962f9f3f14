#include "compute/detail/planner.hpp"

#include <algorithm>
#include <limits>

namespace atrium::compute::detail {

Planner::Planner(const FreeResources& free_now, Millis now) { points_.push_back({now, free_now}); }

std::size_t Planner::index_at(Millis t) const {
  // The last point with points_[i].t <= t (t before the first point maps to the first).
  auto it = std::upper_bound(points_.begin(), points_.end(), t, [](Millis v, const Point& p) { return v < p.t; });
  return it == points_.begin() ? 0 : static_cast<std::size_t>(it - points_.begin()) - 1;
}

std::size_t Planner::split(Millis t) {
  t = std::max(t, points_.front().t);
  std::size_t i = index_at(t);
  if (points_[i].t == t) return i;
  points_.insert(points_.begin() + static_cast<std::ptrdiff_t>(i) + 1, Point{t, points_[i].free});
  return i + 1;
}

void Planner::release(Millis at, int cpus, std::int64_t mem_mb, GpuMask gpus) {
  for (std::size_t i = split(at); i < points_.size(); ++i) {
    points_[i].free.cpus += cpus;
    points_[i].free.mem_mb += mem_mb;
    points_[i].free.gpus |= gpus;
  }
}

void Planner::release_all(std::vector<Release> releases) {
  std::sort(releases.begin(), releases.end(), [](const Release& a, const Release& b) { return a.at < b.at; });
  // Merge into the existing points: walk both in time order, carrying the running sum of releases.
  std::vector<Point> merged;
  merged.reserve(points_.size() + releases.size());
  FreeResources added{0, 0, 0};
  std::size_t r = 0;
  auto apply = [](FreeResources f, const FreeResources& add) {
    f.cpus += add.cpus;
    f.mem_mb += add.mem_mb;
    f.gpus |= add.gpus;
    return f;
  };
  for (std::size_t i = 0; i < points_.size(); ++i) {
    Millis end = i + 1 < points_.size() ? points_[i + 1].t : std::numeric_limits<Millis>::max();
    Millis t = points_[i].t;
    while (r < releases.size() && releases[r].at <= t) {
      added = apply(added, {releases[r].cpus, releases[r].mem_mb, releases[r].gpus});
      ++r;
    }
    merged.push_back({t, apply(points_[i].free, added)});
    while (r < releases.size() && releases[r].at < end) {
      Millis at = releases[r].at;
      while (r < releases.size() && releases[r].at == at) {
        added = apply(added, {releases[r].cpus, releases[r].mem_mb, releases[r].gpus});
        ++r;
      }
      merged.push_back({at, apply(points_[i].free, added)});
    }
  }
  points_ = std::move(merged);
}

void Planner::claim(Millis start, Millis end, int cpus, std::int64_t mem_mb, GpuMask gpus) {
  if (end <= start) return;
  std::size_t first = split(start);
  std::size_t last = split(end);  // may shift nothing before `first`
  for (std::size_t i = first; i < last; ++i) {
    points_[i].free.cpus -= cpus;
    points_[i].free.mem_mb -= mem_mb;
    points_[i].free.gpus &= ~gpus;
  }
}

bool Planner::fits(Millis start, Millis end, const ResourceRequest& req, GpuMask* usable) const {
  GpuMask gpus = ~GpuMask{0};
  for (std::size_t i = index_at(start); i < points_.size() && points_[i].t < end; ++i) {
    const FreeResources& f = points_[i].free;
    if (f.cpus < req.cpus || f.mem_mb < req.mem_mb) return false;
    gpus &= f.gpus;
    if (gpu_count(gpus) < req.gpus) return false;
  }
  if (usable) *usable = gpus;
  return true;
}

std::optional<Millis> Planner::earliest_start(Millis from, Millis duration, const ResourceRequest& req,
                                              GpuMask* usable) const {
  from = std::max(from, points_.front().t);
  std::size_t i = index_at(from);
  for (Millis t = from;; t = points_[i].t) {
    if (points_[i].free.fits(req) && fits(t, t + duration, req, usable)) return t;
    if (++i >= points_.size()) return std::nullopt;
  }
}

}  // namespace atrium::compute::detail
