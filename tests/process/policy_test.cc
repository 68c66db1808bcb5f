// Network and expression policies over the wire (wire-protocol §6.6, §10.7 items 103–107):
// ROLE then ENTERPRISE, partial updates, the number checks of the Go server (a float64 that
// must be a whole number in range), the null-vs-[] quirk of allowed_ports, expression
// documents stored and returned as sent, their audit entries, bad input for each message, and
// that policies survive a restart and a SIGKILL of the registry worker.
#include <signal.h>

#include <optional>

#include <string>
#include <vector>

#include "audit.h"
#include "json.h"
#include "model.h"
#include "protocol.h"
#include "store.h"

namespace rt {
namespace {

// `json` as dump() prints it (keys sorted), for comparing whole replies.
std::string canon(const std::string& json) { return dump(parse_json(json).get()); }

using Policy = ServerTest;

// An enterprise network owned by `owner` (ROLE by node_id, no signature: §4.3).
uint16_t enterprise_network(Conn& c, const Server& s, const Daemon& owner, const std::string& name) {
  rdv::JsonPtr extra(json_pack("{s:b}", "enterprise", 1));
  return create_network(c, s, owner, name, extra.get());
}

// set_network_policy by the owner with `fields` (owned) merged in.
rdv::JsonPtr set_policy(Conn& c, uint16_t net, uint32_t node, json_t* fields) {
  rdv::JsonPtr req(json_pack("{s:s, s:I, s:I}", "type", "set_network_policy", "network_id", json_int_t(net), "node_id",
                             json_int_t(node)));
  json_object_update(req.get(), fields);
  json_decref(fields);
  return c.request(req.get());
}
rdv::JsonPtr get_policy(Conn& c, uint16_t net) {
  return call(c, json_pack("{s:s, s:I}", "type", "get_network_policy", "network_id", json_int_t(net)));
}
// set_expr_policy with the raw JSON text `value` for the expr_policy member ("" = absent).
rdv::JsonPtr set_expr(Conn& c, uint16_t net, uint32_t node, const std::string& value) {
  std::string body = "{\"type\":\"set_expr_policy\",\"network_id\":" + std::to_string(net) +
                     ",\"node_id\":" + std::to_string(node);
  if (!value.empty()) body += ",\"expr_policy\":" + value;
  return c.request(body + "}");
}
rdv::JsonPtr get_expr(Conn& c, uint16_t net, std::string* raw = nullptr) {
  return c.request("{\"type\":\"get_expr_policy\",\"network_id\":" + std::to_string(net) + "}", raw);
}
// A JSON string literal holding `text`.
std::string json_quoted(const std::string& text) {
  std::string out;
  rdv::json_append_string(out, text);
  return out;
}

std::string ports_of(const rdv::JsonPtr& r) {
  const json_t* p = r ? json_object_get(r.get(), "allowed_ports") : nullptr;
  return p ? dump(p) : "<absent>";
}

rdv::JsonPtr join(Conn& c, const Daemon& d, uint16_t net) {
  std::string challenge = "join_network:" + std::to_string(d.id) + ":" + std::to_string(net);
  return call(c, json_pack("{s:s, s:I, s:I, s:s}", "type", "join_network", "node_id", json_int_t(d.id), "network_id",
                           json_int_t(net), "signature", d.sign(challenge).c_str()));
}

// The audit log's actions, oldest first, read from the store itself (LMDB allows readers in
// other processes beside the registry).
std::vector<rdv::AuditEntry> audit_entries(const Server& s) {
  rdv::Env env;
  std::string err;
  std::vector<rdv::AuditEntry> out;
  if (!env.open(rdv::EnvOptions{s.data_dir, 1ull << 30, 126, false}, &err)) {
    ADD_FAILURE() << "open the store: " << err;
    return out;
  }
  rdv::Txn t;
  if (env.begin_read(&t) != 0) return out;
  rdv::Cursor cur(t, rdv::Db::Audit);
  for (bool ok = cur.seek(); ok; ok = cur.next()) {
    rdv::AuditEntry e;
    if (rdv::decode_audit(cur.value(), &e)) out.push_back(e);
  }
  return out;
}
// A copy, not a pointer: callers pass the temporary audit_entries() returns.
std::optional<rdv::AuditEntry> last_audit(const std::vector<rdv::AuditEntry>& v, const std::string& action) {
  for (size_t i = v.size(); i-- > 0;)
    if (v[i].action == action) return v[i];
  return std::nullopt;
}

// ---- set/get_network_policy (items 103–106) ----

TEST_F(Policy, SetThenGetNetworkPolicy) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "policy-net");
  ASSERT_NE(net, 0);
  rdv::JsonPtr r = set_policy(c, net, owner.id,
                              json_pack("{s:i, s:[i,i], s:s}", "max_members", 50, "allowed_ports", 80, 443,
                                        "description", "test net"));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "max_members"), 50);
  EXPECT_EQ(ports_of(r), "[80,443]");
  EXPECT_EQ(str(r.get(), "description"), "test net");

  r = get_policy(c, net);
  ASSERT_TRUE(is_ok(r, "get_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "network_id"), net);
  EXPECT_EQ(num(r.get(), "max_members"), 50);
  EXPECT_EQ(ports_of(r), "[80,443]");
  EXPECT_EQ(str(r.get(), "description"), "test net");
  EXPECT_TRUE(json_is_integer(json_object_get(r.get(), "max_members"))) << dump(r.get());

  std::optional<rdv::AuditEntry> e = last_audit(audit_entries(server), "network.policy_changed");
  ASSERT_TRUE(e) << "no network.policy_changed audit entry";
  EXPECT_EQ(e->network_id, net);
  EXPECT_NE(e->details.find("new_max_members=50"), std::string::npos) << e->details;
}

TEST_F(Policy, PartialUpdateChangesOnlySuppliedKeys) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "partial");
  ASSERT_TRUE(is_ok(set_policy(c, net, owner.id, json_pack("{s:i, s:[i], s:s}", "max_members", 5, "allowed_ports", 22,
                                                           "description", "first")),
                    "set_network_policy_ok"));
  rdv::JsonPtr r = set_policy(c, net, owner.id, json_pack("{s:s}", "description", "second"));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "max_members"), 5);
  EXPECT_EQ(ports_of(r), "[22]");
  EXPECT_EQ(str(r.get(), "description"), "second");
  // null counts as not supplied.
  r = set_policy(c, net, owner.id, json_pack("{s:n, s:n, s:n}", "max_members", "allowed_ports", "description"));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "max_members"), 5);
  EXPECT_EQ(ports_of(r), "[22]");
  EXPECT_EQ(str(r.get(), "description"), "second");
  // Ports de-duplicated in order; [] clears them; 0 members = unlimited.
  r = set_policy(c, net, owner.id, json_pack("{s:[i,i,i,i], s:i}", "allowed_ports", 443, 80, 443, 80, "max_members", 0));
  EXPECT_EQ(ports_of(r), "[443,80]");
  EXPECT_EQ(num(r.get(), "max_members"), 0);
  r = set_policy(c, net, owner.id, json_pack("{s:[]}", "allowed_ports"));
  EXPECT_EQ(ports_of(r), "[]");
  EXPECT_EQ(ports_of(get_policy(c, net)), "[]");
  // Whole-number doubles are accepted (Go reads every number as a float64).
  r = set_policy(c, net, owner.id, json_pack("{s:f, s:[f]}", "max_members", 7.0, "allowed_ports", 8080.0));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "max_members"), 7);
  EXPECT_EQ(ports_of(r), "[8080]");
}

