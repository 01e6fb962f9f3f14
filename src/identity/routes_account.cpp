// Account recovery routes: a password reset by mail (asked for without signing in, answered the
// same whether or not the account exists) and email verification. See docs/auth.md.
#include <memory>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "http/forwarded.hpp"
#include "identity/account.hpp"
#include "identity/routes_detail.hpp"

namespace atrium::identity {
namespace detail {
namespace {

struct Deps {
  const AuthSettings& auth;
  AccountSettings account;
  Mailer mailer;
  std::shared_ptr<LoginLimiter> limiter;  // recovery requests per client IP (not the login's budget)
};
using DepsPtr = std::shared_ptr<const Deps>;

Status rate_limit(const Deps& d, Context& ctx) {
  if (auto wait = d.limiter->check_ip(http::address_key(ctx.req.remote_ip), ctx.now()))
    return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                      "too many requests from your address; wait " + std::to_string(wait) + " s")
                    .with("retry_after_s", wait));
  return {};
}

auto mail_off() {
  return fail(ErrorCode::kFailedPrecondition, "mail-disabled",
              "this server sends no mail; ask an administrator for a password-reset link");
}

// The accounts a reset request names: by username, or every account with that email address.
Result<std::vector<User>> named_accounts(db::Tx& tx, const std::optional<std::string>& username,
                                         const std::optional<std::string>& email) {
  if (username) {
    auto u = TRY(find_user(tx, *username));
    if (!u || u->deleted) return std::vector<User>{};
    return std::vector<User>{*u};
  }
  return find_users_by_email(tx, *email, 5);  // tombstones have no email
}

// Why no link goes to `u` ("" = one does).
Result<std::string> reset_refusal(db::Tx& tx, const Deps& d, const User& u, Millis now) {
  if (u.disabled) return std::string("disabled");
  if (!u.has_password()) return std::string("no-password");  // SSO only: documented, nothing is sent
  if (u.email.empty()) return std::string("no-email");
  if (TRY(live_links(tx, u.id, LinkPurpose::kPasswordReset, now)) >= d.account.max_live_links)
    return std::string("too-many-links");
  return std::string();
}

// Issues a link to `u` and queues its mail; false when the address was refused by the mailer.
Result<bool> send_reset(db::Tx& tx, const Deps& d, const Actor& actor, const User& u, Millis now) {
  auto link = TRY(issue_link(tx, actor, u, LinkPurpose::kPasswordReset, d.account.reset_ttl_ms, now));
  mail::Message m{u.email,
                  "password_reset",
                  "",
                  {{"username", u.username},
                   {"link", link_url(d.auth.public_url, "/reset-password", link.token)},
                   {"requester_ip", actor.client_ip},
                   {"expiry", format_rfc3339(link.expires)}},
                  "password_reset:" + link.id};
  auto queued = d.mailer.enqueue(tx, m, now);
  if (!queued && queued.error().code != ErrorCode::kInvalidArgument) return std::unexpected(queued.error());
  return queued.has_value();
}

Result<Response> reset_request(const DepsPtr& d, Context& ctx) {
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"email", "username"}));
  auto email = TRY(body.opt_str("email", 254));
  auto username = TRY(body.opt_str("username", 64));
  if (email.has_value() == username.has_value())
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-argument", "give either email or username")
                    .with("field", "email"));
  if (!d->mailer.on()) return mail_off();
  TRY_STATUS(rate_limit(*d, ctx));
  Actor actor = ctx.actor();
  Millis now = ctx.now();
  // One write transaction whatever the outcome, and one answer: neither tells whether the account exists.
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    auto users = TRY(named_accounts(tx, username, email));
    nlohmann::json outcome = nlohmann::json::array();
    for (auto& u : users) {
      std::string why = TRY(reset_refusal(tx, *d, u, now));
      if (why.empty() && !TRY(send_reset(tx, *d, actor, u, now))) why = "bad-address";
      outcome.push_back({{"user_id", u.id}, {"sent", why.empty()}, {"reason", why}});
    }
    return audit::record(tx, actor,
                         {"", "auth.password_reset.request", "user", users.size() == 1 ? users[0].id : "",
                          {{"by", username ? "username" : "email"}, {"accounts", outcome}}},
                         now);
  }));
  return Response::json(202, {{"detail",
                               "if an account with a password matches, a link to choose a new password has been "
                               "mailed to its address; it can be used once"},
                              {"expires_in_minutes", d->account.reset_ttl_ms / 60000}});
}

struct LinkHolder {
  std::string token;
  User user;
};

// A body {token} naming a valid link of `purpose` (checked in the request's transaction).
Result<LinkHolder> link_of_body(const Deps& d, Context& ctx, LinkPurpose purpose) {
  TRY_STATUS(rate_limit(d, ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"token"}));
  auto token = TRY(body.str("token", 200));
  auto u = TRY(check_link(ctx.t(), token, purpose, ctx.now()));
  return LinkHolder{token, u};
}

Result<Response> reset_check(const DepsPtr& d, Context& ctx) {
  auto l = TRY(link_of_body(*d, ctx, LinkPurpose::kPasswordReset));
  return Response::json(200, {{"username", l.user.username}});
}

