#include "http/gate.hpp"

namespace atrium::http {

bool Principal::is_member_of(const std::string& org_id) const {
  for (auto& b : bindings)
    if (b.org_id == org_id) return true;
  return false;
}

bool Principal::is_instance_admin() const {
  for (auto& b : bindings)
    if (b.org_id.empty() && b.role == "admin") return true;
  return false;
}

}  // namespace atrium::http
