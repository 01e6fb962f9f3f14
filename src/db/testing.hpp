// For unit tests only: a fresh SQLite database in the test's temp directory.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "db/sqlite/sqlite_database.hpp"

namespace atrium::db {

// One database per test (named after it), removed and created anew.
inline std::unique_ptr<SqliteDatabase> open_test_db() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::path(::testing::TempDir()) /
             ("atrium_" + std::string(info->test_suite_name()) + "_" + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto db = SqliteDatabase::open({.path = (dir / "test.db").string()});
  if (!db) ADD_FAILURE() << db.error().detail;
  return db ? std::move(*db) : nullptr;
}

}  // namespace atrium::db
