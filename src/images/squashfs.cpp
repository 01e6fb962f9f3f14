// Squashfs images (a whole file, or a SIF's partition) into a root directory, with unsquashfs run
// as the unpack uid. Before anything is written, a listing pass (`unsquashfs -lln`, which reads
// only the inode and directory tables) counts the entries and adds up the file sizes against the
// limits: a few KiB of squashfs can describe terabytes of zeros, and unsquashfs writes them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include "core/dir.hpp"
#include "images/tool.hpp"
#include "images/unpack.hpp"

namespace atrium::images {

namespace {

std::unexpected<Error> bad(std::string detail) {
  return fail(ErrorCode::kInvalidArgument, "invalid-image", std::move(detail));
}

// The listing of an image at the entry limit is about 100 bytes an entry.
constexpr std::size_t kMaxListing = 256 << 20;

// Read the last line of a tool's stderr that says something (at most 300 bytes).
std::string last_words(std::string_view err) {
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ' || err.back() == '\r')) err.remove_suffix(1);
  auto nl = err.rfind('\n');
  std::string s;
  for (char c : (nl == std::string_view::npos ? err : err.substr(nl + 1)).substr(0, 300))
    s.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
  return s;
}

std::unexpected<Error> too_big(const UnpackLimits& l) {
  return fail(Error(ErrorCode::kInvalidArgument, "image-too-large",
                    "the image unpacks to more than " + std::to_string(l.max_bytes) + " bytes or " +
                        std::to_string(l.max_entries) + " entries")
                  .with("max_bytes", l.max_bytes)
                  .with("max_entries", l.max_entries));
}

// Counts one line of `unsquashfs -lln` ("-rw-r--r-- 0/0   1234 2024-01-01 00:00 squashfs-root/x"):
// an entry, and for a regular file its size.
Status count_line(std::string_view line, Unpacked& u, const UnpackLimits& l) {
  if (line.empty()) return {};
  if (++u.entries > l.max_entries) return too_big(l);
  if (line[0] != '-') return {};
  auto sp = line.find(' ');
  sp = sp == std::string_view::npos ? sp : line.find_first_not_of(' ', line.find(' ', sp + 1));
  if (sp == std::string_view::npos) return internal("unsquashfs listed an entry oddly: " + std::string(line.substr(0, 80)));
  std::int64_t size = 0;
  auto [p, ec] = std::from_chars(line.data() + sp, line.data() + line.size(), size);
  if (ec != std::errc() || size < 0) return internal("unsquashfs listed a size oddly: " + std::string(line.substr(0, 80)));
  // A regular file takes at least one block on disk, however small.
  u.bytes += std::max<std::int64_t>(size, 0) + 512;
  if (u.bytes > l.max_bytes) return too_big(l);
  return {};
}

// unsquashfs exits 2 on non-fatal errors; the only ones we accept are the special files an
// unprivileged uid cannot make (neutralise() would remove them anyway).
bool only_special_files_refused(std::string_view err) {
  std::size_t start = 0;
  while (start < err.size()) {
    auto end = err.find('\n', start);
    auto line = err.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? err.size() : end + 1;
    if (line.empty()) continue;
    if (line.find("because you're not superuser") == std::string_view::npos) return false;
  }
  return true;
}

Result<std::int64_t> checked_squashfs(int fd, Range range) {
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return bad("the image is not a regular file");
  if (range.size < 0) range.size = st.st_size - range.offset;
  if (range.offset < 0 || range.offset > st.st_size || range.size < 96 || range.size > st.st_size - range.offset)
    return bad("the squashfs image is shorter than its superblock");
  unsigned char sb[96];
  if (::pread(fd, sb, sizeof sb, range.offset) != static_cast<ssize_t>(sizeof sb))
    return bad("the squashfs image cannot be read");
  if (std::memcmp(sb, "hsqs", 4) != 0) return bad("not a squashfs image: the hsqs signature is missing");
  if (sb[28] != 4 || sb[29] != 0 || sb[30] != 0 || sb[31] != 0)
    return bad("unsupported squashfs version (only version 4 is read)");
  std::uint64_t used = 0;
  for (int i = 7; i >= 0; --i) used = (used << 8) | sb[40 + i];
  // Everything unsquashfs reads lies below bytes_used: past the range would read bytes the digest
  // does not cover.
  if (used > static_cast<std::uint64_t>(range.size)) return bad("damaged squashfs image: it claims more bytes than it has");
  return range.offset;
}

}  // namespace

Result<Unpacked> unpack_squashfs(const std::filesystem::path& file, Range range, const std::filesystem::path& dest,
                                 const UnpackLimits& l) {
  Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in) return internal("cannot open " + file.string() + ": " + std::strerror(errno));
  auto offset = TRY(checked_squashfs(in.get(), range));
  bool as_root = ::geteuid() == 0;
  auto uid = static_cast<std::uint32_t>(l.uid);
  // unsquashfs reopens /proc/self/fd/3, which checks the file's own permissions.
  if (as_root && (::fchown(in.get(), uid, uid) != 0 || ::fchmod(in.get(), 0400) != 0))
    return internal("cannot hand " + file.string() + " to the unpack user: " + std::strerror(errno));
  auto work = TRY(start_unpack(dest, l));
  ToolOptions& o = work.tool;
  o.keep_fds = {in.get()};
  o.max_output = kMaxListing;
  std::string off = std::to_string(offset);
  auto listed = run_tool({l.unsquashfs, "-lln", "-o", off, "/proc/self/fd/3"}, o);
  if (!listed && listed.error().type == "tool-output") return too_big(l);
  if (!listed) return std::unexpected(listed.error());
  if (listed->timed_out) return fail(ErrorCode::kUnavailable, "image-unpack", "listing the squashfs image timed out");
  if (listed->status != 0) return bad("not a readable squashfs image: " + last_words(listed->err));
  Unpacked counted;
  std::string_view rest = listed->out;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    TRY_STATUS(count_line(rest.substr(0, nl), counted, l));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }

  o.max_output = 1 << 20;
  // -p 1: one thread (the server's cores are shared); the reads and writes are what costs.
  auto r = TRY(run_tool({l.unsquashfs, "-no-xattrs", "-no-progress", "-quiet", "-p", "1", "-o", off, "-d", "rootfs",
                         "/proc/self/fd/3"},
                        o));
  if (r.timed_out) return fail(ErrorCode::kUnavailable, "image-unpack", "unpacking the squashfs image timed out");
  if (r.status != 0 && !(r.status == 2 && only_special_files_refused(r.err)))
    return bad("unsquashfs could not unpack the image: " + last_words(r.err));
  return finish_unpack(work, dest, l);
}

}  // namespace atrium::images