TEST_F(Policy, AllowedPortsNullUntilSetButGetAlwaysAnArray) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "no-ports");
  rdv::JsonPtr r = get_policy(c, net);
  ASSERT_TRUE(is_ok(r, "get_network_policy_ok"));
  EXPECT_EQ(ports_of(r), "[]");
  EXPECT_EQ(num(r.get(), "max_members"), 0);
  EXPECT_EQ(str(r.get(), "description"), "");
  r = set_policy(c, net, owner.id, json_pack("{s:s}", "description", "only words"));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(ports_of(r), "null");
  EXPECT_EQ(ports_of(get_policy(c, net)), "[]");
}

TEST_F(Policy, MaxMembersValidation) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), member = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "sized");
  const std::string invalid = "invalid max_members (must be integer 0-10000)";
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:i}", "max_members", -1)), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:i}", "max_members", 99999)), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:i}", "max_members", 10001)), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:f}", "max_members", 10.5)), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:f}", "max_members", 1e20)), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:s}", "max_members", "string")), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:b}", "max_members", 1)), invalid));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[i]}", "max_members", 5)), invalid));
  EXPECT_TRUE(is_ok(set_policy(c, net, owner.id, json_pack("{s:i}", "max_members", 10000)), "set_network_policy_ok"));

  ASSERT_TRUE(is_ok(join(c, member, net), "join_network_ok"));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:i}", "max_members", 1)),
                       "cannot set max_members to 1: network already has 2 members"));
  EXPECT_TRUE(is_ok(set_policy(c, net, owner.id, json_pack("{s:i}", "max_members", 2)), "set_network_policy_ok"));
  // The refused updates left the last good value.
  EXPECT_EQ(num(get_policy(c, net).get(), "max_members"), 2);
  // A refused key refuses the whole request: the valid description did not land either.
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:s, s:i}", "description", "x", "max_members", -5)),
                       invalid));
  EXPECT_EQ(str(get_policy(c, net).get(), "description"), "");
}

