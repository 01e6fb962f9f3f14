// Privileged file operations inside directory trees that a tenant can write (run directories,
// homes, workspaces, job outputs, upload staging, materialised datasets). Every step goes through
// a directory fd: names are resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS) and changed with the *at calls (AT_SYMLINK_NOFOLLOW), so a symlink or a
// `..` that a tenant planted anywhere on the way is refused (ELOOP / EXDEV), never followed.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace atrium {

// An owned file descriptor (move-only; closed on destruction).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Who a created or handed-over entry belongs to. Applied only when the server runs as root.
struct Owner {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
};

// An open directory. Relative names (`a/b/c`, no leading `/`, no `..`) are resolved beneath it
// without following any symlink; an error names the path and what was refused.
class Dir {
 public:
  // Opens a directory the server itself controls by path (the data directory and what it made in
  // it as root). Its last component must not be a symlink.
  static Result<Dir> open(const std::filesystem::path& path);
  // open(), creating the directory (and its parents) first when missing: for the server's own
  // trees only (no tenant can write any component of `path`).
  static Result<Dir> open_or_create(const std::filesystem::path& path, mode_t mode);

  // A directory beneath this one.
  Result<Dir> dir(std::string_view rel) const;
  // Creates every missing component of `rel` with `mode` (and `owner`, for components it creates)
  // and returns the last one, whose mode and owner are then set through its fd whether or not it
  // was created.
  Result<Dir> make_dirs(std::string_view rel, mode_t mode, std::optional<Owner> owner = std::nullopt) const;
  // Like make_dirs(), but the last component is removed first (with everything in it) so it is new.
  Result<Dir> make_fresh(std::string_view rel, mode_t mode, std::optional<Owner> owner = std::nullopt) const;

  // A file beneath this one; O_NOFOLLOW and O_CLOEXEC are always added.
  Result<Fd> open_file(std::string_view rel, int flags, mode_t mode = 0600) const;
  // Writes a new file `rel` (whatever stood there is removed first, never opened): `data`, `mode`, `owner`.
  Status write_file(std::string_view rel, std::string_view data, mode_t mode,
                    std::optional<Owner> owner = std::nullopt) const;
  // lstat() of an entry beneath this one; nullopt when it does not exist.
  Result<std::optional<struct stat>> stat(std::string_view rel) const;
  // Removes an entry: a file, a symlink (the link itself) or a directory with everything in it.
  // A missing entry is not an error.
  Status remove(std::string_view rel) const;
  // Removes everything in this directory, keeping the directory.
  Status clear() const;

  Status chmod(mode_t mode) const;
  Status chown(Owner owner) const;
  // Hands this directory and everything beneath it to `owner` (lchown semantics: links are not
  // followed). A non-directory with several links is skipped: it may be someone else's file.
  Status chown_tree(Owner owner) const;
  // Calls `fn(dir, name, st)` for each entry beneath this directory, depth first (a directory's
  // entries before the directory itself), without following symlinks.
  Status walk(const std::function<Status(const Dir&, const std::string&, const struct stat&)>& fn) const;

  // Opens the unix socket `rel` with O_PATH | O_NOFOLLOW and checks that it is a socket owned by
  // `uid`; connect to it through proc_path() of the returned fd, which names that very inode.
  Result<Fd> open_socket(std::string_view rel, std::uint32_t uid) const;
  // open_socket() of the socket at `path`, its directory opened by path: for a socket in a
  // tenant-writable directory whose own parents only the server can write (a run directory).
  static Result<Fd> open_socket_at(const std::filesystem::path& path, std::uint32_t uid);
  static std::string proc_path(int fd);
  // Where to connect() for the unix socket at `path` (sun_path holds 107 bytes): with
  // `owner_uid`, proc_path() of open_socket_at() (that very inode, checked); else `path` itself,
  // or, when too long, the socket's name under an O_PATH descriptor of its directory
  // (/proc/self/fd/N/name). Keep `hold` open until connect() returns.
  struct SocketAddress {
    std::string path;
    Fd hold;
  };
  static Result<SocketAddress> socket_address(const std::string& path, std::optional<std::uint32_t> owner_uid);
  // Reads a regular file beneath this one (not a link, FIFO or device), at most `max` bytes.
  Result<std::string> read_file(std::string_view rel, std::size_t max) const;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }  // for messages only, never to open anything

 private:
  Dir(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<Fd> resolve(std::string_view rel, std::uint64_t flags, mode_t mode) const;
  std::string name_of(std::string_view rel) const;

  Fd fd_;
  std::string path_;
};

}  // namespace atrium
