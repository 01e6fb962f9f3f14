#include "sandbox/detail/rootfs.hpp"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace atrium::sandbox::detail {
namespace {

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    auto j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool empty_dir(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return false;
  bool empty = true;
  while (auto* e = ::readdir(d))
    if (std::string_view n = e->d_name; n != "." && n != "..") {
      empty = false;
      break;
    }
  ::closedir(d);
  return empty;
}

struct Walk {
  std::set<std::string> underlays;  // image directories laid out entry by entry
  std::set<std::string> replaced;   // image symlinks a mount takes the place of
};

// Where mount `target` needs an underlay: every image directory above the first component the image
// lacks (or has as a symlink, at the target itself). The first component on the sandbox's own
// tmpfs root needs none.
Status plan_target(const std::string& rootfs, const std::string& target, Walk& w) {
  auto parts = components(target);
  if (parts.empty() || sandbox_owned(parts[0])) return {};
  std::string prefix;
  for (std::size_t k = 0; k < parts.size(); ++k) {
    std::string parent = prefix;
    prefix += "/" + parts[k];
    struct stat st;
    bool last = k + 1 == parts.size();
    if (::lstat((rootfs + prefix).c_str(), &st) != 0 || (last && S_ISLNK(st.st_mode))) {
      if (last && S_ISLNK(st.st_mode)) w.replaced.insert(prefix);
      // The image lacks it: every directory from the top down to its parent becomes an underlay.
      std::string up;
      for (std::size_t i = 0; i < k; ++i) w.underlays.insert(up += "/" + parts[i]);
      return {};
    }
    if (last) return {};  // the mount goes over the image's own entry
    if (!S_ISDIR(st.st_mode))
      return fail(ErrorCode::kFailedPrecondition, "sandbox-setup",
                  fmt::format("cannot mount {}: {} of the image is {}", target, prefix,
                              S_ISLNK(st.st_mode) ? "a symlink" : "not a directory"));
  }
  return {};
}

void emit(const std::string& rootfs, const std::string& dir, const Walk& w, std::vector<RootEntry>& out) {
  DIR* d = ::opendir((rootfs + dir).c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (auto* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (n == "." || n == ".." || (dir.empty() && sandbox_owned(n))) continue;
    std::string path = dir + "/" + n, host = rootfs + path;
    if (w.replaced.contains(path)) continue;
    struct stat st;
    if (::lstat(host.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t len = ::readlink(host.c_str(), buf, sizeof buf - 1);
      if (len > 0) out.push_back({RootEntry::Kind::kSymlink, path, std::string(buf, static_cast<std::size_t>(len))});
    } else if (S_ISDIR(st.st_mode) && w.underlays.contains(path)) {
      out.push_back({RootEntry::Kind::kUnderlay, path, "", static_cast<unsigned>(st.st_mode & 01777)});
      emit(rootfs, path, w, out);
    } else if (S_ISDIR(st.st_mode)) {
      // An empty one (/home, /root, /mnt, /srv of most images) costs a mount for nothing to see.
      out.push_back({empty_dir(host) ? RootEntry::Kind::kEmptyDir : RootEntry::Kind::kDir, path, host});
    } else if (S_ISREG(st.st_mode)) {
      out.push_back({RootEntry::Kind::kFile, path, host});
    }  // device nodes, fifos and sockets of an image are left out
  }
}

}  // namespace

bool sandbox_owned(const std::string& n) {
  return n == "proc" || n == "dev" || n == "sys" || n == "tmp" || n == "workspace";
}

Result<std::vector<RootEntry>> image_root_entries(const std::string& rootfs, const std::vector<std::string>& targets) {
  Walk w;
  for (const auto& t : targets) TRY_STATUS(plan_target(rootfs, t, w));
  std::vector<RootEntry> out;
  emit(rootfs, "", w, out);
  return out;
}

}  // namespace atrium::sandbox::detail
