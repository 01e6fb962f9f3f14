// HTTP routes of mfa/: enrolment and status for the signed-in user, the login's second step,
// the orgs' policies, and the instance admin's reset for a lost device.
#include <functional>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "http/forwarded.hpp"
#include "mfa/mfa.hpp"
#include "mfa/store.hpp"

namespace atrium::mfa {
namespace {

using http::Access;
using http::Context;
using http::Response;
using http::Target;
using nlohmann::json;

const json& kObj = http::object_schema();

json obj(std::initializer_list<std::pair<const char*, const char*>> props, std::vector<std::string> required = {}) {
  json p = json::object();
  for (auto& [name, type] : props) p[name] = {{"type", type}};
  json s = {{"type", "object"}, {"properties", p}};
  if (!required.empty()) s["required"] = required;
  return s;
}

// Answers that carry a secret shown once are never cached.
Response no_store(Response r) {
  r.header("Cache-Control", "no-store");
  return r;
}

// The caller's own second factor: any signed-in user, a token only with users:read / users:write.
Status self(Context& ctx) { return ctx.authorize(Target{.owner_id = ctx.who().user_id}); }

std::unexpected<Error> wrong_code(const char* field) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-mfa-code", "the code is wrong or was already used")
                  .with("field", field));
}

std::unexpected<Error> not_enabled() {
  return fail(ErrorCode::kFailedPrecondition, "mfa-not-enabled", "two-factor authentication is not on");
}

// The second factor a body offers: `code` (TOTP) or `recovery_code`, exactly one.
struct Offered {
  Proof kind;
  std::string code;
  const char* field;
};
Result<Offered> offered(const http::JsonBody& body) {
  auto code = TRY(body.opt_str("code", 16));
  auto recovery = TRY(body.opt_str("recovery_code", 64));
  if (code.has_value() == recovery.has_value())
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "send either `code` or `recovery_code`")
                    .with("field", "code"));
  if (code) return Offered{Proof::kTotp, *code, "code"};
  return Offered{Proof::kRecoveryCode, *recovery, "recovery_code"};
}

// ---- the signed-in user's own second factor

Result<Response> me_status(const Service& m, Context& ctx) {
  TRY_STATUS(self(ctx));
  auto j = TRY(m.status(ctx.t(), ctx.who().user_id));
  j["enrollment_required"] = ctx.who().mfa_enrollment_required;
  return http::with_etag(Response::json(200, j), j);
}

// What a re-authentication needs to know before checking the password (outside any transaction).
struct Before {
  identity::User u;
  bool required = false, locked = false;
};
Result<Before> load_before(const Service& m, Context& ctx, const std::string& client, Millis now) {
  return ctx.db().read([&](db::Tx& tx) -> Result<Before> {
    auto u = TRY(identity::get_user(tx, ctx.who().user_id));
    bool required = TRY(m.required(tx, u.id));
    bool locked = TRY(identity::login_locked(tx, u, client, now));
    return Before{u, required, locked};
  });
}

std::unexpected<Error> wrong_password() {
  return fail(Error(ErrorCode::kInvalidArgument, "wrong-password", "the password is wrong").with("field", "password"));
}

// Starting enrolment takes the current password: a stolen session must not lock its owner out by
// enrolling an app of its own. A wrong one counts toward the lockout like one at sign-in. Accounts
// without a password sign in through their provider, which handles the second factor.
Result<Response> totp_begin(const Service& m, const identity::AuthSettings& auth, Context& ctx) {
  TRY_STATUS(self(ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"password"}));
  auto password = TRY(body.str("password", 1024));
  Actor actor = ctx.actor();
  Millis now = ctx.now();
  auto before = TRY(load_before(m, ctx, http::address_key(actor.client_ip), now));
  if (before.u.password_hash.empty())
    return fail(ErrorCode::kFailedPrecondition, "mfa-provider-account",
                "this account signs in through its identity provider, which handles the second factor");
  bool password_ok = crypto::verify_password(before.u.password_hash, password);  // slow: outside any transaction
  if (before.locked)
    return fail(ErrorCode::kResourceExhausted, "rate-limited", "too many failed attempts from your address; wait");
  json out;
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    if (!password_ok) return identity::record_login_failure(tx, actor, before.u, auth, now);
    out = TRY(m.begin(tx, actor, before.u, now));
    return {};
  }));
  if (!password_ok) return wrong_password();
  return no_store(Response::json(200, out));
}

