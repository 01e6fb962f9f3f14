#include "compute/fairshare.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace atrium::compute {

std::uint32_t SharesTable::org(const std::string& o) const {
  auto it = orgs.find(o);
  return it == orgs.end() ? default_shares : it->second;
}
std::uint32_t SharesTable::group(const std::string& o, const std::string& g) const {
  auto it = groups.find({o, g});
  return it == groups.end() ? default_shares : it->second;
}
std::uint32_t SharesTable::user(const Association& a) const {
  auto it = users.find(a);
  return it == users.end() ? default_shares : it->second;
}

double DecayedUsage::at(Millis now, Millis half_life) const {
  if (half_life <= 0 || now <= as_of || value == 0) return value;
  return value * std::exp2(-static_cast<double>(now - as_of) / static_cast<double>(half_life));
}

void DecayedUsage::add(double amount, Millis when, Millis half_life) {
  if (when >= as_of) {
    value = at(when, half_life) + amount;
    as_of = when;
  } else if (half_life <= 0) {
    value += amount;
  } else {
    value += amount * std::exp2(-static_cast<double>(as_of - when) / static_cast<double>(half_life));
  }
}

namespace {

struct Level {
  double norm_shares;
  double effective_usage;
};

// One step down the tree: SLURM's classic effective usage, UE = UA + (UE_parent - UA) * S / S_siblings.
Level descend(const Level& parent, double usage, double total, double shares, double sibling_shares) {
  double frac = sibling_shares > 0 ? shares / sibling_shares : 0;
  double ua = total > 0 ? usage / total : 0;
  return {parent.norm_shares * frac, ua + (parent.effective_usage - ua) * frac};
}

double factor_of(const Level& l) { return l.norm_shares > 0 ? std::exp2(-l.effective_usage / l.norm_shares) : 0.0; }

FairShareAccount account(bool is_group, std::string org, std::string group, std::uint32_t shares, double usage,
                         double total, const Level& l) {
  return {is_group, std::move(org), std::move(group), shares, usage, l.norm_shares, total > 0 ? usage / total : 0,
          l.effective_usage, factor_of(l)};
}

}  // namespace

void fill_fair_share(const SharesTable& shares, std::map<Association, FairShareRow>& rows,
                     std::vector<FairShareAccount>* accounts) {
  for (const auto& [a, s] : shares.users) rows.try_emplace(a);

  // The tree: org -> group -> users, usage summed upwards, shares summed per sibling set.
  struct GroupNode {
    double usage = 0;
    double user_shares = 0;  // sum over its users
    Level level{};
  };
  struct OrgNode {
    double usage = 0;
    std::map<std::string, GroupNode> groups;
  };
  std::map<std::string, OrgNode> orgs;
  for (const auto& [o, s] : shares.orgs) orgs.try_emplace(o);
  for (const auto& [g, s] : shares.groups) orgs[g.first].groups.try_emplace(g.second);
  double total = 0;
  std::vector<GroupNode*> group_of;  // per row, in row order
  group_of.reserve(rows.size());
  for (auto& [a, row] : rows) {
    row.assoc = a;
    row.raw_usage = std::max(0.0, row.raw_usage);
    OrgNode& o = orgs[a.org];
    GroupNode& g = o.groups[a.group];
    o.usage += row.raw_usage;
    g.usage += row.raw_usage;
    g.user_shares += shares.user(a);
    total += row.raw_usage;
    group_of.push_back(&g);
  }

  double org_siblings = 0;
  for (const auto& [name, o] : orgs) org_siblings += shares.org(name);
  Level root{1.0, total > 0 ? 1.0 : 0.0};
  for (auto& [oname, o] : orgs) {
    Level ol = descend(root, o.usage, total, shares.org(oname), org_siblings);
    if (accounts) accounts->push_back(account(false, oname, "", shares.org(oname), o.usage, total, ol));
    double group_siblings = 0;
    for (const auto& [gname, g] : o.groups) group_siblings += shares.group(oname, gname);
    for (auto& [gname, g] : o.groups) {
      g.level = descend(ol, g.usage, total, shares.group(oname, gname), group_siblings);
      if (accounts) accounts->push_back(account(true, oname, gname, shares.group(oname, gname), g.usage, total, g.level));
    }
  }

  std::size_t i = 0;
  for (auto& [a, row] : rows) {
    const GroupNode& g = *group_of[i++];
    Level l = descend(g.level, row.raw_usage, total, shares.user(a), g.user_shares);
    row.norm_shares = l.norm_shares;
    row.norm_usage = total > 0 ? row.raw_usage / total : 0;
    row.effective_usage = l.effective_usage;
    row.factor = factor_of(l);
  }
}

std::map<Association, FairShareRow> fair_share_factors(const SharesTable& shares,
                                                       const std::map<Association, double>& usage,
                                                       const std::vector<Association>& members) {
  std::map<Association, FairShareRow> rows;
  for (const auto& [a, u] : usage) rows[a].raw_usage = u;
  for (const auto& a : members) rows.try_emplace(a);
  fill_fair_share(shares, rows);
  return rows;
}

}  // namespace atrium::compute
