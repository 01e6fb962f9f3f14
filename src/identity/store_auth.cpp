// identity's rows for signing in: sessions, API tokens, login failures (declared in
// identity/auth.hpp). Every SQL statement on those tables is here.
#include <map>

#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "http/etag.hpp"
#include "http/forwarded.hpp"
#include "identity/auth.hpp"

namespace atrium::identity {

namespace {
nlohmann::json ms_or_null(const std::optional<std::int64_t>& v) {
  return v ? nlohmann::json(format_rfc3339(*v)) : nlohmann::json(nullptr);
}
}  // namespace

// ---------------------------------------------------------------- sessions

Result<NewSession> create_session(db::Tx& tx, const Actor& actor, const User& u, const std::string& user_agent,
                                  const AuthSettings& s, Millis now) {
  NewSession ns;
  ns.id = new_id("ses", now);
  ns.secret = crypto::base64url(crypto::random_bytes(32));
  ns.csrf = crypto::base64url(crypto::random_bytes(24));
  ns.expires = now + s.session_ttl_ms;
  TRY(tx.exec("INSERT INTO sessions (id, user_id, secret_hash, csrf_hash, created_ms, expires_ms, last_seen_ms, "
              "client_ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
              {ns.id, u.id, crypto::sha256_hex(ns.secret), crypto::sha256_hex(ns.csrf), now, ns.expires, now,
               actor.client_ip, user_agent.substr(0, 256)}));
  TRY_STATUS(audit::record(tx, actor, {"", "auth.login", "session", ns.id, {{"username", u.username}}}, now));
  return ns;
}

static nlohmann::json session_json(const db::Row& r, const std::string& current_id) {
  return {{"id", r.str(0)},
          {"created_at", format_rfc3339(r.i64(1))},
          {"expires_at", format_rfc3339(r.i64(2))},
          {"last_seen_at", format_rfc3339(r.i64(3))},
          {"client_ip", r.str(4)},
          {"user_agent", r.str(5)},
          {"revoked", !r.is_null(6)},
          {"current", r.str(0) == current_id},
          {"etag", http::etag_of(r.i64(7))}};
}

Result<nlohmann::json> list_sessions(db::Tx& tx, const std::string& user_id, const std::string& current_id,
                                     const std::string& after, int limit, Millis now) {
  auto rows = TRY(tx.query(
      "SELECT id, created_ms, expires_ms, last_seen_ms, client_ip, user_agent, revoked_ms, version FROM sessions "
      "WHERE user_id = ? AND id > ? AND revoked_ms IS NULL AND expires_ms > ? ORDER BY id LIMIT ?",
      {user_id, after, now, std::int64_t{limit}}));
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows) items.push_back(session_json(r, current_id));
  return items;
}

Result<nlohmann::json> get_session_json(db::Tx& tx, const std::string& id, const std::string& current_id) {
  auto row = TRY(tx.query_one(
      "SELECT id, created_ms, expires_ms, last_seen_ms, client_ip, user_agent, revoked_ms, version FROM sessions "
      "WHERE id = ?",
      {id}));
  if (!row) return not_found("session");
  return session_json(*row, current_id);
}

Result<std::optional<std::string>> session_owner(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one("SELECT user_id FROM sessions WHERE id = ?", {id}));
  if (!row) return std::optional<std::string>{};
  return std::optional<std::string>{row->str(0)};
}

Result<std::optional<std::string>> live_session_user(db::Tx& tx, const std::string& id, Millis now, Millis idle_ms) {
  auto row = TRY(tx.query_one("SELECT user_id, expires_ms, last_seen_ms, revoked_ms FROM sessions WHERE id = ?", {id}));
  if (!row || !row->is_null(3) || row->i64(1) <= now || now - row->i64(2) > idle_ms) return std::optional<std::string>{};
  return std::optional<std::string>{row->str(0)};
}

Status revoke_session(db::Tx& tx, const Actor& actor, const std::string& id, Millis now) {
  TRY(tx.exec("UPDATE sessions SET revoked_ms = ?, version = version + 1 WHERE id = ? AND revoked_ms IS NULL",
              {now, id}));
  return audit::record(tx, actor, {"", "auth.session.revoke", "session", id, {}}, now);
}

