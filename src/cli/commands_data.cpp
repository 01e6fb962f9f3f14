// data: put (resumable uploads with a progress bar), get (ranged, resumable downloads, verified),
// ls, rm, mv; admin gc.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/table.hpp"
#include "cli/units.hpp"
#include "core/clock.hpp"
#include "core/crypto.hpp"

namespace atrium::cli {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kDefaultChunk = 16 << 20;
constexpr std::int64_t kDownloadPiece = 32 << 20;  // under the client's 64 MiB response limit
constexpr int kMaxRetries = 8;

std::string files_path(const std::string& project, const std::string& path) {
  return api_path({"projects", project, "files"}) + encode_path_segments(path);
}

// A progress line on stderr when it is a terminal: "  42%  420.0 MiB / 1.0 GiB  95.1 MiB/s".
class Progress {
 public:
  Progress(std::ostream& err, std::int64_t total, bool on)
      : err_(err), total_(total), on_(on && ::isatty(2)) {}
  void update(std::int64_t done, bool final = false) {
    if (!on_) return;
    if (!final && shown_ && since_shown_.millis() < 200) return;
    shown_ = true;
    since_shown_.restart();
    double secs = since_start_.seconds();
    double rate = secs > 0 ? static_cast<double>(done - start_) / secs : 0;
    int pct = total_ > 0 ? static_cast<int>(100 * done / total_) : 100;
    err_ << "\r  " << pct << "%  " << format_size(static_cast<std::uint64_t>(done)) << " / "
         << format_size(static_cast<std::uint64_t>(total_)) << "  " << format_size(static_cast<std::uint64_t>(rate))
         << "/s   " << (final ? "\n" : "") << std::flush;
  }
  void resumed_at(std::int64_t done) { start_ = done; }

 private:
  std::ostream& err_;
  std::int64_t total_, start_ = 0;
  bool on_;
  bool shown_ = false;
  Stopwatch since_start_, since_shown_;
};

// Errors worth retrying after asking where the upload stands: the network, the server restarting
// or shedding load, a chunk that raced another.
bool retryable(const Error& e) {
  if (e.type == "offset-mismatch" || e.type == "upload-busy") return true;
  auto st = e.extra.find("status");
  if (st == e.extra.end()) return e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kInternal;
  int s = st->is_number() ? st->get<int>() : 0;
  return s == 502 || s == 503 || s == 504 || s == 429;
}

void backoff(int attempt) {
  client_sleep_ms(std::min(8000, 250 << std::min(attempt, 5)));
}

// Feeds the file's bytes to `hash`; their count.
Result<std::int64_t> hash_file(const fs::path& file, crypto::Sha256& hash) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return usage_error("cannot read " + file.string());
  std::string buf(1 << 20, '\0');
  std::int64_t size = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = in.gcount();
    if (n <= 0) break;
    hash.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    size += n;
  }
  if (in.bad()) return fail(ErrorCode::kInternal, "io", "reading " + file.string() + " failed");
  return size;
}

Result<std::string> sha256_of_file(const fs::path& file, std::int64_t& size) {
  crypto::Sha256 st;
  size = TRY(hash_file(file, st));
  return st.hex_digest();
}

// Where `data put` remembers an upload in progress, so a second run resumes it.
Result<fs::path> resume_file(Context& ctx, const std::string& server, const std::string& project,
                             const std::string& path, const std::string& sha) {
  auto dir = TRY(ctx.config_directory()) / "uploads";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return dir / crypto::sha256_hex(server + "\n" + project + "\n" + path + "\n" + sha);
}

struct PutArgs {
  std::string file, project, path;
  bool overwrite = false, quiet = false;
  bool report = true;  // print the upload's result (false: another command reports)
  std::string chunk = "16MiB";
};

