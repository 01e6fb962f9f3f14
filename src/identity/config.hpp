// The [auth] section: sessions, login throttling, invitations (turned into AuthSettings).
#pragma once

#include "core/config.hpp"

namespace atrium::identity {

struct Config {
  int session_ttl_hours = 12;
  int session_idle_minutes = 120;
  int login_max_failures = 5;     // before the account locks
  int login_lockout_base_s = 30;  // doubles with every further failure, capped at 1 h
  int login_ip_per_minute = 30;   // login attempts per client IP per minute
  int invite_ttl_hours_max = 24 * 30;
  bool require_mfa_for_admins = false;  // instance and org admins must enrol a second factor (mfa/)
  int password_reset_ttl_s = 30 * 60;     // a password-reset link's lifetime
  int email_verify_ttl_hours = 48;        // an email-verification link's lifetime
  int password_reset_ip_per_minute = 10;  // reset and verification requests per client IP per minute
};

void declare(config::Registry& r, Config& c);
struct AccountSettings;
AccountSettings account_settings(const Config& c);

}  // namespace atrium::identity
