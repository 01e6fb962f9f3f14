#include "identity/store.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "core/ids.hpp"
#include "http/etag.hpp"
#include "identity/columns.hpp"
#include "identity/policy.hpp"

namespace atrium::identity {

std::vector<db::Migration> migrations() {
  return {{1, "identity",
           R"SQL(
CREATE TABLE users (
  id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, email TEXT NOT NULL DEFAULT '',
  display_name TEXT NOT NULL DEFAULT '', password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,
  failed_logins INTEGER NOT NULL DEFAULT 0, locked_until_ms INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE instance_admins (user_id TEXT PRIMARY KEY REFERENCES users(id), created_ms INTEGER NOT NULL);
CREATE TABLE sessions (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), secret_hash TEXT NOT NULL UNIQUE,
  csrf_hash TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL,
  client_ip TEXT NOT NULL, user_agent TEXT NOT NULL, revoked_ms INTEGER, version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX sessions_user ON sessions (user_id, id);
CREATE TABLE tokens (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), name TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE, scopes TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER,
  last_used_ms INTEGER, revoked_ms INTEGER, version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX tokens_user ON tokens (user_id, id);
CREATE TABLE orgs (
  id TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE roles (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id), name TEXT NOT NULL, description TEXT NOT NULL,
  permissions TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
  version INTEGER NOT NULL DEFAULT 1, UNIQUE (org_id, name));
CREATE TABLE org_members (
  org_id TEXT NOT NULL REFERENCES orgs(id), user_id TEXT NOT NULL REFERENCES users(id), role_id TEXT NOT NULL,
  created_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (org_id, user_id));
CREATE INDEX org_members_user ON org_members (user_id);
CREATE TABLE org_groups (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id), slug TEXT NOT NULL, name TEXT NOT NULL,
  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1,
  UNIQUE (org_id, slug));
CREATE TABLE group_members (
  group_id TEXT NOT NULL REFERENCES org_groups(id), user_id TEXT NOT NULL REFERENCES users(id),
  created_ms INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (group_id, user_id));
CREATE INDEX group_members_user ON group_members (user_id);
CREATE TABLE invitations (
  id TEXT PRIMARY KEY, org_id TEXT NOT NULL REFERENCES orgs(id), role_id TEXT NOT NULL, email TEXT NOT NULL,
  nonce_hash TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  used_ms INTEGER, used_by TEXT, revoked_ms INTEGER, version INTEGER NOT NULL DEFAULT 1);
CREATE INDEX invitations_org ON invitations (org_id, id);
)SQL"},
          // Failed sign-ins per (account, client address): a lockout holds for that client only.
          {2, "login_failures",
           R"SQL(
CREATE TABLE login_failures (
  user_id TEXT NOT NULL, client TEXT NOT NULL, failures INTEGER NOT NULL, locked_until_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL, PRIMARY KEY (user_id, client));
CREATE INDEX login_failures_updated ON login_failures (updated_ms);
)SQL"},
          // A server-generated password (the first admin's one-time password) must be changed first.
          {3, "must_change_password",
           "ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;"},
          // Account recovery (identity/account.hpp): verified emails, tombstones of deleted users, and
          // one-time links (password reset, email verification) stored as hashes.
          {4, "account_recovery",
           R"SQL(
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN deleted_ms INTEGER;
CREATE TABLE account_tokens (
  id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), purpose TEXT NOT NULL,
  secret_hash TEXT NOT NULL, email TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL, used_ms INTEGER);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose, created_ms);
)SQL"},
          // An org the instance admin disabled: its members keep their membership but not its role.
          {5, "org_disabled", "ALTER TABLE orgs ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;"}};
}

bool changes_principals(const std::vector<std::string>& tables) {
  static constexpr std::array<std::string_view, 10> kSources = {
      "*", "users", "instance_admins", "sessions", "tokens", "orgs", "roles", "org_members", "org_groups",
      "group_members"};  // account_tokens: no principal is built from them
  for (auto& t : tables)
    if (std::find(kSources.begin(), kSources.end(), t) != kSources.end()) return true;
  return false;
}

