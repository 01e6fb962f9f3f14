#include "core/dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/files.hpp"

namespace atrium {
namespace {

// Deeper trees are refused rather than walked: a tenant could make one deep enough to exhaust fds.
constexpr int kMaxDepth = 128;

std::unexpected<Error> fs_error(const std::string& what, const std::string& path, int err) {
  if (err == ELOOP || err == EXDEV)
    return fail(ErrorCode::kFailedPrecondition, "unsafe-path",
                what + " " + path + ": refused, a symlink or an escape on the way (" + std::strerror(err) + ")");
  return internal(what + " " + path + ": " + std::strerror(err));
}

bool as_root() { return ::geteuid() == 0; }

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"}.
std::pair<std::string_view, std::string_view> split_last(std::string_view rel) {
  while (rel.size() > 1 && rel.back() == '/') rel.remove_suffix(1);
  auto slash = rel.rfind('/');
  if (slash == std::string_view::npos) return {{}, rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

Status check_rel(std::string_view rel, const std::string& base) {
  if (rel.empty() || rel.front() == '/')
    return fail(ErrorCode::kInvalidArgument, "unsafe-path", "not a relative path beneath " + base + ": '" + std::string(rel) + "'");
  return {};
}

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<Dir> Dir::open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fs_error("cannot open", path.string(), errno);
  return Dir(Fd(fd), path.string());
}

Result<Dir> Dir::open_or_create(const std::filesystem::path& path, mode_t mode) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    std::filesystem::create_directories(path, ec);
    if (ec) return internal("cannot create " + path.string() + ": " + ec.message());
    ::chmod(path.c_str(), mode);
  }
  return open(path);
}

std::string Dir::name_of(std::string_view rel) const { return path_ + "/" + std::string(rel); }

namespace {

// openat2 beneath `dirfd` with no symlink anywhere; -1 with errno set on failure.
int open_beneath(int dirfd, const std::string& rel, std::uint64_t flags, mode_t mode) {
  struct open_how how{};
  how.flags = flags | O_CLOEXEC | O_NOFOLLOW;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    // EAGAIN: a concurrent rename anywhere on the system made the kernel unsure; try again.
    if ((errno != EAGAIN && errno != EINTR) || attempt >= 16) return -1;
  }
}

}  // namespace

Result<Fd> Dir::resolve(std::string_view rel, std::uint64_t flags, mode_t mode) const {
  TRY_STATUS(check_rel(rel, path_));
  std::string r(rel);
  int fd = open_beneath(fd_.get(), r, flags, mode);
  if (fd < 0) {
    int err = errno;
    struct stat st{};  // O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR: name it for what it is
    if (err == ENOTDIR && ::fstatat(fd_.get(), r.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
      err = ELOOP;
    return fs_error("cannot open", name_of(rel), err);
  }
  return Fd(fd);
}

Result<Dir> Dir::dir(std::string_view rel) const {
  if (rel == ".") return Dir(Fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0)), path_);
  auto fd = TRY(resolve(rel, O_RDONLY | O_DIRECTORY, 0));
  return Dir(std::move(fd), name_of(rel));
}

Result<Dir> Dir::make_dirs(std::string_view rel, mode_t mode, std::optional<Owner> owner) const {
  TRY_STATUS(check_rel(rel, path_));
  Dir cur = TRY(dir("."));
  std::string_view rest = rel;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string comp(rest.substr(0, slash));
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (comp.empty() || comp == ".") continue;
    bool created = ::mkdirat(cur.fd(), comp.c_str(), mode) == 0;
    if (!created && errno != EEXIST) return fs_error("cannot create", cur.name_of(comp), errno);
    Dir next = TRY(cur.dir(comp));
    if (created || rest.empty()) {
      TRY_STATUS(next.chmod(mode));  // mkdir's mode went through the umask
      if (owner) TRY_STATUS(next.chown(*owner));
    }
    cur = std::move(next);
  }
  return cur;
}

