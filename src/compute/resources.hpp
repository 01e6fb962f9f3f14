// Compute resources of one node (CPUs, memory, GPUs as indexed devices) and what a job asks for
// and is given: allocations are exact (a CPU count, megabytes, and WHICH GPU indices).
#pragma once

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::compute {

// GPUs are indexed 0..63 on a node; a set of them is a bit mask.
using GpuMask = std::uint64_t;
inline constexpr int kMaxGpus = 64;

inline GpuMask all_gpus(int count) { return count >= kMaxGpus ? ~GpuMask{0} : (GpuMask{1} << count) - 1; }
inline int gpu_count(GpuMask m) { return std::popcount(m); }
std::vector<int> gpu_indices(GpuMask m);
// The lowest `count` indices of `m` (m must hold at least `count`).
GpuMask lowest_gpus(GpuMask m, int count);

// Capacity of the node this scheduler places jobs on.
struct NodeResources {
  int cpus = 0;
  std::int64_t mem_mb = 0;
  int gpus = 0;  // devices 0..gpus-1
};
Status validate_node(const NodeResources& node);

// What a job asks for (sbatch's --cpus-per-task, --mem, --gpus, --time).
struct ResourceRequest {
  int cpus = 1;
  std::int64_t mem_mb = 1024;
  int gpus = 0;
  Millis time_limit = 3'600'000;
};
// invalid_argument when the request is malformed or can never fit this node.
Status validate_request(const ResourceRequest& req, const NodeResources& node);
bool fits_node(const ResourceRequest& req, const NodeResources& node);

// What a running job holds. GPU indices are exact, sorted, and disjoint from every other running job's.
struct Allocation {
  int cpus = 0;
  std::int64_t mem_mb = 0;
  std::vector<int> gpus;

  GpuMask gpu_mask() const;
  bool operator==(const Allocation&) const = default;
};

// Free resources at one instant: capacity minus what running jobs hold. Counts may go negative when
// the caller loads an already overcommitted state (e.g. the node shrank); nothing fits then.
struct FreeResources {
  int cpus = 0;
  std::int64_t mem_mb = 0;
  GpuMask gpus = 0;

  bool fits(const ResourceRequest& req) const {
    return req.cpus <= cpus && req.mem_mb <= mem_mb && req.gpus <= gpu_count(gpus);
  }
};

std::string describe(const ResourceRequest& req);  // "4 CPUs, 8192 MB, 1 GPU, 2h"
std::string format_duration(Millis d);             // "1h30m", "45s", "2d3h"

}  // namespace atrium::compute
