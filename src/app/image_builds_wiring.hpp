// Wiring of image builds (src/images/build.hpp) into the compute service and the API.
#pragma once

#include <memory>

#include "app/config.hpp"
#include "http/api.hpp"
#include "images/build.hpp"
#include "vcs/git.hpp"

namespace atrium::app {

struct ImageBuilds {
  std::unique_ptr<images::Builder> builder;  // made by start(), after the compute service
  // Makes the builder (settings: [image_builds], files read from the project's repository; the
  // images module's hooks), registers its task and routes.
  Status start(const Settings& c, db::Database& db, const Clock& clock, jobs::Service& compute,
               images::Service& images, const vcs::Repos& repos, tasks::Queue& queue, http::Api& api);
};

// Builds' hooks into jobs: prepare (the build's sandbox) and on_end (queue the finish) run for
// build jobs, the ones already set (environments, mail) for the others.
std::shared_ptr<ImageBuilds> chain_image_builds(jobs::Settings& js);

}  // namespace atrium::app
