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
}  // namespace

// ---------------------------------------------------------------- tokens

Result<std::vector<http::Grant>> parse_scopes(const std::vector<std::string>& scopes) {
  std::vector<http::Grant> out;
  for (auto& s : scopes) out.push_back(TRY(parse_grant(s, false)));
  return out;
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
  auto row = TRY(token_by_secret_hash(tx, hash));
  if (!row || row->revoked || (row->expires && *row->expires <= now) || row->user_disabled) return unauth();
  auto user = TRY(get_user(tx, row->user_id));
  auto p = TRY(load_principal(tx, user));
  p.token_id = row->id;
  auto scopes = nlohmann::json::parse(row->scopes, nullptr, false);
  if (scopes.is_array())
    for (auto& s : scopes)
      if (s.is_string())
        if (auto g = parse_grant(s.get<std::string>(), false)) p.token_scopes.push_back(*g);
  auto shared = std::make_shared<const http::Principal>(std::move(p));
  {
    std::lock_guard lock(cache_mu_);
    if (cache_.size() >= kPrincipalCacheMax) cache_.clear();
    cache_[hash] = Cached{shared, gen, now, row->expires};
  }
  touch(token_touched_, pending_tokens_, shared->token_id, now);
  return shared;
}

Result<http::PrincipalPtr> IdentityGate::by_session(db::Tx& tx, std::string_view secret) {
  if (secret.empty() || secret.size() > 128) return http::PrincipalPtr{};
  Millis now = clock_.now_ms();
  auto row = TRY(session_by_secret_hash(tx, crypto::sha256_hex(secret)));
  // A stale cookie makes the caller anonymous; protected routes then answer 401.
  if (!row || row->revoked || row->expires <= now || now - row->last_seen > settings_.session_idle_ms)
    return http::PrincipalPtr{};
  auto user = TRY(get_user(tx, row->user_id));
  if (user.disabled) return http::PrincipalPtr{};
  auto p = TRY(load_principal(tx, user));
  p.session_id = row->id;
  p.csrf_hash = row->csrf_hash;
  if (mfa_enrollment_check_) p.mfa_enrollment_required = TRY(mfa_enrollment_check_(tx, row->id));
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
  auto st = db.write_tx([&](db::Tx& tx) { return record_use(tx, tokens, sessions); });
  if (!st) spdlog::warn("could not record token/session use: {}", st.error().detail);
}

}  // namespace atrium::identity
