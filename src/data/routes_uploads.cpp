#include <charconv>
#include <filesystem>
#include <functional>

#include "audit/audit.hpp"
#include "core/crypto.hpp"
#include "core/ids.hpp"
#include "data/paths.hpp"
#include "data/routes_common.hpp"
#include "data/uploads.hpp"

namespace atrium::data::detail {
namespace {

// An upload, for its uploader only, who must still may write the project's files; anyone else
// gets 404.
Result<UploadRow> load_upload(Context& ctx, db::Tx& tx) {
  auto u = TRY(get_upload(tx, ctx.param("id")));
  if (!u || u->user_id != ctx.who().user_id || u->expires <= ctx.now()) {
    ctx.filtered();
    return not_found("upload");
  }
  auto p = TRY(projects::get_for(tx, u->project_id, ctx.who().user_id));
  if (!p) {
    ctx.filtered();
    return not_found("upload");
  }
  TRY_STATUS(ctx.authorize({"files", "write"}, projects::target_of(*p)));
  return *u;
}

Result<std::int64_t> header_int(Context& ctx, const char* name) {
  auto v = ctx.req.header(name);
  std::int64_t x = -1;
  if (!v)
    return fail(
        Error(ErrorCode::kInvalidArgument, "missing-header", std::string(name) + " is required").with("header", name));
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc() || p != v->data() + v->size() || x < 0)
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-header", std::string(name) + " must be a byte offset")
                    .with("header", name));
  return x;
}

Response upload_response(int status, const UploadRow& u) {
  return Response::json(status, u.json())
      .header("Upload-Offset", std::to_string(u.offset))
      .header("Upload-Length", std::to_string(u.size));
}

json upload_schema() {
  return {{"type", "object"},
          {"required", {"path", "size"}},
          {"properties",
           {{"path", {{"type", "string"}}},
            {"size", {{"type", "integer"}, {"minimum", 0}}},
            {"sha256", {{"type", "string"}, {"description", "expected SHA-256 (hex); checked at completion"}}},
            {"overwrite", {{"type", "boolean"}}}}}};
}

// ---- handlers, one per endpoint

Result<Response> upload_create(Service& svc, Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
  TRY_STATUS(writable(p));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"path", "size", "sha256", "overwrite"}));
  UploadRow u;
  u.path = TRY(path_field(TRY(b.str("path", 4 * kMaxPathBytes)), "path"));
  u.size = TRY(b.integer("size", 0, svc.settings().max_file_bytes));
  u.sha256 = TRY(b.opt_str("sha256", 64)).value_or("");
  if (!u.sha256.empty() && !valid_blob_id(u.sha256))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "sha256 must be 64 lowercase hex digits")
                    .with("field", "sha256"));
  u.overwrite = TRY(b.opt_bool("overwrite")).value_or(false);
  if (!u.overwrite && TRY(get_file(ctx.t(), p.id, u.path))) return file_exists_error(u.path);
  // Refused before a byte is sent: the owners' quotas, then the disk.
  TRY_STATUS(check_storage_quota(ctx.t(), svc.quotas(), p.org_id, p.group_id, ctx.who().user_id, u.size));
  auto room = TRY(svc.disk_room(ctx.t()));
  if (2 * u.size > room)
    return fail(Error(ErrorCode::kQuotaExceeded, "insufficient-storage",
                      "the data disk has no room for " + std::to_string(u.size) + " more bytes")
                    .with("requested", u.size)
                    .with("available", std::max<std::int64_t>(0, room / 2)));
  u.id = new_id("upl", ctx.now());
  u.project_id = p.id;
  u.org_id = p.org_id;
  u.group_id = p.group_id;
  u.user_id = ctx.who().user_id;
  u.created = u.updated = ctx.now();
  u.expires = ctx.now() + svc.settings().upload_ttl;
  auto staging = TRY(Staging::create(svc.blobs().key(), svc.staging_file(u.id), u.id, u.size));
  u.wrapped_key = crypto::hex(staging.state().wrapped_key);
  TRY_STATUS(insert_upload(ctx.t(), ctx.actor(), u, ctx.now()));
  ctx.t().on_end([file = svc.staging_file(u.id)](bool committed) {
    if (!committed) {
      std::error_code ec;
      fs::remove(file, ec);
    }
  });
  return upload_response(201, u)
      .header("Location", "/api/v1/uploads/" + u.id)
      .header("Upload-Chunk-Max", std::to_string(svc.settings().max_chunk_bytes));
}

