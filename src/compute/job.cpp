#include "compute/job.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace atrium::compute {
namespace {

constexpr std::pair<JobState, std::string_view> kStateNames[] = {
    {JobState::kPending, "PENDING"},           {JobState::kRunning, "RUNNING"},
    {JobState::kCompleted, "COMPLETED"},       {JobState::kFailed, "FAILED"},
    {JobState::kCancelled, "CANCELLED"},       {JobState::kTimeout, "TIMEOUT"},
    {JobState::kOutOfMemory, "OUT_OF_MEMORY"}, {JobState::kNodeFail, "NODE_FAIL"},
};

constexpr std::pair<PendingReason, std::string_view> kReasonNames[] = {
    {PendingReason::kNone, "None"},
    {PendingReason::kPriority, "Priority"},
    {PendingReason::kResources, "Resources"},
    {PendingReason::kDependency, "Dependency"},
    {PendingReason::kDependencyNeverSatisfied, "DependencyNeverSatisfied"},
    {PendingReason::kHeld, "Held"},
    {PendingReason::kBeginTime, "BeginTime"},
    {PendingReason::kJobArrayTaskLimit, "JobArrayTaskLimit"},
    {PendingReason::kQuotaExceeded, "QuotaExceeded"},
    {PendingReason::kAssocMaxJobsLimit, "AssocMaxJobsLimit"},
    {PendingReason::kAssocMaxCpuLimit, "AssocMaxCpuLimit"},
    {PendingReason::kAssocGrpJobsLimit, "AssocGrpJobsLimit"},
    {PendingReason::kAssocGrpCpuLimit, "AssocGrpCpuLimit"},
    {PendingReason::kQosMaxJobsPerUserLimit, "QOSMaxJobsPerUserLimit"},
    {PendingReason::kQosMaxCpuPerUserLimit, "QOSMaxCpuPerUserLimit"},
    {PendingReason::kInvalidQos, "InvalidQOS"},
    {PendingReason::kBadConstraints, "BadConstraints"},
};

constexpr std::pair<JobEvent, std::string_view> kEventNames[] = {
    {JobEvent::kSubmit, "submit"},
    {JobEvent::kStart, "start"},
    {JobEvent::kComplete, "complete"},
    {JobEvent::kFail, "fail"},
    {JobEvent::kCancel, "cancel"},
    {JobEvent::kTimeout, "timeout"},
    {JobEvent::kOutOfMemory, "out_of_memory"},
    {JobEvent::kNodeFail, "node_fail"},
    {JobEvent::kDependencyNeverSatisfied, "dependency_never_satisfied"},
    {JobEvent::kRequeue, "requeue"},
    {JobEvent::kHold, "hold"},
    {JobEvent::kRelease, "release"},
};

using S = JobState;
using E = JobEvent;
constexpr TransitionRule kTransitionTable[] = {
    {S::kPending, E::kStart, S::kRunning},
    {S::kPending, E::kCancel, S::kCancelled},
    {S::kPending, E::kDependencyNeverSatisfied, S::kCancelled},
    {S::kPending, E::kHold, S::kPending},
    {S::kPending, E::kRelease, S::kPending},

    {S::kRunning, E::kComplete, S::kCompleted},
    {S::kRunning, E::kFail, S::kFailed},
    {S::kRunning, E::kCancel, S::kCancelled},
    {S::kRunning, E::kTimeout, S::kTimeout},
    {S::kRunning, E::kOutOfMemory, S::kOutOfMemory},
    {S::kRunning, E::kNodeFail, S::kNodeFail},
    {S::kRunning, E::kRequeue, S::kPending},

    {S::kCompleted, E::kRequeue, S::kPending},
    {S::kFailed, E::kRequeue, S::kPending},
    {S::kCancelled, E::kRequeue, S::kPending},
    {S::kTimeout, E::kRequeue, S::kPending},
    {S::kOutOfMemory, E::kRequeue, S::kPending},
    {S::kNodeFail, E::kRequeue, S::kPending},
};

template <typename T, std::size_t N>
std::string_view lookup_name(const std::pair<T, std::string_view> (&table)[N], T value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (true) {
    std::size_t next = s.find(sep, pos);
    if (next == std::string_view::npos) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, next - pos));
    pos = next + 1;
  }
}