Status revoke_all_sessions(db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now) {
  auto n = TRY(tx.exec("UPDATE sessions SET revoked_ms = ?, version = version + 1 WHERE user_id = ? AND revoked_ms IS NULL",
                       {now, user_id}));
  return audit::record(tx, actor, {"", "auth.session.revoke_all", "user", user_id, {{"sessions", n}}}, now);
}

Status revoke_other_sessions(db::Tx& tx, const std::string& user_id, const std::string& keep_id, Millis now) {
  TRY(tx.exec("UPDATE sessions SET revoked_ms = ?, version = version + 1 "
              "WHERE user_id = ? AND id != ? AND revoked_ms IS NULL",
              {now, user_id, keep_id}));
  return {};
}

// ---------------------------------------------------------------- tokens

static nlohmann::json token_json(const db::Row& r) {
  auto scopes = nlohmann::json::parse(r.str(3), nullptr, false);
  return {{"id", r.str(0)},
          {"user_id", r.str(1)},
          {"name", r.str(2)},
          {"scopes", scopes.is_discarded() ? nlohmann::json::array() : scopes},
          {"created_at", format_rfc3339(r.i64(4))},
          {"expires_at", ms_or_null(r.opt_i64(5))},
          {"last_used_at", ms_or_null(r.opt_i64(6))},
          {"revoked", !r.is_null(7)},
          {"etag", http::etag_of(r.i64(8))}};
}

constexpr const char* kTokenCols =
    "id, user_id, name, scopes, created_ms, expires_ms, last_used_ms, revoked_ms, version";

Result<NewToken> create_token(db::Tx& tx, const Actor& actor, const std::string& user_id, const std::string& name,
                              const std::vector<std::string>& scopes, std::optional<Millis> expires, Millis now) {
  NewToken t;
  t.id = new_id("tok", now);
  t.secret = std::string(kTokenPrefix) + crypto::base64url(crypto::random_bytes(32));  // 256 bits
  nlohmann::json sj = scopes;
  TRY(tx.exec("INSERT INTO tokens (id, user_id, name, secret_hash, scopes, created_ms, expires_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)",
              {t.id, user_id, name, crypto::sha256_hex(t.secret), sj.dump(), now, db::opt(expires)}));
  TRY_STATUS(audit::record(tx, actor,
                           {"", "token.create", "token", t.id, {{"name", name}, {"scopes", sj}, {"user_id", user_id}}},
                           now));
  auto row = TRY(tx.query_one(std::string("SELECT ") + kTokenCols + " FROM tokens WHERE id = ?", {t.id}));
  t.json = token_json(*row);
  return t;
}

Result<nlohmann::json> list_tokens(db::Tx& tx, const std::string& user_id, const std::string& after, int limit) {
  auto rows = TRY(tx.query(std::string("SELECT ") + kTokenCols +
                               " FROM tokens WHERE user_id = ? AND id > ? AND revoked_ms IS NULL ORDER BY id LIMIT ?",
                           {user_id, after, std::int64_t{limit}}));
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows) items.push_back(token_json(r));
  return items;
}

Result<std::optional<nlohmann::json>> get_token_json(db::Tx& tx, const std::string& id) {
  auto row = TRY(tx.query_one(std::string("SELECT ") + kTokenCols + " FROM tokens WHERE id = ?", {id}));
  if (!row) return std::optional<nlohmann::json>{};
  return std::optional<nlohmann::json>{token_json(*row)};
}

Status revoke_token(db::Tx& tx, const Actor& actor, const std::string& id, Millis now) {
  TRY(tx.exec("UPDATE tokens SET revoked_ms = ?, version = version + 1 WHERE id = ? AND revoked_ms IS NULL",
              {now, id}));
  return audit::record(tx, actor, {"", "token.revoke", "token", id, {}}, now);
}

// ---------------------------------------------------------------- login failures

namespace {
constexpr Millis kFailureMemoryMs = 24LL * 3600 * 1000;  // failures older than this are forgotten
}

Result<bool> login_locked(db::Tx& tx, const User& u, const std::string& client, Millis now) {
  auto row = TRY(tx.query_one("SELECT locked_until_ms FROM login_failures WHERE user_id = ? AND client = ?",
                              {u.id, client}));
  return row && row->i64(0) > now;
}

