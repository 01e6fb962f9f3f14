// Images (images/): jobs and environments pin an image at submission and mount its root at launch;
// garbage collection keeps what a job uses; images count in the storage quota.
#pragma once

#include <memory>

#include "app/config.hpp"
#include "data/blobs.hpp"
#include "http/api.hpp"
#include "images/images.hpp"
#include "jobs/service.hpp"
#include "tasks/tasks.hpp"

namespace atrium::app {

// The images service (registry passwords sealed with a key derived from the master key), and
// js.resolve_image / js.image_root from it.
std::unique_ptr<images::Service> connect_images(const Settings& c, db::Database& db, const Clock& clock,
                                                const data::MasterKey& key, jobs::Settings& js);
// images' routes and task kinds (imports read project files from `blobs`); its GC asks the jobs
// which digests they use.
void add_image_routes(http::Api& api, images::Service& images, tasks::Queue& queue, const jobs::Service& jobs,
                      data::BlobStore& blobs);

}  // namespace atrium::app
