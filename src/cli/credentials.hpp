// The CLI's stored login: where credentials.json lives and how it is read and written
// (directory 0700, file 0600, replaced atomically so a crash never leaves half a token).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace atrium::cli {

struct Credentials {
  std::string server;    // canonical base URL the token belongs to
  std::string username;
  std::string token;     // atr_... API token secret
  std::string token_id;  // for revoking it on logout
};

nlohmann::json credentials_to_json(const Credentials& c);
[[nodiscard]] Result<Credentials> credentials_from_json(const nlohmann::json& j);

// Environment lookup, injectable for tests. An empty value counts as unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
std::optional<std::string> process_env(std::string_view name);

// $ATRIUM_CONFIG_DIR, else $XDG_CONFIG_HOME/atrium (absolute only, per the XDG spec),
// else $HOME/.config/atrium, else the passwd entry's home.
[[nodiscard]] Result<std::filesystem::path> config_dir(const EnvLookup& env);
inline std::filesystem::path credentials_file(const std::filesystem::path& dir) { return dir / "credentials.json"; }

// nullopt when the file does not exist.
[[nodiscard]] Result<std::optional<Credentials>> load_credentials(const std::filesystem::path& file);
// True when group or others may read or write the file (worth a warning: it holds a secret).
bool credentials_too_open(const std::filesystem::path& file);
// Creates the directory (0700) when missing; writes a temp file (0600), fsyncs it, renames it over
// credentials.json and fsyncs the directory.
[[nodiscard]] Status save_credentials(const std::filesystem::path& dir, const Credentials& c);
// Succeeds when the file is already gone.
[[nodiscard]] Status remove_credentials(const std::filesystem::path& file);

}  // namespace atrium::cli
