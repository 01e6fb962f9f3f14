// Reading an Apptainer/Singularity SIF file's layout by hand (no library in Debian reads SIF): the
// 128-byte global header and the table of 585-byte descriptors (little-endian, packed, as
// github.com/apptainer/sif pkg/sif writes them with encoding/binary), and the first squashfs
// system partition in it. Also what kind of image file a file is, from its first bytes.
// Module-internal (images/ only); sif_rootfs_partition() in unpack.hpp is the file-backed entry.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "images/unpack.hpp"

namespace atrium::images {

inline constexpr std::int64_t kSifHeaderSize = 128;
inline constexpr std::int64_t kSifDescriptorSize = 585;
inline constexpr std::int64_t kSifMaxDescriptors = 4096;

// Reads exactly `n` bytes at `offset` into `buf` (false: the file is shorter or unreadable).
using ReadAt = std::function<bool(std::int64_t offset, char* buf, std::size_t n)>;

// The partition a job's root comes from: the first used descriptor that is a partition (0x4004)
// holding squashfs (fstype 1) of type primary system (2), else the first of type system (1). Every
// field it relies on is checked (the table and each used object lie within `file_size`, sizes and
// counts are bounded, sums cannot overflow), and the partition must start with squashfs' magic.
// invalid_argument (type "invalid-image") with words for anything else.
Result<Range> sif_partition(const ReadAt& read, std::int64_t file_size);

// "sif", "squashfs", "tar" (ustar/gnu tar, as oci-archive and docker-archive are) or "" from the
// first 512 bytes (or fewer) of a file.
std::string sniff_format(std::string_view head);

}  // namespace atrium::images
