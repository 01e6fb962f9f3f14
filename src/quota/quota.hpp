// Quotas: limits per organisation, group and user on what other modules count (storage, CPU-hours,
// running jobs and environments). Each counting module registers its kinds and usage function in a
// Registry; modules read limits through the calls below, never by SQL on this module's table.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit/audit.hpp"
#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::quota {

// The limits of one subject; nullopt = unlimited.
struct Limits {
  std::optional<std::int64_t> storage_bytes, cpu_hours, cpu_period_days, concurrent_jobs, concurrent_envs;
};

// Who a quota applies to: kind "org" (id = the org's id), "group" or "user" within org_id.
struct Subject {
  std::string org_id, kind, id;
};

struct Quota {
  Subject subject;
  Limits limits;
  std::int64_t version = 0;
};

std::vector<db::Migration> migrations();

// ---- reads for the modules that enforce limits
// The subject's limits; nullopt when none was ever set.
Result<std::optional<Limits>> limits_of(db::Tx& tx, const Subject& s);
// Every quota of every org, ordered by org, kind and subject (the scheduler's policy).
Result<std::vector<Quota>> list_all(db::Tx& tx);
// A number that changes whenever any quota is set or removed: reload the limits only when it moved.
Result<std::int64_t> change_stamp(db::Tx& tx);

// ---- removal with what they belong to (identity's org and group deletion)
Status remove_org(db::Tx& tx, const std::string& org_id);
Status remove_subject(db::Tx& tx, std::string_view kind, const std::string& id);

// ---- usage, counted by the modules that own what is counted
// A JSON object with a number for each kind the module registered (more keys may follow).
using UsageFn = std::function<Result<nlohmann::json>(db::Tx&, const Subject&)>;

class Registry {
 public:
  // `module` counts `kinds` (of storage_bytes, cpu_hours, concurrent_jobs, concurrent_envs) with
  // `usage`. Called once per module at startup; a kind unknown or already taken is refused, except
  // storage_bytes, which several modules count (data files, images, homes): their counts add up.
  Status add(std::string module, std::vector<std::string> kinds, UsageFn usage);
  // Every counted kind's usage of the subject: from the module that registered it, 0 if none did.
  Result<nlohmann::json> usage(db::Tx& tx, const Subject& s) const;

 private:
  struct Entry {
    std::string module;
    std::vector<std::string> kinds;
    UsageFn usage;
  };
  std::vector<Entry> entries_;
};

// Refuses `bytes` more storage (507 quota-exceeded: limit, org_id, kind, subject_id, max, used, requested)
// when the org's, the group's (group_id "" = none) or the user's storage_bytes limit would be
// exceeded by the summed usage of every module that counts storage.
Status check_storage(db::Tx& tx, const Registry& reg, const std::string& org_id, const std::string& group_id,
                     const std::string& user_id, std::int64_t bytes);

// The audit event of a request refused for a quota (a kQuotaExceeded error naming org_id, kind and
// subject_id, as every quota check here and in jobs and envs does): action quota.exceeded, in that
// org, about the subject, with the error's figures and message and the route. The refused request's
// transaction rolled back, so the app records this in a transaction of its own.
audit::Event refusal_event(const Error& e, const std::string& route);

// ---- the API's views (identity's quota routes): limits, usage and etag of a subject
Result<nlohmann::json> get_json(db::Tx& tx, const Registry& reg, const Subject& s);
// The org's quotas, the org's own first (listed even when none is set).
Result<nlohmann::json> list_json(db::Tx& tx, const Registry& reg, const std::string& org_id);
// Sets the subject's limits (all of them; nullopt removes one) and records the audit event.
Result<nlohmann::json> put(db::Tx& tx, const Registry& reg, const Actor& actor, const Subject& s, const Limits& l,
                           Millis now);

}  // namespace atrium::quota
