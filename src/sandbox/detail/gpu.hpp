// GPU discovery: /dev/nvidiaN nodes, and NVML loaded at run time (dlopen, never linked) for the
// UUIDs that name a GPU unambiguously to CUDA inside the sandbox.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace atrium::sandbox::detail {

std::vector<int> gpu_minors();  // N of every /dev/nvidiaN, sorted
bool nvml_available();
// minor number (the N of /dev/nvidiaN) -> "GPU-xxxxxxxx-..." for every GPU NVML reports; empty
// when NVML is missing or fails.
std::map<int, std::string> nvml_uuids_by_minor();

}  // namespace atrium::sandbox::detail