Result<Dir> Dir::make_fresh(std::string_view rel, mode_t mode, std::optional<Owner> owner) const {
  TRY_STATUS(remove(rel));
  return make_dirs(rel, mode, owner);
}

Result<Fd> Dir::open_file(std::string_view rel, int flags, mode_t mode) const {
  return resolve(rel, static_cast<std::uint64_t>(flags), mode);
}

Status Dir::write_file(std::string_view rel, std::string_view data, mode_t mode, std::optional<Owner> owner) const {
  auto [parent_rel, name] = split_last(rel);
  Dir parent = TRY(parent_rel.empty() ? dir(".") : dir(parent_rel));
  TRY_STATUS(parent.remove(name));
  std::string n(name);
  int fd = ::openat(parent.fd(), n.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fs_error("cannot create", name_of(rel), errno);
  Fd f(fd);
  TRY_STATUS(write_all(f.get(), data));
  if (::fchmod(f.get(), mode) != 0) return fs_error("cannot chmod", name_of(rel), errno);
  if (owner && as_root() && ::fchown(f.get(), owner->uid, owner->gid) != 0)
    return fs_error("cannot chown", name_of(rel), errno);
  return {};
}

Result<std::optional<struct stat>> Dir::stat(std::string_view rel) const {
  struct stat st{};
  if (rel == ".") {
    if (::fstat(fd_.get(), &st) != 0) return fs_error("cannot stat", path_, errno);
    return std::optional<struct stat>(st);
  }
  auto [parent_rel, name] = split_last(rel);
  Dir parent = TRY(parent_rel.empty() ? dir(".") : dir(parent_rel));
  std::string n(name);
  if (::fstatat(parent.fd(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::optional<struct stat>();
    return fs_error("cannot stat", name_of(rel), errno);
  }
  return std::optional<struct stat>(st);
}

Status Dir::remove(std::string_view rel) const {
  TRY_STATUS(check_rel(rel, path_));
  auto [parent_rel, name] = split_last(rel);
  std::optional<Dir> parent;
  if (parent_rel.empty()) {
    parent.emplace(TRY(dir(".")));
  } else {
    int pfd = open_beneath(fd_.get(), std::string(parent_rel), O_RDONLY | O_DIRECTORY, 0);
    if (pfd < 0) return errno == ENOENT ? Status{} : fs_error("cannot open", name_of(parent_rel), errno);
    parent.emplace(Dir(Fd(pfd), name_of(parent_rel)));
  }
  std::string n(name);
  if (n == "." || n == "..") return check_rel("/", path_);
  struct stat st{};
  if (::fstatat(parent->fd(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? Status{} : fs_error("cannot stat", name_of(rel), errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent->fd(), n.c_str(), 0) != 0 && errno != ENOENT) return fs_error("cannot remove", name_of(rel), errno);
    return {};
  }
  auto child = parent->dir(n);
  if (!child && !as_root()) {
    // A directory its tenant made unreadable; the server owns it when it is not root.
    Fd p(::openat(parent->fd(), n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (p) ::chmod(proc_path(p.get()).c_str(), 0700);
    child = parent->dir(n);
  }
  if (!child) return std::unexpected(child.error());
  TRY_STATUS(child->clear());
  if (::unlinkat(parent->fd(), n.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return fs_error("cannot remove", name_of(rel), errno);
  return {};
}

Status Dir::clear() const {
  return walk([](const Dir& d, const std::string& name, const struct stat& st) -> Status {
    if (::unlinkat(d.fd(), name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT)
      return fs_error("cannot remove", d.name_of(name), errno);
    return {};
  });
}

Status Dir::chmod(mode_t mode) const {
  if (::fchmod(fd_.get(), mode) != 0) return fs_error("cannot chmod", path_, errno);
  return {};
}

Status Dir::chown(Owner owner) const {
  if (!as_root()) return {};
  if (::fchown(fd_.get(), owner.uid, owner.gid) != 0) return fs_error("cannot chown", path_, errno);
  return {};
}

Status Dir::chown_tree(Owner owner) const {
  if (!as_root()) return {};
  TRY_STATUS(walk([&](const Dir& d, const std::string& name, const struct stat& st) -> Status {
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) return {};
    if (::fchownat(d.fd(), name.c_str(), owner.uid, owner.gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT)
      return fs_error("cannot chown", d.name_of(name), errno);
    return {};
  }));
  return chown(owner);
}

namespace {

Status walk_at(const Dir& d, int depth,
               const std::function<Status(const Dir&, const std::string&, const struct stat&)>& fn) {
  if (depth > kMaxDepth)
    return fail(ErrorCode::kFailedPrecondition, "unsafe-path", d.path() + ": deeper than " + std::to_string(kMaxDepth));
  int dup = ::fcntl(d.fd(), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return fs_error("cannot read", d.path(), errno);
  DIR* dh = ::fdopendir(dup);
  if (!dh) {
    ::close(dup);
    return fs_error("cannot read", d.path(), errno);
  }
  std::vector<std::string> names;
  while (auto* e = ::readdir(dh)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(dh);
  for (auto& n : names) {
    struct stat st{};
    if (::fstatat(d.fd(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return fs_error("cannot stat", d.path() + "/" + n, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      auto child = TRY(d.dir(n));
      TRY_STATUS(walk_at(child, depth + 1, fn));
    }
    TRY_STATUS(fn(d, n, st));
  }
  return {};
}

}  // namespace

Status Dir::walk(const std::function<Status(const Dir&, const std::string&, const struct stat&)>& fn) const {
  return walk_at(*this, 0, fn);
}

Result<Fd> Dir::open_socket(std::string_view rel, std::uint32_t uid) const {
  auto fd = TRY(resolve(rel, O_PATH, 0));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fs_error("cannot stat", name_of(rel), errno);
  if (!S_ISSOCK(st.st_mode))
    return fail(ErrorCode::kFailedPrecondition, "unsafe-path", name_of(rel) + " is not a socket");
  if (st.st_uid != uid)
    return fail(ErrorCode::kFailedPrecondition, "unsafe-path",
                name_of(rel) + " belongs to uid " + std::to_string(st.st_uid) + ", not " + std::to_string(uid));
  return fd;
}

Result<Fd> Dir::open_socket_at(const std::filesystem::path& path, std::uint32_t uid) {
  auto parent = path.parent_path();
  auto d = TRY(Dir::open(parent.empty() ? std::filesystem::path(".") : parent));
  return d.open_socket(path.filename().string(), uid);
}

Result<std::string> Dir::read_file(std::string_view rel, std::size_t max) const {
  auto fd = TRY(open_file(rel, O_RDONLY | O_NONBLOCK));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fs_error("cannot stat", name_of(rel), errno);
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::kFailedPrecondition, "unsafe-path", name_of(rel) + " is not a regular file");
  std::string out;
  char buf[4096];
  while (out.size() < max) {
    auto n = ::read(fd.get(), buf, std::min(sizeof buf, max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fs_error("cannot read", name_of(rel), errno);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string Dir::proc_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Result<Dir::SocketAddress> Dir::socket_address(const std::string& path, std::optional<std::uint32_t> owner_uid) {
  SocketAddress a;
  if (owner_uid) {
    a.hold = TRY(open_socket_at(path, *owner_uid));
    a.path = proc_path(a.hold.get());
  } else if (path.size() >= 100) {
    auto slash = path.rfind('/');
    auto dir = path.substr(0, slash == std::string::npos ? 0 : slash);
    a.hold = Fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!a.hold) return fs_error("cannot open", dir, errno);
    a.path = proc_path(a.hold.get()) + path.substr(slash);
  } else {
    a.path = path;
  }
  return a;
}

}  // namespace atrium
