// identity's rows for account recovery and user administration (declared in identity/account.hpp):
// one-time links, verified emails, ending a user's access, tombstones. Every SQL statement on
// account_tokens is here.
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "identity/account.hpp"
#include "identity/auth.hpp"

namespace atrium::identity {

namespace {

const char* purpose_name(LinkPurpose p) { return p == LinkPurpose::kPasswordReset ? "password_reset" : "verify_email"; }

Error link_invalid(LinkPurpose p) {
  return Error(ErrorCode::kInvalidArgument, "invalid-link",
               p == LinkPurpose::kPasswordReset
                   ? "this password-reset link is invalid, has expired or was used already; ask for a new one"
                   : "this verification link is invalid, has expired or was used already; ask for a new one")
      .with("field", "token");
}

struct LinkRow {
  std::string id, user_id, email;
};

// The link's row when `token` is one of `purpose`, unused and unexpired (constant-time comparison).
Result<std::optional<LinkRow>> open_link(db::Tx& tx, std::string_view token, LinkPurpose purpose, Millis now) {
  auto dot = token.find('.');
  if (dot == std::string_view::npos || token.size() > 200) return std::optional<LinkRow>{};
  std::string id(token.substr(0, dot));
  if (!is_id(id, "art")) return std::optional<LinkRow>{};
  auto row = TRY(tx.query_one(
      "SELECT user_id, secret_hash, email, expires_ms, used_ms FROM account_tokens WHERE id = ? AND purpose = ?",
      {id, std::string(purpose_name(purpose))}));
  if (!row) {
    // As much work as for a known id: the answer's timing says nothing about which ids exist.
    (void)crypto::constant_time_equal(crypto::sha256_hex(token.substr(dot + 1)), std::string(64, '0'));
    return std::optional<LinkRow>{};
  }
  bool ok = crypto::constant_time_equal(crypto::sha256_hex(token.substr(dot + 1)), row->str(1));
  if (!ok || !row->is_null(4) || row->i64(3) <= now) return std::optional<LinkRow>{};
  return std::optional<LinkRow>{LinkRow{id, row->str(0), row->str(2)}};
}

}  // namespace

bool password_reset_available(const Mailer& mailer) { return mailer.on(); }

nlohmann::json recovery_features(const Mailer& mailer) {
  return {{"password_reset", password_reset_available(mailer)}, {"email_verification", mailer.on()}};
}

std::string link_url(const std::string& public_url, std::string_view path, std::string_view token) {
  std::string base = public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(path) + "#" + std::string(token);
}

Result<std::int64_t> live_links(db::Tx& tx, const std::string& user_id, LinkPurpose purpose, Millis now) {
  auto row = TRY(tx.query_one(
      "SELECT COUNT(*) FROM account_tokens WHERE user_id = ? AND purpose = ? AND used_ms IS NULL AND expires_ms > ?",
      {user_id, std::string(purpose_name(purpose)), now}));
  return row ? row->i64(0) : 0;
}

Result<IssuedLink> issue_link(db::Tx& tx, const Actor& actor, const User& u, LinkPurpose purpose, Millis ttl,
                              Millis now) {
  IssuedLink l;
  l.id = new_id("art", now);
  std::string secret = crypto::base64url(crypto::random_bytes(32));  // 256 bits
  l.token = l.id + "." + secret;
  l.expires = now + ttl;
  // Links that can no longer be used are forgotten.
  TRY(tx.exec("DELETE FROM account_tokens WHERE expires_ms < ?", {now - 7LL * 24 * 3600 * 1000}));
  TRY(tx.exec("INSERT INTO account_tokens (id, user_id, purpose, secret_hash, email, created_by, created_ms, "
              "expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              {l.id, u.id, std::string(purpose_name(purpose)), crypto::sha256_hex(secret), u.email, actor.user_id, now,
               l.expires}));
  const char* action = purpose == LinkPurpose::kPasswordReset ? "user.password_reset.issue" : "user.email_verify.issue";
  TRY_STATUS(audit::record(
      tx, actor, {"", action, "user", u.id, {{"link_id", l.id}, {"expires_at", format_rfc3339(l.expires)}}}, now));
  return l;
}

