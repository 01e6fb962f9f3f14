// Module-internal (images/): the module's tables and every SQL statement on them.
//   images            one row per named image (project or org-wide), pinned to a digest
//   image_roots       one row per stored digest: its unpacked size, software, state
//   image_registries  per-org registry credentials (password sealed, never returned)
//   image_defaults    the project's default image
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "images/images.hpp"

namespace atrium::images::store {

// ---- images
Status insert_image(db::Tx& tx, const Image& im);
Result<std::optional<Image>> get_image(db::Tx& tx, const std::string& id);
// By name within a project ("" = org-wide) of an org.
Result<std::optional<Image>> find_by_name(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                                          const std::string& name);
// A ready image with `digest` that project p sees (its own first, then org-wide).
Result<std::optional<Image>> find_ready_digest(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                                               const std::string& digest);
// A project's images and its org's org-wide ones (project_id ""), by id after `after`.
Result<std::vector<Image>> list_images(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                                       bool with_org_wide, const std::string& after, int limit);
Result<bool> delete_image(db::Tx& tx, const std::string& id, std::int64_t version);
// Every pending image of `digest` becomes ready with the root's size and software.
Result<std::vector<Image>> set_digest_ready(db::Tx& tx, const std::string& digest, std::int64_t size,
                                            const nlohmann::json& software, Millis now);
// Every pending image of `digest` fails with `error`.
Status set_digest_failed(db::Tx& tx, const std::string& digest, const std::string& error, Millis now);
// One image (a post-unpack quota refusal): failed with `error`.
Status set_image_failed(db::Tx& tx, const std::string& id, const std::string& error, Millis now);
// Sets the digest of an image still pending (imports and builds learn it at the end).
Status set_image_digest(db::Tx& tx, const std::string& id, const std::string& digest, Millis now);
// Whether a pending or ready image names `digest`.
Result<bool> digest_named(db::Tx& tx, const std::string& digest);
// Whether the org, its group (when given) and the user already hold `digest` (pending or ready).
Result<bool> subjects_hold(db::Tx& tx, const std::string& org_id, const std::string& group_id,
                           const std::string& user_id, const std::string& digest);
// Bytes of distinct digests of the subject's pending and ready images.
Result<std::int64_t> storage_used(db::Tx& tx, const std::string& org_id, const std::string& kind,
                                  const std::string& subject_id);

// ---- roots
struct Root {
  std::string digest, state;  // pulling | ready
  std::int64_t size = 0;      // an estimate while pulling
  nlohmann::json software = nlohmann::json::object();
  std::string attempt;        // the id of the pull that made it (the task's key)
};
Result<std::optional<Root>> get_root(db::Tx& tx, const std::string& digest);
// Inserts a pulling root unless one exists; returns the row as it is after.
Result<Root> claim_root(db::Tx& tx, const std::string& digest, std::int64_t estimate, const std::string& attempt,
                        Millis now);
Status root_ready(db::Tx& tx, const std::string& digest, std::int64_t size, const nlohmann::json& software, Millis now);
Status delete_root(db::Tx& tx, const std::string& digest);
Result<std::vector<Root>> list_roots(db::Tx& tx);

// ---- registry credentials
struct Credential {
  std::string id, org_id, host, username, password_sealed, created_by;
  Millis created_ms = 0;
  std::int64_t version = 1;
  nlohmann::json json() const;  // never the password
};
Status insert_credential(db::Tx& tx, const Credential& c);
Result<std::vector<Credential>> list_credentials(db::Tx& tx, const std::string& org_id);
Result<std::optional<Credential>> get_credential(db::Tx& tx, const std::string& id);
Result<std::optional<Credential>> find_credential(db::Tx& tx, const std::string& org_id, const std::string& host);
Result<bool> delete_credential(db::Tx& tx, const std::string& id);

// ---- project defaults
struct Default {
  std::string image_id;
  std::int64_t version = 0;  // 0 = never set
};
Result<Default> get_default(db::Tx& tx, const std::string& project_id);
Status set_default(db::Tx& tx, const std::string& project_id, const std::string& org_id, const std::string& image_id,
                   Millis now);
Status clear_defaults_of(db::Tx& tx, const std::string& image_id);

}  // namespace atrium::images::store