nlohmann::json User::json() const {
  return {{"id", id},
          {"username", username},
          {"email", email},
          {"email_verified", email_verified},
          {"display_name", display_name},
          {"disabled", disabled},
          {"must_change_password", must_change_password},
          {"created_at", format_rfc3339(created)},
          {"updated_at", format_rfc3339(updated)},
          {"etag", http::etag_of(version)}};
}

nlohmann::json Org::json() const {
  return {{"id", id}, {"slug", slug}, {"name", name}, {"disabled", disabled}, {"created_at", format_rfc3339(created)},
          {"etag", http::etag_of(version)}};
}

Status check_password(std::string_view username, std::string_view password, const char* field) {
  auto weak = [&](const char* why) {
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-argument", why).with("field", field));
  };
  if (password.size() < 10) return weak("the password must be at least 10 characters");
  if (password.size() > 1024) return weak("the password must be at most 1024 bytes");
  if (password == username) return weak("the password must not be the username");
  return {};
}

namespace {

}  // namespace

const db::Columns<User> kUserColumns{
    db::col<&User::id>("id"),
    db::col<&User::username>("username"),
    db::col<&User::email>("email"),
    db::col<&User::display_name>("display_name"),
    db::col<&User::password_hash>("password_hash"),
    db::col<&User::disabled>("disabled"),
    db::col<&User::must_change_password>("must_change_password"),
    db::col<&User::failed_logins>("failed_logins"),
    db::col<&User::locked_until>("locked_until_ms"),
    db::col<&User::created>("created_ms"),
    db::col<&User::updated>("updated_ms"),
    db::col<&User::version>("version"),
    db::col<&User::email_verified>("email_verified"),
    db::col<&User::deleted>("deleted_ms"),
};

const db::Columns<Org> kOrgColumns{db::col<&Org::id>("id"),           db::col<&Org::slug>("slug"),
                                   db::col<&Org::name>("name"),       db::col<&Org::created>("created_ms"),
                                   db::col<&Org::version>("version"), db::col<&Org::disabled>("disabled")};

Result<std::optional<User>> find_user(db::Tx& tx, std::string_view id_or_name) {
  auto row = TRY(tx.query_one("SELECT " + kUserColumns.list() + " FROM users WHERE id = ? OR username = ?",
                              {std::string(id_or_name), std::string(id_or_name)}));
  if (!row) return std::optional<User>{};
  return std::optional<User>{TRY(kUserColumns.read(*row))};
}

Result<std::vector<User>> find_users_by_email(db::Tx& tx, std::string_view email, int limit) {
  std::vector<User> out;
  if (email.empty()) return out;
  auto rows = TRY(tx.query("SELECT " + kUserColumns.list() + " FROM users WHERE lower(email) = lower(?) ORDER BY id LIMIT ?",
                           {std::string(email), std::int64_t{limit}}));
  for (auto& r : rows) out.push_back(TRY(kUserColumns.read(r)));
  return out;
}

Result<User> get_user(db::Tx& tx, std::string_view id) {
  auto u = TRY(find_user(tx, id));
  if (!u) return not_found("user");
  return *u;
}

bool reserved_username(std::string_view username) { return username == "system"; }

Result<User> create_user(db::Tx& tx, const Actor& actor, const std::string& username, const std::string& password_hash,
                         const std::string& email, const std::string& display_name, Millis now) {
  if (reserved_username(username))
    return fail(Error(ErrorCode::kInvalidArgument, "reserved-username",
                      "the username '" + username + "' is reserved for the server itself; choose another")
                    .with("field", "username"));
  User u;
  u.id = new_id("usr", now);
  u.username = username;
  u.email = email;
  u.display_name = display_name;
  u.password_hash = password_hash;
  u.created = u.updated = now;
  auto ins = tx.exec("INSERT INTO users (id, username, email, display_name, password_hash, created_ms, updated_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     {u.id, u.username, u.email, u.display_name, u.password_hash, now, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(Error(ErrorCode::kAlreadyExists, "username-taken", "the username '" + username + "' is taken")
                      .with("field", "username"));
    return std::unexpected(ins.error());
  }
  TRY_STATUS(audit::record(tx, actor,
                           {"", "user.create", "user", u.id, {{"username", username}, {"email", email}}}, now));
  return u;
}

