// mfa/'s tables: TOTP secrets (sealed), recovery codes (hashed), second-step tickets (hashed), the
// orgs' policies and the sessions held to enrolment. The only file with mfa's SQL is store.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::mfa::store {

struct Totp {
  std::string secret_sealed;  // base64 of the sealed secret (Service::seal)
  bool active = false;
  Millis created = 0;
  std::optional<Millis> enabled;
  std::int64_t last_step = 0;  // the last accepted time step: codes of it and before are spent
  std::int64_t version = 1;
};
Result<std::optional<Totp>> find_totp(db::Tx& tx, const std::string& user_id);
// A new pending secret, replacing a pending one (never an active one: the caller checks).
Status put_pending(db::Tx& tx, const std::string& user_id, const std::string& sealed, Millis now);
Status activate(db::Tx& tx, const std::string& user_id, std::int64_t step, Millis now);
// Records `step` as used; false when it (or a later one) already was (a concurrent replay).
Result<bool> spend_step(db::Tx& tx, const std::string& user_id, std::int64_t step);
// Removes the user's secret, recovery codes, tickets and enrolment holds; false when there was no secret.
Result<bool> remove_all(db::Tx& tx, const std::string& user_id);

Status replace_recovery_codes(db::Tx& tx, const std::string& user_id, const std::vector<std::string>& hashes,
                              Millis now);
// Marks an unused code used; false when there is none with this hash.
Result<bool> spend_recovery_code(db::Tx& tx, const std::string& user_id, const std::string& hash, Millis now);
Result<std::int64_t> recovery_codes_left(db::Tx& tx, const std::string& user_id);

struct Ticket {
  std::string id, user_id, client;
  Millis expires = 0;
  std::int64_t failures = 0;
  bool used = false;
};
Status insert_ticket(db::Tx& tx, const Ticket& t, const std::string& secret_hash, Millis now);
Result<std::optional<Ticket>> ticket_by_hash(db::Tx& tx, const std::string& secret_hash);
Result<std::int64_t> ticket_failed(db::Tx& tx, const std::string& id);  // the failures so far
Status ticket_used(db::Tx& tx, const std::string& id, Millis now);

struct OrgPolicy {
  bool require_mfa = false;
  Millis updated = 0;
  std::int64_t version = 0;  // 0: never set
};
Result<OrgPolicy> org_policy(db::Tx& tx, const std::string& org_id);
// Sets it when its version is still `version`; false when another change came first.
Result<bool> set_org_policy(db::Tx& tx, const std::string& org_id, bool require, std::int64_t version, Millis now);
Result<bool> any_org_requires(db::Tx& tx, const std::vector<std::string>& org_ids);

Status hold_session(db::Tx& tx, const std::string& session_id, const std::string& user_id, Millis now);
Result<bool> session_held(db::Tx& tx, const std::string& session_id);
Status release_sessions(db::Tx& tx, const std::string& user_id);

}  // namespace atrium::mfa::store
