// Who made a change, as recorded by the audit trail; built by routes from the request.
#pragma once

#include <string>

namespace atrium {

struct Actor {
  std::string user_id;     // "" for anonymous (registration, login)
  std::string username;
  std::string token_id;    // "" when authenticated by session
  std::string request_id;
  std::string client_ip;
};

}  // namespace atrium
