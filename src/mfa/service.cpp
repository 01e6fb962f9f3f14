#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "http/forwarded.hpp"
#include "mfa/mfa.hpp"
#include "mfa/store.hpp"
#include "mfa/totp.hpp"

namespace atrium::mfa {

using nlohmann::json;

namespace {
constexpr std::size_t kRecoveryChars = 16;  // base32: 80 bits, shown as xxxx-xxxx-xxxx-xxxx

// A recovery code as typed: case, spaces and dashes do not matter.
std::string normalize_recovery(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return out;
}
}  // namespace

Service::Service(Settings s)
    : s_(std::move(s)),
      seal_key_(crypto::hmac_sha256(s_.key, "atrium mfa: totp secrets v1")),
      code_key_(crypto::hmac_sha256(s_.key, "atrium mfa: recovery codes v1")) {}

// XChaCha20-Poly1305 with the user's id as associated data: a sealed secret copied to another
// user's row does not open.
std::string Service::seal(std::string_view secret, const std::string& user_id) const {
  return crypto::base64(crypto::aead_seal(seal_key_, secret, user_id));
}

Result<std::string> Service::open(std::string_view sealed, const std::string& user_id) const {
  auto raw = crypto::base64_decode(sealed);
  if (!raw) return internal("a stored TOTP secret is damaged");
  auto secret = crypto::aead_open(seal_key_, *raw, user_id);
  if (!secret)
    return internal("a stored TOTP secret does not open with this instance's key (was the data master key replaced?)");
  return std::move(*secret);
}

std::string Service::code_hash(std::string_view code) const {
  return crypto::hex(crypto::hmac_sha256(code_key_, normalize_recovery(code)));
}

Result<std::vector<std::string>> Service::fresh_recovery_codes(db::Tx& tx, const std::string& user_id,
                                                               Millis now) const {
  std::vector<std::string> codes, hashes;
  for (int i = 0; i < s_.recovery_codes; ++i) {
    std::string c = normalize_recovery(base32_encode(crypto::random_bytes(10)).substr(0, kRecoveryChars));
    hashes.push_back(code_hash(c));
    codes.push_back(c.substr(0, 4) + "-" + c.substr(4, 4) + "-" + c.substr(8, 4) + "-" + c.substr(12, 4));
  }
  TRY_STATUS(store::replace_recovery_codes(tx, user_id, hashes, now));
  return codes;
}

Result<bool> Service::required(db::Tx& tx, const std::string& user_id) const {
  if (s_.require_for_admins) {
    auto p = TRY(identity::load_principal(tx, TRY(identity::get_user(tx, user_id))));
    for (auto& b : p.bindings)
      if ((b.org_id.empty() && b.role == "admin") || b.role == "org-admin") return true;
  }
  return store::any_org_requires(tx, TRY(identity::user_org_ids(tx, user_id)));
}

Result<bool> Service::enabled(db::Tx& tx, const std::string& user_id) const {
  auto t = TRY(store::find_totp(tx, user_id));
  return t && t->active;
}

Result<json> Service::status(db::Tx& tx, const std::string& user_id) const {
  auto t = TRY(store::find_totp(tx, user_id));
  bool on = t && t->active;
  json j = {{"enabled", on},
            {"pending", t && !t->active},
            {"enabled_at", on && t->enabled ? json(format_rfc3339(*t->enabled)) : json(nullptr)},
            {"recovery_codes_left", on ? TRY(store::recovery_codes_left(tx, user_id)) : 0},
            {"required", TRY(required(tx, user_id))},
            {"etag", http::etag_of(t ? t->version : 0)}};
  return j;
}

Result<json> Service::begin(db::Tx& tx, const Actor& actor, const identity::User& u, Millis now) const {
  auto t = TRY(store::find_totp(tx, u.id));
  if (t && t->active)
    return fail(ErrorCode::kFailedPrecondition, "mfa-already-enabled",
                "two-factor authentication is already on: turn it off first to enrol a new device");
  std::string secret = crypto::random_bytes(kSecretBytes);
  TRY_STATUS(store::put_pending(tx, u.id, seal(secret, u.id), now));
  TRY_STATUS(audit::record(tx, actor, {"", "mfa.totp_begin", "user", u.id, {}}, now));
  std::string uri = otpauth_uri(u.username, secret);
  auto svg = qr_svg(uri);
  if (!svg) return internal("could not make the QR code");
  return json{{"secret", base32_encode(secret)}, {"otpauth_uri", uri}, {"qr_svg", *svg}};
}

Result<json> Service::confirm(db::Tx& tx, const Actor& actor, const std::string& user_id, const std::string& code,
                              Millis now) const {
  auto t = TRY(store::find_totp(tx, user_id));
  if (!t || t->active)
    return fail(ErrorCode::kFailedPrecondition, t ? "mfa-already-enabled" : "mfa-not-pending",
                t ? "two-factor authentication is already on"
                  : "no enrolment is pending: start one with POST /api/v1/me/mfa/totp");
  auto secret = TRY(open(t->secret_sealed, user_id));
  auto step = verify(secret, code, now, 0);
  if (!step)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-mfa-code",
                      "the code does not match: check the device's clock and enter the current code")
                    .with("field", "code"));
  TRY_STATUS(store::activate(tx, user_id, *step, now));
  auto codes = TRY(fresh_recovery_codes(tx, user_id, now));
  TRY_STATUS(store::release_sessions(tx, user_id));  // a session held to enrolment is now a full one
  TRY_STATUS(audit::record(tx, actor, {"", "mfa.enable", "user", user_id, {{"method", "totp"}}}, now));
  return json{{"enabled", true}, {"recovery_codes", codes}};
}

