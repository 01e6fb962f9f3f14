// The tables of the environments' data (envs/files_view.hpp): what each project view holds as
// materialised (env_view_files), each view's last sync report (env_syncs), and the persistent
// homes' measured sizes (env_homes), which count against storage quotas. Every SQL statement of
// them is in store_view.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::envs {

// Migration 2 of the envs module.
db::Migration view_migration();

// One file of a view as last materialised or synced: its project blob and what the view's file
// looked like then (size and ctime: a change of content or metadata moves the ctime, which the
// env's uid cannot set back).
struct ViewEntry {
  std::string blob_id;
  std::int64_t size = 0, ctime_ns = 0;
};
// By path relative to the view's root.
Result<std::map<std::string, ViewEntry>> view_entries(db::Tx& tx, const std::string& env_id);
Status put_view_entry(db::Tx& tx, const std::string& env_id, const std::string& path, const ViewEntry& v);
Status drop_view_entry(db::Tx& tx, const std::string& env_id, const std::string& path);
Status drop_view(db::Tx& tx, const std::string& env_id);

Status put_sync_report(db::Tx& tx, const std::string& env_id, Millis at, const nlohmann::json& report);
// Every view's last report, by environment.
Result<std::map<std::string, nlohmann::json>> sync_reports(db::Tx& tx);

struct HomeSize {
  std::string project_id, user_id, org_id, group_id;
  std::int64_t bytes = 0;
  Millis measured = 0;
};
Status put_home_size(db::Tx& tx, const HomeSize& h);
// The homes' bytes of a quota subject ("org", "group" or "user" in an org).
Result<std::int64_t> homes_bytes(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                 const std::string& subject_id);
Result<std::optional<HomeSize>> home_size(db::Tx& tx, const std::string& project_id, const std::string& user_id);

}  // namespace atrium::envs