Result<Response> totp_confirm(const Service& m, Context& ctx) {
  TRY_STATUS(self(ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"code"}));
  auto code = TRY(body.str("code", 16));
  return no_store(Response::json(200, TRY(m.confirm(ctx.t(), ctx.actor(), ctx.who().user_id, code, ctx.now()))));
}

Result<Response> recovery_replace(const Service& m, Context& ctx) {
  TRY_STATUS(self(ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"code"}));
  auto code = TRY(body.str("code", 16));
  if (!TRY(m.enabled(ctx.t(), ctx.who().user_id))) return not_enabled();
  if (!TRY(m.check(ctx.t(), ctx.who().user_id, Proof::kTotp, code, ctx.now()))) return wrong_code("code");
  return no_store(Response::json(200, TRY(m.new_recovery_codes(ctx.t(), ctx.actor(), ctx.who().user_id, ctx.now()))));
}

// Turning it off takes the password and a second factor; wrong ones count toward the account's
// lockout for this client, like wrong passwords at sign-in.
Result<Response> disable(const Service& m, const identity::AuthSettings& auth, Context& ctx) {
  TRY_STATUS(self(ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"password", "code", "recovery_code"}));
  auto password = TRY(body.str("password", 1024));
  auto proof = TRY(offered(body));
  Actor actor = ctx.actor();
  const std::string client = http::address_key(actor.client_ip);
  Millis now = ctx.now();
  auto before = TRY(load_before(m, ctx, client, now));
  if (before.required)
    return fail(ErrorCode::kPermissionDenied, "mfa-required",
                "two-factor authentication is required for this account by policy and cannot be turned off; for a "
                "lost device, an instance admin can reset it");
  bool password_ok = crypto::verify_password(before.u.password_hash, password);  // slow: outside any transaction
  if (before.locked)
    return fail(ErrorCode::kResourceExhausted, "rate-limited", "too many failed attempts from your address; wait");
  enum class Outcome { kOff, kWrongPassword, kWrongCode, kNotEnabled } outcome = Outcome::kOff;
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    if (!TRY(m.enabled(tx, before.u.id)))
      outcome = Outcome::kNotEnabled;
    else if (!password_ok)
      outcome = Outcome::kWrongPassword;
    else if (!TRY(m.check(tx, before.u.id, proof.kind, proof.code, now)))
      outcome = Outcome::kWrongCode;
    else
      TRY_STATUS(m.turn_off(tx, actor, before.u.id, "mfa.disable", now));
    if (outcome == Outcome::kWrongPassword || outcome == Outcome::kWrongCode)
      TRY_STATUS(identity::record_login_failure(tx, actor, before.u, auth, now));
    return {};
  }));
  switch (outcome) {
    case Outcome::kOff: return Response::no_content();
    case Outcome::kWrongPassword: return wrong_password();
    case Outcome::kWrongCode: return wrong_code(proof.field);
    case Outcome::kNotEnabled: return not_enabled();
  }
  return internal("unreachable");
}

// ---- the login's second step

