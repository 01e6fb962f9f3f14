// The server's health figures (obs::Health): sampled on the worker pool every [health] period_ms,
// exported to Prometheus as atrium_health_*, and served to instance admins at
// GET /api/v1/admin/health. Modules add gauges and listeners (alerts) through health().
#pragma once

#include "app/config.hpp"
#include "core/async.hpp"
#include "http/api.hpp"
#include "obs/health.hpp"
#include "obs/metrics.hpp"

namespace atrium::app {

class HealthWiring {
 public:
  // Before the server starts (it adds a Metrics source and a route).
  HealthWiring(const Settings& c, obs::Metrics& metrics, const Clock& clock, async::Runtime& rt, http::Api& api);
  obs::Health& health() { return health_; }
  // Once every gauge and listener is added: the first sample now, then one every period.
  void start() { timer_.start(); }
  // Before the runtime stops.
  void stop() { timer_.stop(); }

 private:
  obs::Health health_;
  async::Periodic timer_;
};

}  // namespace atrium::app
