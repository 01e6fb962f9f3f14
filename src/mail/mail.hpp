// Outbound mail: a message is rendered from a template (plain text and HTML, per locale) and sent
// over SMTP (STARTTLS or implicit TLS, with auth) by a durable task ("mail.send"), so a mail queued
// with a change is sent once that change commits, retried while the SMTP server is down, and never
// lost by a restart. Without an SMTP server configured, nothing is queued and enabled() is false
// (callers then say so: e.g. a password reset link is shown to the admin instead).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::mail {

struct Message {
  std::string to;            // one address, checked (no CR/LF, one @)
  std::string template_name; // "invitation", "password_reset", "verify_email", "job_ended", ...
  std::string locale;        // "" = the server's default locale; unknown locales fall back to it
  nlohmann::json vars = nlohmann::json::object();  // values the template names ({{name}})
  std::string key;           // idempotency key (the task's): the same key never sends twice
};

// Whether an SMTP server is configured ([mail] smtp_url).
bool enabled();

// Queues `m` in the caller's transaction (a "mail.send" task); returns the task id, or "" when mail is
// not enabled. Refuses a bad address or an unknown template (kInvalidArgument).
Result<std::string> enqueue(db::Tx& tx, const Message& m, Millis now);

}  // namespace atrium::mail
