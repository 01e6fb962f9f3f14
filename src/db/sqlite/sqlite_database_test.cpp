#include <gtest/gtest.h>

#include <filesystem>

#include "db/testing.hpp"

namespace atrium::db {
namespace {


TEST(SqliteDatabase, MigratesOnceAndCommits) {
  auto db = open_test_db();
  std::vector<Migration> m = {{1, "t", "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"}};
  ASSERT_TRUE(db->migrate("test", m));
  ASSERT_TRUE(db->migrate("test", m));  // idempotent
  auto n = db->write([](Tx& tx) { return tx.exec("INSERT INTO t (name) VALUES (?)", {std::string("a")}); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1);
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT id, name FROM t"); });
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].str(1), "a");
}

TEST(SqliteDatabase, FailureRollsBack) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t", "CREATE TABLE t (name TEXT UNIQUE)"}}));
  auto st = db->write_tx([](Tx& tx) -> Status {
    TRY(tx.exec("INSERT INTO t VALUES ('x')"));
    return invalid("changed my mind");
  });
  EXPECT_FALSE(st);
  auto rows = db->read([](Tx& tx) { return tx.query("SELECT * FROM t"); });
  EXPECT_TRUE(rows->empty());
}

TEST(SqliteDatabase, UniqueViolationIsAlreadyExists) {
  auto db = open_test_db();
  ASSERT_TRUE(db->migrate("test", {{1, "t", "CREATE TABLE t (name TEXT UNIQUE)"}}));
  ASSERT_TRUE(db->write([](Tx& tx) { return tx.exec("INSERT INTO t VALUES ('x')"); }));
  auto again = db->write([](Tx& tx) { return tx.exec("INSERT INTO t VALUES ('x')"); });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST(SqliteDatabase, BadMigrationStopsWithError) {
  auto db = open_test_db();
  auto st = db->migrate("test", {{1, "broken", "CREATE TABLEX nope"}});
  EXPECT_FALSE(st);
}

}  // namespace
}  // namespace atrium::db
