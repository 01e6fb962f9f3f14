// Human output of the CLI: aligned plain-text tables for lists and key/value blocks for single
// objects. Everything the server sent is sanitized so it cannot drive the terminal.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace atrium::cli {

struct Column {
  std::string header;
  std::string key;             // field name; "a.b" reaches into a nested object
  std::size_t max_width = 0;   // 0: unlimited; longer cells are cut with "…"
};

// Control characters (C0, DEL, C1) and invalid UTF-8 become '?'.
std::string sanitize(std::string_view s);
// Display width in columns (code points; wide East Asian characters are not special-cased).
std::size_t display_width(std::string_view s);
// A JSON value as a table cell: strings as they are, null "-", booleans yes/no, arrays joined
// with ",", numbers as written, objects compact. Times (RFC 3339) lose their milliseconds.
std::string format_cell(const nlohmann::json& v);
// The value at "a.b" in an object, or null.
const nlohmann::json& field_at(const nlohmann::json& obj, std::string_view dotted_key);

std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows);
std::string render_table(const std::vector<Column>& columns, const std::vector<nlohmann::json>& items);
// "key: value" lines for one object, keys aligned, in the object's order; nested objects compact.
std::string render_object(const nlohmann::json& obj);

// `atrium job list`: squeue-like columns ID NAME STATE REASON CPUS MEM TIME SUBMIT, TIME being the
// elapsed wall time. `atrium job show`: the job as "key: value" lines, with its events last.
std::string render_job_table(const std::vector<nlohmann::json>& jobs);
std::string render_job(const nlohmann::json& job);
// `atrium partitions`: NAME KIND CLUSTER SLURM PARTITION CPUS MEM GPUS TIME DEFAULT (limits "-"
// when none is known; DEFAULT "*" on the caller's default).
std::string render_partition_table(const std::vector<nlohmann::json>& partitions);
// `atrium env show`: the environment's "key: value" lines, its image, datasets, files and secrets
// written out as text (not as JSON).
std::string render_env(const nlohmann::json& env);

// What a job or an environment runs on: "name@sha256:..." (or the digest alone), or "host root"
// for null (no image).
std::string image_text(const nlohmann::json& image);
// Datasets as pinned: "genomes@3 ref@1", mounted at /data/<name>.
std::string datasets_text(const nlohmann::json& datasets);

// The columns shown for each kind of object: org, group, user, role, project, token, invitation,
// member (org), group-member, project-member, audit. Unknown kinds get id + name.
const std::vector<Column>& columns_for(std::string_view kind);

}  // namespace atrium::cli
