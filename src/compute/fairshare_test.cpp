#include "compute/fairshare.hpp"

#include <cmath>

#include <gtest/gtest.h>

#include "compute/scheduler.hpp"
#include "compute/test_support.hpp"

namespace atrium::compute {
namespace {

using testing::Driver;
using testing::kT0;
using testing::make_job;

const Association kAlice{"org-a", "grp-a", "alice"};
const Association kBob{"org-a", "grp-a", "bob"};

TEST(DecayedUsage, HalvesEveryHalfLife) {
  const Millis hl = 7 * kDay;
  DecayedUsage u;
  u.add(800, kT0, hl);
  EXPECT_DOUBLE_EQ(u.at(kT0, hl), 800);
  EXPECT_NEAR(u.at(kT0 + hl, hl), 400, 1e-9);
  EXPECT_NEAR(u.at(kT0 + 3 * hl, hl), 100, 1e-9);
  EXPECT_DOUBLE_EQ(u.at(kT0 + 3 * hl, 0), 800) << "half-life 0: no decay";
  u.add(100, kT0 + hl, hl);  // decays the old value to 400 first
  EXPECT_NEAR(u.value, 500, 1e-9);
  EXPECT_EQ(u.as_of, kT0 + hl);
  u.add(200, kT0, hl);  // a charge from the past (rebuilding history) arrives already decayed
  EXPECT_NEAR(u.value, 600, 1e-9);
}

TEST(FairShare, NoUsageMeansFactorOne) {
  auto rows = fair_share_factors({}, {}, {kAlice, kBob});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows.at(kAlice).factor, 1.0);
  EXPECT_DOUBLE_EQ(rows.at(kAlice).norm_shares, 0.5);
}

TEST(FairShare, HeavyUserGetsTheLowerFactor) {
  auto rows = fair_share_factors({}, {{kAlice, 1000.0}, {kBob, 10.0}});
  EXPECT_LT(rows.at(kAlice).factor, rows.at(kBob).factor);
  // Classic formula by hand: UE_alice = UA + (1 - UA) * 0.5 with UA = 1000/1010.
  double ua = 1000.0 / 1010.0;
  double ue = ua + (1.0 - ua) * 0.5;
  EXPECT_NEAR(rows.at(kAlice).effective_usage, ue, 1e-12);
  EXPECT_NEAR(rows.at(kAlice).factor, std::exp2(-ue / 0.5), 1e-12);
  auto equal = fair_share_factors({}, {{kAlice, 50.0}, {kBob, 50.0}});
  EXPECT_DOUBLE_EQ(equal.at(kAlice).factor, equal.at(kBob).factor);
}

TEST(FairShare, SharesScaleTheEntitlement) {
  SharesTable shares;
  shares.users[kAlice] = 3;  // alice is entitled to 3/4 of the group
  auto rows = fair_share_factors(shares, {{kAlice, 60.0}, {kBob, 40.0}});
  EXPECT_DOUBLE_EQ(rows.at(kAlice).norm_shares, 0.75);
  EXPECT_DOUBLE_EQ(rows.at(kBob).norm_shares, 0.25);
  EXPECT_GT(rows.at(kAlice).factor, rows.at(kBob).factor) << "alice used less than her entitlement";
  shares.users[kBob] = 0;
  EXPECT_DOUBLE_EQ(fair_share_factors(shares, {{kBob, 1.0}}).at(kBob).factor, 0.0) << "zero shares: lowest";
}

TEST(FairShare, HierarchyOrgGroupUser) {
  // org-x: group g1 (heavy u1, idle u2) and group g2 (idle u3); org-y: idle u4.
  const Association u1{"org-x", "g1", "u1"}, u2{"org-x", "g1", "u2"}, u3{"org-x", "g2", "u3"}, u4{"org-y", "g1", "u4"};
  auto rows = fair_share_factors({}, {{u1, 1000.0}}, {u2, u3, u4});
  double f1 = rows.at(u1).factor, f2 = rows.at(u2).factor, f3 = rows.at(u3).factor, f4 = rows.at(u4).factor;
  EXPECT_LT(f1, f2) << "the heavy user is last";
  EXPECT_LT(f2, f3) << "an idle user in the heavy group inherits its group's usage";
  EXPECT_LT(f3, f4) << "an idle user in the heavy org inherits its org's usage";
  EXPECT_DOUBLE_EQ(rows.at(u1).norm_shares, 0.5 * 0.5 * 0.5);
  EXPECT_DOUBLE_EQ(rows.at(u4).norm_shares, 0.5);

  // Org shares: org-x entitled to 3/4 of the machine. With equal usage per org, org-x users come first.
  SharesTable shares;
  shares.orgs["org-x"] = 3;
  const Association x{"org-x", "g", "ux"}, y{"org-y", "g", "uy"};
  auto weighted = fair_share_factors(shares, {{x, 100.0}, {y, 100.0}});
  EXPECT_DOUBLE_EQ(weighted.at(x).norm_shares, 0.75);
  EXPECT_GT(weighted.at(x).factor, weighted.at(y).factor);
}

TEST(FairShare, AccountsListOrgsAndGroupsWithSummedUsage) {
  const Association u1{"org-x", "g1", "u1"}, u2{"org-x", "g2", "u2"}, u3{"org-y", "g1", "u3"};
  std::map<Association, FairShareRow> rows;
  rows[u1].raw_usage = 300;
  rows[u2].raw_usage = 100;
  rows[u3].raw_usage = 0;
  std::vector<FairShareAccount> acc;
  fill_fair_share({}, rows, &acc);
  ASSERT_EQ(acc.size(), 5u);  // org-x, g1, g2, org-y, g1
  EXPECT_EQ(acc[0].org, "org-x");
  EXPECT_FALSE(acc[0].is_group);
  EXPECT_TRUE(acc[1].is_group);
  EXPECT_DOUBLE_EQ(acc[0].raw_usage, 400);
  EXPECT_DOUBLE_EQ(acc[0].norm_usage, 1);
  EXPECT_DOUBLE_EQ(acc[0].norm_shares, 0.5);
  EXPECT_EQ(acc[1].group, "g1");
  EXPECT_DOUBLE_EQ(acc[1].raw_usage, 300);
  EXPECT_DOUBLE_EQ(acc[1].norm_shares, 0.25);
  EXPECT_LT(acc[1].factor, acc[2].factor) << "the heavier group has the lower factor";
  EXPECT_EQ(acc[3].org, "org-y");
  EXPECT_DOUBLE_EQ(acc[3].raw_usage, 0);
  EXPECT_GT(acc[3].factor, acc[0].factor);
  // A user's effective usage lies between its own share of usage and its group's.
  EXPECT_DOUBLE_EQ(rows.at(u1).norm_usage, 0.75);
}

// Two users, one heavy: the light user's job starts first although it was submitted later.
TEST(FairShare, LightUsersJobGoesFirst) {
  SchedulerConfig cfg = testing::quiet_config();
  Driver d(cfg, {4, 16 * 1024, 0});
  d.st.usage.by_association[kAlice].add(3600.0 * 100, kT0 - kHour, cfg.usage_half_life);
  d.st.usage.by_association[kBob].add(3600.0 * 1, kT0 - kHour, cfg.usage_half_life);
  d.submit(make_job("heavy-1", "alice", 4));
  d.now += 1000;
  d.submit(make_job("light-1", "bob", 4));
  auto r = d.pass();
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].job, "light-1");
  ASSERT_EQ(r.pending.size(), 1u);
  EXPECT_EQ(r.pending[0].job, "heavy-1");
  EXPECT_LT(r.pending[0].priority.fair_share, 1.0);
  EXPECT_EQ(r.pending[0].reason, PendingReason::kResources);
}