Result<bool> any_user(db::Tx& tx) {
  auto row = TRY(tx.query_one("SELECT 1 FROM users LIMIT 1"));
  return row.has_value();
}

Status make_instance_admin(db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now) {
  TRY(tx.exec("INSERT INTO instance_admins (user_id, created_ms) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING", {user_id, now}));
  return audit::record(tx, actor, {"", "user.grant_admin", "user", user_id, {}}, now);
}

Status require_password_change(db::Tx& tx, const Actor& actor, const std::string& user_id, Millis now) {
  TRY(tx.exec("UPDATE users SET must_change_password = 1, version = version + 1 WHERE id = ?", {user_id}));
  return audit::record(tx, actor, {"", "user.password_change_required", "user", user_id, {}}, now);
}

Result<bool> is_instance_admin(db::Tx& tx, const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT 1 FROM instance_admins WHERE user_id = ?", {user_id}));
  return row.has_value();
}

Result<std::vector<std::string>> user_org_ids(db::Tx& tx, const std::string& user_id) {
  auto rows = TRY(tx.query("SELECT org_id FROM org_members WHERE user_id = ? ORDER BY org_id", {user_id}));
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(r.str(0));
  return out;
}

Result<http::Principal> load_principal(db::Tx& tx, const User& u) {
  http::Principal p;
  p.user_id = u.id;
  p.username = u.username;
  p.password_change_required = u.must_change_password;
  if (TRY(is_instance_admin(tx, u.id))) {
    const auto* admin = find_builtin("admin");
    http::Binding b{"", "admin", {}};
    for (auto& g : admin->permissions) b.grants.push_back(*parse_grant(g, true));
    p.bindings.push_back(std::move(b));
  }
  auto rows = TRY(tx.query(
      "SELECT m.org_id, m.role_id, r.name, r.permissions FROM org_members m "
      "JOIN orgs o ON o.id = m.org_id AND o.disabled = 0 LEFT JOIN roles r ON r.id = m.role_id WHERE m.user_id = ?",
      {u.id}));
  for (auto& r : rows) {
    http::Binding b;
    b.org_id = r.str(0);
    if (const auto* builtin = find_builtin(r.str(1))) {
      b.role = builtin->name;
      for (auto& g : builtin->permissions) b.grants.push_back(*parse_grant(g, true));
    } else if (!r.is_null(2)) {
      b.role = r.str(2);
      auto perms = nlohmann::json::parse(r.str(3), nullptr, false);
      if (perms.is_array())
        for (auto& g : perms)
          if (g.is_string())
            if (auto pg = parse_grant(g.get<std::string>(), true)) b.grants.push_back(*pg);
    }
    p.bindings.push_back(std::move(b));
  }
  auto groups = TRY(tx.query("SELECT gm.group_id FROM group_members gm JOIN org_groups g ON g.id = gm.group_id "
                             "JOIN orgs o ON o.id = g.org_id AND o.disabled = 0 WHERE gm.user_id = ?",
                             {u.id}));
  for (auto& g : groups) p.group_ids.push_back(g.str(0));
  return p;
}

Result<Org> get_org(db::Tx& tx, std::string_view id_or_slug) {
  auto row = TRY(tx.query_one("SELECT " + kOrgColumns.list() + " FROM orgs WHERE id = ? OR slug = ?",
                              {std::string(id_or_slug), std::string(id_or_slug)}));
  if (!row) return not_found("organisation");
  return kOrgColumns.read(*row);
}

