#include "mail/config.hpp"

#include "mail/message.hpp"
#include "mail/templates.hpp"

namespace atrium::mail {
namespace {

Status check(Config& c) {
  if (!has_locale(c.default_locale))
    return invalid("mail.default_locale: no templates for '" + c.default_locale + "'");
  if (c.smtp_url.empty()) return {};
  if (!c.smtp_url.starts_with("smtp://") && !c.smtp_url.starts_with("smtps://"))
    return invalid("mail.smtp_url: '" + c.smtp_url + "' must start with smtp:// or smtps://");
  if (c.smtp_url.find_first_of("\r\n \t") != std::string::npos)
    return invalid("mail.smtp_url: no spaces or line breaks");
  if (c.from.empty()) return invalid("mail.from: the sender's address is needed when mail.smtp_url is set");
  if (auto st = check_address(c.from); !st) return invalid("mail.from: " + st.error().detail);
  if (auto st = check_header_value(c.from_name); !st) return invalid("mail.from_name: " + st.error().detail);
  if (!c.password_file.empty() && c.username.empty())
    return invalid("mail.password_file needs mail.username");
  return {};
}

}  // namespace

void declare(config::Registry& r, Config& c) {
  r.section("mail", c)
      .string("smtp_url", "SMTP server: smtp://host:587 or smtps://host:465 (\"\" = no outbound mail)",
              &Config::smtp_url)
      .string("starttls", "STARTTLS on smtp://: required, opportunistic or off", &Config::starttls,
              {"required", "opportunistic", "off"})
      .string("username", "SMTP AUTH user (\"\" = no AUTH)", &Config::username)
      .path("password_file", "file holding the SMTP password (read at startup)", &Config::password_file)
      .path("ca_file", "PEM CA bundle that the SMTP server's certificate is checked against (\"\" = system)",
            &Config::ca_file)
      .string("from", "sender address (envelope and From)", &Config::from)
      .string("from_name", "sender display name", &Config::from_name)
      .string("default_locale", "locale of mails to users who chose none", &Config::default_locale)
      .integer("timeout_s", "longest SMTP conversation in seconds", &Config::timeout_s, 1, 600)
      .integer("quota_check_minutes", "how often quotas are checked for the 90 % notice", &Config::quota_check_minutes,
               1, 24 * 60)
      .check(check);
}

}  // namespace atrium::mail
