// mail's tables: users' notification preferences and locale, and the log of mails sent (so a
// "mail.send" task that runs again after its SMTP conversation succeeded does not send twice).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::mail {

// What a user may be mailed about, each on by default (docs/mail.md).
inline const std::vector<std::string>& notification_kinds() {
  static const std::vector<std::string> k = {"job_end", "env_cull_warning", "quota_near_limit"};
  return k;
}

struct Preferences {
  std::string locale;                  // "" = the server's default
  std::map<std::string, bool> email;   // kind -> mail on; every kind of notification_kinds()
  std::int64_t version = 0;            // 0 = never set
};

Result<Preferences> preferences(db::Tx& tx, const std::string& user_id);
// Writes them (all kinds) and returns them with the new version.
Result<Preferences> put_preferences(db::Tx& tx, const std::string& user_id, Preferences p, Millis now);
// Whether mail of `kind` goes to the user, and in which locale ("" = default).
Result<std::optional<std::string>> mail_locale_if_wanted(db::Tx& tx, const std::string& user_id,
                                                          const std::string& kind);

// The sent log, by Message-ID.
Result<bool> was_sent(db::Tx& tx, const std::string& message_id);
Status record_sent(db::Tx& tx, const std::string& message_id, const std::string& task_id, Millis now);
Status forget_sent_before(db::Tx& tx, Millis before);

}  // namespace atrium::mail
