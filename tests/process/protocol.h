// Helpers for the protocol process tests (one file per area: identity_test.cc,
// networks_test.cc, trust_test.cc, …): a daemon identity that registers and signs, requests
// built with json_pack and sent in one call, and the two assertions every test makes.
#pragma once

#include <string>

#include "harness.h"

namespace rt {

// A registered daemon: its key and node id.
struct Daemon {
  Key key;
  uint32_t id = 0;
  // base64 signature over `challenge` (e.g. "join_network:7:1").
  std::string sign(const std::string& challenge) const { return key.sign_b64(challenge); }
};

// Registers a fresh key (signed) and fails the test unless the reply is register_ok.
Daemon register_daemon(Conn& c, const json_t* extra = nullptr);

// Sends `req` (owned: pass json_pack(...) directly) and returns the reply (null on I/O error).
rdv::JsonPtr call(Conn& c, json_t* req);

// The reply is `type` (e.g. "join_network_ok"); otherwise the test fails with the reply.
::testing::AssertionResult is_ok(const rdv::JsonPtr& reply, const std::string& type);
// The reply is {"type":"error","error":text} exactly.
::testing::AssertionResult is_error(const rdv::JsonPtr& reply, const std::string& text);
// The reply is an error whose text contains `part`.
::testing::AssertionResult is_error_containing(const rdv::JsonPtr& reply, const std::string& part);

// create_network with the server's admin token and `creator` as node_id; `extra` fields (may
// be null) are merged. Returns the network id (0 and a test failure otherwise).
uint16_t create_network(Conn& c, const Server& s, const Daemon& creator, const std::string& name,
                        const json_t* extra = nullptr);

// Stops the server (SIGTERM) and starts it again on new ports, on the same data dir.
void restart(Server& s);
// SIGKILLs the registry worker and waits until its successor answers on a new connection,
// which it returns (invalid, with a test failure, if none answers within 20 s).
Conn kill_registry(Server& s);

// An admin-API request on the server's HTTP port with its X-Admin-Token (ops-spec §5.2).
// The test fails (and status stays 0) when no reply comes.
HttpResponse admin_http(const Server& s, const std::string& method, const std::string& path,
                        const std::string& body = "");
// The body of an HTTP reply as JSON (null, with a test failure, when it is not JSON).
rdv::JsonPtr json_body(const HttpResponse& r);
// Polls the standby's replication status until its stream is up and has everything (false
// after `timeout_ms`, with the last status in *last).
bool wait_streaming(const Server& standby, int timeout_ms, std::string* last);

}  // namespace rt
