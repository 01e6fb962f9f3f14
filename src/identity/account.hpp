// Account recovery and the administration of users: one-time links (password reset, email
// verification) that are random, short-lived, stored hashed and used once; what happens to an
// account that is disabled or deleted (sessions and tokens end, its jobs and environments stop).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "identity/store.hpp"
#include "mail/mail.hpp"

namespace atrium::identity {

// The mail module as identity uses it (wired in app/ to mail::enabled and mail::enqueue); unset
// functions mean mail is off: reset links are then only handed to an admin.
struct Mailer {
  std::function<bool()> enabled;
  std::function<Result<std::string>(db::Tx&, const mail::Message&, Millis)> enqueue;
  bool on() const { return enabled && enqueue && enabled(); }
};

// [auth] keys of account recovery (identity/config.cpp).
struct AccountSettings {
  Millis reset_ttl_ms = 30LL * 60 * 1000;        // a password-reset link
  Millis verify_ttl_ms = 48LL * 3600 * 1000;     // an email-verification link
  int max_live_links = 3;                        // per user and purpose; more requests send nothing
  int reset_ip_per_minute = 10;                  // password-reset requests per client IP
};

// What the sign-in page needs to know about recovery (merged into the providers discovery answer).
nlohmann::json recovery_features(const Mailer& mailer);
bool password_reset_available(const Mailer& mailer);

enum class LinkPurpose { kPasswordReset, kVerifyEmail };

struct IssuedLink {
  std::string id;     // art_...: audited, never the secret
  std::string token;  // "<id>.<secret>": shown or mailed once
  Millis expires = 0;
};

// How many links of `purpose` the user holds that are neither used nor expired.
Result<std::int64_t> live_links(db::Tx& tx, const std::string& user_id, LinkPurpose purpose, Millis now);
// Creates a one-time link for `u` (its email is remembered: a verification holds for that address
// only). Audited without the secret.
Result<IssuedLink> issue_link(db::Tx& tx, const Actor& actor, const User& u, LinkPurpose purpose, Millis ttl,
                              Millis now);
// The user a link belongs to when it is valid now (its secret compared in constant time, unused,
// unexpired, the user neither disabled nor deleted); otherwise kInvalidArgument "invalid-link" — one
// answer for a wrong, used and expired link.
Result<User> check_link(db::Tx& tx, std::string_view token, LinkPurpose purpose, Millis now);
// Marks the link used (once: a second use fails as check_link does) and every other live link of
// its user and purpose with it.
Status use_link(db::Tx& tx, std::string_view token, LinkPurpose purpose, Millis now);

Status set_email_verified(db::Tx& tx, const Actor& actor, const std::string& user_id, bool verified, Millis now);
// Ends every session and API token of the user at once (disable, delete).
Status end_access(db::Tx& tx, const std::string& user_id, Millis now);
// Tombstones the user: the row stays (audit events, projects and jobs keep pointing to its id) but
// its username becomes "deleted:<id>" and its email "", so both are free again; memberships, admin
// rights and open links go; disabled for good. Refuses the last org-admin of an org.
Status delete_user(db::Tx& tx, const Actor& actor, const User& u, Millis now);

// The jobs and environments of a user that is disabled or deleted stop (wired in app/ to the jobs
// and envs services); runs in the same transaction.
using EndUserWork = std::function<Status(db::Tx&, const Actor&, const std::string& user_id, Millis now)>;

// The absolute link a browser opens for `token` (public_url + path + "#" + token: a fragment is
// never sent to the server by the page load, nor kept in its logs).
std::string link_url(const std::string& public_url, std::string_view path, std::string_view token);

}  // namespace atrium::identity
