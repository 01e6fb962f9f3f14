// The image_builds table (build_store.cpp holds all of its SQL).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "images/build.hpp"

namespace atrium::images {

Status insert_build(db::Tx& tx, const Build& b);
Result<std::optional<Build>> get_build(db::Tx& tx, const std::string& id);
Result<std::optional<Build>> build_of_job(db::Tx& tx, const std::string& job_id);
// Ready builds of the org with these inputs, newest first.
Result<std::vector<Build>> ready_builds(db::Tx& tx, const std::string& org_id, const std::string& inputs_hash);
// running -> ready/failed (a build that is no longer running is left alone).
Status finish_build(db::Tx& tx, const std::string& id, const std::string& state, const std::string& error,
                    const std::string& image_id, const std::string& digest, Millis now);

}  // namespace atrium::images
