// Typed column lists: one declaration gives both a SELECT's column list and the mapping of its
// rows onto a struct, so a column and the field it fills cannot drift apart by position.
//
//   const db::Columns<User> kUser{db::col<&User::id>("id"), db::col<&User::email>("email"), ...};
//   tx.query("SELECT " + kUser.list() + " FROM users WHERE id = ?", {id});  ->  kUser.read(row)
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "db/database.hpp"

namespace atrium::db {

// Column i of a row into a field, by the field's type (NULL: "", 0, false or an empty optional).
inline void read_column(const Row& r, std::size_t i, std::string& out) { out = r.str(i); }
inline void read_column(const Row& r, std::size_t i, double& out) { out = r.f64(i); }
template <typename V>
  requires std::is_integral_v<V>
void read_column(const Row& r, std::size_t i, V& out) {
  out = static_cast<V>(r.i64(i));
}
// A JSON array of strings (tags, permissions); anything else in the text is skipped.
inline void read_column(const Row& r, std::size_t i, std::vector<std::string>& out) {
  out.clear();
  auto a = nlohmann::json::parse(r.str(i), nullptr, false);
  if (a.is_array())
    for (auto& s : a)
      if (s.is_string()) out.push_back(s.get<std::string>());
}
template <typename V>
void read_column(const Row& r, std::size_t i, std::optional<V>& out) {
  if (r.is_null(i)) out.reset();
  else read_column(r, i, out.emplace());
}

// One entry of a column list: its name(s) in SQL and how it fills a T from the row, starting at
// the column's index. `width` > 1 for an entry that reads several adjacent columns at once.
template <typename T>
struct Column {
  using Reader = Status (*)(T&, const Row&, std::size_t);
  std::string_view names;  // "a" or, for width > 1, "a, b, c"
  Reader read;
  std::size_t width = 1;
};

namespace detail {
template <typename M>
struct MemberOf;
template <typename C, typename V>
struct MemberOf<V C::*> {
  using Class = C;
};
template <auto First>
using ClassOf = typename MemberOf<decltype(First)>::Class;
}  // namespace detail

// A column that fills a data member, or a member of a member: col<&User::email>("email"),
// col<&JobRecord::job, &Job::name>("name").
template <auto First, auto... Rest>
constexpr Column<detail::ClassOf<First>> col(std::string_view name) {
  using T = detail::ClassOf<First>;
  return {name, [](T& t, const Row& r, std::size_t i) -> Status {
            read_column(r, i, ((t .* First) .* ... .* Rest));
            return {};
          }};
}

// A column read by hand: JSON text, a parse that can fail, a value with a conversion.
template <typename T>
constexpr Column<T> col(std::string_view name, typename Column<T>::Reader read) {
  return {name, read};
}

// Several adjacent columns read together (NULL in the first often means "none of them").
template <typename T>
constexpr Column<T> cols(std::size_t width, std::string_view names, typename Column<T>::Reader read) {
  return {names, read, width};
}

template <typename T>
class Columns {
 public:
  Columns(std::initializer_list<Column<T>> cols) : cols_(cols) {
    for (const auto& c : cols_) width_ += c.width;
  }

  // "a, b, c"; with a qualifier ("p") "p.a, p.b, p.c", for a query that joins tables.
  std::string list(std::string_view qualifier = {}) const {
    std::string out;
    for (const auto& c : cols_) {
      std::string_view rest = c.names;
      while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view name = rest.substr(0, comma);
        while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
        if (!out.empty()) out += ", ";
        if (!qualifier.empty()) out.append(qualifier).append(".");
        out += name;
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      }
    }
    return out;
  }
  // How many result columns the list selects.
  std::size_t width() const { return width_; }

  // Fills `out` from the row's columns first .. first + width() - 1.
  Status read_into(T& out, const Row& r, std::size_t first = 0) const {
    for (const auto& c : cols_) {
      TRY_STATUS(c.read(out, r, first));
      first += c.width;
    }
    return {};
  }
  Result<T> read(const Row& r, std::size_t first = 0) const {
    T out{};
    TRY_STATUS(read_into(out, r, first));
    return out;
  }
  Result<std::vector<T>> read_all(const Rows& rows) const {
    std::vector<T> out;
    out.reserve(rows.size());
    for (const auto& r : rows) out.push_back(TRY(read(r)));
    return out;
  }

 private:
  std::vector<Column<T>> cols_;
  std::size_t width_ = 0;
};

}  // namespace atrium::db
