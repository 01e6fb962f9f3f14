#include "images/build_spec.hpp"

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include <toml.hpp>

#include "core/crypto.hpp"

namespace atrium::images {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxPackages = 500;

// 422: the request is well-formed, the spec file it names is refused.
Error bad(const std::string& field, const std::string& detail) {
  return Error(ErrorCode::kUnprocessable, "invalid-build-spec", detail).with("field", field);
}

bool matches(std::string_view s, const std::regex& re) { return std::regex_match(s.begin(), s.end(), re); }

// Debian policy 5.6.1 (name), 5.6.12 (version), an optional :arch.
const std::regex kDeb(R"([a-z0-9][a-z0-9+.\-]{0,127}(:[a-z0-9\-]{1,32})?(=[0-9][A-Za-z0-9.+~:\-]{0,127})?)");
// PEP 508 without URLs and markers: name, [extras], specifiers.
const std::regex kPipName(R"([A-Za-z0-9]([A-Za-z0-9._\-]{0,126}[A-Za-z0-9])?)");
const std::regex kPip(
    R"(([A-Za-z0-9]([A-Za-z0-9._\-]{0,126}[A-Za-z0-9])?)(\[[A-Za-z0-9._\-]+(,[A-Za-z0-9._\-]+)*\])?)"
    R"(((===|==|!=|~=|>=|<=|<|>)[A-Za-z0-9.*+!_\-]{1,64}(,(===|==|!=|~=|>=|<=|<|>)[A-Za-z0-9.*+!_\-]{1,64})*)?)");
const std::regex kImageName(R"([a-z0-9][a-z0-9._\-]{0,63})");
const std::regex kBase(R"(([a-z0-9][a-z0-9._\-]{0,63}(@sha256:[0-9a-f]{64})?)|(sha256:[0-9a-f]{64}))");

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

// `rel` (relative to the spec's directory) as a path from the repository's root.
Result<std::string> repo_relative(std::string_view spec_path, const std::string& rel, const std::string& field) {
  if (rel.empty() || rel.size() > 1024 || rel.front() == '/')
    return fail(bad(field, field + " must be a relative path in the repository"));
  for (unsigned char c : rel)
    if (c < 0x20 || c == 0x7f) return fail(bad(field, field + " has a control character"));
  std::vector<std::string> parts;
  auto dir = spec_path.rfind('/');
  std::string joined = (dir == std::string_view::npos ? std::string() : std::string(spec_path.substr(0, dir + 1))) + rel;
  std::stringstream ss(joined);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (seg.empty() || seg == ".") continue;
    if (seg == ".git") return fail(bad(field, field + " must not name .git"));
    if (seg == "..") {
      if (parts.empty()) return fail(bad(field, field + " leaves the repository"));
      parts.pop_back();
      continue;
    }
    parts.push_back(seg);
  }
  if (parts.empty()) return fail(bad(field, field + " names no file"));
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

Result<std::vector<std::string>> string_list(const toml::value& v, const std::string& key) {
  if (!v.is_array()) return fail(bad(key, key + " must be an array of strings"));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.as_array().size(); ++i) {
    const auto& x = v.as_array()[i];
    if (!x.is_string()) return fail(bad(key, key + "[" + std::to_string(i) + "] must be a string"));
    out.push_back(x.as_string().str);
  }
  if (out.size() > kMaxPackages) return fail(bad(key, key + " lists more than 500 packages"));
  return out;
}

Result<std::string> string_key(const toml::value& v, const std::string& key) {
  if (!v.is_string()) return fail(bad(key, key + " must be a string"));
  return v.as_string().str;
}

// Lines without comments (#...) and blanks, with their numbers.
std::vector<std::pair<int, std::string>> lines_of(std::string_view text) {
  std::vector<std::pair<int, std::string>> out;
  int n = 0;
  std::size_t i = 0;
  while (i <= text.size()) {
    auto j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    ++n;
    std::string_view line = text.substr(i, j - i);
    if (auto h = line.find('#'); h != std::string_view::npos) line = line.substr(0, h);
    if (auto t = trim(line); !t.empty()) out.emplace_back(n, t);
    i = j + 1;
  }
  return out;
}

std::vector<std::string> sorted_unique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

Status check_deb_package(std::string_view s, const std::string& what) {
  if (!matches(s, kDeb))
    return fail(bad("spec", what + ": '" + std::string(s.substr(0, 80)) +
                                "' is not a Debian package name (name[:arch][=version]; a-z 0-9 + . -)"));
  return {};
}