TEST_F(Policy, PortsAndDescriptionValidation) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "ports");
  json_t* many = json_array();
  for (int i = 1; i <= 101; i++) json_array_append_new(many, json_integer(i));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:o}", "allowed_ports", many)),
                       "too many allowed_ports (max 100)"));
  json_t* hundred = json_array();
  for (int i = 1; i <= 100; i++) json_array_append_new(hundred, json_integer(i));
  EXPECT_TRUE(is_ok(set_policy(c, net, owner.id, json_pack("{s:o}", "allowed_ports", hundred)), "set_network_policy_ok"));

  const std::string bad_port = "invalid port number in allowed_ports (must be integer 1-65535)";
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[i]}", "allowed_ports", -1)), bad_port));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[i]}", "allowed_ports", 0)), bad_port));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[i]}", "allowed_ports", 70000)), bad_port));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[f]}", "allowed_ports", 80.5)), bad_port));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[s]}", "allowed_ports", "string")), bad_port));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:[i,n]}", "allowed_ports", 80)), bad_port));
  EXPECT_TRUE(is_error_containing(set_policy(c, net, owner.id, json_pack("{s:s}", "allowed_ports", "80")),
                                  "invalid allowed_ports"));
  EXPECT_TRUE(is_error_containing(set_policy(c, net, owner.id, json_pack("{s:i}", "allowed_ports", 80)),
                                  "invalid allowed_ports"));
  EXPECT_EQ(json_array_size(json_object_get(get_policy(c, net).get(), "allowed_ports")), 100u);

  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:s}", "description", std::string(257, 'd').c_str())),
                       "policy description too long (max 256 chars)"));
  EXPECT_TRUE(is_error(set_policy(c, net, owner.id, json_pack("{s:s}", "description", std::string(100000, 'd').c_str())),
                       "policy description too long (max 256 chars)"));
  EXPECT_TRUE(is_error_containing(set_policy(c, net, owner.id, json_pack("{s:i}", "description", 5)),
                                  "invalid description"));
  rdv::JsonPtr r = set_policy(c, net, owner.id, json_pack("{s:s}", "description", std::string(256, 'd').c_str()));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(str(r.get(), "description"), std::string(256, 'd'));
}

TEST_F(Policy, NetworkPolicyAuthorisation) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), member = register_daemon(c), stranger = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "guarded");
  uint16_t plain = create_network(c, server, owner, "plain");
  ASSERT_TRUE(is_ok(join(c, member, net), "join_network_ok"));
  auto fields = [] { return json_pack("{s:i}", "max_members", 10); };

  EXPECT_TRUE(is_error(set_policy(c, 999, owner.id, fields()), "network 999: network not found"));
  EXPECT_TRUE(is_error(get_policy(c, 999), "network 999: network not found"));
  // ROLE first, then ENTERPRISE.
  EXPECT_TRUE(is_error(set_policy(c, plain, owner.id, fields()), "enterprise feature: requires enterprise network"));
  EXPECT_TRUE(is_error(set_policy(c, net, 0, fields()), "rbac: node_id required for role-based authorization"));
  EXPECT_TRUE(is_error(set_policy(c, net, stranger.id, fields()), "request failed"));  // "… has no role …"
  EXPECT_TRUE(is_error(set_policy(c, net, member.id, fields()),
                       "rbac: node " + std::to_string(member.id) +
                           " has role \"member\", requires one of [owner admin]"));
  // The global admin token stands in for a role.
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:s, s:i}", "type", "set_network_policy", "network_id",
                                     json_int_t(net), "admin_token", server.admin_token.c_str(), "max_members", 10));
  ASSERT_TRUE(is_ok(r, "set_network_policy_ok"));
  EXPECT_EQ(num(get_policy(c, net).get(), "max_members"), 10);
  // get_network_policy is OPEN, on any network.
  EXPECT_TRUE(is_ok(get_policy(c, plain), "get_network_policy_ok"));
  EXPECT_TRUE(is_ok(get_policy(c, 0), "get_network_policy_ok"));
}