Result<Response> reset_confirm(const DepsPtr& d, Context& ctx) {
  TRY_STATUS(rate_limit(*d, ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"token", "new_password"}));
  auto token = TRY(body.str("token", 200));
  auto next = TRY(body.str("new_password", 1024));
  Millis now = ctx.now();
  auto u = TRY(ctx.db().read([&](db::Tx& tx) { return check_link(tx, token, LinkPurpose::kPasswordReset, now); }));
  TRY_STATUS(check_password(u.username, next, "new_password"));
  std::string hash = crypto::hash_password(next);  // slow: outside the write transaction
  Actor actor = ctx.actor();
  actor.user_id = u.id;
  actor.username = u.username;
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    auto cur = TRY(check_link(tx, token, LinkPurpose::kPasswordReset, now));  // as it is now
    TRY_STATUS(use_link(tx, token, LinkPurpose::kPasswordReset, now));
    TRY_STATUS(set_password(tx, actor, cur, hash, now));
    TRY_STATUS(revoke_all_sessions(tx, actor, cur.id, now));  // whoever knew the old password is out
    return audit::record(tx, actor, {"", "user.password_reset.use", "user", cur.id, {}}, now);
  }));
  return Response::no_content();
}

Result<Response> verify_request(const DepsPtr& d, Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{.owner_id = ctx.who().user_id}));
  auto u = TRY(get_user(ctx.t(), ctx.who().user_id));
  if (u.email.empty())
    return fail(Error(ErrorCode::kFailedPrecondition, "no-email", "set an email address first").with("field", "email"));
  if (u.email_verified) return fail(ErrorCode::kFailedPrecondition, "already-verified", "the email address is verified already");
  if (!d->mailer.on())
    return fail(ErrorCode::kFailedPrecondition, "mail-disabled", "this server sends no mail: addresses cannot be verified");
  if (TRY(live_links(ctx.t(), u.id, LinkPurpose::kVerifyEmail, ctx.now())) >= d->account.max_live_links)
    return fail(ErrorCode::kResourceExhausted, "too-many-links",
                "verification links were sent already; use the latest one or wait until they expire");
  auto link = TRY(issue_link(ctx.t(), ctx.actor(), u, LinkPurpose::kVerifyEmail, d->account.verify_ttl_ms, ctx.now()));
  mail::Message m{u.email,
                  "verify_email",
                  "",
                  {{"username", u.username},
                   {"email", u.email},
                   {"link", link_url(d->auth.public_url, "/verify-email", link.token)},
                   {"expiry", format_rfc3339(link.expires)}},
                  "verify_email:" + link.id};
  auto queued = d->mailer.enqueue(ctx.t(), m, ctx.now());
  if (!queued && queued.error().code == ErrorCode::kInvalidArgument)
    return fail(Error(ErrorCode::kFailedPrecondition, "bad-email", "the email address cannot receive mail; change it")
                    .with("field", "email"));
  if (!queued) return std::unexpected(queued.error());
  return Response::json(202, {{"sent_to", u.email}, {"expires_at", format_rfc3339(link.expires)}});
}

Result<Response> verify_confirm(const DepsPtr& d, Context& ctx) {
  auto [token, u] = TRY(link_of_body(*d, ctx, LinkPurpose::kVerifyEmail));
  TRY_STATUS(use_link(ctx.t(), token, LinkPurpose::kVerifyEmail, ctx.now()));
  Actor actor = ctx.actor();
  actor.user_id = u.id;
  actor.username = u.username;
  TRY_STATUS(set_email_verified(ctx.t(), actor, u.id, true, ctx.now()));
  return Response::json(200, {{"email", u.email}, {"email_verified", true}});
}

const json& token_body() {
  static const json j = obj({{"token", "string"}}, {"token"});
  return j;
}

}  // namespace

void add_account_routes(http::Api& api, const RouteDeps& deps) {
  auto d = std::make_shared<const Deps>(Deps{deps.settings, deps.account, deps.mailer,
                                             std::make_shared<LoginLimiter>(deps.account.reset_ip_per_minute)});
  api.add({"GET", "/api/v1/auth/recovery", Access::open(),
           {"What the sign-in page offers for recovery (password_reset: a link can be mailed)", "auth", nullptr,
            kObj},
           [d](Context&) -> Result<Response> { return Response::json(200, recovery_features(d->mailer)); }});
  api.add({"POST", "/api/v1/auth/password-reset", Access::open(),
           {"Ask for a password-reset link by mail (202 whether or not the account exists)", "auth",
            obj({{"email", "string"}, {"username", "string"}}), kObj, 202},
           std::bind_front(reset_request, d), http::TxMode::kNone});
  api.add({"POST", "/api/v1/auth/password-reset/check", Access::open(),
           {"Whether a password-reset link is still valid (it stays unused)", "auth", token_body(), kObj},
           std::bind_front(reset_check, d)});
  api.add({"POST", "/api/v1/auth/password-reset/confirm", Access::open(),
           {"Choose a new password with a reset link (once); every session of the account ends", "auth",
            obj({{"token", "string"}, {"new_password", "string"}}, {"token", "new_password"}), nullptr, 204},
           std::bind_front(reset_confirm, d), http::TxMode::kNone});
  api.add({"POST", "/api/v1/me/email/verify", Access::require("users", "write"),
           {"Mail me a link that verifies my email address", "auth", nullptr, kObj, 202},
           std::bind_front(verify_request, d)});
  api.add({"POST", "/api/v1/auth/verify-email", Access::open(),
           {"Verify an email address with the mailed link (once)", "auth", token_body(), kObj},
           std::bind_front(verify_confirm, d)});
}

}  // namespace detail
}  // namespace atrium::identity
