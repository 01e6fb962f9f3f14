#include "envs/cull.hpp"

#include <algorithm>

namespace atrium::envs {

CullDecision decide_cull(const CullInput& in) {
  // The earlier of the two deadlines decides; an idle deadline moves with activity.
  std::optional<Millis> idle_at, uptime_at;
  if (in.idle_timeout > 0) idle_at = std::max(in.last_activity, in.ready_at) + in.idle_timeout;
  if (in.max_uptime > 0) uptime_at = in.ready_at + in.max_uptime;
  if (!idle_at && !uptime_at) return {};
  bool by_uptime = uptime_at && (!idle_at || *uptime_at <= *idle_at);
  Millis at = by_uptime ? *uptime_at : *idle_at;
  std::string why = by_uptime ? "reached its maximum uptime of " + std::to_string(in.max_uptime / 1000) + " s"
                              : "idle for " + std::to_string(in.idle_timeout / 1000) + " s";
  if (in.now >= at) return {CullDecision::kStop, why, at, in.now};
  if (in.warn_before > 0 && in.now >= at - in.warn_before)
    return {CullDecision::kWarn, "will stop at " + format_rfc3339(at) + ": " + (by_uptime ? "maximum uptime" : "idle"), at,
            at};
  return {CullDecision::kNone, "", 0, in.warn_before > 0 ? at - in.warn_before : at};
}

}  // namespace atrium::envs