// ---- expression policies (item 107) ----

const std::string kDoc = R"({"version":1,"rules":[{"name":"web","match":"port == 443","action":"allow"}]})";

TEST_F(Policy, ExprPolicySetGetClear) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  // No enterprise gate.
  uint16_t net = create_network(c, server, owner, "expr");
  rdv::JsonPtr r = get_expr(c, net);
  ASSERT_TRUE(is_ok(r, "get_expr_policy_ok"));
  EXPECT_EQ(dump(r.get()), canon("{\"type\":\"get_expr_policy_ok\",\"network_id\":" + std::to_string(net) + "}"));

  // As the official client sends it: the document in a JSON string.
  r = set_expr(c, net, owner.id, json_quoted(kDoc));
  ASSERT_TRUE(is_ok(r, "set_expr_policy_ok"));
  EXPECT_EQ(dump(r.get()), canon("{\"type\":\"set_expr_policy_ok\",\"network_id\":" + std::to_string(net) + "}"));
  std::string raw;
  r = get_expr(c, net, &raw);
  ASSERT_TRUE(is_ok(r, "get_expr_policy_ok"));
  // Handed out as JSON (an object, not a string), exactly as stored.
  EXPECT_NE(raw.find("\"expr_policy\":" + kDoc), std::string::npos) << raw;
  const json_t* doc = json_object_get(r.get(), "expr_policy");
  ASSERT_TRUE(json_is_object(doc)) << dump(r.get());
  EXPECT_EQ(json_integer_value(json_object_get(doc, "version")), 1);

  std::optional<rdv::AuditEntry> e = last_audit(audit_entries(server), "network.expr_policy_set");
  ASSERT_TRUE(e) << "no network.expr_policy_set audit entry";
  EXPECT_EQ(e->network_id, net);
  EXPECT_NE(e->details.find("size=" + std::to_string(kDoc.size())), std::string::npos) << e->details;

  // Both spellings of "clear".
  for (const char* clear : {"\"\"", "\"null\""}) {
    ASSERT_TRUE(is_ok(set_expr(c, net, owner.id, json_quoted(kDoc)), "set_expr_policy_ok"));
    r = set_expr(c, net, owner.id, clear);
    ASSERT_TRUE(is_ok(r, "set_expr_policy_ok")) << clear;
    EXPECT_TRUE(json_is_true(json_object_get(r.get(), "cleared"))) << dump(r.get());
    r = get_expr(c, net);
    EXPECT_FALSE(has(r.get(), "expr_policy")) << clear << ": " << dump(r.get());
  }
  EXPECT_TRUE(last_audit(audit_entries(server), "network.expr_policy_cleared"));
}

TEST_F(Policy, ExprPolicyAsAnObjectKeepsItsIntegers) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = create_network(c, server, owner, "expr-object");
  const std::string doc = R"({"version": 1, "rules": [{"limit": 10, "ratio": 0.5}]})";
  ASSERT_TRUE(is_ok(set_expr(c, net, owner.id, doc), "set_expr_policy_ok"));
  std::string raw;
  rdv::JsonPtr r = get_expr(c, net, &raw);
  ASSERT_TRUE(is_ok(r, "get_expr_policy_ok"));
  // Stored as the Go server stores a decoded object (json.Marshal of the map: keys sorted),
  // integers kept as integers: not "1.0", since daemons decode version into an int.
  EXPECT_NE(raw.find(R"("expr_policy":{"rules":[{"limit":10,"ratio":0.5}],"version":1})"), std::string::npos) << raw;
  EXPECT_TRUE(json_is_integer(json_object_get(json_object_get(r.get(), "expr_policy"), "version"))) << raw;
}