std::unexpected<Error> bad_dependency(std::string_view text, std::string why) {
  std::string shown(text.substr(0, 80));
  if (text.size() > 80) shown += "...";
  return fail(ErrorCode::kInvalidArgument, "invalid-dependency", fmt::format("dependency \"{}\": {}", shown, why));
}

constexpr std::size_t kMaxDependencyText = 4096;
constexpr std::size_t kMaxIdLength = 64;

}  // namespace

std::string_view state_name(JobState s) { return lookup_name(kStateNames, s); }
std::string_view reason_name(PendingReason r) { return lookup_name(kReasonNames, r); }
std::string_view event_name(JobEvent e) { return lookup_name(kEventNames, e); }

Result<JobState> parse_state(std::string_view name) {
  for (const auto& [v, n] : kStateNames) {
    if (n == name) return v;
  }
  return invalid(fmt::format("unknown job state \"{}\"", name));
}

Result<PendingReason> parse_reason(std::string_view name) {
  for (const auto& [v, n] : kReasonNames) {
    if (n == name) return v;
  }
  return invalid(fmt::format("unknown pending reason \"{}\"", name));
}

bool is_terminal(JobState s) { return s != JobState::kPending && s != JobState::kRunning; }

std::span<const TransitionRule> transition_table() { return kTransitionTable; }

Result<JobState> next_state(JobState from, JobEvent event) {
  for (const auto& rule : kTransitionTable) {
    if (rule.from == from && rule.event == event) return rule.to;
  }
  return fail(ErrorCode::kFailedPrecondition, "illegal-transition",
              fmt::format("a {} job cannot {}", state_name(from), event_name(event)));
}

Result<JobEvent> end_event(JobState terminal) {
  switch (terminal) {
    case JobState::kCompleted: return JobEvent::kComplete;
    case JobState::kFailed: return JobEvent::kFail;
    case JobState::kCancelled: return JobEvent::kCancel;
    case JobState::kTimeout: return JobEvent::kTimeout;
    case JobState::kOutOfMemory: return JobEvent::kOutOfMemory;
    case JobState::kNodeFail: return JobEvent::kNodeFail;
    case JobState::kPending:
    case JobState::kRunning: break;
  }
  return invalid(fmt::format("{} is not a state a running job ends in", state_name(terminal)));
}

std::string_view dependency_type_name(DependencyType t) {
  switch (t) {
    case DependencyType::kAfter: return "after";
    case DependencyType::kAfterAny: return "afterany";
    case DependencyType::kAfterOk: return "afterok";
    case DependencyType::kAfterNotOk: return "afternotok";
    case DependencyType::kSingleton: return "singleton";
  }
  return "?";
}

