#include "core/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace atrium {
namespace {

std::unexpected<Error> sys_error(const std::string& what, int err) {
  return internal(what + ": " + std::strerror(err));
}

}  // namespace

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write", errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status fsync_dir(const std::filesystem::path& dir) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + d.string(), errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return sys_error("fsync " + d.string(), err);
  return {};
}

Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("create " + tmp, errno);
  Status st = write_all(fd, data);
  if (!st) st = internal("write " + tmp + ": " + st.error().detail);
  if (st && ::fsync(fd) != 0) st = sys_error("fsync " + tmp, errno);
  ::close(fd);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = sys_error("rename " + path, errno);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  return fsync_dir(std::filesystem::path(path).parent_path());
}

Result<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return fail(ErrorCode::kNotFound, "no-token", "cannot read " + path);
  auto b = line.find_first_not_of(" \t\r\n");
  auto e = line.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return fail(ErrorCode::kNotFound, "no-token", path + " is empty");
  return line.substr(b, e - b + 1);
}

}  // namespace atrium