// Usage decays: a user who was heavy long ago gets ahead of one who uses a little every day.
TEST(FairShare, DecayOverSimulatedDays) {
  SchedulerConfig cfg = testing::quiet_config();
  cfg.usage_half_life = 7 * kDay;
  auto sched = Scheduler::create(cfg).value();
  ClusterState st;
  st.node = {4, 16 * 1024, 0};
  // alice ran 5000 CPU-hours once, at day 0; bob runs 100 CPU-hours every day.
  st.usage.by_association[kAlice].add(5000 * 3600.0, kT0, cfg.usage_half_life);
  int first_day_alice_ahead = -1;
  for (int day = 0; day < 40; ++day) {
    Millis now = kT0 + day * kDay;
    st.usage.by_association[kBob].add(100 * 3600.0, now, cfg.usage_half_life);
    auto rows = sched.fair_share(st, now);
    if (day < 10) {
      EXPECT_GT(rows.at(kBob).factor, rows.at(kAlice).factor) << "day " << day;
    }
    if (first_day_alice_ahead < 0 && rows.at(kAlice).factor > rows.at(kBob).factor) first_day_alice_ahead = day;
  }
  // alice(t) = 5000 * 2^(-t/7) falls below bob's 100 * sum(2^(-k/7)) (-> ~1060) on day 18.
  EXPECT_EQ(first_day_alice_ahead, 18);
}

// finish() charges billing x wall time into the decayed usage; running jobs count as they go.
TEST(FairShare, CompletionChargesUsage) {
  SchedulerConfig cfg = testing::quiet_config();
  cfg.billing = {.cpu = 1.0, .mem_gb = 0.0, .gpu = 10.0};
  Driver d(cfg, {8, 16 * 1024, 2});
  d.submit(make_job("j", "alice", 2, kHour, 1));
  d.pass();
  ASSERT_TRUE(d.running("j"));
  d.now += 30 * kMinute;
  auto mid = d.sched.fair_share(d.st, d.now);
  EXPECT_NEAR(mid.at(kAlice).raw_usage, (2 + 10) * 1800.0, 1e-6) << "running usage so far counts";
  auto t = d.sched.finish(d.st, "j", JobEnd{JobState::kCompleted, 0, {3000.0, 512}, ""}, d.now);
  ASSERT_TRUE(t.has_value());
  EXPECT_NEAR(d.st.usage.by_association.at(kAlice).value, 12 * 1800.0, 1e-6);
  EXPECT_NEAR(d.st.usage.by_association.at(kAlice).at(d.now + cfg.usage_half_life, cfg.usage_half_life), 6 * 1800.0,
              1e-6);
  UsageTotals u = d.st.ledger.user("alice", d.now);
  EXPECT_EQ(u.jobs, 1);
  EXPECT_DOUBLE_EQ(u.cpu_seconds, 3000.0);
  EXPECT_DOUBLE_EQ(u.allocated_cpu_seconds, 3600.0);
  EXPECT_DOUBLE_EQ(u.wall_seconds, 1800.0);
  EXPECT_EQ(u.peak_mem_mb, 512);
  EXPECT_EQ(d.st.ledger.org("org-a", d.now).jobs, 1);
  EXPECT_EQ(d.st.ledger.group("org-a", "grp-a", d.now).jobs, 1);
  EXPECT_EQ(d.st.ledger.user("alice", d.now + 31 * kDay).jobs, 0) << "a new quota period starts empty";
  // Rebuilding usage from the finished job gives the same value.
  FairShareUsage rebuilt;
  d.sched.charge(rebuilt, d.job("j"));
  EXPECT_DOUBLE_EQ(rebuilt.by_association.at(kAlice).value, d.st.usage.by_association.at(kAlice).value);
}

}  // namespace
}  // namespace atrium::compute
