// The `tasks` table: every statement the queue and the admin API run. Internal to the module.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tasks/tasks.hpp"

namespace atrium::tasks::store {

// A claimed task: what its handler gets, and the lease that proves the claim is still its own.
struct Claim {
  Task task;
  std::string token;
};

struct ClaimResult {
  std::optional<Claim> claim;
  // Nothing due: when the next of `kinds` becomes due (a queued task's run_at or a running one's
  // lease expiry), async::kNever when none.
  Millis next = async::kNever;
};

Result<std::string> insert(db::Tx& tx, const NewTask& t, Millis now);
// Claims the oldest due task of one of `kinds` with a new lease (token, now + lease_ms): a queued
// one whose run_at has come, or a running one whose lease expired (its worker died). A task whose
// last attempt's lease expired is dead instead. Called in a write transaction.
Result<ClaimResult> claim(db::Tx& tx, const std::vector<std::string>& kinds, const std::string& token, Millis now,
                          Millis lease_ms);
// The outcomes of an attempt; each changes the task only while `token` still holds its lease and
// says whether it did.
Result<bool> succeed(db::Tx& tx, const std::string& id, const std::string& token, Millis now,
                     const nlohmann::json& result = nullptr);
Result<bool> requeue(db::Tx& tx, const std::string& id, const std::string& token, const std::string& error,
                     Millis run_at, Millis now);
Result<bool> bury(db::Tx& tx, const std::string& id, const std::string& token, const std::string& error, Millis now);
// Extends the leases held by `tokens` to `until`.
Status renew(db::Tx& tx, const std::vector<std::string>& tokens, Millis until);
// Deletes succeeded tasks finished before `before`; how many.
Result<std::int64_t> purge_done(db::Tx& tx, Millis before);
Result<std::map<std::string, std::int64_t>> count_by_state(db::Tx& tx);
// Queued or running tasks of kinds not in `kinds`, by kind.
Result<std::map<std::string, std::int64_t>> unknown_kinds(db::Tx& tx, const std::vector<std::string>& kinds);

Result<std::vector<Info>> list(db::Tx& tx, const ListFilter& f);
Result<std::optional<Info>> get(db::Tx& tx, const std::string& column, const std::string& value);
Result<bool> reset_dead(db::Tx& tx, const std::string& id, Millis now);
Status clear_payload(db::Tx& tx, const std::string& id);
Result<bool> delete_dead(db::Tx& tx, const std::string& id);

}  // namespace atrium::tasks::store
