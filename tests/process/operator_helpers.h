// Helpers shared by the operator-API process tests (operator_test.cc, breakers_test.cc,
// accept_test.cc): the newest audit entry of an action, polling with a deadline, the 401/405
// checks every admin route gets, and a hot standby to see the 409.
#pragma once

#include <functional>
#include <string>

#include "protocol.h"

namespace rt {

// The newest audit entry whose action is `action` (get_audit_log with the admin token), or null.
inline rdv::JsonPtr newest_audit(Server& s, const std::string& action) {
  Conn c = s.connect();
  rdv::JsonPtr log = call(c, json_pack("{s:s, s:s, s:I}", "type", "get_audit_log", "admin_token",
                                       s.admin_token.c_str(), "limit", json_int_t(1000)));
  if (!log) return nullptr;
  size_t i;
  json_t* entry;
  json_array_foreach(json_object_get(log.get(), "entries"), i, entry) {  // newest first
    if (str(entry, "action") == action) return rdv::JsonPtr(json_incref(entry));
  }
  return nullptr;
}

// Polls `cond` until it holds or `timeout_ms` passes.
inline bool eventually(const std::function<bool()>& cond, int timeout_ms = 10000) {
  int64_t deadline = mono_ms() + timeout_ms;
  while (mono_ms() < deadline) {
    if (cond()) return true;
    sleep_ms(50);
  }
  return cond();
}

// The admin access class (§5.2): no token and a wrong token are 401 "unauthorized".
inline void expect_admin_only(const Server& s, const std::string& method, const std::string& path,
                              const std::string& body = "") {
  HttpResponse r;
  ASSERT_TRUE(http_request(s.http_port, method, path, body, &r));
  EXPECT_EQ(r.status, 401) << method << " " << path;
  EXPECT_EQ(r.body, "unauthorized\n");
  ASSERT_TRUE(http_request(s.http_port, method, path, body, &r, {"X-Admin-Token: wrong"}));
  EXPECT_EQ(r.status, 401) << method << " " << path << " (wrong token)";
  EXPECT_EQ(r.body, "unauthorized\n");
}

// A method the route does not serve: 405 with Allow.
inline void expect_405(const Server& s, const std::string& method, const std::string& path, const std::string& allow) {
  HttpResponse r = admin_http(s, method, path);
  EXPECT_EQ(r.status, 405) << method << " " << path;
  EXPECT_EQ(r.header("Allow"), allow) << method << " " << path;
}

// Starts `standby` as a hot standby of `leader` (which must be running) on a copy of nothing:
// a fresh standby store (its registry refuses every write, which is all the 409 tests need).
inline bool start_standby(Server& standby, const Server& leader, std::string* err) {
  standby.extra_args.push_back("-standby");
  standby.extra_args.push_back("127.0.0.1:" + std::to_string(leader.registry_port));
  return standby.start(err);
}

}  // namespace rt
