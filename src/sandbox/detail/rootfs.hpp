// An image root laid out as the sandbox's /. Each top-level entry of the image is bound read-only
// (a symlink such as bin -> usr/bin is recreated as a symlink), so a start costs a few mounts and
// never a copy. A mount the image has no mount point for (/home/atrium in an image with /home,
// /data/<name> in one with /data, /etc/resolv.conf where the image has none or a symlink) cannot be
// made inside a read-only bind, and the image must never be written: the directory that lacks it
// becomes an "underlay", a small tmpfs holding the image's entries one by one (each bound or
// recreated the same way), in which the mount point is made. Only those directories pay for it.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"

namespace atrium::sandbox::detail {

struct RootEntry {
  // kEmptyDir: an empty directory of the image, made on the sandbox's read-only root (no mount)
  enum class Kind { kSymlink, kDir, kFile, kUnderlay, kEmptyDir };
  Kind kind = Kind::kDir;
  std::string path;    // in the sandbox: "/bin", "/home", "/etc/hosts"
  std::string source;  // host path (kDir, kFile) or the link's text (kSymlink); kUnderlay: ""
  unsigned mode = 0755;  // kUnderlay: the image directory's mode
};

// Top-level names the sandbox provides itself: never taken from an image.
bool sandbox_owned(const std::string& top_level_name);

// The entries of image root `rootfs` (a real path) to lay out, parents before children, given the
// absolute targets of the sandbox's mounts. failed_precondition when a mount would go through a
// symlink or a file of the image.
Result<std::vector<RootEntry>> image_root_entries(const std::string& rootfs, const std::vector<std::string>& targets);

}  // namespace atrium::sandbox::detail
