// The environment state machine: the states (their names are the API's), the events that move an
// environment, the table of legal moves, and when the monitor looks at an environment next. Pure:
// tests drive it with any clock.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace atrium::envs {

enum class EnvState { kQueued, kStarting, kReady, kStopping, kStopped, kFailed };
inline constexpr EnvState kAllEnvStates[] = {EnvState::kQueued,   EnvState::kStarting, EnvState::kReady,
                                             EnvState::kStopping, EnvState::kStopped,  EnvState::kFailed};
std::string_view state_name(EnvState s);  // "QUEUED", "STARTING", ...
Result<EnvState> parse_state(std::string_view name);
// Not yet ended: QUEUED, STARTING, READY or STOPPING.
bool is_active(EnvState s);

enum class EnvEvent {
  kJobStarted,  // QUEUED -> STARTING: its job runs
  kHealthy,     // STARTING -> READY: the app answers its health check
  kStop,        // QUEUED|STARTING|READY -> STOPPING: asked for (a user, the idle culler, the uptime)
  kEnded,       // any active state -> STOPPED: its job ended as asked (or cancelled, or its time limit)
  kFail,        // any active state -> FAILED
};

struct EnvTransition {
  EnvState from;
  EnvEvent event;
  EnvState to;
};
// Every legal move; anything else is refused with failed_precondition.
std::span<const EnvTransition> transition_table();
Result<EnvState> next_state(EnvState from, EnvEvent event);

// What the monitor knows of an environment when it decides when to look again.
struct Timing {
  EnvState state = EnvState::kQueued;
  Millis now = 0;
  Millis health_interval = 20;   // STARTING: between health checks
  Millis started = 0;            // STARTING: when its job started
  Millis spawn_timeout = 0;      // STARTING: 0 = none
  Millis app_poll_at = 0;        // READY: when the app's own activity is asked for next (0 = never)
  Millis persist_at = 0;         // READY: when the activity seen is written (0 = nothing to write)
  std::optional<Millis> cull_at;  // READY: the next warning or stop (envs/cull.hpp), if any
};
// When to look at it again (async::kNever: only when woken: its job changed, a stop was asked).
Millis next_look(const Timing& t);

}  // namespace atrium::envs
