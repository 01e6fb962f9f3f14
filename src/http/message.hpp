// Beast-free request and response types: what routes and services see of HTTP.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/text.hpp"

namespace atrium::async {
class Stream;  // core/async.hpp: a body produced piece by piece
}

namespace atrium::http {

class WsHandler;  // http/ws_channel.hpp

struct Request {
  std::string method;  // upper case: GET, POST, ...
  std::string target;  // as sent: /api/v1/projects?limit=2
  std::string path;    // percent-decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // Set instead of `body` on routes whose bodies go to disk as they arrive (git pushes): the
  // path of that file, removed by the server after the response.
  std::string body_file;
  std::string remote_ip;
  std::string request_id;
  bool tls = false;
  bool websocket = false;  // a WebSocket upgrade request (GET, Upgrade: websocket)

  std::optional<std::string_view> header(std::string_view lower_name) const;
  std::optional<std::string_view> query_param(std::string_view name) const;
  std::optional<std::string> cookie(std::string_view name) const;
  bool is_unsafe() const { return method != "GET" && method != "HEAD" && method != "OPTIONS"; }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Set: `body` is sent first, then what the stream yields (chunked, or sized by stream_length).
  std::shared_ptr<async::Stream> stream;
  // With `stream`, to a WebSocket upgrade request: the server accepts the upgrade and sends `body`
  // and then each piece the stream yields as one binary message; the stream's end closes the
  // WebSocket normally (1000). Messages from the client are read (pings, close) and ignored.
  bool websocket = false;
  // To a WebSocket upgrade request: the server accepts the upgrade and hands the WebSocket to
  // this handler (both ways, whole messages; http/ws_channel.hpp).
  std::shared_ptr<WsHandler> ws_handler;
  // With `stream`: the body's length when it is known (sent as Content-Length, not chunked).
  std::int64_t stream_length = -1;

  static Response json(int status, const nlohmann::json& body);
  static Response no_content();
  static Response text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
  // RFC 9457 problem document.
  static Response problem(const Error& e, std::string_view request_id);
  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Splits "a=1&b=x%20y" into decoded pairs. Fails on bad percent-encoding or invalid UTF-8.
Result<std::vector<std::pair<std::string, std::string>>> parse_query(std::string_view q);
// One `Range` header value against a body of `size` bytes (RFC 9110 14.2): `bytes=a-b`, `a-` or
// `-n` gives [begin, end); another unit or several ranges give nullopt (send the whole body); a
// range outside the body is 416 range-not-satisfiable.
Result<std::optional<std::pair<std::int64_t, std::int64_t>>> parse_byte_range(std::string_view header,
                                                                             std::int64_t size);
// Percent-decodes a path; '+' is literal. Fails on bad escapes, NUL, or invalid UTF-8.
Result<std::string> percent_decode(std::string_view s, bool plus_is_space);
using atrium::percent_encode;  // core/text.hpp

}  // namespace atrium::http
