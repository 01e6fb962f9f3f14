// secrets/'s table: one row per secret (scope "user" or "project", its owner's id, the name), the
// value sealed (secrets::seal). The only file with secrets' SQL is store.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "db/database.hpp"

namespace atrium::secrets::store {

struct Row {
  std::string scope, owner_id, org_id, name;
  std::string sealed;  // base64; never leaves this module but to be opened at a launch
  std::string description;
  Millis created = 0, updated = 0;
  std::string created_by, updated_by;
  std::int64_t version = 1;
  // The API shape: everything but the value.
  nlohmann::json json() const;
};

Result<std::optional<Row>> find(db::Tx& tx, const std::string& scope, const std::string& owner_id,
                                const std::string& name);
// Names in order, after `after` (a name; "" = from the start).
Result<std::vector<Row>> list(db::Tx& tx, const std::string& scope, const std::string& owner_id,
                              const std::string& after, int limit);
Result<std::int64_t> count(db::Tx& tx, const std::string& scope, const std::string& owner_id);
Status insert(db::Tx& tx, const Row& r);
// Replaces the sealed value and description of version `version`; aborted when it moved meanwhile.
Status update(db::Tx& tx, const Row& r, std::int64_t version);
Status remove(db::Tx& tx, const std::string& scope, const std::string& owner_id, const std::string& name);
Status remove_owner(db::Tx& tx, const std::string& scope, const std::string& owner_id);

}  // namespace atrium::secrets::store