Status put(Context& ctx, ApiClient& api, const PutArgs& a) {
  std::int64_t size = 0;
  std::string sha = TRY(sha256_of_file(a.file, size));
  std::string dest = a.path.empty() ? fs::path(a.file).filename().string() : a.path;
  std::int64_t chunk = static_cast<std::int64_t>(TRY(parse_size(a.chunk)));
  if (chunk < 4096) return usage_error("--chunk must be at least 4 KiB");
  auto state_file = TRY(resume_file(ctx, TRY(ctx.target(true)).url.to_string(), a.project, dest, sha));

  // An upload this command started before and that is still open: resume it.
  std::string id;
  std::int64_t offset = 0;
  {
    std::ifstream in(state_file);
    std::string saved;
    if (in && std::getline(in, saved) && !saved.empty()) {
      auto r = api.get(api_path({"uploads", saved}));
      if (r && r->body.value("size", -1) == size) {
        id = saved;
        offset = r->body.value("offset", std::int64_t{0});
        if (!a.quiet) ctx.err() << "resuming upload " << id << " at " << format_size(offset) << "\n";
      }
    }
  }
  if (id.empty()) {
    ApiCall c{"POST", api_path({"projects", a.project, "uploads"}), {},
              json{{"path", dest}, {"size", size}, {"sha256", sha}, {"overwrite", a.overwrite}}, std::nullopt};
    auto raw = TRY(api.send_raw(c));
    auto body = json::parse(raw.body, nullptr, false);
    id = body.value("id", "");
    if (id.empty()) return fail(ErrorCode::kInternal, "bad-response", "the server did not name the upload");
    if (auto m = raw.header("upload-chunk-max")) chunk = std::min<std::int64_t>(chunk, std::stoll(std::string(*m)));
    std::ofstream(state_file) << id << "\n";
  }

  std::ifstream in(a.file, std::ios::binary);
  std::string buf;
  Progress bar(ctx.err(), size, !a.quiet);
  bar.resumed_at(offset);
  int failures = 0;
  while (offset < size) {
    buf.resize(static_cast<std::size_t>(std::min(chunk, size - offset)));
    in.clear();
    in.seekg(offset);
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() != static_cast<std::streamsize>(buf.size()))
      return fail(ErrorCode::kInternal, "io", a.file + " changed while it was being uploaded");
    ApiCall c{"PATCH", api_path({"uploads", id}), {}, std::nullopt, buf};
    auto r = api.send_raw(c, {{"Upload-Offset", std::to_string(offset)}});
    if (!r) {
      if (!retryable(r.error()) || ++failures > kMaxRetries) return std::unexpected(r.error());
      backoff(failures);
      auto st = api.get(api_path({"uploads", id}));  // where does it stand?
      if (st) offset = st->body.value("offset", offset);
      continue;
    }
    failures = 0;
    offset = json::parse(r->body, nullptr, false).value("offset", offset + static_cast<std::int64_t>(buf.size()));
    bar.update(offset);
  }
  bar.update(size, true);
  ApiCall done{"POST", api_path({"uploads", id, "complete"}), {}, json{{"sha256", sha}}, std::nullopt};
  auto r = api.send(done);
  std::error_code ec;
  fs::remove(state_file, ec);
  TRY_STATUS(r);
  std::string msg = "uploaded " + dest + " (" + format_size(static_cast<std::uint64_t>(size)) + ", sha256 " + sha + ")";
  if (a.report)
    ctx.done(*r, msg);
  else
    ctx.err() << sanitize(msg) << "\n";  // a step of another command, whose own answer is stdout
  return {};
}

struct GetArgs {
  std::string project, path, out;
  bool quiet = false;
};

