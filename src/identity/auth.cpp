#include "identity/auth.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "http/forwarded.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "identity/policy.hpp"

namespace atrium::identity {

namespace {
constexpr Millis kTouchEveryMs = 60'000;  // last-used/last-seen precision; avoids a write per request
constexpr Millis kPrincipalCacheMs = 2'000;
constexpr std::size_t kPrincipalCacheMax = 10'000;

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
          {"etag", "\"v" + std::to_string(r.i64(7)) + "\""}};
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

Status revoke_other_sessions(db::Tx& tx, const std::string& user_id, const std::string& keep_id, Millis now) {
  TRY(tx.exec("UPDATE sessions SET revoked_ms = ?, version = version + 1 "
              "WHERE user_id = ? AND id != ? AND revoked_ms IS NULL",
              {now, user_id, keep_id}));
  return {};
}

// ---------------------------------------------------------------- tokens

Result<std::vector<http::Grant>> parse_scopes(const std::vector<std::string>& scopes) {
  std::vector<http::Grant> out;
  for (auto& s : scopes) out.push_back(TRY(parse_grant(s, false)));
  return out;
}

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
          {"etag", "\"v" + std::to_string(r.i64(8)) + "\""}};
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

// ---------------------------------------------------------------- login throttling

std::int64_t LoginLimiter::check_ip(const std::string& ip, Millis now) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(ip);
  if (it == buckets_.end()) {
    // Bound memory under a spray of addresses: forget the client seen least recently, never all.
    if (buckets_.size() >= max_clients_) {
      buckets_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(ip);
    it = buckets_.emplace(ip, Bucket{static_cast<double>(per_minute_), now, lru_.begin()}).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& b = it->second;
  double rate = per_minute_ / 60000.0;  // tokens per ms
  b.tokens = std::min<double>(per_minute_, b.tokens + std::max<Millis>(0, now - b.at) * rate);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return static_cast<std::int64_t>((1 - b.tokens) / rate / 1000) + 1;
}

std::size_t LoginLimiter::size() {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

Millis lockout_ms(std::int64_t failures, const AuthSettings& s) {
  if (failures < s.login_max_failures) return 0;
  std::int64_t extra = std::min<std::int64_t>(failures - s.login_max_failures, 20);
  return std::min<Millis>(s.lockout_base_ms << extra, 3600LL * 1000);
}

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
                       "locked_until_ms = 0 WHERE id = ? AND version = ?",
                       {new_hash, now, u.id, u.version}));
  if (n == 0) return fail(ErrorCode::kAborted, "concurrent-change", "the account changed meanwhile; retry");
  TRY(tx.exec("DELETE FROM login_failures WHERE user_id = ?", {u.id}));
  return audit::record(tx, actor, {"", "user.password_change", "user", u.id, {}}, now);
}

// ---------------------------------------------------------------- gate

void IdentityGate::touch(std::unordered_map<std::string, Millis>& last, std::map<std::string, Millis>& pending,
                         const std::string& id, Millis now) {
  std::lock_guard lock(mu_);
  if (last.size() > 200'000) last.clear();
  auto& t = last[id];
  if (now - t < kTouchEveryMs) return;
  t = now;
  pending[id] = now;
  has_pending_ = true;
}

void IdentityGate::on_commit(const std::vector<std::string>& tables) {
  if (changes_principals(tables)) invalidate();
}

Result<http::PrincipalPtr> IdentityGate::by_token(db::Tx& tx, std::string_view secret) {
  auto unauth = [] {
    return fail(ErrorCode::kUnauthenticated, "invalid-token", "the API token is unknown, expired or revoked");
  };
  if (!secret.starts_with(kTokenPrefix) || secret.size() > 128) return unauth();
  Millis now = clock_.now_ms();
  std::string hash = crypto::sha256_hex(secret);
  std::uint64_t gen = generation_.load();
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = cache_.find(hash); it != cache_.end()) {
      const Cached& c = it->second;
      if (c.generation == gen && now - c.fetched < kPrincipalCacheMs && (!c.token_expires || *c.token_expires > now)) {
        touch(token_touched_, pending_tokens_, c.principal->token_id, now);
        return c.principal;
      }
      cache_.erase(it);
    }
  }
  auto row = TRY(tx.query_one(
      "SELECT t.id, t.scopes, t.expires_ms, t.revoked_ms, u.id, u.disabled FROM tokens t JOIN users u ON u.id = t.user_id "
      "WHERE t.secret_hash = ?",
      {hash}));
  if (!row || !row->is_null(3) || (!row->is_null(2) && row->i64(2) <= now) || row->i64(5) != 0) return unauth();
  auto user = TRY(get_user(tx, row->str(4)));
  auto p = TRY(load_principal(tx, user));
  p.token_id = row->str(0);
  auto scopes = nlohmann::json::parse(row->str(1), nullptr, false);
  if (scopes.is_array())
    for (auto& s : scopes)
      if (s.is_string())
        if (auto g = parse_grant(s.get<std::string>(), false)) p.token_scopes.push_back(*g);
  auto shared = std::make_shared<const http::Principal>(std::move(p));
  {
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kPrincipalCacheMax) cache_.clear();
    cache_[hash] = Cached{shared, gen, now, row->opt_i64(2)};
  }
  touch(token_touched_, pending_tokens_, shared->token_id, now);
  return shared;
}