Result<Response> uploads_list(Context& ctx) {
  auto p = TRY(load_project(ctx, ctx.t(), {"files", "write"}));
  auto page = TRY(ctx.page());
  json items = json::array();
  for (auto& u : TRY(list_uploads(ctx.t(), p.id, ctx.who().user_id, page.after, page.limit)))
    if (u.expires > ctx.now()) items.push_back(u.json());
  return http::paged(std::move(items), page.limit, "id");
}

Result<Response> upload_show(Context& ctx) { return upload_response(200, TRY(load_upload(ctx, ctx.t()))); }

Result<Response> upload_patch(Service& svc, Context& ctx) {
  auto u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
  auto at = TRY(header_int(ctx, "upload-offset"));
  Service::UploadLock lock(svc, u.id);
  if (!lock.held())
    return fail(
        Error(ErrorCode::kAborted, "upload-busy", "another request is sending to this upload; ask for its offset")
            .with("offset", u.offset));
  // Re-read under the lock: the row is what the last chunk recorded.
  u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
  TRY_STATUS(check_chunk(u.size, u.offset, at, static_cast<std::int64_t>(ctx.req.body.size())));
  auto wrapped = crypto::unhex(u.wrapped_key);
  if (!wrapped) return internal("upload " + u.id + " has a malformed key");
  auto staging =
      TRY(Staging::open(svc.blobs().key(), svc.staging_file(u.id), u.id, {u.size, u.offset, u.staged_bytes, *wrapped}));
  TRY_STATUS(staging.append(at, ctx.req.body));
  auto now = ctx.now();
  TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) {
    return advance_upload(tx, u.id, u.offset, staging.state().offset, staging.state().staged_bytes, now,
                          now + svc.settings().upload_ttl);
  }));
  u.offset = staging.state().offset;
  u.staged_bytes = staging.state().staged_bytes;
  u.updated = now;
  u.expires = now + svc.settings().upload_ttl;
  return upload_response(200, u);
}

Result<Response> upload_patch_head(Context& ctx) {
  auto u = TRY(load_upload(ctx, ctx.t()));
  auto at = TRY(header_int(ctx, "upload-offset"));
  if (auto len = ctx.req.header("content-length")) {
    std::int64_t n = -1;
    auto [p, ec] = std::from_chars(len->data(), len->data() + len->size(), n);
    if (ec == std::errc() && p == len->data() + len->size()) TRY_STATUS(check_chunk(u.size, u.offset, at, n));
  }
  return Response{};
}

Result<Response> upload_complete(Service& svc, Context& ctx) {
  auto u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
  auto b = TRY(ctx.json());
  TRY_STATUS(b.only({"sha256"}));
  auto sha = TRY(b.opt_str("sha256", 64));
  if (sha && !valid_blob_id(*sha))
    return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", "sha256 must be 64 lowercase hex digits")
                    .with("field", "sha256"));
  Service::UploadLock lock(svc, u.id);
  if (!lock.held()) return fail(ErrorCode::kAborted, "upload-busy", "another request is sending to this upload");
  u = TRY(ctx.db().read([&](db::Tx& tx) { return load_upload(ctx, tx); }));
  if (u.offset != u.size)
    return fail(Error(ErrorCode::kFailedPrecondition, "upload-incomplete",
                      "the upload has " + std::to_string(u.offset) + " of " + std::to_string(u.size) + " bytes")
                    .with("offset", u.offset)
                    .with("size", u.size));
  if (sha && !u.sha256.empty() && *sha != u.sha256)
    return fail(
        Error(ErrorCode::kInvalidArgument, "invalid-field", "sha256 differs from the one the upload was created with")
            .with("field", "sha256"));
  std::optional<std::string> expected = sha ? sha : (u.sha256.empty() ? std::nullopt : std::optional(u.sha256));
  auto wrapped = crypto::unhex(u.wrapped_key);
  if (!wrapped) return internal("upload " + u.id + " has a malformed key");
  auto staging =
      TRY(Staging::open(svc.blobs().key(), svc.staging_file(u.id), u.id, {u.size, u.offset, u.staged_bytes, *wrapped}));
  // Shared against garbage collection from storing the blob until its file row is in.
  std::shared_lock gc_lock(svc.gc_mutex());
  auto info = staging.finish(svc.blobs(), expected);
  if (!info) {
    if (info.error().type == "hash-mismatch") {
      // Nothing is stored; the upload is over (its data is known to be wrong).
      TRY_STATUS(ctx.db().write_tx([&](db::Tx& tx) { return delete_upload(tx, u.id); }));
      (void)staging.discard();
    }
    return std::unexpected(info.error());
  }
  auto file = TRY(ctx.db().write([&](db::Tx& tx) -> Result<FileRow> {
    auto p = TRY(projects::get(tx, u.project_id));
    if (!p) return not_found("project");
    TRY_STATUS(writable(*p));
    FileRow f;
    f.project_id = u.project_id;
    f.path = u.path;
    f.org_id = p->org_id;
    f.group_id = p->group_id;
    f.owner_id = u.user_id;
    f.blob_id = info->id;
    f.size = info->size;
    auto out = TRY(put_file(tx, ctx.actor(), f, u.overwrite, ctx.now()));
    TRY_STATUS(delete_upload(tx, u.id));
    return out;
  }));
  (void)staging.discard();
  return http::with_etag(Response::json(201, file.json()), file.json())
      .header("Location", "/api/v1/projects/" + file.project_id + "/files/" + file.path);
}

