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
};

void declare(config::Registry& r, Config& c);

}  // namespace atrium::identity