Result<bool> Service::check(db::Tx& tx, const std::string& user_id, Proof kind, const std::string& code,
                            Millis now) const {
  auto t = TRY(store::find_totp(tx, user_id));
  if (!t || !t->active) return false;
  if (kind == Proof::kRecoveryCode) {
    if (normalize_recovery(code).size() != kRecoveryChars) return false;
    return store::spend_recovery_code(tx, user_id, code_hash(code), now);
  }
  auto secret = TRY(open(t->secret_sealed, user_id));
  auto step = verify(secret, code, now, t->last_step);
  if (!step) return false;
  return store::spend_step(tx, user_id, *step);  // false: a concurrent request spent it first
}

Result<json> Service::new_recovery_codes(db::Tx& tx, const Actor& actor, const std::string& user_id,
                                         Millis now) const {
  auto codes = TRY(fresh_recovery_codes(tx, user_id, now));
  TRY_STATUS(audit::record(tx, actor, {"", "mfa.recovery_codes_replace", "user", user_id, {}}, now));
  return json{{"recovery_codes", codes}};
}

Result<bool> Service::turn_off(db::Tx& tx, const Actor& actor, const std::string& user_id, const char* action,
                               Millis now) const {
  if (!TRY(store::remove_all(tx, user_id))) return false;
  TRY_STATUS(audit::record(tx, actor, {"", action, "user", user_id, {}}, now));
  return true;
}

Result<json> Service::issue_ticket(db::Tx& tx, const Actor& actor, const identity::User& u, Millis now) const {
  std::string secret = crypto::base64url(crypto::random_bytes(32));
  store::Ticket t{new_id("mfat", now), u.id, http::address_key(actor.client_ip), now + s_.ticket_ttl_ms};
  TRY_STATUS(store::insert_ticket(tx, t, crypto::sha256_hex(secret), now));
  TRY_STATUS(audit::record(tx, actor, {"", "mfa.challenge", "user", u.id, {}}, now));
  return json{{"mfa_required", true},
              {"mfa_ticket", secret},
              {"expires_at", format_rfc3339(t.expires)},
              {"methods", {"totp", "recovery_code"}}};
}

identity::SecondFactor Service::second_factor() const {
  identity::SecondFactor f;
  f.challenge = [this](db::Tx& tx, const Actor& actor, const identity::User& u,
                       Millis now) -> Result<std::optional<json>> {
    auto t = TRY(store::find_totp(tx, u.id));
    if (!t || !t->active) return std::optional<json>{};
    return std::optional<json>{TRY(issue_ticket(tx, actor, u, now))};
  };
  f.session_made = [this](db::Tx& tx, const Actor&, const identity::User& u, const std::string& session_id,
                          Millis now) -> Result<json> {
    if (!TRY(required(tx, u.id))) return json::object();
    TRY_STATUS(store::hold_session(tx, session_id, u.id, now));
    return json{{"mfa_enrollment_required", true}};
  };
  return f;
}

Result<bool> Service::enrollment_only(db::Tx& tx, const std::string& session_id) const {
  return store::session_held(tx, session_id);
}

}  // namespace atrium::mfa