Result<Response> login_step(const Service& m, const identity::AuthSettings& auth, identity::LoginLimiter& limiter,
                            Context& ctx) {
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"mfa_ticket", "code", "recovery_code"}));
  auto ticket = TRY(body.str("mfa_ticket", 128));
  auto proof = TRY(offered(body));
  Millis now = ctx.now();
  if (auto wait = limiter.check_ip(http::address_key(ctx.req.remote_ip), now))
    return fail(Error(ErrorCode::kResourceExhausted, "rate-limited",
                      "too many sign-in attempts from your address; wait " + std::to_string(wait) + " s")
                    .with("retry_after_s", wait));
  Actor actor = ctx.actor();
  const std::string client = http::address_key(actor.client_ip);
  // One answer for an unknown, expired, used, dead or foreign ticket; it changes nothing.
  std::optional<Error> refused;
  auto bad_ticket = Error(ErrorCode::kUnauthenticated, "invalid-mfa-ticket",
                          "this sign-in step expired or is no longer valid: sign in with your password again");
  identity::User user;
  identity::NewSession ns;
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) -> Status {
    auto t = TRY(store::ticket_by_hash(tx, crypto::sha256_hex(ticket)));
    if (!t || t->used || t->expires <= now || t->failures >= m.settings().ticket_max_failures || t->client != client) {
      refused = bad_ticket;
      return {};
    }
    user = TRY(identity::get_user(tx, t->user_id));
    if (user.disabled) {
      refused = bad_ticket;
      return {};
    }
    actor.user_id = user.id;
    actor.username = user.username;
    bool ok = !TRY(identity::login_locked(tx, user, client, now)) && TRY(m.check(tx, user.id, proof.kind, proof.code, now));
    if (!ok) {
      auto failures = TRY(store::ticket_failed(tx, t->id));
      TRY_STATUS(identity::record_login_failure(tx, actor, user, auth, now));
      auto left = std::max<std::int64_t>(0, m.settings().ticket_max_failures - failures);
      refused = Error(ErrorCode::kUnauthenticated, "invalid-mfa-code", "the code is wrong or was already used")
                    .with("field", proof.field)
                    .with("attempts_left", left);
      return {};
    }
    TRY_STATUS(store::ticket_used(tx, t->id, now));
    json method = proof.kind == Proof::kTotp ? "totp" : "recovery_code";
    TRY_STATUS(audit::record(tx, actor, {"", "mfa.login", "user", user.id, {{"method", method}}}, now));
    ns = TRY(identity::open_session(tx, actor, user, ctx.req, auth, now));
    return {};
  }));
  if (refused) return fail(std::move(*refused));
  return identity::session_answer(auth, ctx.req, user, ns);
}

// ---- the instance admin's reset

Result<Response> admin_reset(const Service& m, Context& ctx) {
  TRY_STATUS(ctx.authorize(Target{}));
  auto u = TRY(identity::find_user(ctx.t(), ctx.param("id")));
  if (!u) return not_found("user");
  if (!TRY(m.turn_off(ctx.t(), ctx.actor(), u->id, "mfa.admin_reset", ctx.now()))) return not_enabled();
  return Response::no_content();
}

// ---- an org's policy

json policy_json(const std::string& org_id, const store::OrgPolicy& p) {
  return {{"org_id", org_id},
          {"require_mfa", p.require_mfa},
          {"updated_at", p.version ? json(format_rfc3339(p.updated)) : json(nullptr)},
          {"etag", http::etag_of(p.version)}};
}

Result<identity::Org> org_of(Context& ctx) {
  auto org = TRY(identity::get_org(ctx.t(), ctx.param("org")));
  TRY_STATUS(ctx.authorize(Target{.org_id = org.id}));  // 404 for strangers, before any other answer
  return org;
}

Result<Response> policy_show(Context& ctx) {
  auto org = TRY(org_of(ctx));
  auto j = policy_json(org.id, TRY(store::org_policy(ctx.t(), org.id)));
  return http::with_etag(Response::json(200, j), j);
}

Result<Response> policy_update(Context& ctx) {
  auto org = TRY(org_of(ctx));
  auto body = TRY(ctx.json());
  TRY_STATUS(body.only({"require_mfa"}));
  auto require = TRY(body.opt_bool("require_mfa"));
  if (!require)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "require_mfa (true or false) is required")
                    .with("field", "require_mfa"));
  auto p = TRY(store::org_policy(ctx.t(), org.id));
  TRY_STATUS(ctx.check_if_match(http::etag_of(p.version)));
  if (!TRY(store::set_org_policy(ctx.t(), org.id, *require, p.version, ctx.now())))
    return fail(ErrorCode::kAborted, "concurrent-change", "the policy changed meanwhile; retry");
  TRY_STATUS(audit::record(ctx.t(), ctx.actor(),
                           {org.id, "org.mfa_policy_update", "org", org.id, {{"require_mfa", *require}}}, ctx.now()));
  auto j = policy_json(org.id, TRY(store::org_policy(ctx.t(), org.id)));
  return http::with_etag(Response::json(200, j), j);
}

