// envs::Service: what an environment has of the project's data beyond its job's mounts: the
// project view's syncs (envs/files_view.hpp) and the home's measured size.
#include "envs/service.hpp"

#include <spdlog/spdlog.h>

#include "envs/store_view.hpp"

namespace atrium::envs {

Result<SyncReport> Service::sync_files(const EnvRecord& e, const Actor& actor) {
  if (!e.spec.contains("view"))
    return fail(ErrorCode::kFailedPrecondition, "no-files-view",
                "the environment was launched without the project's files (launch with files)");
  if (e.state != EnvState::kReady && e.state != EnvState::kStarting)
    return fail(ErrorCode::kFailedPrecondition, "env-not-running",
                "the environment is " + e.state_text() + "; its files are synced when it runs and when it ends");
  auto uid = uid_of(e);
  if (!uid) return fail(ErrorCode::kFailedPrecondition, "env-not-running", "the environment's job is gone");
  return views_.sync(e, *uid, actor, "request");
}

Status Service::measure_home(const EnvRecord& e) {
  auto bytes = TRY(tree_bytes(settings_.data_dir / "homes" / e.project_id / e.user_id));
  return db_.write([&](db::Tx& tx) {
    return put_home_size(tx, {e.project_id, e.user_id, e.org_id, e.group_id, bytes, clock_.now_ms()});
  });
}

void Service::finish_data(const std::string& id) {
  auto e = db_.read([&](db::Tx& tx) { return get_env(tx, id); });
  if (!e || !*e) return;
  if (auto uid = uid_of(**e)) views_.finish(**e, *uid);
  if (auto st = measure_home(**e); !st) spdlog::warn("env {}: measuring its home: {}", id, st.error().detail);
}

void Service::periodic_data() {
  auto envs = db_.read([&](db::Tx& tx) {
    ListFilter f;
    f.active_only = true;
    f.limit = 100000;
    return list_envs(tx, f);
  });
  if (!envs) {
    spdlog::error("environments: {}", envs.error().detail);
    return;
  }
  static const Actor system{"", "atrium", "", "", ""};
  for (auto& e : *envs) {
    if (stopping_) return;
    if (e.state == EnvState::kReady && e.spec.contains("view")) {
      if (auto uid = uid_of(e))
        if (auto r = views_.sync(e, *uid, system, "periodic"); !r)
          spdlog::warn("env {}: syncing its files: {}", e.id, r.error().detail);
    }
    if (e.state != EnvState::kQueued)
      if (auto st = measure_home(e); !st) spdlog::warn("env {}: measuring its home: {}", e.id, st.error().detail);
  }
}

}  // namespace atrium::envs
