#include <gtest/gtest.h>

#include "identity/auth.hpp"

namespace atrium::identity {
namespace {

TEST(LoginLimiter, ThrottlesPerClientAndRefills) {
  LoginLimiter l(3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l.check_ip("a", 0), 0);
  EXPECT_GT(l.check_ip("a", 0), 0);
  EXPECT_EQ(l.check_ip("b", 0), 0);       // another client has its own bucket
  EXPECT_EQ(l.check_ip("a", 20'000), 0);  // 3 per minute: one back after 20 s
  EXPECT_GT(l.check_ip("a", 20'000), 0);
}

TEST(LoginLimiter, FullTableEvictsTheLeastRecentlySeenNotEveryone) {
  LoginLimiter l(2, 3);
  // The attacker's address is throttled.
  EXPECT_EQ(l.check_ip("attacker", 0), 0);
  EXPECT_EQ(l.check_ip("attacker", 0), 0);
  EXPECT_GT(l.check_ip("attacker", 0), 0);
  // A spray of fresh addresses fills the table; the attacker stays the most recently seen (each of
  // its attempts refreshes it), so it is never the one evicted and is still throttled.
  for (int i = 0; i < 100; ++i) {
    (void)l.check_ip("spray-" + std::to_string(i), 0);
    EXPECT_GT(l.check_ip("attacker", 0), 0) << i;
    EXPECT_LE(l.size(), 3u);
  }
  // (The old code emptied every bucket when full, the attacker's included.)
  EXPECT_EQ(l.size(), 3u);
  (void)l.check_ip("new", 0);
  EXPECT_EQ(l.size(), 3u);
  EXPECT_GT(l.check_ip("attacker", 0), 0);
}

TEST(LoginLimiter, EvictionOrderIsLeastRecentlyUsed) {
  LoginLimiter l(1, 2);
  EXPECT_EQ(l.check_ip("a", 0), 0);  // a: spent
  EXPECT_EQ(l.check_ip("b", 0), 0);  // b: spent
  EXPECT_GT(l.check_ip("a", 0), 0);  // a seen again: b is now the oldest
  EXPECT_EQ(l.check_ip("c", 0), 0);  // evicts b, not a
  EXPECT_GT(l.check_ip("a", 0), 0);  // a kept its empty bucket
  EXPECT_EQ(l.check_ip("b", 0), 0);  // b was forgotten: a fresh bucket (evicting c)
}

TEST(Lockout, BacksOffAndCaps) {
  AuthSettings s;
  s.login_max_failures = 3;
  s.lockout_base_ms = 30'000;
  EXPECT_EQ(lockout_ms(2, s), 0);
  EXPECT_EQ(lockout_ms(3, s), 30'000);
  EXPECT_EQ(lockout_ms(4, s), 60'000);
  EXPECT_EQ(lockout_ms(5, s), 120'000);
  EXPECT_EQ(lockout_ms(1000, s), 3600'000);
}

}  // namespace
}  // namespace atrium::identity
