#include "envs/state.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace atrium::envs {

namespace {

using S = EnvState;
using E = EnvEvent;

constexpr std::pair<EnvState, std::string_view> kNames[] = {
    {S::kQueued, "QUEUED"},     {S::kStarting, "STARTING"}, {S::kReady, "READY"},
    {S::kStopping, "STOPPING"}, {S::kStopped, "STOPPED"},   {S::kFailed, "FAILED"}};

constexpr EnvTransition kTable[] = {
    {S::kQueued, E::kJobStarted, S::kStarting},
    {S::kStarting, E::kHealthy, S::kReady},
    {S::kQueued, E::kStop, S::kStopping},
    {S::kStarting, E::kStop, S::kStopping},
    {S::kReady, E::kStop, S::kStopping},
    {S::kQueued, E::kEnded, S::kStopped},
    {S::kStarting, E::kEnded, S::kStopped},
    {S::kReady, E::kEnded, S::kStopped},
    {S::kStopping, E::kEnded, S::kStopped},
    {S::kQueued, E::kFail, S::kFailed},
    {S::kStarting, E::kFail, S::kFailed},
    {S::kReady, E::kFail, S::kFailed},
    {S::kStopping, E::kFail, S::kFailed},
};

constexpr Millis kNone = std::numeric_limits<Millis>::max();

}  // namespace

std::string_view state_name(EnvState s) {
  for (const auto& [v, n] : kNames)
    if (v == s) return n;
  return "?";
}

Result<EnvState> parse_state(std::string_view name) {
  for (const auto& [v, n] : kNames)
    if (n == name) return v;
  return fail(ErrorCode::kInvalidArgument, "invalid-state", "unknown environment state \"" + std::string(name) + "\"");
}

bool is_active(EnvState s) { return s != S::kStopped && s != S::kFailed; }

std::span<const EnvTransition> transition_table() { return kTable; }

Result<EnvState> next_state(EnvState from, EnvEvent event) {
  for (const auto& r : kTable)
    if (r.from == from && r.event == event) return r.to;
  return fail(ErrorCode::kFailedPrecondition, "illegal-transition",
              "an environment that is " + std::string(state_name(from)) + " cannot move that way");
}

Millis next_look(const Timing& t) {
  switch (t.state) {
    case S::kQueued:
      return kNone;  // the next scheduling pass or its job's change wakes it
    case S::kStarting: {
      Millis at = t.now + t.health_interval;
      if (t.spawn_timeout > 0) at = std::min(at, std::max(t.now, t.started + t.spawn_timeout + 1));
      return at;
    }
    case S::kReady: {
      Millis at = kNone;
      if (t.app_poll_at > 0) at = std::min(at, t.app_poll_at);
      if (t.persist_at > 0) at = std::min(at, t.persist_at);
      if (t.cull_at) at = std::min(at, *t.cull_at);
      return at == kNone ? kNone : std::max(at, t.now);
    }
    default:  // STOPPING waits for its job to end; an ended environment is not looked at
      return kNone;
  }
}

}  // namespace atrium::envs
