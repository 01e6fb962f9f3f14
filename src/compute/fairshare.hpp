// Fair share in the spirit of SLURM's classic multifactor algorithm: usage decays exponentially
// with a half-life, shares are normalised per level of org -> group -> user, F = 2^(-U/S).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "compute/job.hpp"
#include "core/clock.hpp"

namespace atrium::compute {

// Configured shares (sacctmgr's Fairshare=). Anything not listed has default_shares.
struct SharesTable {
  std::uint32_t default_shares = 1;
  std::map<std::string, std::uint32_t> orgs;
  std::map<std::pair<std::string, std::string>, std::uint32_t> groups;  // (org, group)
  std::map<Association, std::uint32_t> users;

  std::uint32_t org(const std::string& o) const;
  std::uint32_t group(const std::string& o, const std::string& g) const;
  std::uint32_t user(const Association& a) const;
};

// A usage value that halves every `half_life` (0 = never decays). Stored with the time it refers to.
struct DecayedUsage {
  double value = 0;
  Millis as_of = 0;

  double at(Millis now, Millis half_life) const;
  // Adds `amount` accrued at time `at` (which may lie before as_of, e.g. when rebuilding from history).
  void add(double amount, Millis at, Millis half_life);
};

// Decayed usage per association (the leaves); groups and orgs are sums. The caller persists this,
// or rebuilds it from finished jobs with Scheduler::charge().
struct FairShareUsage {
  std::map<Association, DecayedUsage> by_association;
};

struct FairShareRow {
  Association assoc;
  double raw_usage = 0;        // decayed usage (billing-seconds) at `now`
  double norm_shares = 0;      // product of share fractions along org -> group -> user
  double norm_usage = 0;       // raw usage / total usage
  double effective_usage = 0;  // classic: UE = UA + (UE_parent - UA) * shares / sibling shares
  double factor = 1;           // 2^(-UE / norm_shares), in [0, 1]
};

// An inner node of the tree as `sshare -l` lists it: an org or a group of an org (a group may be
// "", the users outside any group). Its usage is the sum of its users'; factor = 2^(-UE / norm_shares).
struct FairShareAccount {
  bool is_group = false;
  std::string org, group;
  std::uint32_t shares = 0;  // configured (RawShares)
  double raw_usage = 0, norm_shares = 0, norm_usage = 0, effective_usage = 0, factor = 1;
};

// Fair-share factors for every association in `usage` or `members` (plus those listed in
// `shares`). `usage` is the usage at the evaluation time (decayed, plus any running charge).
std::map<Association, FairShareRow> fair_share_factors(const SharesTable& shares,
                                                       const std::map<Association, double>& usage,
                                                       const std::vector<Association>& members = {});
// The same in place: `rows` keyed by association with raw_usage set (members with 0); every other
// field is filled in, and associations listed in `shares` are added. `accounts`, when given, gets
// the org and group nodes (each org, then its groups, in name order).
void fill_fair_share(const SharesTable& shares, std::map<Association, FairShareRow>& rows,
                     std::vector<FairShareAccount>* accounts = nullptr);

}  // namespace atrium::compute
