// Credentials: sessions (browser cookie + CSRF token), API tokens (bearer, hashed, scoped),
// login throttling, and the Gatekeeper that turns a request's credentials into a Principal.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.hpp"
#include "core/notifier.hpp"
#include "http/gate.hpp"
#include "http/message.hpp"
#include "identity/config.hpp"
#include "identity/store.hpp"

namespace atrium::identity {

struct AuthSettings {
  Millis session_ttl_ms = 12LL * 3600 * 1000;
  Millis session_idle_ms = 2LL * 3600 * 1000;
  int login_max_failures = 5;
  Millis lockout_base_ms = 30'000;
  int login_ip_per_minute = 30;
  Millis invite_ttl_max_ms = 30LL * 24 * 3600 * 1000;
  std::string public_url;  // the main origin (resolved at startup, before any request)
  std::string secret;  // instance HMAC key (invitations)
  static AuthSettings from(const Config& c, std::string public_url, std::string secret);  // config.cpp
};

inline constexpr const char* kSessionCookie = "atrium_session";
inline constexpr const char* kCsrfCookie = "atrium_csrf";
inline constexpr const char* kTokenPrefix = "atr_";

struct NewSession {
  std::string id, secret, csrf;
  Millis expires = 0;
};
struct NewToken {
  std::string id, secret;
  nlohmann::json json;
};

// ---- sessions
// Sets the session and CSRF cookies of a new session on `r` (every sign-in: password, sso/).
void set_session_cookies(http::Response& r, const NewSession& ns, const AuthSettings& s, bool tls);
Result<NewSession> create_session(db::Tx& tx, const Actor& actor, const User& u, const std::string& user_agent,
                                  const AuthSettings& s, Millis now);
Result<nlohmann::json> list_sessions(db::Tx& tx, const std::string& user_id, const std::string& current_id,
                                     const std::string& after, int limit, Millis now);
Result<nlohmann::json> get_session_json(db::Tx& tx, const std::string& id, const std::string& current_id);
Status revoke_session(db::Tx& tx, const Actor& actor, const std::string& id, Millis now);
// Signs the user out everywhere: every live session ends (tokens stay). Audited.
Status revoke_all_sessions(db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now);
Status revoke_other_sessions(db::Tx& tx, const std::string& user_id, const std::string& keep_id, Millis now);
Result<std::optional<std::string>> session_owner(db::Tx& tx, const std::string& id);
// The user of a session still alive at `now` (not signed out, revoked, expired, or idle longer than
// `idle_ms`); nullopt otherwise.
Result<std::optional<std::string>> live_session_user(db::Tx& tx, const std::string& id, Millis now, Millis idle_ms);

// ---- tokens
Result<std::vector<http::Grant>> parse_scopes(const std::vector<std::string>& scopes);
Result<NewToken> create_token(db::Tx& tx, const Actor& actor, const std::string& user_id, const std::string& name,
                              const std::vector<std::string>& scopes, std::optional<Millis> expires, Millis now);
Result<nlohmann::json> list_tokens(db::Tx& tx, const std::string& user_id, const std::string& after, int limit);
Result<std::optional<nlohmann::json>> get_token_json(db::Tx& tx, const std::string& id);
Status revoke_token(db::Tx& tx, const Actor& actor, const std::string& id, Millis now);

// ---- login throttling: per client IP (memory) and per (account, client) (database, survives restarts)
// A token bucket per key (a client IP, or "invite:" + IP for invitation acceptance). At most
// `max_clients` keys are kept; a new key beyond that evicts the least recently seen one, so a spray of
// addresses cannot reset the buckets of the clients being throttled.
class LoginLimiter {
 public:
  explicit LoginLimiter(int per_minute, std::size_t max_clients = 100'000)
      : per_minute_(per_minute), max_clients_(std::max<std::size_t>(1, max_clients)) {}
  // Returns seconds to wait, 0 when the attempt may go ahead.
  std::int64_t check_ip(const std::string& ip, Millis now);
  std::size_t size();

 private:
  struct Bucket {
    double tokens;
    Millis at;
    std::list<std::string>::iterator lru;  // its place in lru_
  };
  int per_minute_;
  std::size_t max_clients_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // GUARDED_BY(mu_)
  std::list<std::string> lru_;                       // GUARDED_BY(mu_), most recently seen first
};
// How long (account, client) stays locked after `failures` consecutive failures (0 = not locked).
Millis lockout_ms(std::int64_t failures, const AuthSettings& s);
// Whether `user` may try a password from `client` now (false: locked for that client only; other
// clients are unaffected, so nobody can lock a user out by failing on purpose).
Result<bool> login_locked(db::Tx& tx, const User& u, const std::string& client, Millis now);
Status record_login_failure(db::Tx& tx, const Actor& actor, const User& u, const AuthSettings& s, Millis now);
Status record_login_success(db::Tx& tx, const User& u, const std::string& client);
Status set_password(db::Tx& tx, const Actor& actor, const User& u, const std::string& new_hash, Millis now);

// ---- what the gate reads and records (identity/store_auth.cpp)
struct TokenAuth {
  std::string id, scopes, user_id;  // scopes: a JSON array of grant strings
  std::optional<Millis> expires;
  bool revoked = false, user_disabled = false;
};
Result<std::optional<TokenAuth>> token_by_secret_hash(db::Tx& tx, const std::string& hash);
struct SessionAuth {
  std::string id, csrf_hash, user_id;
  Millis expires = 0, last_seen = 0;
  bool revoked = false;
};
Result<std::optional<SessionAuth>> session_by_secret_hash(db::Tx& tx, const std::string& hash);
// Records when tokens were last used and sessions last seen (id -> time).
Status record_use(db::Tx& tx, const std::map<std::string, Millis>& tokens,
                  const std::map<std::string, Millis>& sessions);

class IdentityGate final : public http::Gatekeeper {
 public:
  IdentityGate(const Clock& clock, AuthSettings s) : clock_(clock), settings_(std::move(s)) {}
  Result<http::PrincipalPtr> authenticate(db::Tx& tx, const http::Request& req) override;
  http::Decision decide(const http::Principal& who, const http::Permission& perm,
                        const http::Target& target) const override;
  bool token_allows(const http::Principal& who, const http::Permission& perm) const override;
  void flush_pending(db::Database& db) override;
  // Drops cached principals; called after every committed write (see Database::set_commit_listener).
  void invalidate() {
    ++generation_;
    changes_.notify();
  }
  // Fired with each invalidate(): who someone is, or what they may do, may have changed (a token
  // or session revoked, a membership or role changed). Others' caches of decisions follow it.
  const Notifier& changes() const { return changes_; }
  // The commit listener: drops cached principals when a table they are built from changed.
  void on_commit(const std::vector<std::string>& tables);
  // Whether a session is held to enrolling a second factor first (mfa/ provides it; set once at
  // startup, before requests).
  using SessionCheck = std::function<Result<bool>(db::Tx&, const std::string& session_id)>;
  void set_mfa_enrollment_check(SessionCheck f) { mfa_enrollment_check_ = std::move(f); }