Result<http::PrincipalPtr> IdentityGate::by_session(db::Tx& tx, std::string_view secret) {
  if (secret.empty() || secret.size() > 128) return http::PrincipalPtr{};
  Millis now = clock_.now_ms();
  auto row = TRY(tx.query_one(
      "SELECT s.id, s.csrf_hash, s.expires_ms, s.last_seen_ms, s.revoked_ms, s.user_id FROM sessions s "
      "WHERE s.secret_hash = ?",
      {crypto::sha256_hex(secret)}));
  // A stale cookie makes the caller anonymous; protected routes then answer 401.
  if (!row || !row->is_null(4) || row->i64(2) <= now || now - row->i64(3) > settings_.session_idle_ms)
    return http::PrincipalPtr{};
  auto user = TRY(get_user(tx, row->str(5)));
  if (user.disabled) return http::PrincipalPtr{};
  auto p = TRY(load_principal(tx, user));
  p.session_id = row->str(0);
  p.csrf_hash = row->str(1);
  touch(session_touched_, pending_sessions_, p.session_id, now);
  return std::make_shared<const http::Principal>(std::move(p));
}

Result<http::PrincipalPtr> IdentityGate::authenticate(db::Tx& tx, const http::Request& req) {
  if (auto auth = req.header("authorization")) {
    std::string_view v = *auth;
    if (v.size() > 7 && (v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) return by_token(tx, v.substr(7));
    if (v.size() > 6 && (v.substr(0, 6) == "Basic " || v.substr(0, 6) == "basic ")) {
      // HTTP Basic with an API token as the password (git clients).
      auto decoded = crypto::base64_decode(v.substr(6));
      auto colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos)
        return fail(ErrorCode::kUnauthenticated, "invalid-credentials", "malformed Basic credentials");
      return by_token(tx, std::string_view(*decoded).substr(colon + 1));
    }
    return fail(ErrorCode::kUnauthenticated, "invalid-credentials",
                "unsupported Authorization scheme; use Bearer <token>");
  }
  if (auto c = req.cookie(kSessionCookie)) return by_session(tx, *c);
  return http::PrincipalPtr{};
}

http::Decision IdentityGate::decide(const http::Principal& who, const http::Permission& perm,
                                    const http::Target& target) const {
  return identity::decide(who, perm, target);
}

bool IdentityGate::token_allows(const http::Principal& who, const http::Permission& perm) const {
  return identity::token_allows(who, perm);
}

void IdentityGate::flush_pending(db::Database& db) {
  if (!has_pending_.exchange(false)) return;
  std::map<std::string, Millis> tokens, sessions;
  {
    std::lock_guard lock(mu_);
    tokens.swap(pending_tokens_);
    sessions.swap(pending_sessions_);
  }
  auto st = db.write_tx([&](db::Tx& tx) -> Status {
    for (auto& [id, t] : tokens) TRY(tx.exec("UPDATE tokens SET last_used_ms = ? WHERE id = ?", {t, id}));
    for (auto& [id, t] : sessions) TRY(tx.exec("UPDATE sessions SET last_seen_ms = ? WHERE id = ?", {t, id}));
    return {};
  });
  if (!st) spdlog::warn("could not record token/session use: {}", st.error().detail);
}

}  // namespace atrium::identity
