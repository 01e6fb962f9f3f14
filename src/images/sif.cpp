// SIF layout, from github.com/apptainer/sif pkg/sif (sif.go, descriptor.go; encoding/binary,
// little-endian, no padding):
//   header (128 bytes): launch[32] magic[10] "SIF_MAGIC\0" version[3] "01\0" arch[3] uuid[16]
//     ctime i64 @64, mtime i64 @72, descr_free i64 @80, descr_total i64 @88, descr_offset i64 @96,
//     descr_size i64 @104, data_offset i64 @112, data_size i64 @120
//   descriptor (585 bytes): datatype i32 @0, used u8 @4, id u32 @5, groupid u32 @9, link u32 @13,
//     offset i64 @17, size i64 @25, size_with_padding i64 @33, ctime i64 @41, mtime i64 @49,
//     uid i64 @57, gid i64 @65, name[128] @73, extra[384] @201
//   partition extra: fstype i32 @0 (1 squashfs, 5 encrypted squashfs, 6 gocryptfs squashfs),
//     parttype i32 @4 (1 system, 2 primary system, 3 data, 4 overlay), arch[3] @8
#include "images/sif.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "core/dir.hpp"

namespace atrium::images {

namespace {

constexpr std::int32_t kDataPartition = 0x4004;
constexpr std::int32_t kFsSquash = 1, kFsEncryptedSquash = 5, kFsGocryptfsSquash = 6;
constexpr std::int32_t kPartSystem = 1, kPartPrimSys = 2;

std::unexpected<Error> bad(std::string detail) {
  return fail(ErrorCode::kInvalidArgument, "invalid-image", std::move(detail));
}

std::int64_t le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int64_t>(v);
}

std::int32_t le32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return static_cast<std::int32_t>(v);
}

// [offset, offset + size) lies within [0, file_size), computed without overflow.
bool within(std::int64_t offset, std::int64_t size, std::int64_t file_size) {
  return offset >= 0 && size >= 0 && offset <= file_size && size <= file_size - offset;
}

struct Header {
  std::int64_t total = 0, offset = 0, size = 0;
};

Result<Header> read_header(const ReadAt& read, std::int64_t file_size) {
  char h[kSifHeaderSize];
  if (file_size < kSifHeaderSize || !read(0, h, sizeof h))
    return bad("not a SIF file: it is shorter than the 128-byte SIF header");
  if (std::memcmp(h + 32, "SIF_MAGIC\0", 10) != 0) return bad("not a SIF file: the SIF_MAGIC signature is missing");
  if (std::memcmp(h + 42, "01\0", 3) != 0) return bad("unsupported SIF version (only version 01 is read)");
  Header r{le64(h + 88), le64(h + 96), le64(h + 104)};
  if (r.total <= 0 || r.total > kSifMaxDescriptors)
    return bad("damaged SIF file: its descriptor count " + std::to_string(r.total) + " is outside 1.." +
               std::to_string(kSifMaxDescriptors));
  // total <= 4096, so total * 585 cannot overflow.
  if (r.size < r.total * kSifDescriptorSize)
    return bad("damaged SIF file: its descriptor table is smaller than its descriptor count says");
  if (r.offset < kSifHeaderSize || !within(r.offset, r.total * kSifDescriptorSize, file_size))
    return bad("damaged SIF file: its descriptor table lies outside the file");
  return r;
}

}  // namespace

Result<Range> sif_partition(const ReadAt& read, std::int64_t file_size) {
  auto h = TRY(read_header(read, file_size));
  std::vector<char> table(static_cast<std::size_t>(h.total * kSifDescriptorSize));
  if (!read(h.offset, table.data(), table.size())) return bad("damaged SIF file: its descriptor table cannot be read");
  std::optional<Range> system, primary;
  bool encrypted = false;
  for (std::int64_t i = 0; i < h.total; ++i) {
    const char* d = table.data() + i * kSifDescriptorSize;
    if (d[4] == 0) continue;  // an unused slot
    std::int64_t off = le64(d + 17), size = le64(d + 25);
    if (!within(off, size, file_size))
      return bad("damaged SIF file: descriptor " + std::to_string(i) + " points outside the file");
    if (le32(d) != kDataPartition) continue;
    std::int32_t fs = le32(d + 201), part = le32(d + 205);
    if (fs == kFsEncryptedSquash || fs == kFsGocryptfsSquash) encrypted = true;
    if (fs != kFsSquash || (part != kPartSystem && part != kPartPrimSys)) continue;
    if (off < kSifHeaderSize || size < 96)  // a squashfs superblock is 96 bytes
      return bad("damaged SIF file: partition " + std::to_string(i) + " is too small to hold a squashfs image");
    Range r{off, size};
    if (part == kPartPrimSys && !primary) primary = r;
    if (part == kPartSystem && !system) system = r;
  }
  std::optional<Range> pick = primary ? primary : system;
  if (!pick) {
    if (encrypted) return bad("the SIF file's root partition is encrypted; import an unencrypted image");
    return bad("the SIF file holds no squashfs system partition");
  }
  char magic[4];
  if (!read(pick->offset, magic, sizeof magic) || std::memcmp(magic, "hsqs", 4) != 0)
    return bad("damaged SIF file: its system partition is not a squashfs image");
  return *pick;
}

Result<Range> sif_rootfs_partition(const std::filesystem::path& sif) {
  Fd fd(::open(sif.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return internal("cannot open " + sif.string() + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return bad("the image is not a regular file");
  auto read = [&](std::int64_t off, char* buf, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd.get(), buf + got, n - got, off + static_cast<std::int64_t>(got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return true;
  };
  return sif_partition(read, st.st_size);
}

std::string sniff_format(std::string_view head) {
  if (head.size() >= 42 && head.substr(32, 10) == std::string_view("SIF_MAGIC\0", 10)) return "sif";
  if (head.size() >= 4 && head.substr(0, 4) == "hsqs") return "squashfs";
  if (head.size() >= 262 && head.substr(257, 5) == "ustar") return "tar";
  return "";
}

}  // namespace atrium::images