 private:
  Result<http::PrincipalPtr> by_token(db::Tx& tx, std::string_view secret);
  Result<http::PrincipalPtr> by_session(db::Tx& tx, std::string_view secret);
  void touch(std::unordered_map<std::string, Millis>& last, std::map<std::string, Millis>& pending,
             const std::string& id, Millis now);

  const Clock& clock_;
  AuthSettings settings_;
  std::mutex mu_;
  std::unordered_map<std::string, Millis> token_touched_;    // GUARDED_BY(mu_)
  std::unordered_map<std::string, Millis> session_touched_;  // GUARDED_BY(mu_)
  std::map<std::string, Millis> pending_tokens_;             // GUARDED_BY(mu_)
  std::map<std::string, Millis> pending_sessions_;           // GUARDED_BY(mu_)
  std::atomic<bool> has_pending_{false};

  // Principals of recently seen tokens. An entry is used only while no write to the tables it is
  // built from has committed since it was read (generation, see on_commit) and for at most kPrincipalCacheMs, which bounds staleness when
  // several replicas share one database.
  struct Cached {
    http::PrincipalPtr principal;
    std::uint64_t generation;
    Millis fetched;
    std::optional<Millis> token_expires;
  };
  std::atomic<std::uint64_t> generation_{0};
  std::mutex cache_mu_;
  std::unordered_map<std::string, Cached> cache_;  // GUARDED_BY(cache_mu_), keyed by token hash
  Notifier changes_;
  SessionCheck mfa_enrollment_check_;
};

}  // namespace atrium::identity
