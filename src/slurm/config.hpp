// The SLURM clusters and the partitions Atrium offers on them:
//
//   [compute.clusters.lab]            # one SLURM cluster
//   rest_url = "http://10.0.0.1:6820" # slurmrestd (or "unix:/run/slurmrestd.sock")
//   jwt_key_file = "/etc/slurm/jwt_hs256.key"   # AuthAltParameters=jwt_key=...; root-equivalent
//   submit_user = "root"              # the SLURM user jobs are submitted as (atrium exec needs root on the node)
//   server_url = "http://10.0.0.1:8080"  # how nodes reach this server (exec channel, tunnels)
//   atrium_path = ""                  # the atrium binary on the nodes ("" = this server's own path)
//   shared_dir = ""                   # where nodes see this server's data_dir ("" = the same path)
//   accounts = { lab = "lab_acct" }   # org slug -> SLURM account (absent: the org's slug)
//   poll_ms = 1000                    # the tracker's period
//
//   [compute.partitions.gpu]          # an Atrium partition = a SLURM partition of a cluster
//   cluster = "lab"
//   slurm_partition = "gpu"           # "" = the Atrium name
//   orgs = ["lab"]                    # org slugs that may use it ([] = every org)
//
// `scripts/slurm-dev-cluster.sh start DIR` prints such a section for its cluster.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/config.hpp"

namespace atrium::slurm {

struct ClusterConfig {
  std::string rest_url;
  std::string jwt_key_file;
  std::string submit_user = "root";
  std::string server_url;
  std::string atrium_path;
  std::string shared_dir;
  std::string accounts;  // JSON object text (config json field): org slug -> account
  std::int64_t poll_ms = 1000;
};

struct PartitionConfig {
  std::string cluster;
  std::string slurm_partition;
  std::string orgs;  // comma-joined org slugs ("" = every org)
};

struct Config {
  std::map<std::string, ClusterConfig> clusters;
  std::map<std::string, PartitionConfig> partitions;
};

// Declares the [compute.clusters.NAME] and [compute.partitions.NAME] families.
void declare(config::Registry& r, Config& c);

}  // namespace atrium::slurm
