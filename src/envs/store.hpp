// The environments' tables (envs, env_events, env_links): every SQL statement of the module (the
// catalog's env_apps and the schema too, declared in envs/apps.hpp). The service, the routes and
// the proxy call these; nothing else names the tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "envs/state.hpp"

namespace atrium::envs {

struct EnvRecord {
  std::string id, project_id, org_id, group_id, user_id, app, job_id;
  EnvState state = EnvState::kQueued;
  std::string reason;
  nlohmann::json spec = nlohmann::json::object();  // kind, resources, timeouts, health path, as launched
  Millis created = 0;
  std::optional<Millis> ready, ended;
  Millis last_activity = 0;
  std::string stop_requested;  // why a stop was asked for ("" = none)
  std::int64_t version = 1;
  bool active() const { return is_active(state); }
  std::string state_text() const { return std::string(state_name(state)); }
};

Result<std::optional<EnvRecord>> get_env(db::Tx& tx, const std::string& id);
struct ListFilter {
  std::string project_id, user_id;
  std::string org_id;  // "" = any
  bool active_only = false;
  std::string after;
  int limit = 50;
};
Result<std::vector<EnvRecord>> list_envs(db::Tx& tx, const ListFilter& f);
// Environments not yet ended of a quota subject ("org", "group" or "user") in an org.
Result<std::int64_t> active_count(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id);
Result<nlohmann::json> env_events(db::Tx& tx, const std::string& id, std::int64_t after_seq);
// The environment whose app runs as this job (nullopt: a batch job).
Result<std::optional<std::string>> env_of_job(db::Tx& tx, const std::string& job_id);

Status insert_env(db::Tx& tx, const EnvRecord& e);
Status add_event(db::Tx& tx, const std::string& id, EnvState state, const std::string& event, const std::string& detail,
                 Millis now);
// The new state and its reason; READY sets ready_ms (once), STOPPED and FAILED set ended_ms.
Status set_state(db::Tx& tx, const std::string& id, EnvState to, const std::string& reason, Millis now);
// STOPPING, with why it was asked for.
Status set_stopping(db::Tx& tx, const std::string& id, const std::string& why);
Status set_stop_requested(db::Tx& tx, const std::string& id, const std::string& why);
// A QUEUED environment's reason (its job's pending reason); nothing once it is no longer QUEUED.
Status set_queued_reason(db::Tx& tx, const std::string& id, const std::string& text);
// last_activity_ms becomes `t` if that is later.
Status raise_last_activity(db::Tx& tx, const std::string& id, Millis t);

// Guest links.
struct LinkRecord {
  std::string id, env_id, secret_hash, created_by;
  Millis created = 0, expires = 0;
};
Status insert_link(db::Tx& tx, const LinkRecord& l);
// An environment's links (without their secrets), as the API shows them.
Result<nlohmann::json> list_links(db::Tx& tx, const std::string& env_id);
enum class Revoked { kNow, kAlready, kUnknown };
Result<Revoked> revoke_link(db::Tx& tx, const std::string& env_id, const std::string& link_id, Millis now);
// The id of the link whose secret this is, valid now for this environment.
Result<std::optional<std::string>> guest_link(db::Tx& tx, const std::string& env_id, const std::string& secret,
                                              Millis now);

}  // namespace atrium::envs
