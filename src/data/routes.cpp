#include "data/routes.hpp"

#include "data/routes_common.hpp"

namespace atrium::data {

void add_routes(http::Api& api, Service& svc, async::Runtime& rt) {
  detail::add_upload_routes(api, svc);
  detail::add_file_routes(api, svc, rt);
  detail::add_dataset_routes(api, svc, rt);
}

}  // namespace atrium::data
