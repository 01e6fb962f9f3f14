// Outbound mail: a message is rendered from a template (plain text and HTML, per locale) and sent
// over SMTP (STARTTLS or implicit TLS, with auth) by a durable task ("mail.send"), so a mail queued
// with a change is sent once that change commits, retried while the SMTP server is down, and never
// lost by a restart. Without an SMTP server configured, nothing is queued and enabled() is false
// (callers then say so: e.g. a password reset link is shown to the admin instead).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "mail/config.hpp"
#include "mail/smtp.hpp"
#include "tasks/tasks.hpp"

namespace atrium::mail {

struct Message {
  std::string to;            // one address, checked (no CR/LF, one @)
  std::string template_name; // "invitation", "password_reset", "verify_email", "job_ended", ...
  std::string locale;        // "" = the server's default locale; unknown locales fall back to it
  nlohmann::json vars = nlohmann::json::object();  // values the template names ({{name}})
  std::string key;           // idempotency key (the task's): the same key never sends twice
};
// A var "link" that starts with "/" is a path on this server: it is made absolute with the public
// URL when the mail is sent (as is {{site_url}}), so mails queued before the server knew its own
// address (bound to port 0, jobs that ended while it was down) still link to it.

// Whether an SMTP server is configured ([mail] smtp_url).
bool enabled();

// Queues `m` in the caller's transaction (sealed with Settings::key; the payload is cleared once sent) (a "mail.send" task); returns the task id, or "" when mail is
// not enabled. Refuses a bad address, CR/LF in a header, an unknown template or a variable the
// template needs but `m.vars` lacks (kInvalidArgument), so nothing bad waits in the queue.
Result<std::string> enqueue(db::Tx& tx, const Message& m, Millis now);

// ---- wiring (app/)

std::vector<db::Migration> migrations();

struct Settings {
  SmtpSettings smtp;  // smtp.url "" = mail disabled
  std::string from, from_name = "Atrium", default_locale = "en";
  // The server's public URL (known once the server is bound): every mail gets it as {{site_url}}.
  std::function<std::string()> public_url;
  // The address of a user ("" = none: nothing is sent to them); identity's, wired by app/.
  std::function<Result<std::string>(db::Tx&, const std::string& user_id)> email_of;
  // 32 bytes (derived from the data master key by app/): seals a queued mail's payload (address,
  // template, variables: reset and invitation links are bearer secrets) in the `tasks` table, so a
  // copy of the database alone sends nothing anyone can use. "" = stored in plain text (tests).
  std::string key;
};
// [mail] as settings: the password file is read here (a missing or unreadable one: invalid_argument).
Result<Settings> settings_from(const Config& c);
// Once at startup, before any enqueue or send.
void configure(db::Database& db, const Clock& clock, Settings s);
// The "mail.send" handler: renders and sends one queued mail (register it with tasks::Queue::handle).
tasks::Handler send_handler();
inline constexpr const char* kSendKind = "mail.send";

}  // namespace atrium::mail