// Routes a session held to enrolment may call.
http::Route during_enrollment(http::Route r) {
  r.during_mfa_enrollment = true;
  return r;
}

}  // namespace

void add_routes(http::Api& api, RouteDeps deps) {
  const Service& m = deps.mfa;
  const json codes = {{"type", "object"},
                      {"properties", {{"recovery_codes", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}};
  api.add(during_enrollment({"GET", "/api/v1/me/mfa", Access::require("users", "read"),
                             {"My two-factor authentication: enabled, since when, recovery codes left, required",
                              "mfa", nullptr, kObj},
                             std::bind_front(me_status, std::cref(m))}));
  api.add(during_enrollment(
      {"POST", "/api/v1/me/mfa/totp", Access::require("users", "write"),
       {"Start enrolling an authenticator app (current password): a new secret, its otpauth:// URI and QR code "
        "(pending until confirmed)",
        "mfa", obj({{"password", "string"}}, {"password"}),
        obj({{"secret", "string"}, {"otpauth_uri", "string"}, {"qr_svg", "string"}})},
       std::bind_front(totp_begin, std::cref(m), std::cref(deps.auth)), http::TxMode::kNone}));
  api.add(during_enrollment(
      {"POST", "/api/v1/me/mfa/totp/confirm", Access::require("users", "write"),
       {"Turn two-factor authentication on with a code from the app; answers the recovery codes (shown once)",
        "mfa", obj({{"code", "string"}}, {"code"}), codes},
       std::bind_front(totp_confirm, std::cref(m))}));
  api.add({"POST", "/api/v1/me/mfa/recovery-codes", Access::require("users", "write"),
           {"Replace my recovery codes (the old ones end); answers the new ones (shown once)", "mfa",
            obj({{"code", "string"}}, {"code"}), codes},
           std::bind_front(recovery_replace, std::cref(m))});
  api.add({"DELETE", "/api/v1/me/mfa", Access::require("users", "write"),
           {"Turn two-factor authentication off (password and a code or recovery code; refused where policy "
            "requires it)",
            "mfa", obj({{"password", "string"}, {"code", "string"}, {"recovery_code", "string"}}, {"password"}),
            nullptr, 204},
           std::bind_front(disable, std::cref(m), std::cref(deps.auth)), http::TxMode::kNone});
  api.add({"POST", "/api/v1/auth/login/mfa", Access::open(),
           {"Second sign-in step: the ticket of a password login and a TOTP code or a recovery code; sets the "
            "session and CSRF cookies",
            "auth", obj({{"mfa_ticket", "string"}, {"code", "string"}, {"recovery_code", "string"}}, {"mfa_ticket"}),
            kObj},
           std::bind_front(login_step, std::cref(m), std::cref(deps.auth), std::ref(deps.limiter)),
           http::TxMode::kNone});
  api.add({"DELETE", "/api/v1/users/{id}/mfa", Access::require("users", "admin"),
           {"Turn a user's two-factor authentication off (instance admin; a lost device)", "mfa", nullptr, nullptr,
            204},
           std::bind_front(admin_reset, std::cref(m))});
  api.add({"GET", "/api/v1/orgs/{org}/mfa-policy", Access::require("orgs", "read"),
           {"The org's two-factor policy", "mfa", nullptr, kObj}, policy_show});
  api.add({"PUT", "/api/v1/orgs/{org}/mfa-policy", Access::require("orgs", "write"),
           {"Require two-factor authentication of the org's members (org admin; If-Match)", "mfa",
            obj({{"require_mfa", "boolean"}}, {"require_mfa"}), kObj},
           policy_update});
}

}  // namespace atrium::mfa