Status get(Context& ctx, ApiClient& api, const GetArgs& a) {
  std::string target = files_path(a.project, a.path);
  auto stat = TRY(api.get(target + "?stat=true"));
  std::int64_t size = stat.body.value("size", std::int64_t{0});
  std::string sha = stat.body.value("sha256", "");
  std::string etag = stat.etag;
  bool to_stdout = a.out == "-";
  fs::path out = a.out.empty() ? fs::path(a.path).filename() : fs::path(a.out);
  fs::path part = out;
  part += ".part";

  crypto::Sha256 st;
  std::int64_t offset = 0;
  std::ofstream file;
  if (!to_stdout) {
    // A .part from an earlier run of the same file: hash it and go on from its end.
    std::error_code ec;
    if (fs::exists(part, ec) && static_cast<std::int64_t>(fs::file_size(part, ec)) <= size) {
      offset = TRY(hash_file(part, st));
      if (!a.quiet && offset > 0) ctx.err() << "resuming at " << format_size(static_cast<std::uint64_t>(offset)) << "\n";
    }
    file.open(part, std::ios::binary | std::ios::app);
    if (!file) return usage_error("cannot write " + part.string());
  }
  std::ostream& sink = to_stdout ? ctx.out() : file;
  Progress bar(ctx.err(), size, !a.quiet && !to_stdout);
  bar.resumed_at(offset);
  int failures = 0;
  while (offset < size) {
    std::int64_t end = std::min(size, offset + kDownloadPiece) - 1;
    ApiCall c{"GET", target, {}, std::nullopt, std::nullopt};
    auto r = api.send_raw(c, {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(end)},
                              {"If-Range", etag}});
    if (!r) {
      if (!retryable(r.error()) || ++failures > kMaxRetries) return std::unexpected(r.error());
      backoff(failures);
      continue;
    }
    if (r->status != 206)
      return fail(ErrorCode::kAborted, "file-changed", a.path + " changed on the server during the download; run again");
    failures = 0;
    st.update(r->body);
    sink.write(r->body.data(), static_cast<std::streamsize>(r->body.size()));
    if (!sink) return fail(ErrorCode::kInternal, "io", "writing " + (to_stdout ? std::string("stdout") : part.string()));
    offset += static_cast<std::int64_t>(r->body.size());
    bar.update(offset);
  }
  bar.update(size, true);
  std::string got = st.hex_digest();
  if (got != sha) {
    if (!to_stdout) {
      std::error_code ec;
      fs::remove(part, ec);
    }
    return fail(ErrorCode::kInternal, "hash-mismatch", "the downloaded data's SHA-256 is " + got + ", not " + sha);
  }
  if (!to_stdout) {
    file.close();
    std::error_code ec;
    fs::rename(part, out, ec);
    if (ec) return fail(ErrorCode::kInternal, "io", "renaming " + part.string() + ": " + ec.message());
    if (!a.quiet && !ctx.globals.json)
      ctx.out() << "downloaded " << a.path << " to " << out.string() << " (" << format_size(static_cast<std::uint64_t>(size))
                << ", sha256 verified)\n";
  }
  return {};
}

}  // namespace

Status upload_file(Context& ctx, ApiClient& api, const std::string& file, const std::string& project,
                   const std::string& path, bool overwrite) {
  PutArgs a;
  a.file = file, a.project = project, a.path = path, a.overwrite = overwrite, a.report = false;
  return put(ctx, api, a);
}

