// When an environment is culled: pure, so that tests drive it with any clock.
#pragma once

#include <optional>
#include <string>

#include "core/clock.hpp"

namespace atrium::envs {

struct CullInput {
  Millis now = 0;
  Millis ready_at = 0;       // when it became READY (uptime counts from there)
  Millis last_activity = 0;  // the later of the proxy's last request and the app's own activity
  Millis idle_timeout = 0;   // 0 = never for idleness
  Millis max_uptime = 0;     // 0 = no limit
  Millis warn_before = 0;
};

struct CullDecision {
  enum Kind { kNone, kWarn, kStop } kind = kNone;
  std::string reason;        // for kWarn/kStop: a sentence
  Millis at = 0;             // kWarn: when the stop will come
  std::optional<Millis> next;  // when the decision changes next (a warning, a stop); nullopt: never by time
};

CullDecision decide_cull(const CullInput& in);

}  // namespace atrium::envs
