#include "slurm/config.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace atrium::slurm {
namespace {

bool http_url(const std::string& u) { return u.starts_with("http://") || u.starts_with("https://"); }

Status check_cluster(const std::string& name, ClusterConfig& c) {
  std::string where = "compute.clusters." + name + ": ";
  if (c.rest_url.empty()) return invalid(where + "rest_url is required (slurmrestd: http://host:port or unix:/path)");
  if (!http_url(c.rest_url) && !c.rest_url.starts_with("unix:/"))
    return invalid(where + "rest_url '" + c.rest_url + "' must be http://, https:// or unix:/path");
  while (c.rest_url.size() > 8 && c.rest_url.back() == '/') c.rest_url.pop_back();
  if (c.jwt_key_file.empty() && !c.rest_url.starts_with("unix:"))
    return invalid(where + "jwt_key_file is required for a TCP rest_url (slurmrestd with rest_auth/jwt)");
  if (!c.jwt_key_file.empty() && ::access(c.jwt_key_file.c_str(), R_OK) != 0)
    return invalid(where + "jwt_key_file " + c.jwt_key_file + " cannot be read by this server");
  if (c.submit_user.empty()) return invalid(where + "submit_user must not be empty");
  if (c.server_url.empty())
    return invalid(where + "server_url is required: how the nodes reach this server (http://host:port)");
  if (!http_url(c.server_url)) return invalid(where + "server_url '" + c.server_url + "' must be http:// or https://");
  while (c.server_url.size() > 8 && c.server_url.back() == '/') c.server_url.pop_back();
  if (!c.atrium_path.empty() && c.atrium_path.front() != '/')
    return invalid(where + "atrium_path must be absolute (the atrium binary on the nodes)");
  if (!c.shared_dir.empty() && c.shared_dir.front() != '/')
    return invalid(where + "shared_dir must be absolute (where the nodes see this server's data_dir)");
  if (c.accounts.empty()) c.accounts = "{}";
  auto accounts = nlohmann::json::parse(c.accounts, nullptr, false);
  bool ok = accounts.is_object();
  if (ok)
    for (auto& [org, acct] : accounts.items()) ok = ok && acct.is_string() && !acct.get<std::string>().empty();
  if (!ok) return invalid(where + "accounts must be a table of org slug = \"SLURM account\"");
  return {};
}

Status check_all(Config& c) {
  for (auto& [name, cluster] : c.clusters) TRY_STATUS(check_cluster(name, cluster));
  for (auto& [name, p] : c.partitions) {
    std::string where = "compute.partitions." + name + ": ";
    if (name == "local") return invalid(where + "'local' is this server's own partition; choose another name");
    if (p.cluster.empty()) return invalid(where + "cluster is required (a [compute.clusters.NAME] section)");
    if (!c.clusters.contains(p.cluster))
      return invalid(where + "cluster '" + p.cluster + "' has no [compute.clusters." + p.cluster + "] section");
    if (p.slurm_partition.empty()) p.slurm_partition = name;
  }
  return {};
}

}  // namespace

void declare(config::Registry& r, Config& c) {
  r.family<ClusterConfig>("compute.clusters", c.clusters, [](config::Section<ClusterConfig>& s) {
    s.string("rest_url", "slurmrestd: http(s)://host:port (JWT) or unix:/path (local auth)", &ClusterConfig::rest_url)
        .path("jwt_key_file", "the cluster's HS256 JWT key (AuthAltParameters jwt_key; root-equivalent, 0600)",
              &ClusterConfig::jwt_key_file)
        .string("submit_user", "the SLURM user jobs are submitted as (root: atrium exec builds the sandbox)",
                &ClusterConfig::submit_user)
        .string("server_url", "how the nodes reach this server (exec channel, tunnels); {port} = the bound port",
                &ClusterConfig::server_url)
        .string("atrium_path", "the atrium binary on the nodes (\"\" = this server's own path)",
                &ClusterConfig::atrium_path)
        .string("shared_dir", "where the nodes see this server's data_dir (\"\" = the same path)",
                &ClusterConfig::shared_dir)
        .json("accounts", "org slug -> SLURM account (absent: the org's slug)", &ClusterConfig::accounts)
        .integer("poll_ms", "the tracker's period (ms)", &ClusterConfig::poll_ms, 100, 60'000);
  });
  r.family<PartitionConfig>("compute.partitions", c.partitions, [](config::Section<PartitionConfig>& s) {
    s.string("cluster", "the [compute.clusters.NAME] this partition belongs to", &PartitionConfig::cluster)
        .string("slurm_partition", "the SLURM partition (\"\" = this section's name)", &PartitionConfig::slurm_partition)
        .list("orgs", "org slugs that may use it (empty = every org)", &PartitionConfig::orgs);
  });
  r.add_check([&c] { return check_all(c); });
}

}  // namespace atrium::slurm
