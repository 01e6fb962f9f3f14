#include "sso/store.hpp"

namespace atrium::sso::store {

std::vector<db::Migration> migrations() {
  return {{1, "sso",
           R"SQL(
CREATE TABLE sso_identities (
  provider TEXT NOT NULL, subject TEXT NOT NULL, user_id TEXT NOT NULL, email TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL, last_login_ms INTEGER NOT NULL, PRIMARY KEY (provider, subject));
CREATE INDEX sso_identities_user ON sso_identities (user_id);
CREATE TABLE sso_org_rules (
  org_id TEXT PRIMARY KEY, rules TEXT NOT NULL, updated_ms INTEGER NOT NULL, version INTEGER NOT NULL);
CREATE TABLE sso_grants (
  user_id TEXT NOT NULL, provider TEXT NOT NULL, org_id TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL,
  created_ms INTEGER NOT NULL, PRIMARY KEY (user_id, provider, org_id, kind, target));
CREATE TABLE sso_logins (
  state_hash TEXT PRIMARY KEY, provider TEXT NOT NULL, browser_hash TEXT NOT NULL, nonce TEXT NOT NULL,
  code_verifier TEXT NOT NULL, next TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  used_ms INTEGER);
CREATE INDEX sso_logins_expires ON sso_logins (expires_ms);
CREATE TABLE sso_sessions (session_id TEXT PRIMARY KEY, provider TEXT NOT NULL, created_ms INTEGER NOT NULL);
)SQL"}};
}

Result<std::optional<std::string>> identity_user(db::Tx& tx, const std::string& provider, const std::string& subject) {
  auto row = TRY(tx.query_one("SELECT user_id FROM sso_identities WHERE provider = ? AND subject = ?", {provider, subject}));
  if (!row) return std::optional<std::string>{};
  return std::optional<std::string>{row->str(0)};
}

Status link_identity(db::Tx& tx, const std::string& provider, const std::string& subject, const std::string& user_id,
                     const std::string& email, Millis now) {
  TRY(tx.exec("INSERT INTO sso_identities (provider, subject, user_id, email, created_ms, last_login_ms) "
              "VALUES (?, ?, ?, ?, ?, ?)",
              {provider, subject, user_id, email, now, now}));
  return {};
}

Result<bool> has_identity_at(db::Tx& tx, const std::string& provider, const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT 1 FROM sso_identities WHERE provider = ? AND user_id = ? LIMIT 1",
                              {provider, user_id}));
  return row.has_value();
}

Status touch_identity(db::Tx& tx, const std::string& provider, const std::string& subject, const std::string& email,
                      Millis now) {
  TRY(tx.exec("UPDATE sso_identities SET email = ?, last_login_ms = ? WHERE provider = ? AND subject = ?",
              {email, now, provider, subject}));
  return {};
}

Result<OrgRules> org_rules(db::Tx& tx, const std::string& org_id) {
  OrgRules r{.org_id = org_id};
  auto row = TRY(tx.query_one("SELECT rules, version, updated_ms FROM sso_org_rules WHERE org_id = ?", {org_id}));
  if (row) {
    r.rules_json = row->str(0);
    r.version = row->i64(1);
    r.updated = row->i64(2);
  }
  return r;
}

Result<std::vector<OrgRules>> all_org_rules(db::Tx& tx) {
  std::vector<OrgRules> out;
  for (auto& row : TRY(tx.query("SELECT org_id, rules, version, updated_ms FROM sso_org_rules ORDER BY org_id")))
    out.push_back({row.str(0), row.str(1), row.i64(2), row.i64(3)});
  return out;
}

Result<bool> put_org_rules(db::Tx& tx, const std::string& org_id, const std::string& rules_json,
                           std::int64_t version, Millis now) {
  if (version == 0) {
    auto n = TRY(tx.exec("INSERT INTO sso_org_rules (org_id, rules, updated_ms, version) VALUES (?, ?, ?, 1) "
                         "ON CONFLICT (org_id) DO NOTHING",
                         {org_id, rules_json, now}));
    return n == 1;
  }
  auto n = TRY(tx.exec("UPDATE sso_org_rules SET rules = ?, updated_ms = ?, version = version + 1 "
                       "WHERE org_id = ? AND version = ?",
                       {rules_json, now, org_id, version}));
  return n == 1;
}

Result<std::vector<Grant>> grants(db::Tx& tx, const std::string& user_id, const std::string& provider) {
  std::vector<Grant> out;
  for (auto& row : TRY(tx.query("SELECT org_id, kind, target FROM sso_grants WHERE user_id = ? AND provider = ? "
                                "ORDER BY org_id, kind, target",
                                {user_id, provider})))
    out.push_back({row.str(0), row.str(1), row.str(2)});
  return out;
}

Status add_grant(db::Tx& tx, const std::string& user_id, const std::string& provider, const Grant& g, Millis now) {
  TRY(tx.exec("INSERT INTO sso_grants (user_id, provider, org_id, kind, target, created_ms) VALUES (?, ?, ?, ?, ?, ?) "
              "ON CONFLICT DO NOTHING",
              {user_id, provider, g.org_id, g.kind, g.target, now}));
  return {};
}

Status drop_grant(db::Tx& tx, const std::string& user_id, const std::string& provider, const Grant& g) {
  TRY(tx.exec("DELETE FROM sso_grants WHERE user_id = ? AND provider = ? AND org_id = ? AND kind = ? AND target = ?",
              {user_id, provider, g.org_id, g.kind, g.target}));
  return {};
}

Status insert_login(db::Tx& tx, const Login& l) {
  TRY(tx.exec("INSERT INTO sso_logins (state_hash, provider, browser_hash, nonce, code_verifier, next, created_ms, "
              "expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              {l.state_hash, l.provider, l.browser_hash, l.nonce, l.code_verifier, l.next, l.created, l.expires}));
  return {};
}

Result<std::optional<Login>> take_login(db::Tx& tx, const std::string& state_hash, Millis now) {
  auto n = TRY(tx.exec("UPDATE sso_logins SET used_ms = ? WHERE state_hash = ? AND used_ms IS NULL AND expires_ms > ?",
                       {now, state_hash, now}));
  if (n != 1) return std::optional<Login>{};
  auto row = TRY(tx.query_one("SELECT state_hash, provider, browser_hash, nonce, code_verifier, next, created_ms, "
                              "expires_ms FROM sso_logins WHERE state_hash = ?",
                              {state_hash}));
  if (!row) return std::optional<Login>{};
  return std::optional<Login>{
      Login{row->str(0), row->str(1), row->str(2), row->str(3), row->str(4), row->str(5), row->i64(6), row->i64(7)}};
}

Status purge_logins(db::Tx& tx, Millis now) {
  // Used attempts stay until they expire (a replay is refused as used, not as unknown).
  TRY(tx.exec("DELETE FROM sso_logins WHERE expires_ms < ?", {now - 3600'000}));
  return {};
}

Status record_session(db::Tx& tx, const std::string& session_id, const std::string& provider, Millis now) {
  TRY(tx.exec("INSERT INTO sso_sessions (session_id, provider, created_ms) VALUES (?, ?, ?)", {session_id, provider, now}));
  return {};
}

Result<std::optional<std::string>> session_provider(db::Tx& tx, const std::string& session_id) {
  auto row = TRY(tx.query_one("SELECT provider FROM sso_sessions WHERE session_id = ?", {session_id}));
  if (!row) return std::optional<std::string>{};
  return std::optional<std::string>{row->str(0)};
}

}  // namespace atrium::sso::store
