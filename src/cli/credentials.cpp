#include "cli/credentials.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

namespace atrium::cli {

namespace fs = std::filesystem;

namespace {

std::unexpected<Error> io_error(const std::string& what, const fs::path& p, int err) {
  return fail(ErrorCode::kInternal, "credentials-io", what + " " + p.string() + ": " + std::strerror(err));
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kInternal, "credentials-io", std::string("write failed: ") + std::strerror(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

nlohmann::json credentials_to_json(const Credentials& c) {
  return {{"server", c.server}, {"username", c.username}, {"token", c.token}, {"token_id", c.token_id}};
}

Result<Credentials> credentials_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid("credentials: expected a JSON object");
  Credentials c;
  auto field = [&](const char* name, std::string& out, bool required) -> Status {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
      if (required) return invalid(std::string("credentials: missing \"") + name + "\"");
      return {};
    }
    if (!it->is_string()) return invalid(std::string("credentials: \"") + name + "\" must be a string");
    out = it->get<std::string>();
    if (required && out.empty()) return invalid(std::string("credentials: \"") + name + "\" is empty");
    return {};
  };
  TRY_STATUS(field("server", c.server, true));
  TRY_STATUS(field("token", c.token, true));
  TRY_STATUS(field("username", c.username, false));
  TRY_STATUS(field("token_id", c.token_id, false));
  return c;
}

std::optional<std::string> process_env(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

Result<fs::path> config_dir(const EnvLookup& env) {
  auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (auto d = get("ATRIUM_CONFIG_DIR")) return fs::path(*d);
  if (auto x = get("XDG_CONFIG_HOME"); x && fs::path(*x).is_absolute()) return fs::path(*x) / "atrium";
  std::optional<std::string> home = get("HOME");
  if (!home) {
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir && *pw->pw_dir) home = pw->pw_dir;
  }
  if (!home) return invalid("cannot find a config directory: set ATRIUM_CONFIG_DIR or HOME");
  return fs::path(*home) / ".config" / "atrium";
}

Result<std::optional<Credentials>> load_credentials(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::optional<Credentials>{};
    return io_error("cannot read", file, errno);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return io_error("cannot read", file, errno ? errno : EIO);
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid(file.string() + " is not valid JSON; run `atrium login` again");
  auto c = credentials_from_json(j);
  if (!c) return invalid(file.string() + ": " + c.error().detail);
  return std::optional<Credentials>(std::move(*c));
}

bool credentials_too_open(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return false;
  return (st.st_mode & 077) != 0;
}

Status save_credentials(const fs::path& dir, const Credentials& c) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return fail(ErrorCode::kInternal, "credentials-io", "cannot create " + dir.string() + ": " + ec.message());
    if (::chmod(dir.c_str(), 0700) != 0) return io_error("cannot chmod", dir, errno);
  } else if (!fs::is_directory(dir, ec)) {
    return fail(ErrorCode::kInternal, "credentials-io", dir.string() + " is not a directory");
  }

  std::string tmpl = (dir / ".credentials.json.XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());  // creates the file 0600
  if (fd < 0) return io_error("cannot create a temp file in", dir, errno);
  auto cleanup = [&](Status s) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    return s;
  };
  if (::fchmod(fd, 0600) != 0) return cleanup(io_error("cannot chmod", tmpl, errno));
  std::string text = credentials_to_json(c).dump(2) + "\n";
  if (auto s = write_all(fd, text); !s) return cleanup(s);
  if (::fsync(fd) != 0) return cleanup(io_error("cannot fsync", tmpl, errno));
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return io_error("cannot close", tmpl, err);
  }
  fs::path target = credentials_file(dir);
  if (::rename(tmpl.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return io_error("cannot replace", target, err);
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Status remove_credentials(const fs::path& file) {
  if (::unlink(file.c_str()) != 0 && errno != ENOENT) return io_error("cannot delete", file, errno);
  return {};
}

}  // namespace atrium::cli
