// Turning image files into a root directory, safely. Every extraction runs the tool (umoci,
// unsquashfs) as Settings::unpack_uid, an unprivileged uid, into a fresh directory that uid owns,
// so a hostile archive cannot write outside it even through a tool's bug; then neutralise() walks the
// tree through directory fds (openat O_NOFOLLOW, never a path that a symlink could redirect) and
// removes device nodes, fifos and sockets and clears setuid/setgid bits (the sandbox mounts images
// nosuid,nodev as well: two walls). Module-internal (images/ only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/dir.hpp"
#include "core/error.hpp"
#include "images/tool.hpp"

namespace atrium::images {

struct UnpackLimits {
  std::int64_t uid = 1'999'999;            // run the tools as this uid/gid (when we are root)
  std::int64_t max_bytes = 20LL << 30;     // resource_exhausted beyond (checked while walking)
  std::int64_t max_entries = 2'000'000;
  long long timeout_ms = 30 * 60'000;     // the tool is killed after this
  std::string umoci = "umoci", unsquashfs = "unsquashfs";
};

struct Unpacked {
  std::int64_t bytes = 0, entries = 0;
  std::int64_t removed_devices = 0, cleared_setid = 0;  // what neutralise() changed
};

// OCI: unpacks image `ref` ("<layout dir>:<tag>" in umoci's --image syntax) into `dest`/rootfs.
Result<Unpacked> unpack_oci(const std::string& image_ref, const std::filesystem::path& dest, const UnpackLimits& l);

// SIF (Apptainer/Singularity): the byte range of the first squashfs system partition (the
// descriptor table, parsed by hand: no library in Debian reads SIF). invalid_argument when the file
// is not a SIF or holds no squashfs root partition.
struct Range {
  std::int64_t offset = 0, size = 0;
};
Result<Range> sif_rootfs_partition(const std::filesystem::path& sif);
// A squashfs image (a whole file, or `range` of it: a SIF's partition; size < 0: to the end) into
// `dest`/rootfs. `dest` is made afresh and owned by l.uid while unsquashfs runs (then root's, 0755);
// `file` is handed to l.uid read-only (unsquashfs reopens it as /proc/self/fd/3). invalid_argument
// for a file unsquashfs cannot read and (type image-too-large) beyond the limits, which a listing
// checks before anything is written.
Result<Unpacked> unpack_squashfs(const std::filesystem::path& file, Range range, const std::filesystem::path& dest,
                                 const UnpackLimits& l);

// The two ends every unpacker shares. start_unpack(): `dest` made afresh (0700, owned by the unpack
// uid when we are root) and the tool's options: run there (cwd by fd) as that uid, with a clean
// environment and the deadline. finish_unpack(): neutralise dest/rootfs, then give the directory
// back to root (0755).
struct UnpackWork {
  Dir dir;
  ToolOptions tool;
};
Result<UnpackWork> start_unpack(const std::filesystem::path& dest, const UnpackLimits& l);
Result<Unpacked> finish_unpack(UnpackWork& w, const std::filesystem::path& dest, const UnpackLimits& l);

// Removes device nodes, fifos and sockets and clears setuid/setgid bits under `root`, through
// directory fds only. Counts into `u`.
Status neutralise(const std::filesystem::path& root, Unpacked& u, const UnpackLimits& l);

// What software an unpacked root holds: {"os": {ID, VERSION_ID, PRETTY_NAME...} from etc/os-release
// (or usr/lib/os-release), "packages": {"deb": N (var/lib/dpkg/status), "python": N (dist-info
// dirs)}, "python": "3.11.2" (from the python3 symlink/lib dir names)}. Read through directory fds;
// never follows a symlink out of the root.
nlohmann::json describe(const std::filesystem::path& root);

}  // namespace atrium::images