Result<DependencySpec> parse_dependency(std::string_view text) {
  DependencySpec spec;
  if (text.empty()) return bad_dependency(text, "is empty");
  if (text.size() > kMaxDependencyText) {
    return bad_dependency(text, fmt::format("is longer than {} bytes", kMaxDependencyText));
  }
  bool has_comma = text.find(',') != std::string_view::npos;
  bool has_any = text.find('?') != std::string_view::npos;
  if (has_comma && has_any) return bad_dependency(text, "mixes ',' (all of) and '?' (any of)");
  spec.any_of = has_any;
  for (std::string_view item : split(text, has_any ? '?' : ',')) {
    if (item.empty()) return bad_dependency(text, "has an empty item");
    if (item == "singleton") {
      spec.items.push_back({DependencyType::kSingleton, {}});
      continue;
    }
    std::vector<std::string_view> parts = split(item, ':');
    std::string_view type_name = parts.front();
    DependencyType type;
    if (type_name == "after") {
      type = DependencyType::kAfter;
    } else if (type_name == "afterany") {
      type = DependencyType::kAfterAny;
    } else if (type_name == "afterok") {
      type = DependencyType::kAfterOk;
    } else if (type_name == "afternotok") {
      type = DependencyType::kAfterNotOk;
    } else {
      return bad_dependency(text, fmt::format("unknown type \"{}\" (after, afterany, afterok, afternotok, singleton)",
                                              type_name.substr(0, 32)));
    }
    if (parts.size() < 2) return bad_dependency(text, fmt::format("\"{}\" names no job", type_name));
    for (std::size_t i = 1; i < parts.size(); ++i) {
      std::string_view id = parts[i];
      if (id.empty()) return bad_dependency(text, fmt::format("\"{}\" has an empty job id", type_name));
      if (id.size() > kMaxIdLength) {
        return bad_dependency(text, fmt::format("job id longer than {} characters", kMaxIdLength));
      }
      for (char c : id) {
        if (c == '+') return bad_dependency(text, "'+time' delays are not supported");
        if (!is_id_char(c)) return bad_dependency(text, fmt::format("job id \"{}\" has an invalid character", id));
      }
      spec.items.push_back({type, std::string(id)});
    }
  }
  return spec;
}

std::string format_dependency(const DependencySpec& spec) {
  std::string out;
  for (std::size_t i = 0; i < spec.items.size(); ++i) {
    const Dependency& d = spec.items[i];
    // Consecutive items of one type share a prefix: afterok:a:b.
    bool same_as_prev = i > 0 && d.type != DependencyType::kSingleton && spec.items[i - 1].type == d.type;
    if (same_as_prev && !spec.any_of) {
      out += ":" + d.target;
      continue;
    }
    if (i > 0) out += spec.any_of ? '?' : ',';
    out += dependency_type_name(d.type);
    if (d.type != DependencyType::kSingleton) out += ":" + d.target;
  }
  return out;
}

Result<Transition> apply_event(Job& job, JobEvent event, Millis now, std::string cause) {
  JobState to = TRY(next_state(job.state, event));
  Transition t;
  t.job = job.id;
  t.from = job.state;
  t.to = to;
  t.event = event;
  t.at = now;
  t.cause = std::move(cause);
  switch (event) {
    case JobEvent::kHold:
      if (job.held) return fail(ErrorCode::kFailedPrecondition, "illegal-transition", "the job is already held");
      job.held = true;
      job.reason = PendingReason::kHeld;
      job.reason_detail = kHeldDetail;
      break;
    case JobEvent::kRelease:
      if (!job.held) return fail(ErrorCode::kFailedPrecondition, "illegal-transition", "the job is not held");
      job.held = false;
      job.reason = PendingReason::kNone;
      job.reason_detail.clear();
      break;
    case JobEvent::kStart:
      if (job.held) return fail(ErrorCode::kFailedPrecondition, "illegal-transition", "a held job cannot start");
      job.start_time = now;
      job.end_time.reset();
      job.exit_code.reset();
      job.reason = PendingReason::kNone;
      job.estimated_start.reset();
      break;
    case JobEvent::kRequeue:
      job.start_time.reset();
      job.end_time.reset();
      job.exit_code.reset();
      job.allocation.reset();
      job.estimated_start.reset();
      job.reason = PendingReason::kNone;
      job.held = false;
      ++job.requeue_count;
      break;
    case JobEvent::kDependencyNeverSatisfied:
      job.end_time = now;
      job.reason = PendingReason::kDependencyNeverSatisfied;
      job.estimated_start.reset();
      break;
    case JobEvent::kSubmit:  // never in the table: next_state() refused it above
    case JobEvent::kCancel:
    case JobEvent::kComplete:
    case JobEvent::kFail:
    case JobEvent::kTimeout:
    case JobEvent::kOutOfMemory:
    case JobEvent::kNodeFail:
      job.end_time = now;
      job.reason = PendingReason::kNone;
      job.estimated_start.reset();
      break;
  }
  job.state = to;
  t.reason = job.reason;
  return t;
}

}  // namespace atrium::compute
