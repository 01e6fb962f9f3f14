#include "mfa/store.hpp"

#include "mfa/mfa.hpp"

namespace atrium::mfa {

std::vector<db::Migration> migrations() {
  return {{1, "mfa",
           R"SQL(
CREATE TABLE mfa_totp (
  user_id TEXT PRIMARY KEY, secret_sealed TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL, enabled_ms INTEGER, last_step INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE mfa_recovery_codes (
  user_id TEXT NOT NULL, code_hash TEXT NOT NULL, created_ms INTEGER NOT NULL, used_ms INTEGER,
  PRIMARY KEY (user_id, code_hash));
CREATE TABLE mfa_tickets (
  id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, client TEXT NOT NULL,
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, failures INTEGER NOT NULL DEFAULT 0, used_ms INTEGER);
CREATE INDEX mfa_tickets_user ON mfa_tickets (user_id);
CREATE TABLE mfa_org_policies (
  org_id TEXT PRIMARY KEY, require_mfa INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE mfa_enrollment_sessions (
  session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE INDEX mfa_enrollment_sessions_user ON mfa_enrollment_sessions (user_id);
)SQL"}};
}

namespace store {

Result<std::optional<Totp>> find_totp(db::Tx& tx, const std::string& user_id) {
  auto row = TRY(tx.query_one(
      "SELECT secret_sealed, active, created_ms, enabled_ms, last_step, version FROM mfa_totp WHERE user_id = ?",
      {user_id}));
  if (!row) return std::optional<Totp>{};
  return std::optional<Totp>{
      Totp{row->str(0), row->i64(1) != 0, row->i64(2), row->opt_i64(3), row->i64(4), row->i64(5)}};
}

Status put_pending(db::Tx& tx, const std::string& user_id, const std::string& sealed, Millis now) {
  TRY(tx.exec("INSERT INTO mfa_totp (user_id, secret_sealed, active, created_ms) VALUES (?, ?, 0, ?) "
              "ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, created_ms = "
              "excluded.created_ms, last_step = 0, version = mfa_totp.version + 1 WHERE mfa_totp.active = 0",
              {user_id, sealed, now}));
  return {};
}

Status activate(db::Tx& tx, const std::string& user_id, std::int64_t step, Millis now) {
  auto n = TRY(tx.exec("UPDATE mfa_totp SET active = 1, enabled_ms = ?, last_step = ?, version = version + 1 "
                       "WHERE user_id = ? AND active = 0",
                       {now, step, user_id}));
  if (n == 0) return fail(ErrorCode::kAborted, "concurrent-change", "the enrolment changed meanwhile; retry");
  return {};
}

Result<bool> spend_step(db::Tx& tx, const std::string& user_id, std::int64_t step) {
  auto n = TRY(tx.exec("UPDATE mfa_totp SET last_step = ? WHERE user_id = ? AND active = 1 AND last_step < ?",
                       {step, user_id, step}));
  return n == 1;
}

Result<bool> remove_all(db::Tx& tx, const std::string& user_id) {
  auto n = TRY(tx.exec("DELETE FROM mfa_totp WHERE user_id = ?", {user_id}));
  TRY(tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?", {user_id}));
  TRY(tx.exec("DELETE FROM mfa_tickets WHERE user_id = ?", {user_id}));
  return n > 0;
}

Status replace_recovery_codes(db::Tx& tx, const std::string& user_id, const std::vector<std::string>& hashes,
                              Millis now) {
  TRY(tx.exec("DELETE FROM mfa_recovery_codes WHERE user_id = ?", {user_id}));
  for (auto& h : hashes)
    TRY(tx.exec("INSERT INTO mfa_recovery_codes (user_id, code_hash, created_ms) VALUES (?, ?, ?)", {user_id, h, now}));
  return {};
}

Result<bool> spend_recovery_code(db::Tx& tx, const std::string& user_id, const std::string& hash, Millis now) {
  auto n = TRY(tx.exec(
      "UPDATE mfa_recovery_codes SET used_ms = ? WHERE user_id = ? AND code_hash = ? AND used_ms IS NULL",
      {now, user_id, hash}));
  return n == 1;
}

Result<std::int64_t> recovery_codes_left(db::Tx& tx, const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ? AND used_ms IS NULL",
                              {user_id}));
  return row ? row->i64(0) : 0;
}

Status insert_ticket(db::Tx& tx, const Ticket& t, const std::string& secret_hash, Millis now) {
  TRY(tx.exec("DELETE FROM mfa_tickets WHERE expires_ms < ?", {now}));
  TRY(tx.exec("INSERT INTO mfa_tickets (id, secret_hash, user_id, client, created_ms, expires_ms) "
              "VALUES (?, ?, ?, ?, ?, ?)",
              {t.id, secret_hash, t.user_id, t.client, now, t.expires}));
  return {};
}

Result<std::optional<Ticket>> ticket_by_hash(db::Tx& tx, const std::string& secret_hash) {
  auto row = TRY(tx.query_one(
      "SELECT id, user_id, client, expires_ms, failures, used_ms FROM mfa_tickets WHERE secret_hash = ?",
      {secret_hash}));
  if (!row) return std::optional<Ticket>{};
  return std::optional<Ticket>{
      Ticket{row->str(0), row->str(1), row->str(2), row->i64(3), row->i64(4), !row->is_null(5)}};
}

Result<std::int64_t> ticket_failed(db::Tx& tx, const std::string& id) {
  TRY(tx.exec("UPDATE mfa_tickets SET failures = failures + 1 WHERE id = ?", {id}));
  auto row = TRY(tx.query_one("SELECT failures FROM mfa_tickets WHERE id = ?", {id}));
  return row ? row->i64(0) : 0;
}

Status ticket_used(db::Tx& tx, const std::string& id, Millis now) {
  auto n = TRY(tx.exec("UPDATE mfa_tickets SET used_ms = ? WHERE id = ? AND used_ms IS NULL", {now, id}));
  if (n == 0) return fail(ErrorCode::kAborted, "concurrent-change", "the sign-in step was used meanwhile");
  return {};
}

Result<OrgPolicy> org_policy(db::Tx& tx, const std::string& org_id) {
  auto row = TRY(tx.query_one("SELECT require_mfa, updated_ms, version FROM mfa_org_policies WHERE org_id = ?",
                              {org_id}));
  if (!row) return OrgPolicy{};
  return OrgPolicy{row->i64(0) != 0, row->i64(1), row->i64(2)};
}

Result<bool> set_org_policy(db::Tx& tx, const std::string& org_id, bool require, std::int64_t version, Millis now) {
  std::int64_t flag = require ? 1 : 0;
  if (version == 0) {
    auto n = TRY(tx.exec("INSERT INTO mfa_org_policies (org_id, require_mfa, updated_ms) VALUES (?, ?, ?) "
                         "ON CONFLICT (org_id) DO NOTHING",
                         {org_id, flag, now}));
    return n == 1;
  }
  auto n = TRY(tx.exec("UPDATE mfa_org_policies SET require_mfa = ?, updated_ms = ?, version = version + 1 "
                       "WHERE org_id = ? AND version = ?",
                       {flag, now, org_id, version}));
  return n == 1;
}

Result<bool> any_org_requires(db::Tx& tx, const std::vector<std::string>& org_ids) {
  for (auto& id : org_ids) {
    auto row = TRY(tx.query_one("SELECT 1 FROM mfa_org_policies WHERE org_id = ? AND require_mfa = 1", {id}));
    if (row) return true;
  }
  return false;
}

Status hold_session(db::Tx& tx, const std::string& session_id, const std::string& user_id, Millis now) {
  constexpr Millis kLongestSessionMs = 91LL * 24 * 3600 * 1000;  // [auth] session_ttl_hours allows 90 days
  TRY(tx.exec("DELETE FROM mfa_enrollment_sessions WHERE created_ms < ?", {now - kLongestSessionMs}));
  TRY(tx.exec("INSERT INTO mfa_enrollment_sessions (session_id, user_id, created_ms) VALUES (?, ?, ?) "
              "ON CONFLICT (session_id) DO NOTHING",
              {session_id, user_id, now}));
  return {};
}

Result<bool> session_held(db::Tx& tx, const std::string& session_id) {
  auto row = TRY(tx.query_one("SELECT 1 FROM mfa_enrollment_sessions WHERE session_id = ?", {session_id}));
  return row.has_value();
}

Status release_sessions(db::Tx& tx, const std::string& user_id) {
  TRY(tx.exec("DELETE FROM mfa_enrollment_sessions WHERE user_id = ?", {user_id}));
  return {};
}

}  // namespace store
}  // namespace atrium::mfa
