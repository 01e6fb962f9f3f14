#include "cli/table.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include "cli/units.hpp"

namespace atrium::cli {

using nlohmann::json;

namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 when it is invalid.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  if (n == 2 && c < 0xC2) return 0;  // overlong
  if (n == 3) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) return 0;  // overlong, surrogates
  }
  if (n == 4) {
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xF0 && c1 < 0x90) || c > 0xF4 || (c == 0xF4 && c1 >= 0x90)) return 0;
  }
  return n;
}

bool looks_like_rfc3339(std::string_view s) {
  return s.size() >= 20 && s.size() <= 35 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
         s[16] == ':';
}

std::string cut(const std::string& s, std::size_t max_width) {
  if (max_width == 0 || display_width(s) <= max_width) return s;
  std::string out;
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size() && width + 1 < max_width;) {
    std::size_t n = utf8_len(s, i);
    if (n == 0) n = 1;
    out.append(s, i, n);
    i += n;
    ++width;
  }
  return out + "…";
}

std::string pad(const std::string& s, std::size_t width) {
  std::size_t w = display_width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

}  // namespace

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_len(s, i);
    if (n == 0) {
      out += '?';
      ++i;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i]);
    bool control = (n == 1 && (c < 0x20 || c == 0x7F)) || (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0);
    if (control) {
      out += '?';
    } else {
      out.append(s, i, n);
    }
    i += n;
  }
  return out;
}

std::size_t display_width(std::string_view s) {
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_len(s, i);
    i += n == 0 ? 1 : n;
    ++w;
  }
  return w;
}

std::string format_cell(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "-";
    case json::value_t::boolean: return v.get<bool>() ? "yes" : "no";
    case json::value_t::string: {
      std::string s = v.get<std::string>();
      if (looks_like_rfc3339(s)) {
        // 2026-11-25T19:16:09.123Z -> 2026-11-25T19:16:09Z
        auto dot = s.find('.', 19);
        if (dot == 19) {
          auto end = s.find_first_not_of("0123456789", dot + 1);
          s.erase(dot, (end == std::string::npos ? s.size() : end) - dot);
        }
      }
      return sanitize(s);
    }
    case json::value_t::array: {
      std::string out;
      for (const auto& e : v) {
        if (!out.empty()) out += ",";
        out += e.is_string() ? sanitize(e.get<std::string>()) : format_cell(e);
      }
      return out.empty() ? "-" : out;
    }
    case json::value_t::object:
      return sanitize(v.dump(-1, ' ', false, json::error_handler_t::replace));
    default:
      return v.dump();
  }
}

const json& field_at(const json& obj, std::string_view dotted_key) {
  static const json kNull;
  const json* cur = &obj;
  while (true) {
    if (!cur->is_object()) return kNull;
    auto dot = dotted_key.find('.');
    auto it = cur->find(std::string(dotted_key.substr(0, dot)));
    if (it == cur->end()) return kNull;
    cur = &*it;
    if (dot == std::string_view::npos) return *cur;
    dotted_key.remove_prefix(dot + 1);
  }
}