void add_data_commands(CLI::App& app, const Ctx& ctx) {
  auto* data = app.add_subcommand("data", "Project files: upload, download, list, move, delete");
  data->require_subcommand(1);
  {
    auto a = std::make_shared<PutArgs>();
    auto* cmd = data->add_subcommand("put", "Upload a file (resumes by itself after a broken connection or a new run)");
    cmd->add_option("FILE", a->file, "Local file")->required()->check(CLI::ExistingFile);
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    cmd->add_option("--path", a->path, "Path in the project (default: the file's name)");
    cmd->add_flag("--overwrite", a->overwrite, "Replace a file that exists at the path");
    cmd->add_option("--chunk", a->chunk, "Chunk size (default 16MiB)");
    cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      return put(*ctx, api, *a);
    });
  }
  {
    auto a = std::make_shared<GetArgs>();
    auto* cmd = data->add_subcommand("get", "Download a file (verified; resumes a .part left by an earlier run)");
    cmd->add_option("PATH", a->path, "Path in the project")->required();
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    cmd->add_option("-o,--output", a->out, "Local file (default: the file's name; - for stdout)");
    cmd->add_flag("-q,--quiet", a->quiet, "No progress bar");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      return get(*ctx, api, *a);
    });
  }
  {
    struct Args {
      std::string project, prefix;
      PageArgs page;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = data->add_subcommand("ls", "List a project's files (under a directory)");
    cmd->add_option("PREFIX", a->prefix, "Only files under this directory");
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    add_page_options(cmd, a->page);
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      ApiCall c{"GET", api_path({"projects", a->project, "files"}), {}, std::nullopt, std::nullopt};
      if (!a->prefix.empty()) c.query.emplace_back("prefix", a->prefix);
      return ctx->list(api, c, a->page, "files");
    });
  }
  {
    struct Args {
      std::string project, path;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = data->add_subcommand("rm", "Delete a file");
    cmd->add_option("PATH", a->path, "Path in the project")->required();
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      auto r = TRY(api.send({"DELETE", files_path(a->project, a->path), {}, std::nullopt, std::nullopt}));
      ctx->done(r, "deleted " + a->path);
      return {};
    });
  }
  {
    struct Args {
      std::string project, from, to;
      bool overwrite = false;
    };
    auto a = std::make_shared<Args>();
    auto* cmd = data->add_subcommand("mv", "Rename a file");
    cmd->add_option("FROM", a->from, "Path in the project")->required();
    cmd->add_option("TO", a->to, "New path")->required();
    cmd->add_option("--project", a->project, "Project: ORG/PROJECT or its id (prj_...)")->required();
    cmd->add_flag("--overwrite", a->overwrite, "Replace a file that exists at TO");
    ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
      a->project = TRY(api.resolve_project(a->project));
      auto r = TRY(api.send({"POST", api_path({"projects", a->project, "files-move"}), {},
                             json{{"from", a->from}, {"to", a->to}, {"overwrite", a->overwrite}}, std::nullopt}));
      ctx->done(r, "moved " + a->from + " to " + a->to);
      return {};
    });
  }
}

void add_admin_commands(CLI::App& app, const Ctx& ctx) {
  // `admin` also holds the server-host commands (audit verify) that app/ registers first.
  CLI::App* admin = nullptr;
  try {
    admin = app.get_subcommand("admin");
  } catch (const CLI::OptionNotFound&) {
    admin = app.add_subcommand("admin", "Instance administration");
    admin->require_subcommand(1);
  }
  add_admin_user_commands(admin, ctx);
  add_task_commands(admin, ctx);
  auto dry = std::make_shared<bool>(false);
  auto* cmd = admin->add_subcommand("gc", "Collect blobs no file refers to, expired uploads and orphaned staging files");
  cmd->add_flag("--dry-run", *dry, "Only count what would be collected");
  ctx->on_api(cmd, [ctx, dry](ApiClient& api) -> Status {
    auto r = TRY(api.send({"POST", api_path({"admin", "gc"}), {}, json{{"dry_run", *dry}}, std::nullopt}));
    const auto& b = r.body;
    if (r.status == 202) {  // it outlasted the server's wait: it goes on as a task
      std::string id = sanitize(b.value("id", ""));
      ctx->done(r, "garbage collection goes on as task " + id + ": see `atrium admin tasks show " + id + "`");
      return {};
    }
    ctx->done(r, std::string(*dry ? "would collect " : "collected ") + std::to_string(b.value("blobs", 0)) +
                     " blobs (" + format_size(b.value("bytes", std::uint64_t{0})) + "), " +
                     std::to_string(b.value("orphan_objects", 0)) + " orphaned objects, " +
                     std::to_string(b.value("expired_uploads", 0)) + " expired uploads, " +
                     std::to_string(b.value("staging_files", 0)) + " staging files, " +
                     std::to_string(b.value("materialized", 0)) + " dataset copies");
    return {};
  });
}

}  // namespace atrium::cli
