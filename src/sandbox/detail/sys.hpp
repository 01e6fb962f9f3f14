// Small POSIX helpers for the sandbox (owned fds, whole-file reads and writes, atomic replace).
#pragma once

#include <unistd.h>

#include <optional>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace atrium::sandbox::detail {

// An owned file descriptor: closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string errno_text(int err);  // "No such file or directory (ENOENT)"

// Whole small files (proc, cgroupfs). nullopt when the file cannot be read.
std::optional<std::string> read_file(const std::string& path);
// Writes `data` with one write(2) (cgroupfs needs that); returns errno or 0.
int write_file(const std::string& path, const std::string& data);
// Reads "key value" lines (memory.events, cpu.stat, oom_control) and returns value of `key`.
std::optional<std::int64_t> read_keyed(const std::string& path, const std::string& key);
std::optional<std::int64_t> read_int(const std::string& path);

bool path_exists(const std::string& path);
bool is_dir(const std::string& path);

}  // namespace atrium::sandbox::detail
