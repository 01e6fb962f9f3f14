// One SMTP conversation through libcurl (blocking: run it on the worker pool). STARTTLS or
// implicit TLS (smtps://), AUTH when a user is set, the server's certificate checked.
#pragma once

#include <string>

#include "core/error.hpp"

namespace atrium::mail {

struct SmtpSettings {
  std::string url;                   // smtp://host:port or smtps://host:port
  std::string starttls = "required";  // required | opportunistic | off
  std::string username, password;
  std::string ca_file;               // "" = the system's CA bundle
  int timeout_s = 30;
};

// Sends `message` (the whole RFC 5322 text) from `from` to `to`. Errors, with the server's last
// reply as detail (never credentials): a 5xx reply is failed_precondition (permanent: the task is
// dead at once), a 4xx reply, a refused or dropped connection, a timeout or a TLS failure is
// unavailable (transient: retried).
Status smtp_send(const SmtpSettings& s, const std::string& from, const std::string& to, const std::string& message);

}  // namespace atrium::mail