Result<std::string> check_pip_requirement(std::string_view s, const std::string& what) {
  std::string compact;
  for (char c : s)
    if (c != ' ' && c != '\t') compact += c;
  if (!matches(compact, kPip))
    return fail(bad("spec", what + ": '" + std::string(s.substr(0, 80)) +
                                "' is not a plain Python requirement (name[extras] and version specifiers such as "
                                "==1.2; no URLs, options or markers)"));
  return compact;
}

Result<std::vector<std::string>> parse_requirements_file(std::string_view text, const std::string& file) {
  std::vector<std::string> out;
  for (const auto& [n, line] : lines_of(text)) {
    std::string where = file + " line " + std::to_string(n);
    if (line.front() == '-') return fail(bad("spec", where + ": pip options (-r, -e, --index-url...) are not allowed"));
    out.push_back(TRY(check_pip_requirement(line, where)));
  }
  if (out.size() > kMaxPackages) return fail(bad("spec", file + " lists more than 500 packages"));
  return out;
}

Result<std::vector<std::string>> parse_apt_file(std::string_view text, const std::string& file) {
  std::vector<std::string> out;
  for (const auto& [n, line] : lines_of(text)) {
    TRY_STATUS(check_deb_package(line, file + " line " + std::to_string(n)));
    out.push_back(line);
  }
  if (out.size() > kMaxPackages) return fail(bad("spec", file + " lists more than 500 packages"));
  return out;
}

Result<BuildSpec> parse_build_spec(std::string_view toml_text, std::string_view spec_path) {
  toml::value root;
  try {
    std::istringstream in{std::string(toml_text)};
    root = toml::parse(in, std::string(spec_path));
  } catch (const std::exception& e) {
    return fail(bad("spec", std::string(spec_path) + " is not valid TOML: " + std::string(e.what()).substr(0, 400)));
  }
  for (const auto& [k, v] : root.as_table())
    if (k != "image") return fail(bad("spec", "unknown key '" + k + "' (the spec has one [image] table)"));
  if (!root.contains("image") || !root.at("image").is_table())
    return fail(bad("spec", std::string(spec_path) + " has no [image] table"));
  BuildSpec s;
  for (const auto& [k, v] : root.at("image").as_table()) {
    std::string key = "image." + k;
    if (k == "name") s.name = TRY(string_key(v, key));
    else if (k == "base") s.base = TRY(string_key(v, key));
    else if (k == "apt") s.apt = TRY(string_list(v, key));
    else if (k == "pip") s.pip = TRY(string_list(v, key));
    else if (k == "requirements") s.requirements = TRY(repo_relative(spec_path, TRY(string_key(v, key)), key));
    else if (k == "apt_file") s.apt_file = TRY(repo_relative(spec_path, TRY(string_key(v, key)), key));
    else return fail(bad(key, "unknown key '" + key + "' (name, base, apt, pip, requirements, apt_file)"));
  }
  if (s.name.empty()) return fail(bad("image.name", "image.name is required"));
  if (!matches(s.name, kImageName))
    return fail(bad("image.name", "image.name must be 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit"));
  if (s.base.empty()) return fail(bad("image.base", "image.base is required (an image of the project to build on)"));
  if (!matches(s.base, kBase))
    return fail(bad("image.base", "image.base must be an image name, name@sha256:<digest> or sha256:<digest>"));
  for (std::size_t i = 0; i < s.apt.size(); ++i) TRY_STATUS(check_deb_package(s.apt[i], "image.apt[" + std::to_string(i) + "]"));
  for (std::size_t i = 0; i < s.pip.size(); ++i)
    s.pip[i] = TRY(check_pip_requirement(s.pip[i], "image.pip[" + std::to_string(i) + "]"));
  if (s.apt.empty() && s.pip.empty() && s.requirements.empty() && s.apt_file.empty())
    return fail(bad("spec", "the spec installs nothing (apt, pip, requirements or apt_file)"));
  return s;
}

