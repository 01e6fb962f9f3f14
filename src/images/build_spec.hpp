// Image builds, the pure part: the spec file (`atrium-env.toml` in the project's repository), its
// validation, its canonical form and the inputs hash that caches builds, and the files a build job
// gets (its script, package lists, apt sources, pip options). No I/O here (docs/images.md,
// "Building an image").
//
// Nothing a spec says reaches a shell: package names are checked against Debian's and PEP 508's
// character sets, written one per line into files the constant build script reads, and handed to
// apt-get and pip as separate arguments.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace atrium::images {

struct BuildSpec {
  std::string name;                  // the image's name in the project
  std::string base;                  // what images::Service::resolve takes: "name", "name@sha256:…", "sha256:…"
  std::vector<std::string> apt;      // Debian packages: name[:arch][=version]
  std::vector<std::string> pip;      // PEP 508 requirements without URLs or markers: name[extras][specifiers]
  std::string requirements;          // a requirements.txt in the repository ("" = none), repo-relative
  std::string apt_file;              // an apt.txt (one package a line, # comments), repo-relative
};

// Parses and checks the TOML text of `spec_path` (repo-relative, for resolving the file names it
// refers to: relative to the spec's directory). invalid_argument with field "spec" and the key or
// line at fault; unknown keys are refused by name.
Result<BuildSpec> parse_build_spec(std::string_view toml_text, std::string_view spec_path);

// Checks one entry. The `what` names the place for the error ("apt[2]", "requirements.txt line 4").
Status check_deb_package(std::string_view s, const std::string& what);
// Returns the requirement without spaces ("numpy >= 1.26" -> "numpy>=1.26").
Result<std::string> check_pip_requirement(std::string_view s, const std::string& what);
// The requirements of a requirements.txt / the packages of an apt.txt: comments and blank lines
// dropped, each line checked (pip options such as -r, -e, --index-url are refused).
Result<std::vector<std::string>> parse_requirements_file(std::string_view text, const std::string& file);
Result<std::vector<std::string>> parse_apt_file(std::string_view text, const std::string& file);

// Where the packages come from ([images] apt_mirror, pip_index_url). Only local directories
// (file://) so far: bound read-only into the build, which has no network.
struct Mirrors {
  std::string apt;  // a sources.list line without "deb": "[trusted=yes] file:///srv/apt ./" ("" = no apt)
  std::string pip;  // "file:///srv/wheels" (a directory of wheels/sdists: pip --find-links) ("" = no pip)
  nlohmann::json json() const { return {{"apt", apt}, {"pip", pip}}; }
};
// Checks the mirror settings (config); the host directories to bind.
struct MirrorDirs {
  std::string apt_dir, pip_dir;  // host directories ("" = none)
  std::string apt_line;          // the sources.list line inside the build (the directory at /atrium/mirror/apt)
};
Result<MirrorDirs> mirror_dirs(const Mirrors& m);

// What a build installs, after the files it names were read: the spec's lists plus the files'.
struct BuildInputs {
  BuildSpec spec;
  std::string base_digest;
  std::map<std::string, std::string> files;  // repo path -> content (requirements, apt_file)
  std::vector<std::string> apt, pip;         // sorted, unique: what is installed
};
Result<BuildInputs> build_inputs(const BuildSpec& spec, std::string base_digest,
                                 std::map<std::string, std::string> files);
// The spec as the hash sees it (name excluded: the same software under another name is the same
// image), sorted lists.
nlohmann::json canonical(const BuildInputs& in);
// "sha256:" + hex over {base digest, canonical spec, each referenced file's content, mirrors}.
std::string inputs_hash(const BuildInputs& in, const Mirrors& mirrors);

// The files of a build's /atrium/build directory: name -> content. "build.sh" is constant.
std::map<std::string, std::string> build_files(const BuildInputs& in, const MirrorDirs& mirrors);
// The job's argv.
std::vector<std::string> build_argv();

}  // namespace atrium::images