Result<Response> upload_delete(Service& svc, Context& ctx) {
  auto u = TRY(load_upload(ctx, ctx.t()));
  Service::UploadLock lock(svc, u.id);
  if (!lock.held()) return fail(ErrorCode::kAborted, "upload-busy", "another request is using this upload");
  TRY_STATUS(delete_upload(ctx.t(), u.id));
  TRY_STATUS(
      audit::record(ctx.t(), ctx.actor(), {u.org_id, "upload.delete", "upload", u.id, {{"path", u.path}}}, ctx.now()));
  ctx.t().on_end([file = svc.staging_file(u.id)](bool committed) {
    std::error_code ec;
    if (committed) fs::remove(file, ec);
  });
  return Response::no_content();
}

}  // namespace

void add_upload_routes(http::Api& api, Service& svc) {
  const json kObj = http::object_schema();
  api.add({"POST", "/api/v1/projects/{id}/uploads", Access::require("files", "write"),
           {"Start a resumable upload of a file of `size` bytes to `path`; send it with PATCH at offsets, then complete",
            "files", upload_schema(), kObj, 201, {}, true},
           std::bind_front(upload_create, std::ref(svc))});

  api.add({"GET", "/api/v1/projects/{id}/uploads", Access::require("files", "write"),
           {"My uploads in progress in a project", "files", nullptr, http::list_schema(), 200, {"limit", "after"}},
           uploads_list});

  api.add({"GET", "/api/v1/uploads/{id}", Access::require("files", "write"),
           {"An upload's state; Upload-Offset says where to resume", "files", nullptr, kObj},
           upload_show});

  api.add({"PATCH", "/api/v1/uploads/{id}", Access::require("files", "write"),
           {"Send a chunk (the raw bytes as the body) at Upload-Offset, which must be the upload's offset; answers "
            "the new offset",
            "files", nullptr, kObj},
           std::bind_front(upload_patch, std::ref(svc)),
           http::TxMode::kNone, false,
           // Before the chunk is read (it may be 64 MiB, held in memory): only the uploader, who
           // may still write the project, and a chunk that fits where Upload-Offset says.
           upload_patch_head});

  api.add({"POST", "/api/v1/uploads/{id}/complete", Access::require("files", "write"),
           {"Finish an upload: its data becomes the file at its path if the SHA-256 matches (else 400 hash-mismatch "
            "and nothing is stored)",
            "files", json{{"type", "object"}, {"properties", {{"sha256", {{"type", "string"}}}}}}, kObj, 201},
           std::bind_front(upload_complete, std::ref(svc)),
           http::TxMode::kNone});

  api.add({"DELETE", "/api/v1/uploads/{id}", Access::require("files", "write"),
           {"Abandon an upload; its staged data is removed", "files", nullptr, nullptr, 204},
           std::bind_front(upload_delete, std::ref(svc))});

}

}  // namespace atrium::data::detail
