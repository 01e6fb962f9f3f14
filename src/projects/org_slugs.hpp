// Private to the projects routes: the slug of each org named in an answer, looked up once per
// org, so that the UI can link to /{org}/{project} without another request.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "db/database.hpp"
#include "identity/store.hpp"

namespace atrium::projects {

class OrgSlugs {
 public:
  explicit OrgSlugs(db::Tx& tx) : tx_(tx) {}
  // The org's slug, or null for an org that no longer exists.
  nlohmann::json operator()(const std::string& org_id) {
    auto it = cache_.find(org_id);
    if (it == cache_.end()) {
      auto org = identity::get_org(tx_, org_id);
      it = cache_.emplace(org_id, org ? nlohmann::json(org->slug) : nlohmann::json(nullptr)).first;
    }
    return it->second;
  }

 private:
  db::Tx& tx_;
  std::map<std::string, nlohmann::json> cache_;
};

}  // namespace atrium::projects
