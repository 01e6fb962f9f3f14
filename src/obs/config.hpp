// The [health] section: how often the server samples its own health figures (obs/health.hpp).
#pragma once

#include <cstddef>

#include "core/config.hpp"

namespace atrium::obs {

struct HealthConfig {
  int period_ms = 5000;  // one sample every period; the last hour is kept
};

void declare(config::Registry& r, HealthConfig& c);
// Samples kept for one hour at `period_ms` (at most 3600, so that a short period stays small).
std::size_t hour_of_samples(int period_ms);

}  // namespace atrium::obs