TEST_F(Policy, ExprPolicyErrors) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c), stranger = register_daemon(c);
  uint16_t net = create_network(c, server, owner, "expr-bad");
  const std::string required = "expr_policy field is required";
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, ""), required));  // absent
  for (const char* v : {"null", "5", "[1]", "true"}) EXPECT_TRUE(is_error(set_expr(c, net, owner.id, v), required)) << v;
  EXPECT_TRUE(is_error_containing(set_expr(c, net, owner.id, json_quoted("{not json")), "expr_policy: invalid JSON: "));
  EXPECT_TRUE(is_error_containing(set_expr(c, net, owner.id, json_quoted("[1]")), "expr_policy: invalid JSON: "));
  EXPECT_TRUE(is_error_containing(set_expr(c, net, owner.id, R"({"version":"1","rules":[1]})"),
                                  "expr_policy: invalid JSON: "));
  // "expr_policy: unsupported version 99 (want 1)": no sanitiser keyword.
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, R"({"version":99,"rules":[1]})"), "request failed"));
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, R"({"rules":[1]})"), "request failed"));
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, R"({"version":1})"), "expr_policy: at least one rule is required"));
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, json_quoted(R"({"version":1,"rules":null})")),
                       "expr_policy: at least one rule is required"));
  std::string big = R"({"version":1,"rules":[")" + std::string(70000, 'r') + "\"]}";
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, json_quoted(big)), "expr_policy too long (max 65536 bytes)"));
  EXPECT_TRUE(is_error(set_expr(c, net, owner.id, big), "expr_policy too long (max 65536 bytes)"));
  // Unknown network, missing role.
  EXPECT_TRUE(is_error(set_expr(c, 999, owner.id, json_quoted(kDoc)), "network 999: network not found"));
  EXPECT_TRUE(is_error(get_expr(c, 999), "network 999: network not found"));
  EXPECT_TRUE(is_error(set_expr(c, net, 0, json_quoted(kDoc)), "rbac: node_id required for role-based authorization"));
  EXPECT_TRUE(is_error(set_expr(c, net, stranger.id, json_quoted(kDoc)), "request failed"));
  EXPECT_FALSE(has(get_expr(c, net).get(), "expr_policy")) << "no refused request stored a document";
  // The global admin token stands in for a role here too.
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_expr_policy", "network_id", json_int_t(net),
                                     "admin_token", server.admin_token.c_str(), "expr_policy", kDoc.c_str()));
  EXPECT_TRUE(is_ok(r, "set_expr_policy_ok"));
}

TEST_F(Policy, PoliciesSurviveRestartAndKill) {
  Conn c = server.connect();
  Daemon owner = register_daemon(c);
  uint16_t net = enterprise_network(c, server, owner, "durable");
  ASSERT_TRUE(is_ok(set_policy(c, net, owner.id, json_pack("{s:i, s:[i,i], s:s}", "max_members", 9, "allowed_ports",
                                                           53, 853, "description", "dns")),
                    "set_network_policy_ok"));
  ASSERT_TRUE(is_ok(set_expr(c, net, owner.id, json_quoted(kDoc)), "set_expr_policy_ok"));

  restart(server);
  c = server.connect();
  rdv::JsonPtr r = get_policy(c, net);
  ASSERT_TRUE(is_ok(r, "get_network_policy_ok"));
  EXPECT_EQ(num(r.get(), "max_members"), 9);
  EXPECT_EQ(ports_of(r), "[53,853]");
  EXPECT_EQ(str(r.get(), "description"), "dns");
  std::string raw;
  get_expr(c, net, &raw);
  EXPECT_NE(raw.find(kDoc), std::string::npos) << raw;

  const std::string doc2 = R"({"version":1,"rules":["after restart"]})";
  ASSERT_TRUE(is_ok(set_policy(c, net, owner.id, json_pack("{s:[i]}", "allowed_ports", 22)), "set_network_policy_ok"));
  ASSERT_TRUE(is_ok(set_expr(c, net, owner.id, doc2), "set_expr_policy_ok"));
  c = kill_registry(server);
  ASSERT_TRUE(c.ok());
  r = get_policy(c, net);
  EXPECT_EQ(ports_of(r), "[22]");
  EXPECT_EQ(num(r.get(), "max_members"), 9);
  get_expr(c, net, &raw);
  EXPECT_NE(raw.find(R"({"rules":["after restart"],"version":1})"), std::string::npos) << raw;
}

}  // namespace
}  // namespace rt