Status record_login_failure(db::Tx& tx, const Actor& actor, const User& u, const AuthSettings& s, Millis now) {
  // Per (account, client): a stranger's failures lock out the stranger's address, not the account.
  const std::string client = http::address_key(actor.client_ip);
  TRY(tx.exec("DELETE FROM login_failures WHERE updated_ms < ?", {now - kFailureMemoryMs}));
  TRY(tx.exec("INSERT INTO login_failures (user_id, client, failures, locked_until_ms, updated_ms) "
              "VALUES (?, ?, 1, 0, ?) ON CONFLICT (user_id, client) DO UPDATE SET failures = failures + 1, "
              "updated_ms = excluded.updated_ms",
              {u.id, client, now}));
  auto row = TRY(tx.query_one("SELECT failures FROM login_failures WHERE user_id = ? AND client = ?",
                              {u.id, client}));
  std::int64_t failures = row ? row->i64(0) : 1;
  Millis lock = lockout_ms(failures, s);
  if (lock)
    TRY(tx.exec("UPDATE login_failures SET locked_until_ms = ? WHERE user_id = ? AND client = ?",
                {now + lock, u.id, client}));
  nlohmann::json summary = {{"username", u.username}, {"failures", failures}};
  if (lock) summary["locked_for_s"] = lock / 1000;
  return audit::record(tx, actor, {"", "auth.login_failed", "user", u.id, summary}, now);
}

Status record_login_success(db::Tx& tx, const User& u, const std::string& client) {
  TRY(tx.exec("DELETE FROM login_failures WHERE user_id = ? AND client = ?", {u.id, client}));
  return {};
}

Status set_password(db::Tx& tx, const Actor& actor, const User& u, const std::string& new_hash, Millis now) {
  auto n = TRY(tx.exec("UPDATE users SET password_hash = ?, updated_ms = ?, version = version + 1, failed_logins = 0, "
                       "locked_until_ms = 0, must_change_password = 0 WHERE id = ? AND version = ?",
                       {new_hash, now, u.id, u.version}));
  if (n == 0) return fail(ErrorCode::kAborted, "concurrent-change", "the account changed meanwhile; retry");
  TRY(tx.exec("DELETE FROM login_failures WHERE user_id = ?", {u.id}));
  nlohmann::json summary = nlohmann::json::object();
  if (u.must_change_password) summary["was_required"] = true;  // a server-generated password replaced
  return audit::record(tx, actor, {"", "user.password_change", "user", u.id, summary}, now);
}

// ---------------------------------------------------------------- what the gate reads and records

Result<std::optional<TokenAuth>> token_by_secret_hash(db::Tx& tx, const std::string& hash) {
  auto row = TRY(tx.query_one(
      "SELECT t.id, t.scopes, t.expires_ms, t.revoked_ms, u.id, u.disabled FROM tokens t JOIN users u ON u.id = t.user_id "
      "WHERE t.secret_hash = ?",
      {hash}));
  if (!row) return std::optional<TokenAuth>{};
  return std::optional<TokenAuth>{
      TokenAuth{row->str(0), row->str(1), row->str(4), row->opt_i64(2), !row->is_null(3), row->i64(5) != 0}};
}

Result<std::optional<SessionAuth>> session_by_secret_hash(db::Tx& tx, const std::string& hash) {
  auto row = TRY(tx.query_one(
      "SELECT s.id, s.csrf_hash, s.expires_ms, s.last_seen_ms, s.revoked_ms, s.user_id FROM sessions s "
      "WHERE s.secret_hash = ?",
      {hash}));
  if (!row) return std::optional<SessionAuth>{};
  return std::optional<SessionAuth>{
      SessionAuth{row->str(0), row->str(1), row->str(5), row->i64(2), row->i64(3), !row->is_null(4)}};
}

Status record_use(db::Tx& tx, const std::map<std::string, Millis>& tokens,
                  const std::map<std::string, Millis>& sessions) {
  for (auto& [id, t] : tokens) TRY(tx.exec("UPDATE tokens SET last_used_ms = ? WHERE id = ?", {t, id}));
  for (auto& [id, t] : sessions) TRY(tx.exec("UPDATE sessions SET last_seen_ms = ? WHERE id = ?", {t, id}));
  return {};
}

}  // namespace atrium::identity