std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(headers.size(), 0);
  for (std::size_t c = 0; c < headers.size(); ++c) widths[c] = display_width(headers[c]);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c)
      widths[c] = std::max(widths[c], display_width(row[c]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < headers.size(); ++c) {
      const std::string& cell = c < cells.size() ? cells[c] : std::string{};
      if (c + 1 == headers.size()) {
        out += cell;  // no trailing padding
      } else {
        out += pad(cell, widths[c]) + "  ";
      }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string render_table(const std::vector<Column>& columns, const std::vector<json>& items) {
  std::vector<std::string> headers;
  for (const auto& c : columns) headers.push_back(c.header);
  std::vector<std::vector<std::string>> rows;
  rows.reserve(items.size());
  for (const auto& item : items) {
    std::vector<std::string> row;
    for (const auto& c : columns) {
      std::string cell = cut(format_cell(field_at(item, c.key)), c.max_width);
      row.push_back(cell.empty() ? "-" : std::move(cell));  // keep columns visible to eyes and awk
    }
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows);
}

std::string render_object(const json& obj) {
  if (!obj.is_object()) return format_cell(obj) + "\n";
  std::size_t width = 0;
  for (auto it = obj.begin(); it != obj.end(); ++it) width = std::max(width, display_width(sanitize(it.key())));
  std::string out;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    out += pad(sanitize(it.key()) + ":", width + 1) + " " + format_cell(it.value()) + "\n";
  return out;
}

namespace {

std::string str_at(const json& obj, std::string_view key) {
  const json& v = field_at(obj, key);
  return v.is_null() ? std::string{} : format_cell(v);
}

std::int64_t int_at(const json& obj, std::string_view key, std::int64_t fallback = 0) {
  const json& v = field_at(obj, key);
  return v.is_number() ? v.get<std::int64_t>() : fallback;
}

std::string resources_text(const json& r, bool with_time) {
  if (!r.is_object()) return "-";
  std::string out = "cpus=" + format_cell(field_at(r, "cpus"));
  const json& mem = field_at(r, "mem_mb");
  out += " mem=" + (mem.is_number() ? format_mem_mb(mem.get<std::int64_t>()) : format_cell(mem));
  const json& gpus = field_at(r, "gpus");
  if (gpus.is_array())
    out += " gpus=" + (gpus.empty() ? std::string("-") : format_cell(gpus));
  else if (gpus.is_number() && gpus.get<std::int64_t>() > 0)
    out += " gpus=" + format_cell(gpus);
  if (with_time && field_at(r, "time_limit_s").is_number()) out += " time=" + format_elapsed(int_at(r, "time_limit_s"));
  return out;
}

std::string elapsed_of(const json& job) {
  const json& wall = field_at(job, "usage.wall_seconds");
  return format_elapsed(wall.is_number() ? static_cast<std::int64_t>(wall.get<double>()) : 0);
}

// Array items as text joined by spaces (secret names: NAME, NAME:file).
std::string joined(const json& items) {
  std::string text;
  if (!items.is_array()) return text;
  for (const auto& i : items) text += (text.empty() ? "" : " ") + format_cell(i);
  return text;
}

}  // namespace

std::string image_text(const json& image) {
  if (!image.is_object()) return image.is_null() ? "host root" : format_cell(image);
  std::string name = str_at(image, "name"), digest = str_at(image, "digest");
  if (name.empty()) return digest;
  return digest.empty() ? name : name + "@" + digest;
}

std::string datasets_text(const json& datasets) {
  std::string text;
  if (!datasets.is_array()) return text;
  for (const auto& d : datasets) {
    std::string one = str_at(d, "name");
    if (auto v = str_at(d, "version"); !v.empty()) one += "@" + v;
    text += (text.empty() ? "" : " ") + one;
  }
  return text;
}

std::string render_env(const json& env) {
  if (!env.is_object()) return format_cell(env) + "\n";
  json obj = env;
  if (obj.contains("image")) obj["image"] = image_text(obj["image"]);
  if (joined(obj.value("secrets", json())).empty())
    obj.erase("secrets");
  else
    obj["secrets"] = joined(obj["secrets"]);
  if (obj.contains("datasets")) {
    std::string ds = datasets_text(obj["datasets"]);
    obj["datasets"] = ds.empty() ? "none" : ds + " (at /data/NAME)";
  }
  if (const json& f = field_at(env, "files"); f.is_object()) {
    std::string text = str_at(f, "path");
    if (auto prefix = str_at(f, "prefix"); !prefix.empty()) text += " (the files under " + prefix + ")";
    if (auto at = str_at(f, "last_sync.at"); !at.empty()) text += ", last synced " + at;
    obj["files"] = text;
  } else if (obj.contains("files")) {
    obj["files"] = "not mounted";
  }
  return render_object(obj);
}

std::string render_job_table(const std::vector<json>& jobs) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(jobs.size());
  for (const auto& j : jobs) {
    std::string state = str_at(j, "state");
    if (field_at(j, "stop_requested").is_string()) state += "*";  // a stop is on its way
    const json& mem = field_at(j, "resources.mem_mb");
    std::vector<std::string> row{str_at(j, "id"),
                                 cut(str_at(j, "name"), 24),
                                 state,
                                 str_at(j, "reason"),
                                 str_at(j, "resources.cpus"),
                                 mem.is_number() ? format_mem_mb(mem.get<std::int64_t>()) : format_cell(mem),
                                 elapsed_of(j),
                                 str_at(j, "submit_time")};
    for (auto& cell : row)
      if (cell.empty()) cell = "-";
    rows.push_back(std::move(row));
  }
  return render_table({"ID", "NAME", "STATE", "REASON", "CPUS", "MEM", "TIME", "SUBMIT"}, rows);
}

namespace {

// A remote job's SLURM side: where it runs, SLURM's job id, nodes and state, and the marker the
// tracker sets while SLURM cannot be reached (the state shown is then the last one known).
void add_slurm_lines(const json& j, const std::function<void(std::string, std::string)>& add) {
  const json& s = field_at(j, "slurm");
  if (!s.is_object()) return;
  add("cluster", str_at(s, "cluster"));
  std::string id = str_at(s, "job_id");
  if (const json& task = field_at(s, "array_task_id"); task.is_number() && !str_at(s, "array_job_id").empty())
    id = str_at(s, "array_job_id") + "_" + format_cell(task) + (id.empty() ? "" : " (job " + id + ")");
  const json& handed = field_at(s, "handed_over");
  if (handed.is_boolean() && !handed.get<bool>() && id.empty()) id = "not handed over yet (queued in Atrium)";
  add("slurm job", id);
  add("nodes", str_at(s, "nodes"));
  std::string state = str_at(s, "state");
  if (auto reason = str_at(s, "reason"); !reason.empty()) state = state.empty() ? reason : state + " (" + reason + ")";
  add("slurm state", state);
  if (auto since = str_at(s, "unknown_since"); !since.empty())
    add("unknown since", since + " (SLURM cannot be reached: the state shown is the last known)");
}

}  // namespace

std::string render_partition_table(const std::vector<json>& partitions) {
  std::vector<std::vector<std::string>> rows;
  auto limit = [](const json& p, const char* key) -> std::string {
    const json& v = field_at(p, std::string("limits.") + key);
    if (!v.is_number() || v.get<std::int64_t>() <= 0) return "-";
    std::int64_t n = v.get<std::int64_t>();
    if (std::string_view(key) == "max_mem_mb") return format_mem_mb(n);
    if (std::string_view(key) == "max_time_s") return format_elapsed(n);
    return std::to_string(n);
  };
  for (const auto& p : partitions) {
    const json& def = field_at(p, "default");
    std::vector<std::string> row{str_at(p, "name"),        str_at(p, "kind"),         str_at(p, "cluster"),
                                 str_at(p, "slurm_partition"), limit(p, "max_cpus"), limit(p, "max_mem_mb"),
                                 limit(p, "max_gpus"),     limit(p, "max_time_s"),
                                 def.is_boolean() && def.get<bool>() ? "*" : ""};
    for (auto& cell : row)
      if (cell.empty()) cell = "-";
    rows.push_back(std::move(row));
  }
  return render_table({"NAME", "KIND", "CLUSTER", "SLURM PARTITION", "CPUS", "MEM", "GPUS", "TIME", "DEFAULT"}, rows);
}

std::string render_job(const json& j) {
  if (!j.is_object()) return format_cell(j) + "\n";
  std::vector<std::pair<std::string, std::string>> lines;
  auto add = [&](std::string key, std::string value) {
    if (!value.empty()) lines.emplace_back(std::move(key), std::move(value));
  };
  add("id", str_at(j, "id"));
  add("name", str_at(j, "name"));
  add("project", str_at(j, "project_id"));
  add("user", str_at(j, "user_id"));
  std::string state = str_at(j, "state");
  if (field_at(j, "held").is_boolean() && field_at(j, "held").get<bool>()) state += " (held)";
  if (auto stop = str_at(j, "stop_requested"); !stop.empty()) state += " (" + stop + " requested)";
  add("state", state);
  std::string reason = str_at(j, "reason");
  if (auto detail = str_at(j, "reason_detail"); !detail.empty())
    reason = reason.empty() ? detail : reason + ": " + detail;
  add("reason", reason);
  add("partition", str_at(j, "partition"));
  add_slurm_lines(j, add);
  if (str_at(j, "state") == "PENDING") {
    add("estimated start", field_at(j, "estimated_start").is_null() ? "unknown" : str_at(j, "estimated_start"));
    add("priority", str_at(j, "priority"));
  }
  add("submitted", str_at(j, "submit_time"));
  add("begin", str_at(j, "begin_time"));
  add("started", str_at(j, "start_time"));
  add("ended", str_at(j, "end_time"));
  add("resources", resources_text(field_at(j, "resources"), true));
  if (field_at(j, "allocation").is_object()) add("allocation", resources_text(field_at(j, "allocation"), false));
  if (j.contains("image")) add("image", image_text(j["image"]));
  if (auto ds = datasets_text(field_at(j, "datasets")); !ds.empty()) add("datasets", ds + " (at /data/NAME)");
  add("secrets", joined(field_at(j, "secrets")));
  if (field_at(j, "array").is_object())
    add("array", str_at(j, "array.array_id") + " task " + str_at(j, "array.index") + " of " + str_at(j, "array.spec"));
  add("dependency", str_at(j, "dependency"));
  add("qos", str_at(j, "qos"));
  if (int_at(j, "nice") != 0) add("nice", str_at(j, "nice"));
  if (int_at(j, "requeue_count") != 0) add("requeues", str_at(j, "requeue_count"));
  add("exit code", str_at(j, "exit_code"));
  if (const json& u = field_at(j, "usage"); u.is_object()) {
    std::string text;
    if (u.contains("wall_seconds") && u["wall_seconds"].is_number())
      text += "wall " + format_elapsed(static_cast<std::int64_t>(u["wall_seconds"].get<double>()));
    if (u.contains("cpu_seconds") && u["cpu_seconds"].is_number()) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", u["cpu_seconds"].get<double>());
      text += std::string(text.empty() ? "" : ", ") + "cpu " + buf + " s";
    }
    if (u.contains("peak_mem_mb") && u["peak_mem_mb"].is_number())
      text +=
          std::string(text.empty() ? "" : ", ") + "peak memory " + format_mem_mb(u["peak_mem_mb"].get<std::int64_t>());
    add("usage", text);
  }
  if (const json& e = field_at(j, "enforced"); !e.is_null()) add("enforced", format_cell(e));
  if (const json& c = field_at(j, "command"); c.is_array()) {
    std::string text;
    for (const auto& a : c) text += (text.empty() ? "" : " ") + format_cell(a);
    add("command", text);
  } else if (const json& s = field_at(j, "script"); s.is_string()) {
    auto text = s.get<std::string>();
    auto n = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + (text.ends_with('\n') ? 0 : 1);
    add("script", std::to_string(n) + (n == 1 ? " line" : " lines") + " (--json shows it)");
  }
  if (const json& env = field_at(j, "env"); env.is_object() && !env.empty()) {
    std::string text;
    for (auto it = env.begin(); it != env.end(); ++it) text += (text.empty() ? "" : " ") + sanitize(it.key());
    add("env", text);
  }
  std::size_t width = 0;
  for (const auto& [k, v] : lines) width = std::max(width, k.size());
  std::string out;
  for (const auto& [k, v] : lines) out += pad(k + ":", width + 1) + " " + v + "\n";
  if (const json& events = field_at(j, "events"); events.is_array() && !events.empty()) {
    out += "events:\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : events) {
      std::string from = str_at(e, "from");
      std::string to = str_at(e, "to");
      std::string change = from.empty() ? "submitted -> " + to
                           : from == to ? to + " (" + str_at(e, "event") + ")"  // hold, release
                                        : from + " -> " + to;
      std::string why = str_at(e, "cause");
      if (auto reason = str_at(e, "reason"); !reason.empty() && reason != why)
        why = why.empty() ? reason : why + " (" + reason + ")";
      rows.push_back({"  " + str_at(e, "at"), change, why.empty() ? str_at(e, "event") : why});
    }
    std::string table = render_table({"  TIME", "CHANGE", "CAUSE"}, rows);
    out += table;
  }
  return out;
}

