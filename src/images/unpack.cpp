// unpack_oci (umoci as the unpack uid), neutralise() and describe(). SIF and squashfs: sif.cpp and
// squashfs.cpp (helper "imports").
#include "images/unpack.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/dir.hpp"
#include "images/tool.hpp"

namespace atrium::images {
namespace fs = std::filesystem;
namespace {

std::unexpected<Error> fs_fail(const std::string& what, int err) {
  return fail(ErrorCode::kInternal, "image-unpack", what + ": " + std::strerror(err));
}

// The names in directory `rel` beneath `d` (empty when it is missing or not a directory).
std::vector<std::string> list_dir(const Dir& d, std::string_view rel) {
  std::vector<std::string> out;
  auto sub = d.dir(rel);
  if (!sub) return out;
  int dup = ::fcntl(sub->fd(), F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return out;
  DIR* dh = ::fdopendir(dup);
  if (!dh) {
    ::close(dup);
    return out;
  }
  while (auto* e = ::readdir(dh)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(dh);
  return out;
}

nlohmann::json parse_os_release(const std::string& text) {
  nlohmann::json os = nlohmann::json::object();
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? text.size() : nl + 1;
    auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0 || line[0] == '#') continue;
    std::string key = line.substr(0, eq), v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
    static const char* kKeys[] = {"ID", "ID_LIKE", "NAME", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME"};
    for (const char* k : kKeys)
      if (key == k && v.size() <= 200) os[key] = v;
  }
  return os;
}

}  // namespace

Status neutralise(const fs::path& root, Unpacked& u, const UnpackLimits& l) {
  auto d = TRY(Dir::open(root));
  bool as_root = ::geteuid() == 0;
  auto visit = [&](const Dir& dir, const std::string& name, const struct stat& st) -> Status {
    if (++u.entries > l.max_entries)
      return fail(ErrorCode::kInvalidArgument, "image-too-large",
                  "the image holds more than " + std::to_string(l.max_entries) + " files");
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
      if (::unlinkat(dir.fd(), name.c_str(), 0) != 0) return fs_fail("cannot remove " + name, errno);
      ++u.removed_devices;
      return {};
    }
    if (S_ISREG(st.st_mode)) u.bytes += st.st_size;
    if (u.bytes > l.max_bytes)
      return fail(ErrorCode::kInvalidArgument, "image-too-large",
                  "the image unpacks to more than " + std::to_string(l.max_bytes) + " bytes (images.max_image_bytes)");
    // Root owns everything (chown clears setuid/setgid bits of files; modes are set again below).
    if (as_root && (st.st_uid != 0 || st.st_gid != 0) &&
        ::fchownat(dir.fd(), name.c_str(), 0, 0, AT_SYMLINK_NOFOLLOW) != 0)
      return fs_fail("cannot chown " + name, errno);
    if (S_ISLNK(st.st_mode)) return {};  // never followed; resolved inside the job's own root
    mode_t mode = st.st_mode & 07777;
    mode_t want = S_ISDIR(st.st_mode) ? 0755 : (mode & ~(S_ISUID | S_ISGID | S_ISVTX));
    if (mode & (S_ISUID | S_ISGID)) ++u.cleared_setid;
    // The chown above cleared setuid/setgid at most, which `want` drops too: equal modes need no chmod.
    if (want != mode) {
      // Not a symlink (checked above); the tree is ours alone by now (the unpacker has exited).
      if (::fchmodat(dir.fd(), name.c_str(), want, 0) != 0) return fs_fail("cannot chmod " + name, errno);
    }
    return {};
  };
  TRY_STATUS(d.walk(visit));
  if (as_root) TRY_STATUS(d.chown(Owner{0, 0}));
  return d.chmod(0755);
}

nlohmann::json describe(const fs::path& root) {
  nlohmann::json out = {{"os", nlohmann::json::object()}, {"packages", nlohmann::json::object()}};
  auto d = Dir::open(root);
  if (!d) return out;
  for (const char* rel : {"etc/os-release", "usr/lib/os-release"}) {
    if (auto text = d->read_file(rel, 64 << 10); text) {
      out["os"] = parse_os_release(*text);
      break;
    }
  }
  if (auto status = d->read_file("var/lib/dpkg/status", 256 << 20); status) {
    std::int64_t n = 0;
    for (std::size_t pos = 0; (pos = status->find("Package: ", pos)) != std::string::npos; pos += 9)
      if (pos == 0 || (*status)[pos - 1] == '\n') ++n;
    out["packages"]["deb"] = n;
  }
  // Python: usr/lib/python3.N (the newest), dist-info/egg-info directories of its package dirs.
  std::string python;
  std::int64_t py_packages = 0;
  for (const char* lib : {"usr/lib", "usr/local/lib", "opt/conda/lib"}) {
    for (auto& n : list_dir(*d, lib)) {
      if (!n.starts_with("python3.") || n.size() > 12) continue;
      auto minor = n.substr(8);
      if (minor.empty() || minor.find_first_not_of("0123456789") != std::string::npos) continue;
      if (python.empty() || std::stoi(minor) > std::stoi(python.substr(2))) python = "3." + minor;
      for (const char* sub : {"/site-packages", "/dist-packages"})
        for (auto& p : list_dir(*d, std::string(lib) + "/" + n + sub))
          if (p.ends_with(".dist-info") || p.ends_with(".egg-info")) ++py_packages;
    }
  }
  for (const char* sub : {"usr/lib/python3/dist-packages", "usr/local/lib/python3/dist-packages"})
    for (auto& p : list_dir(*d, sub))
      if (p.ends_with(".dist-info") || p.ends_with(".egg-info")) ++py_packages;
  if (!python.empty()) out["python"] = python;
  if (py_packages > 0) out["packages"]["python"] = py_packages;
  return out;
}

Result<Unpacked> unpack_oci(const std::string& image_ref, const fs::path& dest, const UnpackLimits& l) {
  auto colon = image_ref.rfind(':');
  if (colon == std::string::npos || colon == 0) return invalid("unpack_oci: the image is <layout dir>:<tag>");
  fs::path layout = image_ref.substr(0, colon);
  std::string tag = image_ref.substr(colon + 1);
  // dest: a fresh directory the unpack uid owns; the tool runs inside it (cwd by fd) and reads the
  // layout through an inherited fd, so it needs no access to any directory above either.
  std::error_code ec;
  fs::remove_all(dest, ec);
  auto work = TRY(start_unpack(dest, l));
  auto lay = TRY(Dir::open(layout));
  ToolOptions& o = work.tool;
  o.keep_fds = {lay.fd()};
  // `raw unpack`: the root file system alone. `unpack` also writes a runtime bundle (config.json,
  // umoci.json) and an mtree manifest, which reads every unpacked file back to hash it: ~25% of the
  // unpack's time, and nothing here uses them (the job's spec is Atrium's own).
  auto r = TRY(run_tool({l.umoci, "--log", "error", "raw", "unpack", "--rootless", "--image", "/proc/self/fd/3:" + tag,
                         "rootfs"},
                        o));
  if (r.timed_out) return fail(ErrorCode::kUnavailable, "image-unpack", "umoci unpack timed out");
  if (r.status != 0)
    return fail(ErrorCode::kInvalidArgument, "image-unpack",
                "the image could not be unpacked: " + r.err.substr(0, 2000));
  return finish_unpack(work, dest, l);
}

Result<UnpackWork> start_unpack(const fs::path& dest, const UnpackLimits& l) {
  bool as_root = ::geteuid() == 0;
  auto uid = static_cast<std::uint32_t>(l.uid);
  auto parent = TRY(Dir::open(dest.parent_path()));
  auto owner = as_root ? std::optional<Owner>(Owner{uid, uid}) : std::nullopt;
  UnpackWork w{TRY(parent.make_fresh(dest.filename().string(), 0700, owner)), {}};
  w.tool.cwd_fd = w.dir.fd();
  if (as_root) w.tool.uid = static_cast<uid_t>(uid);
  w.tool.timeout_ms = l.timeout_ms;
  w.tool.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent", "LANG=C.UTF-8"};
  return w;
}

Result<Unpacked> finish_unpack(UnpackWork& w, const fs::path& dest, const UnpackLimits& l) {
  Unpacked u;
  TRY_STATUS(neutralise(dest / "rootfs", u, l));
  if (::geteuid() == 0) TRY_STATUS(w.dir.chown(Owner{0, 0}));
  TRY_STATUS(w.dir.chmod(0755));
  return u;
}

}  // namespace atrium::images