Result<MirrorDirs> mirror_dirs(const Mirrors& m) {
  MirrorDirs d;
  auto local_dir = [](const std::string& uri, const char* key) -> Result<std::string> {
    if (!uri.starts_with("file:///"))
      return fail(Error(ErrorCode::kInvalidArgument, "config",
                        std::string("image_builds.") + key + ": only local mirrors (file:///dir) are supported so far"));
    std::string dir = uri.substr(7);
    if (dir.find("/../") != std::string::npos || dir.ends_with("/.."))
      return fail(Error(ErrorCode::kInvalidArgument, "config", std::string("image_builds.") + key + ": no .. in the path"));
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir;
  };
  if (!m.apt.empty()) {
    std::string line = trim(m.apt), options;
    if (line.starts_with("[")) {
      auto close = line.find(']');
      if (close == std::string::npos)
        return fail(Error(ErrorCode::kInvalidArgument, "config", "image_builds.apt_mirror: unclosed [options]"));
      options = line.substr(0, close + 1);
      line = trim(line.substr(close + 1));
    }
    auto sp = line.find(' ');
    if (sp == std::string::npos)
      return fail(Error(ErrorCode::kInvalidArgument, "config",
                        "image_builds.apt_mirror: expected '[options] file:///dir suite [components]'"));
    for (unsigned char c : m.apt)
      if (c < 0x20 || c == 0x7f)
        return fail(Error(ErrorCode::kInvalidArgument, "config", "image_builds.apt_mirror: control character"));
    d.apt_dir = TRY(local_dir(line.substr(0, sp), "apt_mirror"));
    d.apt_line = "deb " + (options.empty() ? "" : options + " ") + "file:/atrium/mirror/apt " + trim(line.substr(sp + 1));
  }
  if (!m.pip.empty()) d.pip_dir = TRY(local_dir(trim(m.pip), "pip_index_url"));
  return d;
}

Result<BuildInputs> build_inputs(const BuildSpec& spec, std::string base_digest, std::map<std::string, std::string> files) {
  BuildInputs in;
  in.spec = spec;
  in.base_digest = std::move(base_digest);
  in.apt = spec.apt;
  in.pip = spec.pip;
  if (!spec.apt_file.empty()) {
    auto more = TRY(parse_apt_file(files[spec.apt_file], spec.apt_file));
    in.apt.insert(in.apt.end(), more.begin(), more.end());
  }
  if (!spec.requirements.empty()) {
    auto more = TRY(parse_requirements_file(files[spec.requirements], spec.requirements));
    in.pip.insert(in.pip.end(), more.begin(), more.end());
  }
  in.apt = sorted_unique(std::move(in.apt));
  in.pip = sorted_unique(std::move(in.pip));
  if (in.apt.size() > kMaxPackages || in.pip.size() > kMaxPackages)
    return fail(bad("spec", "a build installs at most 500 Debian and 500 Python packages"));
  in.files = std::move(files);
  return in;
}

json canonical(const BuildInputs& in) {
  return {{"base", in.base_digest}, {"apt", in.apt}, {"pip", in.pip},
          {"requirements", in.spec.requirements}, {"apt_file", in.spec.apt_file}};
}

std::string inputs_hash(const BuildInputs& in, const Mirrors& mirrors) {
  json files = json::object();
  for (const auto& [path, content] : in.files) files[path] = crypto::sha256_hex(content);
  json all = {{"v", 1}, {"spec", canonical(in)}, {"files", files}, {"mirrors", mirrors.json()}};
  return "sha256:" + crypto::sha256_hex(all.dump());
}

namespace {

// The build job's script: constant text; the package lists are files read into argv words
// (validated names hold no blanks or glob characters, and globbing is off).
constexpr std::string_view kBuildScript = R"SH(#!/bin/sh
# Atrium image build (constant script; the lists next to it are what the spec asked for).
set -eu
set -f
B=/atrium/build
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if [ -s "$B/apt.txt" ]; then
  set -- -o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$B/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Acquire::Languages=none -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false
  echo "== apt-get update"
  apt-get "$@" update
  echo "== apt-get install $(cat "$B/apt.txt")"
  apt-get "$@" install -y $(cat "$B/apt.txt")
  apt-get "$@" clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
fi
if [ -s "$B/requirements.txt" ]; then
  echo "== pip install $(cat "$B/requirements.txt")"
  python3 -m pip install --no-cache-dir --break-system-packages --root-user-action=ignore \
    $(cat "$B/pip-options.txt") -r "$B/requirements.txt"
fi
echo "== done"
)SH";

}  // namespace

std::map<std::string, std::string> build_files(const BuildInputs& in, const MirrorDirs& mirrors) {
  std::map<std::string, std::string> f;
  f["build.sh"] = std::string(kBuildScript);
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
  };
  f["apt.txt"] = join(in.apt);
  f["requirements.txt"] = join(in.pip);
  f["sources.list"] = mirrors.apt_line.empty() ? "" : mirrors.apt_line + "\n";
  f["pip-options.txt"] = mirrors.pip_dir.empty() ? "--no-index\n" : "--no-index --find-links /atrium/mirror/pip\n";
  return f;
}

std::vector<std::string> build_argv() { return {"/bin/sh", "/atrium/build/build.sh"}; }

}  // namespace atrium::images