Result<User> check_link(db::Tx& tx, std::string_view token, LinkPurpose purpose, Millis now) {
  auto link = TRY(open_link(tx, token, purpose, now));
  if (!link) return std::unexpected(link_invalid(purpose));
  auto u = TRY(find_user(tx, link->user_id));
  if (!u || u->disabled || u->deleted) return std::unexpected(link_invalid(purpose));
  // A verification holds for the address it was sent to; a reset needs a password to replace.
  if (purpose == LinkPurpose::kVerifyEmail && u->email != link->email) return std::unexpected(link_invalid(purpose));
  if (purpose == LinkPurpose::kPasswordReset && !u->has_password()) return std::unexpected(link_invalid(purpose));
  return *u;
}

Status use_link(db::Tx& tx, std::string_view token, LinkPurpose purpose, Millis now) {
  auto link = TRY(open_link(tx, token, purpose, now));
  if (!link) return std::unexpected(link_invalid(purpose));
  // Exactly once, even when the same link is used twice at the same moment.
  auto n = TRY(tx.exec("UPDATE account_tokens SET used_ms = ? WHERE id = ? AND used_ms IS NULL", {now, link->id}));
  if (n == 0) return std::unexpected(link_invalid(purpose));
  TRY(tx.exec("UPDATE account_tokens SET used_ms = ? WHERE user_id = ? AND purpose = ? AND used_ms IS NULL",
              {now, link->user_id, std::string(purpose_name(purpose))}));
  return {};
}

Status set_email_verified(db::Tx& tx, const Actor& actor, const std::string& user_id, bool verified, Millis now) {
  TRY(tx.exec("UPDATE users SET email_verified = ?, updated_ms = ?, version = version + 1 WHERE id = ?",
              {std::int64_t{verified ? 1 : 0}, now, user_id}));
  return audit::record(tx, actor, {"", "user.email_verified", "user", user_id, {{"verified", verified}}}, now);
}

Status end_access(db::Tx& tx, const std::string& user_id, Millis now) {
  TRY(tx.exec("UPDATE sessions SET revoked_ms = ?, version = version + 1 WHERE user_id = ? AND revoked_ms IS NULL",
              {now, user_id}));
  TRY(tx.exec("UPDATE tokens SET revoked_ms = ?, version = version + 1 WHERE user_id = ? AND revoked_ms IS NULL",
              {now, user_id}));
  return {};
}

Status delete_user(db::Tx& tx, const Actor& actor, const User& u, Millis now) {
  auto sole = TRY(tx.query(
      "SELECT m.org_id FROM org_members m WHERE m.user_id = ? AND m.role_id = 'role_org-admin' AND "
      "(SELECT COUNT(*) FROM org_members o WHERE o.org_id = m.org_id AND o.role_id = 'role_org-admin') <= 1",
      {u.id}));
  if (!sole.empty())
    return fail(Error(ErrorCode::kFailedPrecondition, "last-org-admin",
                      "the user is the last org-admin of an organisation; make someone else org-admin first")
                    .with("org_id", sole.front().str(0)));
  TRY_STATUS(end_access(tx, u.id, now));
  TRY(tx.exec("DELETE FROM account_tokens WHERE user_id = ?", {u.id}));  // and the addresses they name
  TRY(tx.exec("DELETE FROM group_members WHERE user_id = ?", {u.id}));
  TRY(tx.exec("DELETE FROM org_members WHERE user_id = ?", {u.id}));
  TRY(tx.exec("DELETE FROM instance_admins WHERE user_id = ?", {u.id}));
  TRY(tx.exec("DELETE FROM login_failures WHERE user_id = ?", {u.id}));
  auto n = TRY(tx.exec(
      "UPDATE users SET username = ?, email = '', email_verified = 0, display_name = '', password_hash = '', "
      "disabled = 1, deleted_ms = ?, updated_ms = ?, version = version + 1 WHERE id = ? AND version = ?",
      {"deleted:" + u.id, now, now, u.id, u.version}));
  if (n == 0) return fail(ErrorCode::kPreconditionFailed, "etag-mismatch", "the user changed meanwhile; retry");
  return audit::record(tx, actor, {"", "user.delete", "user", u.id, {{"username", u.username}}}, now);
}

}  // namespace atrium::identity
