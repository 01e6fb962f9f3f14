// The web UI's built files, read once at startup and served from memory: each with its type,
// its ETag and the .gz/.br versions the build wrote beside it.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "core/error.hpp"

namespace atrium::web {

struct Asset {
  std::string content_type;
  std::string etag;  // strong, of the identity bytes; "-gz"/"-br" appended per encoding
  std::string raw, gz, br;
};

class Assets {
 public:
  // Reads every regular file under `dir` (no symlinks followed). A missing index.html fails.
  static Result<Assets> load(const std::filesystem::path& dir);
  // `path` as the URL names it ("/index.html", "/assets/index-abc.js"); null when absent.
  const Asset* find(const std::string& path) const;
  std::size_t size() const { return files_.size(); }
  std::size_t bytes() const;

 private:
  std::map<std::string, Asset, std::less<>> files_;
};

// Where the built UI is when [web] assets_dir is not set: beside the binary `exe`.
std::filesystem::path default_assets_dir(const std::filesystem::path& exe);

}  // namespace atrium::web
