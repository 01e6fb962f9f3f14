// Image builds from a spec in the project's repository (docs/images.md, "Building an image").
//
// POST /projects/{id}/images/build reads the spec and the files it names at the commit its ref
// names, resolves the base image, and hashes the inputs. A ready build with the same hash in the
// org (this project's, or an org-wide image) answers at once (cached). Otherwise a job managed by
// images runs the build: its log, cancel and CPU-hours are a job's. The job's sandbox gets a
// writable copy of the base root (uid 0 inside, mapped to the job's uid; no capabilities, no
// network; the local package mirrors bound read-only). When the job has ended, a task
// (images.build_finish) packs the root into an OCI image (umoci repack, rootless, as the job's
// uid), and hands it to the images module's ingest; a failed job leaves the build `failed`, with
// the job to read the log of, and nothing stored.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "compute/job.hpp"
#include "core/actor.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"
#include "images/build_spec.hpp"
#include "images/images.hpp"
#include "jobs/service.hpp"
#include "sandbox/sandbox.hpp"
#include "tasks/tasks.hpp"

namespace atrium::projects {
struct Project;
}

namespace atrium::images {

std::vector<db::Migration> build_migrations();  // module "image_builds"

struct Build {
  std::string id, org_id, project_id, group_id, name;
  std::string spec_path, ref, commit, base_digest, inputs_hash;
  std::string job_id;                // "" when served from cache
  std::string state;                 // "running" | "ready" | "failed"
  std::string error;                 // failed: in words
  std::string image_id, digest;      // ready
  nlohmann::json inputs = nlohmann::json::object();  // {"apt": [...], "pip": [...], "files": {name: content}}
  std::string created_by;
  Millis created_ms = 0, updated_ms = 0;
  nlohmann::json json() const;       // the API shape (no inputs' file contents)
};

// What a finished build hands to the images module.
struct BuiltImage {
  std::string org_id, project_id, group_id, name, created_by;
  std::string source;       // "build:<spec path>@<commit>"
  std::string inputs_hash;
  std::string oci_ref;      // "<OCI layout dir>:<tag>" (umoci's --image syntax), the built image
  std::string digest;       // its manifest digest
  std::filesystem::path rootfs;  // the unpacked root (owned by the build's uid; the ingest may move it)
};

// The images module's side (build_ingest.cpp): the built root becomes a ready image of the
// project (neutralised, described, within the storage quota); its id. kAlreadyExists when the name is
// taken meanwhile.
Result<std::string> ingest_built(Service& images, const BuiltImage& b);
// Whether the image exists and is ready (a cached build whose image was removed builds again).
Result<bool> image_ready(db::Tx& tx, const std::string& image_id);
// Whether a pending or ready image of the project has this name.
Result<bool> image_name_taken(db::Tx& tx, const std::string& org_id, const std::string& project_id,
                              const std::string& name);

struct BuildSettings {
  std::filesystem::path dir;       // <data_dir>/images/builds
  Mirrors mirrors;
  int cpus = 2;
  std::int64_t mem_mb = 4096;
  Millis time_limit = 3'600'000;
  std::string umoci = "umoci", cp = "cp";
  // The images module (contract: images.hpp); unset hooks answer unavailable.
  std::function<Result<std::optional<ImagePin>>(db::Tx&, const projects::Project&, std::string_view)> resolve_base;
  std::function<Result<std::filesystem::path>(const std::string& digest)> rootfs;
  std::function<Result<std::string>(const BuiltImage&)> ingest;  // -> the image's id
  // The repository at a commit: a file's content (nullopt: no such file), at most `max` bytes.
  std::function<Result<std::optional<std::string>>(const std::string& project_id, const std::string& commit,
                                                   const std::string& path, std::size_t max)>
      read_file;
};

class Builder {
 public:
  static constexpr std::string_view kNotify = "images.build";
  static constexpr std::string_view kFinishKind = "images.build_finish";

  Builder(db::Database& db, const Clock& clock, jobs::Service& jobs, BuildSettings s);

  // Checks the mirrors, makes the build directory.
  Status start();
  void add_tasks(tasks::Queue& queue);

  struct Requested {
    Build build;
    bool cached = false;  // served from an earlier build: no job
  };
  // Inside the request's write transaction. invalid_argument (field "spec", "ref", "image.base"...)
  // for what the caller can fix.
  Result<Requested> request(db::Tx& tx, const Actor& actor, const projects::Project& p, const std::string& spec_path,
                            const std::optional<std::string>& ref, Millis now);
  Result<std::optional<Build>> get(db::Tx& tx, const std::string& project_id, const std::string& build_id) const;

  // jobs::Settings::prepare for build jobs (others: nothing): the bundle, the mounts, uid 0 inside.
  Status prepare(const jobs::JobRecord& job, sandbox::Spec& spec);
  // jobs::Settings::on_end for notify == kNotify: queues the finish in the same transaction.
  Status on_job_end(db::Tx& tx, const compute::Job& job, const compute::Transition& t);

 private:
  Status finish(const tasks::Task& task);
  Status pack_and_ingest(const Build& b, std::int64_t uid);
  std::filesystem::path build_dir(const std::string& id) const { return settings_.dir / id; }

  db::Database& db_;
  const Clock& clock_;
  jobs::Service& jobs_;
  BuildSettings settings_;
  MirrorDirs mirror_dirs_;
};

}  // namespace atrium::images
