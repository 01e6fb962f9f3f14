// The [mail] section: the SMTP server outbound mail goes through, the sender, the default locale.
#pragma once

#include <string>

#include "core/config.hpp"

namespace atrium::mail {

struct Config {
  std::string smtp_url;                // smtp://host:587 (STARTTLS per `starttls`) or smtps://host:465; "" = no mail
  std::string starttls = "required";   // required | opportunistic | off (smtp:// only)
  std::string username;                // "" = no AUTH
  std::string password_file;           // the SMTP password, read once at startup (never in the config itself)
  std::string ca_file;                 // PEM bundle to trust instead of the system's (a private CA)
  std::string from;                    // the envelope and From address: atrium@example.org
  std::string from_name = "Atrium";
  std::string default_locale = "en";
  int timeout_s = 30;                  // one SMTP conversation
  int quota_check_minutes = 15;        // how often quotas are looked at for the 90 % notice
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::mail