Result<std::optional<std::string>> org_role_of(db::Tx& tx, const std::string& org_id, const std::string& user_id) {
  auto row = TRY(tx.query_one("SELECT role_id FROM org_members WHERE org_id = ? AND user_id = ?", {org_id, user_id}));
  if (!row) return std::optional<std::string>{};
  return std::optional<std::string>{row->str(0)};
}

Result<std::string> resolve_role(db::Tx& tx, const std::string& org_id, const std::string& name_or_id) {
  if (const auto* b = find_builtin(name_or_id)) {
    if (b->instance) return invalid("the role 'admin' is instance-wide and cannot be given in an organisation");
    return b->id;
  }
  auto row = TRY(tx.query_one("SELECT id FROM roles WHERE org_id = ? AND (id = ? OR name = ?)",
                              {org_id, name_or_id, name_or_id}));
  if (!row)
    return fail(Error(ErrorCode::kInvalidArgument, "unknown-role",
                      "no role '" + name_or_id + "' in this organisation (built-in: org-admin, member, viewer)")
                    .with("field", "role"));
  return row->str(0);
}

Status add_org_member(db::Tx& tx, const Actor& actor, const std::string& org_id, const std::string& user_id,
                      const std::string& role_id, Millis now) {
  auto ins = tx.exec("INSERT INTO org_members (org_id, user_id, role_id, created_ms) VALUES (?, ?, ?, ?)",
                     {org_id, user_id, role_id, now});
  if (!ins) {
    if (ins.error().code == ErrorCode::kAlreadyExists)
      return fail(ErrorCode::kAlreadyExists, "already-member", "the user is already a member of this organisation");
    return std::unexpected(ins.error());
  }
  return audit::record(tx, actor, {org_id, "org.member.add", "user", user_id, {{"role", role_id}}}, now);
}

}  // namespace atrium::identity

