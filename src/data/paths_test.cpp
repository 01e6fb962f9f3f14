#include "data/paths.hpp"

#include <gtest/gtest.h>

namespace atrium::data {
namespace {

struct Row {
  std::string in;
  std::string out;   // the canonical form; empty: refused
  std::string why;   // a fragment of the refusal
};

TEST(Paths, RuleTable) {
  const std::string e_acute_nfc = "caf\xC3\xA9.txt";      // é as one code point
  const std::string e_acute_nfd = "cafe\xCC\x81.txt";     // e + combining acute
  const std::vector<Row> rows = {
      {"a", "a", ""},
      {"data/raw/x.csv", "data/raw/x.csv", ""},
      {".gitignore", ".gitignore", ""},
      {"a b/c d", "a b/c d", ""},
      {"..a/b..c", "..a/b..c", ""},
      {e_acute_nfc, e_acute_nfc, ""},
      {e_acute_nfd, e_acute_nfc, ""},  // two spellings, one file
      {"\xE6\x97\xA5\xE6\x9C\xAC/\xF0\x9F\x93\x8A.png", "\xE6\x97\xA5\xE6\x9C\xAC/\xF0\x9F\x93\x8A.png", ""},
      {"", "", "empty"},
      {"/etc/passwd", "", "absolute"},
      {"a//b", "", "'//'"},
      {"a/", "", "ends with '/'"},
      {"./a", "", "'.' component"},
      {"a/./b", "", "'.' component"},
      {"..", "", "'..' component"},
      {"a/../../b", "", "'..' component"},
      {std::string("a\0b", 3), "", "NUL"},
      {"a\nb", "", "control"},
      {"a\tb", "", "control"},
      {"a\x7f", "", "control"},
      {"a\xC2\x85" "b", "", "control"},  // U+0085 NEL, a C1 control
      {"a\xE2\x80\xA8" "b", "", "line separator"},
      {"a\\b", "", "backslash"},
      {"a\xff", "", "UTF-8"},
      {"a\xC0\xAF", "", "UTF-8"},  // overlong '/'
      {"a\xED\xA0\x80", "", "UTF-8"},  // a surrogate
      {"file.", "", "ends with a space or a dot"},
      {"dir /x", "", "ends with a space or a dot"},
      {"...", "", "ends with a space or a dot"},
  };
  for (const auto& r : rows) {
    auto got = normalize_path(r.in);
    if (r.out.empty()) {
      ASSERT_FALSE(got) << "accepted: " << r.in;
      EXPECT_EQ(got.error().type, "invalid-path");
      EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
      EXPECT_NE(got.error().detail.find(r.why), std::string::npos) << r.in << " -> " << got.error().detail;
    } else {
      ASSERT_TRUE(got) << r.in << ": " << got.error().detail;
      EXPECT_EQ(*got, r.out);
    }
  }
}

TEST(Paths, UnassignedCodePointsAreRefused) {
  for (std::string p : {"a\xCD\xB8", "a\xF4\x8F\xBF\xBF"}) {  // U+0378 (unassigned), U+10FFFF (noncharacter)
    auto r = normalize_path(p);
    ASSERT_FALSE(r) << p;
    EXPECT_NE(r.error().detail.find("Unicode"), std::string::npos) << r.error().detail;
  }
}

TEST(Paths, Limits) {
  std::string comp(255, 'x');
  EXPECT_TRUE(normalize_path(comp));
  EXPECT_FALSE(normalize_path(comp + "x"));
  std::string deep;
  for (int i = 0; i < 32; ++i) deep += (i ? "/" : "") + std::string("d");
  EXPECT_TRUE(normalize_path(deep));
  EXPECT_FALSE(normalize_path(deep + "/d"));
  std::string longp;
  while (longp.size() < 1100) longp += "abcdefghij/";
  longp += "z";
  auto r = normalize_path(longp);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("longer than 1024"), std::string::npos);
}

TEST(Paths, CanonicalFormsAreFixedPoints) {
  for (std::string p : {"a/b", "caf\xC3\xA9", "cafe\xCC\x81/x", "\xEF\xAC\x81le"}) {
    auto once = normalize_path(p);
    ASSERT_TRUE(once) << p;
    auto twice = normalize_path(*once);
    ASSERT_TRUE(twice);
    EXPECT_EQ(*once, *twice);
  }
}

}  // namespace
}  // namespace atrium::data
