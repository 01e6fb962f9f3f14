// image import: an image from a file of the project (a .sif, a squashfs image or an OCI archive),
// uploaded first from a local file with --upload (the resumable upload of `data put`).

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

namespace atrium::cli {

void add_image_import(CLI::App* image, const Ctx& ctx) {
  struct Args {
    std::string project, name, path, format, upload;
    bool make_default = false, wait = false, overwrite = false;
    int wait_s = 1800;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = image->add_subcommand(
      "import", "Import an image from a file of the project: an Apptainer .sif, a squashfs image or an OCI archive");
  cmd->add_option("project", a->project, "Project: ORG/PROJECT or its id")->required();
  cmd->add_option("name", a->name, "The image's name in the project (jobs say image: NAME)")->required();
  cmd->add_option("path", a->path, "The file's path in the project")->required();
  cmd->add_option("--format", a->format, "sif, squashfs or oci-archive (default: read from the file)")
      ->check(CLI::IsMember({"sif", "squashfs", "oci-archive"}));
  cmd->add_option("--upload", a->upload, "Upload this local file to the path first (resumable)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--overwrite", a->overwrite, "With --upload: replace a file that exists at the path");
  cmd->add_flag("--default", a->make_default, "Make it the project's default image");
  cmd->add_flag("--wait", a->wait, "Wait until the image is ready (or failed)");
  cmd->add_option("--wait-timeout", a->wait_s, "Seconds --wait waits at most (default 1800)");
  ctx->on_api(cmd, [ctx, a](ApiClient& api) -> Status {
    a->project = TRY(api.resolve_project(a->project));
    if (!a->upload.empty()) TRY_STATUS(upload_file(*ctx, api, a->upload, a->project, a->path, a->overwrite));
    ApiCall c;
    c.method = "POST";
    c.path = api_path({"projects", a->project, "images", "import"});
    c.body = nlohmann::json{{"name", a->name}, {"file", a->path}, {"default", a->make_default}};
    if (!a->format.empty()) (*c.body)["format"] = a->format;
    return wait_and_report_image(*ctx, api, TRY(api.send(c)).body, a->name, a->wait, a->wait_s, "import");
  });
}

}  // namespace atrium::cli
