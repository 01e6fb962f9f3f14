// Two-factor sign-in for password accounts: TOTP (RFC 6238) with one-time recovery codes, the
// second step of the password login, per-org and admin policies, and sessions held to enrolment.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "http/api.hpp"
#include "identity/auth.hpp"
#include "identity/routes.hpp"
#include "identity/store.hpp"

namespace atrium::mfa {

std::vector<db::Migration> migrations();

struct Settings {
  // 32 bytes: seals the TOTP secrets (which must be read back to verify a code) and keys the hashes
  // of recovery codes. The composition root derives it from the data master key.
  std::string key;
  bool require_for_admins = false;  // [auth] require_mfa_for_admins: instance and org admins must enrol
  Millis ticket_ttl_ms = 5 * 60'000;
  int ticket_max_failures = 5;  // wrong codes before a second-step ticket dies
  int recovery_codes = 10;
};

// What a second factor check decided (the login's second step, disabling, new recovery codes).
enum class Proof { kTotp, kRecoveryCode };

class Service {
 public:
  explicit Service(Settings s);

  // The hooks of identity's password login: a ticket instead of a session when TOTP is on, and a
  // session held to enrolment when policy requires a second factor the user has not set up.
  identity::SecondFactor second_factor() const;
  // The gate's check: is this session held to enrolment?
  Result<bool> enrollment_only(db::Tx& tx, const std::string& session_id) const;

  // Must this user have a second factor (an admin under require_for_admins, a member of an org
  // that requires it)?
  Result<bool> required(db::Tx& tx, const std::string& user_id) const;
  Result<nlohmann::json> status(db::Tx& tx, const std::string& user_id) const;
  Result<bool> enabled(db::Tx& tx, const std::string& user_id) const;
  // A new pending secret: {secret, otpauth_uri, qr_svg}.
  Result<nlohmann::json> begin(db::Tx& tx, const Actor& actor, const identity::User& u, Millis now) const;
  // Activates the pending secret with a code from it: {enabled, recovery_codes} (shown once).
  Result<nlohmann::json> confirm(db::Tx& tx, const Actor& actor, const std::string& user_id, const std::string& code,
                                 Millis now) const;
  // Checks a TOTP code or a recovery code of an enabled user and spends it (a code works once).
  Result<bool> check(db::Tx& tx, const std::string& user_id, Proof kind, const std::string& code, Millis now) const;
  // A new set of recovery codes, the old ones ended (shown once).
  Result<nlohmann::json> new_recovery_codes(db::Tx& tx, const Actor& actor, const std::string& user_id,
                                            Millis now) const;
  // Turns the second factor off (false: it was not on). `action`: the audit event.
  Result<bool> turn_off(db::Tx& tx, const Actor& actor, const std::string& user_id, const char* action,
                        Millis now) const;
  // The ticket a password login hands out instead of a session.
  Result<nlohmann::json> issue_ticket(db::Tx& tx, const Actor& actor, const identity::User& u, Millis now) const;
  const Settings& settings() const { return s_; }

 private:
  std::string seal(std::string_view secret, const std::string& user_id) const;
  Result<std::string> open(std::string_view sealed, const std::string& user_id) const;
  std::string code_hash(std::string_view code) const;
  // Replaces the user's recovery codes with new ones; returns them (the only time they are shown).
  Result<std::vector<std::string>> fresh_recovery_codes(db::Tx& tx, const std::string& user_id, Millis now) const;

  Settings s_;
  std::string seal_key_, code_key_;
};

struct RouteDeps {
  const Service& mfa;
  const identity::AuthSettings& auth;
  identity::LoginLimiter& limiter;
};
void add_routes(http::Api& api, RouteDeps deps);

}  // namespace atrium::mfa
