#include "app/images_wiring.hpp"

#include "images/config.hpp"
#include "images/import.hpp"
#include "images/routes.hpp"

namespace atrium::app {

std::unique_ptr<images::Service> connect_images(const Settings& c, db::Database& db, const Clock& clock,
                                                const data::MasterKey& key, jobs::Settings& js) {
  auto s = std::make_unique<images::Service>(db, clock,
                                             images::settings_from(c.images, c.server.data_dir, key.derive("images")));
  js.resolve_image = [&svc = *s](db::Tx& tx, const projects::Project& p,
                                 std::string_view text) -> Result<std::optional<jobs::ImageRef>> {
    auto pin = TRY(svc.resolve(tx, p, text));
    if (!pin) return std::optional<jobs::ImageRef>{};
    return std::optional<jobs::ImageRef>{jobs::ImageRef{pin->name, pin->digest}};
  };
  js.image_root = [&svc = *s](const std::string& digest) { return svc.rootfs(digest); };
  return s;
}

void add_image_routes(http::Api& api, images::Service& images, tasks::Queue& queue, const jobs::Service& jobs,
                      data::BlobStore& blobs) {
  images.set_in_use([&jobs](const std::string& digest) { return jobs.image_in_use(digest); });
  images::add_routes(api, images);
  images.add_tasks(queue);
  images::add_import_routes(api, images, blobs);  // imports read the project's file from the blob store
  images::add_import_tasks(queue, images, blobs);
}

}  // namespace atrium::app
