#include "compute/resources.hpp"

#include <fmt/format.h>

namespace atrium::compute {

std::vector<int> gpu_indices(GpuMask m) {
  std::vector<int> out;
  out.reserve(static_cast<std::size_t>(gpu_count(m)));
  while (m != 0) {
    out.push_back(std::countr_zero(m));
    m &= m - 1;
  }
  return out;
}

GpuMask lowest_gpus(GpuMask m, int count) {
  GpuMask out = 0;
  for (int i = 0; i < count && m != 0; ++i) {
    GpuMask low = m & (~m + 1);
    out |= low;
    m &= m - 1;
  }
  return out;
}

GpuMask Allocation::gpu_mask() const {
  GpuMask m = 0;
  for (int g : gpus) {
    if (g >= 0 && g < kMaxGpus) m |= GpuMask{1} << g;
  }
  return m;
}

Status validate_node(const NodeResources& node) {
  if (node.cpus < 1) return invalid(fmt::format("node: cpus must be at least 1, got {}", node.cpus));
  if (node.mem_mb < 1) return invalid(fmt::format("node: mem_mb must be at least 1, got {}", node.mem_mb));
  if (node.gpus < 0 || node.gpus > kMaxGpus) {
    return invalid(fmt::format("node: gpus must be 0..{}, got {}", kMaxGpus, node.gpus));
  }
  return {};
}

bool fits_node(const ResourceRequest& req, const NodeResources& node) {
  return req.cpus <= node.cpus && req.mem_mb <= node.mem_mb && req.gpus <= node.gpus;
}

Status validate_request(const ResourceRequest& req, const NodeResources& node) {
  if (req.cpus < 1) return invalid(fmt::format("cpus must be at least 1, got {}", req.cpus));
  if (req.mem_mb < 0) return invalid(fmt::format("mem_mb must not be negative, got {}", req.mem_mb));
  if (req.gpus < 0) return invalid(fmt::format("gpus must not be negative, got {}", req.gpus));
  if (req.time_limit <= 0) return invalid("time limit must be positive");
  if (req.cpus > node.cpus) return invalid(fmt::format("requests {} CPUs; this node has {}", req.cpus, node.cpus));
  if (req.mem_mb > node.mem_mb) {
    return invalid(fmt::format("requests {} MB of memory; this node has {} MB", req.mem_mb, node.mem_mb));
  }
  if (req.gpus > node.gpus) return invalid(fmt::format("requests {} GPUs; this node has {}", req.gpus, node.gpus));
  return {};
}

std::string format_duration(Millis d) {
  if (d < 0) return "-" + format_duration(-d);
  Millis s = d / 1000;
  if (s < 60) return fmt::format("{}s", s);
  Millis days = s / 86400, hours = s % 86400 / 3600, mins = s % 3600 / 60, secs = s % 60;
  std::string out;
  if (days) out += fmt::format("{}d", days);
  if (hours) out += fmt::format("{}h", hours);
  if (mins) out += fmt::format("{}m", mins);
  if (secs && !days) out += fmt::format("{}s", secs);
  return out;
}

std::string describe(const ResourceRequest& req) {
  std::string out = fmt::format("{} CPU{}, {} MB", req.cpus, req.cpus == 1 ? "" : "s", req.mem_mb);
  if (req.gpus > 0) out += fmt::format(", {} GPU{}", req.gpus, req.gpus == 1 ? "" : "s");
  out += ", " + format_duration(req.time_limit);
  return out;
}

}  // namespace atrium::compute
