// POST /api/v1/projects/{id}/images/import {name, file, format?, default?}: the checks that are cheap
// (the caller, the body, the file exists, its first bytes are the format, its size fits the limit
// and the storage quota) answered at once with a 4xx that stores nothing; the rest is the
// images.import task (import.cpp).
#include "audit/audit.hpp"
#include "core/ids.hpp"
#include "data/paths.hpp"
#include "data/store.hpp"
#include "images/import.hpp"
#include "images/import_detail.hpp"
#include "images/routes_detail.hpp"
#include "images/sif.hpp"
#include "images/store.hpp"
#include "projects/routes.hpp"
#include "tasks/tasks.hpp"

namespace atrium::images {
namespace detail {

bool valid_import_format(const std::string& f) { return f == "sif" || f == "squashfs" || f == "oci-archive"; }

std::string sniffed_as(const std::string& f) { return f == "oci-archive" ? "tar" : f; }

Result<Image> start_import(Service::Impl& svc, const NewImage& req, const ImportFile& file) {
  Millis now = svc.clock.now_ms();
  Image im;
  im.id = new_id("img", now);
  im.org_id = req.org_id, im.project_id = req.project_id, im.group_id = req.group_id, im.name = req.name;
  im.source = file.format + ":" + file.path;
  im.state = "pending", im.size_bytes = file.size;
  im.created_by = req.actor.user_id;
  im.created_ms = im.updated_ms = now;
  return svc.db.write([&](db::Tx& tx) -> Result<Image> {
    // A failed image gives its name back to the next pull or import.
    if (auto old = TRY(store::find_by_name(tx, im.org_id, im.project_id, im.name)); old && old->state == "failed")
      TRY(store::delete_image(tx, old->id, old->version));
    // The file's size stands in for the unpacked size until the task knows it (ingest checks again).
    TRY_STATUS(svc.check_quota(tx, im.org_id, im.group_id, im.created_by, file.size));
    TRY_STATUS(store::insert_image(tx, im));
    TRY(tasks::enqueue(tx,
                       {.kind = "images.import", .key = "images.import:" + im.id,
                        .payload = {{"image_id", im.id}, {"blob_id", file.blob_id}, {"format", file.format},
                                    {"size", file.size}},
                        .max_attempts = 2},
                       now));
    if (req.make_default) TRY_STATUS(store::set_default(tx, im.project_id, im.org_id, im.id, now));
    TRY_STATUS(audit::record(tx, req.actor,
                             {im.org_id, "image.import", "image", im.id,
                              {{"name", im.name}, {"source", im.source}, {"project_id", im.project_id}}},
                             now));
    return im;
  });
}

}  // namespace detail

namespace {
using namespace detail;

std::unexpected<Error> field_error(std::string type, std::string detail, const char* field) {
  return fail(Error(ErrorCode::kInvalidArgument, std::move(type), std::move(detail)).with("field", field));
}

struct ImportBody {
  NewImage req;
  std::string path, format;
};

Result<ImportBody> import_body(Context& ctx) {
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"name", "file", "format", "default"}));
  ImportBody out;
  out.req.name = TRY(b.str("name", 64));
  if (!valid_image_name(out.req.name))
    return field_error("invalid-field", "name must be 1-64 of a-z 0-9 . _ - starting with a letter or digit", "name");
  auto path = data::normalize_path(TRY(b.str("file", 1024)));
  if (!path) return field_error("invalid-path", path.error().detail, "file");
  out.path = *path;
  out.format = TRY(b.opt_str("format", 32)).value_or("");
  if (!out.format.empty() && !valid_import_format(out.format))
    return field_error("invalid-field", "format is one of sif, squashfs, oci-archive (or left out: read from the file)",
                       "format");
  out.req.make_default = TRY(b.opt_bool("default")).value_or(false);
  out.req.actor = ctx.actor();
  return out;
}

// The format the file's first bytes show, checked against the one asked for.
Result<std::string> file_format(data::BlobStore& blobs, const data::FileRow& f, const std::string& asked) {
  std::string head;
  TRY_STATUS(blobs.read(f.blob_id, 0, 512, [&](std::string_view piece) -> Status {
    head.append(piece.substr(0, 512 - head.size()));
    return {};
  }));
  std::string seen = sniff_format(head);
  if (seen.empty())
    return field_error("unknown-image-format",
                       "the file is not a SIF, squashfs or OCI archive (tar) image", "file");
  if (asked.empty()) return seen == "tar" ? std::string("oci-archive") : seen;
  if (sniffed_as(asked) != seen)
    return field_error("format-mismatch", "the file is not " + asked + " (it looks like " + seen + ")", "format");
  return asked;
}

Result<Response> project_import(Service& svc, data::BlobStore& blobs, Context& ctx) {
  auto p = TRY(ctx.db().read([&](db::Tx& tx) { return projects::load_in_route(ctx, tx, {"files", "write"}); }));
  TRY_STATUS(projects::check_writable(p));
  auto body = TRY(import_body(ctx));
  auto file = TRY(ctx.db().read([&](db::Tx& tx) { return data::get_file(tx, p.id, body.path); }));
  if (!file) return field_error("no-such-file", "the project has no file " + body.path + " (upload it first)", "file");
  auto& impl = svc.impl();
  if (file->size > impl.s.max_image_bytes)
    return fail(Error(ErrorCode::kPayloadTooLarge, "image-too-large",
                      "the file holds " + std::to_string(file->size) + " bytes, over images.max_image_bytes (" +
                          std::to_string(impl.s.max_image_bytes) + ")")
                    .with("field", "file"));
  ImportFile f{body.path, file->blob_id, TRY(file_format(blobs, *file, body.format)), file->size};
  body.req.org_id = p.org_id, body.req.project_id = p.id, body.req.group_id = p.group_id;
  return image_created(TRY(start_import(impl, body.req, f)));
}

}  // namespace

void add_import_routes(http::Api& api, Service& svc, data::BlobStore& blobs) {
  nlohmann::json schema = {
      {"type", "object"},
      {"required", {"name", "file"}},
      {"properties",
       {{"name", {{"type", "string"}}},
        {"file", {{"type", "string"}, {"description", "a path in the project's files"}}},
        {"format", {{"type", "string"}, {"enum", {"sif", "squashfs", "oci-archive"}}}},
        {"default", {{"type", "boolean"}}}}}};
  api.add({"POST", "/api/v1/projects/{id}/images/import", http::Access::require("files", "write"),
           {"Import an image from a file of the project (an Apptainer .sif, a squashfs image or an OCI archive): "
            "202 with a pending image while an images.import task unpacks it",
            "images", schema, http::object_schema(), 202},
           std::bind_front(project_import, std::ref(svc), std::ref(blobs)), http::TxMode::kNone});
}

void add_import_tasks(tasks::Queue& queue, Service& svc, data::BlobStore& blobs) {
  auto& impl = svc.impl();
  queue.handle("images.import", [&impl, &blobs](const tasks::Task& t) {
    auto p = t.payload;
    p["attempt"] = t.attempt;
    return import_task(impl, blobs, p);
  });
}

}  // namespace atrium::images
