// The queue's functions that run in a caller's transaction: enqueue, and what admins see and do.
#include <algorithm>
#include <cmath>

#include "audit/audit.hpp"
#include "tasks/store.hpp"

namespace atrium::tasks {
namespace {

Status check_new(const NewTask& t) {
  if (t.kind.empty() || t.kind.size() > 64) return invalid("a task needs a kind of 1 to 64 characters");
  if (t.key.size() > 256) return invalid("a task key has at most 256 characters");
  if (t.max_attempts < 1 || t.max_attempts > 100) return invalid("max_attempts must be 1 to 100");
  return {};
}

Result<Info> dead_one(db::Tx& tx, const std::string& id) {
  auto t = TRY(store::get(tx, "id", id));
  if (!t) return not_found("task '" + id + "'");
  if (t->state != "dead")
    return fail(ErrorCode::kFailedPrecondition, "task-not-dead", "task " + id + " is " + t->state + ", not dead");
  return *t;
}

}  // namespace

Result<std::string> enqueue(db::Tx& tx, const NewTask& t, Millis now) {
  TRY_STATUS(check_new(t));
  return store::insert(tx, t, now);
}

Millis backoff_ms(const Settings& s, int attempt, double jitter) {
  int shift = std::clamp(attempt - 1, 0, 40);
  double d = std::min<double>(static_cast<double>(s.backoff_base_ms) * std::ldexp(1.0, shift),
                              static_cast<double>(s.backoff_max_ms));
  return static_cast<Millis>(d * (0.5 + 0.5 * std::clamp(jitter, 0.0, 1.0)));
}

nlohmann::json Info::json() const {
  auto time = [](std::optional<Millis> t) { return t ? nlohmann::json(format_rfc3339(*t)) : nlohmann::json(nullptr); };
  return {{"id", id},
          {"kind", kind},
          {"key", key},
          {"state", state},
          {"attempts", attempts},
          {"max_attempts", max_attempts},
          {"run_at", format_rfc3339(run_at)},
          {"lease_until", state == "running" ? time(lease_until) : nlohmann::json(nullptr)},
          {"last_error", last_error},
          {"created_at", format_rfc3339(created_at)},
          {"updated_at", format_rfc3339(updated_at)},
          {"finished_at", time(finished_at)},
          {"result", result}};
}

Result<std::vector<Info>> list(db::Tx& tx, const ListFilter& f) { return store::list(tx, f); }

Result<std::optional<Info>> get(db::Tx& tx, const std::string& id) { return store::get(tx, "id", id); }

Status clear_payload(db::Tx& tx, const std::string& id) { return store::clear_payload(tx, id); }

Result<std::optional<Info>> get_by_key(db::Tx& tx, const std::string& key) {
  if (key.empty()) return std::optional<Info>();
  return store::get(tx, "key", key);
}

Result<Info> retry(db::Tx& tx, const Actor& actor, const std::string& id, Millis now) {
  auto t = TRY(dead_one(tx, id));
  TRY(store::reset_dead(tx, id, now));
  TRY_STATUS(audit::record(tx, actor,
                           {"", "task.retry", "task", id,
                            {{"kind", t.kind}, {"attempts", t.attempts}, {"last_error", t.last_error}}},
                           now));
  return TRY(store::get(tx, "id", id)).value();
}

Status remove(db::Tx& tx, const Actor& actor, const std::string& id, Millis now) {
  auto t = TRY(dead_one(tx, id));
  TRY(store::delete_dead(tx, id));
  return audit::record(tx, actor, {"", "task.delete", "task", id, {{"kind", t.kind}, {"attempts", t.attempts}}}, now);
}

}  // namespace atrium::tasks
