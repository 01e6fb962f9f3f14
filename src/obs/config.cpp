#include "obs/config.hpp"

#include <algorithm>

namespace atrium::obs {

void declare(config::Registry& r, HealthConfig& c) {
  r.section("health", c)
      .integer("period_ms", "milliseconds between two samples of the server's health figures (the admin's Health "
               "page, alerts, atrium_health_* metrics)",
               &HealthConfig::period_ms, 10, 3600'000);
}

std::size_t hour_of_samples(int period_ms) {
  return static_cast<std::size_t>(std::clamp(3600'000 / std::max(period_ms, 1), 1, 3600));
}

}  // namespace atrium::obs
