// Module-internal (images/): the pure parts of pulling. Image references ("docker://host/repo:tag",
// "host/repo@sha256:…", Docker Hub short names), registry manifests and indexes (which platform
// manifest to pull), digests of raw manifests, and the insecure-registry patterns of the config.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace atrium::images {

struct Reference {
  std::string host;    // "registry-1.docker.io" for Docker Hub short names, else as written ("host:port")
  std::string repo;    // "library/ubuntu", "lab/tools"
  std::string tag;     // "" when pinned by digest
  std::string digest;  // "" when by tag
  // docker://host/repo:tag or docker://host/repo@sha256:…
  std::string text() const;
  // The same repository pinned to `d`: docker://host/repo@d.
  std::string pinned(const std::string& d) const;
};

// "docker://host/repo:tag", "host/repo@sha256:…", "ubuntu:22.04" (Docker Hub), "host/repo" (tag
// latest). invalid_argument (field "source") for anything else: other transports, bad names.
Result<Reference> parse_reference(std::string_view text);

// The digest of raw manifest bytes as registries compute it: "sha256:" + hex(SHA-256(raw)).
std::string digest_of(std::string_view raw);

struct PlatformEntry {
  std::string digest, media_type, os, architecture, variant;
};
struct Manifest {
  bool index = false;                   // an OCI index or a Docker manifest list
  std::vector<PlatformEntry> platforms;  // index: its manifests
  std::int64_t layers_bytes = 0;        // manifest: the sum of its layers' (compressed) sizes
  int layers = 0;
  std::string config_digest;
};
// A registry's raw manifest (OCI image manifest or index, Docker schema 2 manifest or list);
// invalid_argument for anything else (schema 1, not JSON, a layer with a negative size).
Result<Manifest> parse_manifest(std::string_view raw);
// The index's manifest for linux/`arch` (the variant-less one first); not_found when none.
Result<std::string> pick_platform(const Manifest& index, std::string_view arch);

// Whether `host` ("127.0.0.1:5000") matches one of `patterns` (shell globs: "127.0.0.1:*",
// "*.lab.internal").
bool host_matches(const std::vector<std::string>& patterns, std::string_view host);

// The architecture name OCI uses for this machine ("amd64", "arm64").
std::string host_arch();

}  // namespace atrium::images
