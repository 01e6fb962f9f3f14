#include "images/reference.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "core/crypto.hpp"
#include "images/images.hpp"

namespace atrium::images {
namespace {

using nlohmann::json;

std::unexpected<Error> bad_source(std::string detail) {
  return fail(Error(ErrorCode::kInvalidArgument, "invalid-field", std::move(detail)).with("field", "source"));
}

bool repo_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'; }

bool valid_repo(std::string_view r) {
  if (r.empty() || r.size() > 255) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = r.find('/', start);
    auto part = r.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || !std::all_of(part.begin(), part.end(), repo_char) || !std::isalnum(static_cast<unsigned char>(part.front())))
      return false;
    if (part.find("..") != std::string_view::npos) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t.front() == '.' || t.front() == '-') return false;
  return std::all_of(t.begin(), t.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; });
}

bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  return std::all_of(h.begin(), h.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  });
}

}  // namespace

std::string Reference::text() const {
  return "docker://" + host + "/" + repo + (digest.empty() ? ":" + tag : "@" + digest);
}

std::string Reference::pinned(const std::string& d) const { return "docker://" + host + "/" + repo + "@" + d; }

Result<Reference> parse_reference(std::string_view text) {
  std::string_view s = text;
  if (s.starts_with("docker://")) s.remove_prefix(9);
  else if (s.find("://") != std::string_view::npos || s.starts_with("oci:") || s.starts_with("docker-archive:"))
    return bad_source("source must be a registry image: docker://host/repo:tag or host/repo@sha256:…");
  if (s.empty() || s.size() > 1024) return bad_source("source is empty or too long");
  Reference r;
  if (auto at = s.find('@'); at != std::string_view::npos) {
    r.digest = std::string(s.substr(at + 1));
    if (!valid_digest(r.digest)) return bad_source("the digest must be sha256: and 64 lowercase hex digits");
    s = s.substr(0, at);
  }
  // A first component with a dot or a port, or "localhost", names a registry; else Docker Hub.
  std::string_view name = s;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    auto first = s.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos || first == "localhost") {
      r.host = std::string(first);
      name = s.substr(slash + 1);
    }
  }
  if (auto colon = name.rfind(':'); colon != std::string_view::npos) {
    if (!r.digest.empty()) return bad_source("give a tag or a digest, not both");
    r.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!valid_tag(r.tag)) return bad_source("bad tag '" + r.tag + "'");
  } else if (r.digest.empty()) {
    r.tag = "latest";
  }
  if (r.host.empty()) {
    r.host = "docker.io";
    r.repo = name.find('/') == std::string_view::npos ? "library/" + std::string(name) : std::string(name);
  } else {
    r.repo = std::string(name);
  }
  if (!valid_host(r.host)) return bad_source("bad registry host '" + r.host + "'");
  if (!valid_repo(r.repo)) return bad_source("bad repository name '" + r.repo + "' (lowercase a-z 0-9 . _ - and /)");
  return r;
}

std::string digest_of(std::string_view raw) { return "sha256:" + crypto::sha256_hex(raw); }

Result<Manifest> parse_manifest(std::string_view raw) {
  auto j = json::parse(raw, nullptr, false);
  auto bad = [](std::string d) { return fail(ErrorCode::kInvalidArgument, "bad-manifest", std::move(d)); };
  if (!j.is_object()) return bad("the registry's manifest is not a JSON object");
  if (j.value("schemaVersion", 0) != 2) return bad("only schema 2 manifests (OCI or Docker) are supported");
  Manifest m;
  if (j.contains("manifests")) {
    if (!j["manifests"].is_array()) return bad("the index's manifests is not an array");
    m.index = true;
    for (const auto& e : j["manifests"]) {
      if (!e.is_object() || !e.contains("digest") || !e["digest"].is_string()) return bad("an index entry has no digest");
      PlatformEntry p{e["digest"].get<std::string>(), e.value("mediaType", ""), "", "", ""};
      if (!valid_digest(p.digest)) return bad("an index entry's digest is not sha256");
      if (e.contains("platform") && e["platform"].is_object()) {
        const auto& pl = e["platform"];
        p.os = pl.value("os", "");
        p.architecture = pl.value("architecture", "");
        p.variant = pl.value("variant", "");
      }
      m.platforms.push_back(std::move(p));
    }
    return m;
  }
  if (!j.contains("layers") || !j["layers"].is_array()) return bad("the manifest has no layers");
  for (const auto& l : j["layers"]) {
    if (!l.is_object() || !l.contains("size") || !l["size"].is_number_integer()) return bad("a layer has no size");
    auto size = l["size"].get<std::int64_t>();
    if (size < 0) return bad("a layer has a negative size");
    m.layers_bytes += size;
    ++m.layers;
  }
  if (j.contains("config") && j["config"].is_object()) m.config_digest = j["config"].value("digest", "");
  return m;
}

Result<std::string> pick_platform(const Manifest& index, std::string_view arch) {
  const PlatformEntry* best = nullptr;
  for (const auto& p : index.platforms) {
    if (p.os != "linux" || p.architecture != arch) continue;
    if (!best || (!best->variant.empty() && p.variant.empty())) best = &p;
  }
  if (!best)
    return fail(Error(ErrorCode::kUnprocessable, "no-matching-platform",
                      "the image has no linux/" + std::string(arch) + " variant")
                    .with("field", "source"));
  return best->digest;
}

bool host_matches(const std::vector<std::string>& patterns, std::string_view host) {
  std::string h(host);
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), h.c_str(), 0) == 0) return true;
  return false;
}

std::string host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__powerpc64__)
  return "ppc64le";
#else
  return "amd64";
#endif
}

}  // namespace atrium::images
