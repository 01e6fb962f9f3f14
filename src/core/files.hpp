// Durable file writes shared by every module that keeps state in files (job supervisors, the data
// store, the server's secret).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace atrium {

// write(2) until all of `data` is written (EINTR retried).
Status write_all(int fd, std::string_view data);
// fsync of a directory: makes the names created, renamed or removed in it durable.
Status fsync_dir(const std::filesystem::path& dir);
// Replaces `path` atomically and durably: a temp file beside it + fsync + rename + fsync(dir).
Status write_file_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);
// A one-line credential file (a job's exec token on a node): its first line, surrounding white
// space dropped. not_found ("no-token") when it cannot be read or holds nothing.
Result<std::string> read_token_file(const std::string& path);

}  // namespace atrium