const std::vector<Column>& columns_for(std::string_view kind) {
  static const std::map<std::string, std::vector<Column>, std::less<>> kColumns{
      {"org", {{"ID", "id"}, {"SLUG", "slug"}, {"NAME", "name", 40}, {"CREATED", "created_at"}}},
      {"my-org", {{"ID", "id"}, {"SLUG", "slug"}, {"NAME", "name", 40}, {"ROLE", "role"}}},
      {"branch", {{"NAME", "name", 40}, {"COMMIT", "commit", 12}, {"PROTECTED", "protected"}, {"SUBJECT", "subject", 50}}},
      {"tag", {{"NAME", "name", 40}, {"COMMIT", "commit", 12}, {"SUBJECT", "subject", 50}}},
      {"commit", {{"COMMIT", "id", 12}, {"SUBJECT", "subject", 60}}},
      {"tree-entry", {{"TYPE", "type"}, {"MODE", "mode"}, {"SIZE", "size"}, {"NAME", "name", 60}}},
      {"files", {{"PATH", "path", 60}, {"SIZE", "size"}, {"SHA256", "sha256", 16}, {"UPDATED", "updated"}}},
      {"group", {{"ID", "id"}, {"ORG", "org_id"}, {"SLUG", "slug"}, {"NAME", "name", 40}, {"CREATED", "created_at"}}},
      {"user",
       {{"ID", "id"}, {"USERNAME", "username"}, {"NAME", "display_name", 30}, {"EMAIL", "email", 40},
        {"DISABLED", "disabled"}}},
      {"role",
       {{"ID", "id"}, {"NAME", "name"}, {"BUILTIN", "builtin"}, {"PERMISSIONS", "permissions", 60},
        {"DESCRIPTION", "description", 40}}},
      {"project",
       {{"ID", "id"}, {"ORG", "org_id"}, {"SLUG", "slug"}, {"NAME", "name", 30}, {"VISIBILITY", "visibility"},
        {"ARCHIVED", "archived"}, {"MY ROLE", "my_role"}, {"TAGS", "tags", 30}}},
      {"token",
       {{"ID", "id"}, {"NAME", "name", 30}, {"SCOPES", "scopes", 30}, {"CREATED", "created_at"},
        {"EXPIRES", "expires_at"}, {"LAST USED", "last_used_at"}, {"REVOKED", "revoked"}}},
      {"session",
       {{"ID", "id"}, {"CLIENT", "client_ip"}, {"AGENT", "user_agent", 30}, {"CREATED", "created_at"},
        {"LAST SEEN", "last_seen_at"}, {"EXPIRES", "expires_at"}}},
      {"invitation",
       {{"ID", "id"}, {"ROLE", "role"}, {"EMAIL", "email", 40}, {"STATE", "state"}, {"EXPIRES", "expires_at"}}},
      {"member", {{"USER ID", "user_id"}, {"USERNAME", "username"}, {"ROLE", "role"}}},
      {"group-member", {{"USER ID", "user_id"}, {"USERNAME", "username"}}},
      {"project-member", {{"USER ID", "user_id"}, {"ROLE", "role"}, {"ADDED", "added_at"}}},
      {"task",
       {{"ID", "id"}, {"KIND", "kind", 28}, {"STATE", "state"}, {"ATTEMPTS", "attempts"}, {"RUN AT", "run_at"},
        {"UPDATED", "updated_at"}, {"LAST ERROR", "last_error", 50}}},
      {"audit",
       {{"SEQ", "seq"}, {"TIME", "time"}, {"ACTOR", "actor"}, {"ACTION", "action"}, {"TARGET", "target_id"},
        {"ORG", "org_id"}, {"SUMMARY", "summary", 60}}},
  };
  static const std::vector<Column> kDefault{{"ID", "id"}, {"NAME", "name", 40}};
  auto it = kColumns.find(kind);
  return it == kColumns.end() ? kDefault : it->second;
}

}  // namespace atrium::cli