namespace atrium::identity {

Result<nlohmann::json> me_json(db::Tx& tx, const http::Principal& who) {
  auto u = TRY(get_user(tx, who.user_id));
  nlohmann::json j = u.json();
  auto rows = TRY(tx.query(
      "SELECT o.id, o.slug, o.name, m.role_id, r.name FROM org_members m "
      "JOIN orgs o ON o.id = m.org_id AND o.disabled = 0 LEFT JOIN roles r ON r.id = m.role_id "
      "WHERE m.user_id = ? ORDER BY o.id",
      {who.user_id}));
  nlohmann::json orgs = nlohmann::json::array();
  for (auto& r : rows) {
    const auto* b = find_builtin(r.str(3));
    // What the role grants here (resource:verb:scope), so a page offers only what the caller may do;
    // the routes decide on their own.
    nlohmann::json perms = nlohmann::json::array();
    for (auto& bind : who.bindings)
      if (bind.org_id == r.str(0))
        for (auto& g : bind.grants) perms.push_back(g.str());
    orgs.push_back({{"id", r.str(0)}, {"slug", r.str(1)}, {"name", r.str(2)}, {"role", b ? b->name : r.str(4)},
                    {"permissions", std::move(perms)}});
  }
  j["orgs"] = orgs;
  j["groups"] = who.group_ids;
  j["instance_admin"] = who.is_instance_admin();
  if (who.mfa_enrollment_required) j["mfa_enrollment_required"] = true;  // the session may only enrol (mfa/)
  j["token_id"] = who.token_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(who.token_id);
  return j;
}

std::string contains_pattern(const std::string& text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

Result<nlohmann::json> list_users(db::Tx& tx, bool all, const std::vector<std::string>& org_ids,
                                  const std::string& self, const std::string& q, const std::string& after, int limit) {
  std::string sql = "SELECT " + kUserColumns.list() + " FROM users WHERE id > ? AND deleted_ms IS NULL";
  db::Params p{after};
  if (!q.empty()) {
    sql += " AND (lower(username) LIKE lower(?) ESCAPE '\\' OR lower(display_name) LIKE lower(?) ESCAPE '\\'"
           " OR lower(email) LIKE lower(?) ESCAPE '\\')";
    auto pat = contains_pattern(q);
    p.insert(p.end(), {pat, pat, pat});
  }
  if (!all) {
    sql += " AND (id = ?";
    p.emplace_back(self);
    if (!org_ids.empty()) {
      sql += " OR id IN (SELECT user_id FROM org_members WHERE org_id IN (";
      for (std::size_t i = 0; i < org_ids.size(); ++i) {
        sql += i ? ", ?" : "?";
        p.emplace_back(org_ids[i]);
      }
      sql += "))";
    }
    sql += ")";
  }
  sql += " ORDER BY id LIMIT ?";
  p.emplace_back(std::int64_t{limit});
  auto rows = TRY(tx.query(sql, p));
  nlohmann::json items = nlohmann::json::array();
  for (auto& u : TRY(kUserColumns.read_all(rows))) items.push_back(u.json());
  return items;
}

Result<nlohmann::json> user_orgs_json(db::Tx& tx, const std::string& user_id) {
  auto rows = TRY(tx.query(
      "SELECT o.id, o.slug, o.name, o.disabled, m.role_id, r.name FROM org_members m JOIN orgs o ON o.id = m.org_id "
      "LEFT JOIN roles r ON r.id = m.role_id WHERE m.user_id = ? ORDER BY o.slug",
      {user_id}));
  nlohmann::json items = nlohmann::json::array();
  for (auto& r : rows) {
    const auto* b = find_builtin(r.str(4));
    items.push_back({{"id", r.str(0)}, {"slug", r.str(1)}, {"name", r.str(2)}, {"disabled", r.i64(3) != 0},
                     {"role_id", r.str(4)}, {"role", b ? b->name : r.str(5)}});
  }
  return items;
}

Result<User> update_user(db::Tx& tx, const Actor& actor, const User& u, const std::optional<std::string>& display_name,
                         const std::optional<std::string>& email, std::optional<bool> disabled, Millis now) {
  User n = u;
  nlohmann::json changes = nlohmann::json::object();
  if (display_name && *display_name != u.display_name) { n.display_name = *display_name; changes["display_name"] = *display_name; }
  if (email && *email != u.email) {
    n.email = *email;
    n.email_verified = false;  // a new address is verified anew (POST /api/v1/me/email/verify)
    changes["email"] = *email;
  }
  if (disabled && *disabled != u.disabled) { n.disabled = *disabled; changes["disabled"] = *disabled; }
  if (changes.empty()) return u;
  auto c = TRY(tx.exec("UPDATE users SET display_name = ?, email = ?, email_verified = ?, disabled = ?, updated_ms = ?, "
                       "version = version + 1 WHERE id = ? AND version = ?",
                       {n.display_name, n.email, std::int64_t{n.email_verified ? 1 : 0},
                        std::int64_t{n.disabled ? 1 : 0}, now, u.id, u.version}));
  if (c == 0) return fail(ErrorCode::kPreconditionFailed, "etag-mismatch", "the user changed meanwhile; retry");
  if (n.disabled && !u.disabled) {
    // A disabled account loses its sessions and tokens at once.
    TRY(tx.exec("UPDATE sessions SET revoked_ms = ?, version = version + 1 WHERE user_id = ? AND revoked_ms IS NULL",
                {now, u.id}));
    TRY(tx.exec("UPDATE tokens SET revoked_ms = ?, version = version + 1 WHERE user_id = ? AND revoked_ms IS NULL",
                {now, u.id}));
  }
  TRY_STATUS(audit::record(tx, actor, {"", "user.update", "user", u.id, changes}, now));
  n.version = u.version + 1;
  n.updated = now;
  return n;
}

http::Target user_target(const http::Principal& who, const std::string& user_id, const std::vector<std::string>& user_orgs) {
  if (user_id == who.user_id) return http::Target{.owner_id = user_id};
  for (auto& o : user_orgs)
    if (who.is_member_of(o)) return http::Target{.org_id = o, .owner_id = user_id};
  return http::Target{.org_id = user_orgs.empty() ? std::string("-") : user_orgs.front(), .owner_id = user_id};
}

}  // namespace atrium::identity
