// An outbound HTTP call and its result: what a descriptor's outbound step asks for
// (MessageDesc::fetch) and what its handler then reads (Request::fetched). The Fetcher
// (fetcher.h) makes the calls.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rdv::registry {

class Registry;

// What came back. `error` is "" when an HTTP response arrived (any status); otherwise why not:
// the guard's refusal ("private address 10.0.0.1 not allowed"), "timed out after 5000 ms",
// "response body over 65536 bytes", libcurl's reason ("Failed to connect to …").
struct HttpResult {
  std::string url;
  std::string error;
  long status = 0;
  std::string body;
};

// A call to make.
struct OutboundCall {
  std::string url;
  std::string body;       // POSTed (as content_type) when non-empty; otherwise a GET
  int timeout_ms = 5000;  // the whole call: resolving, connecting, sending, receiving
  std::string content_type = "application/json";
  // More request header lines ("X-Pilot-Signature-256: …", "Authorization: Splunk …"). Never
  // logged: they may carry credentials.
  std::vector<std::string> headers;
  // Runs on the loop thread when the result arrives, before the request continues: where a
  // result that outlives the request is kept (validate_token's JWKS cache). May be null.
  void (*keep)(Registry& state, const HttpResult& result, int64_t now_ns) = nullptr;
};

}  // namespace rdv::registry
