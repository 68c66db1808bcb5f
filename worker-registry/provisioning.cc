// Provisioning and directory sync (wire-protocol §6.8): provision_network applies a blueprint
// (the common library's NetworkBlueprint) to a network it finds by name or creates without
// members; get_provision_status summarises every network; directory_sync maps an enterprise
// directory onto a network's members by external id; directory_status reports the mapping.
// The descriptors are in enterprise.cc.
//
// Writes are one transaction each, so a blueprint or a sync that fails half-way leaves
// nothing (the original applied a blueprint step by step and could stop half-provisioned).
// The two summary reads run on the loop in turns (Outcome::more), a bounded number of records
// per pass, since a network's members and pre-assignments have no fixed bound.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "enterprise.h"
#include "policy_rules.h"
#include "membership.h"
#include "message_table.h"
#include "util.h"

namespace rdv::registry {

namespace {

constexpr std::string_view kVia = "provision_network";
// Records a summary read visits per turn before it yields to other connections.
constexpr size_t kTurnBudget = 4096;

std::string too_long(const std::string& path, size_t max) {
  return path + " too long (max " + std::to_string(max) + " bytes)";
}

// A string member of a blueprint: absent or null reads as "", another type is an error (the
// common library decodes blueprints into typed structs, where a number is no string).
std::string blueprint_string(const json_t* obj, const char* key, const std::string& path, size_t max,
                             std::string* out) {
  out->clear();
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return "";
  if (!json_is_string(v)) return path + " must be a string";
  out->assign(json_string_value(v), json_string_length(v));
  return out->size() > max ? too_long(path, max) : "";
}

// An object member: absent or null → *out null; another type is an error.
std::string blueprint_object(const json_t* obj, const char* key, const json_t** out) {
  *out = nullptr;
  const json_t* v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return "";
  if (!json_is_object(v)) return std::string(key) + " must be an object";
  *out = v;
  return "";
}

// A whole number in [lo, hi] (requests carry every number as a double).
bool whole_number(const json_t* v, double lo, double hi, uint32_t* out) {
  if (!json_is_number(v)) return false;
  double d = json_number_value(v);
  if (!(d >= lo && d <= hi) || d != std::trunc(d)) return false;
  *out = uint32_t(d);
  return true;
}

std::string parse_policy(const json_t* p, Blueprint* b) {
  b->has_policy = true;
  if (const json_t* v = json_object_get(p, "max_members"); v && !json_is_null(v)) {
    if (!whole_number(v, 0, 10000, &b->max_members)) return "invalid max_members (must be integer 0-10000)";
    b->has_max_members = true;
  }
  if (const json_t* v = json_object_get(p, "allowed_ports"); v && !json_is_null(v)) {
    if (!json_is_array(v)) return "invalid port number in allowed_ports (must be integer 1-65535)";
    if (json_array_size(v) > 100) return "too many allowed_ports (max 100)";
    b->has_allowed_ports = true;
    size_t i;
    const json_t* port;
    json_array_foreach(v, i, port) {
      uint32_t n;
      if (!whole_number(port, 1, 65535, &n)) return "invalid port number in allowed_ports (must be integer 1-65535)";
      if (std::find(b->allowed_ports.begin(), b->allowed_ports.end(), n) == b->allowed_ports.end())
        b->allowed_ports.push_back(uint16_t(n));
    }
  }
  if (const json_t* v = json_object_get(p, "description"); v && !json_is_null(v)) {
    if (!json_is_string(v)) return "policy.description must be a string";
    b->description.assign(json_string_value(v), json_string_length(v));
    if (b->description.size() > 256) return "policy description too long (max 256 chars)";
    b->has_description = true;
  }
  return "";
}

// The expression policy: an object, or a string holding the JSON document ("" = none). The
// same rule and stored form as create_network and set_expr_policy (policy_rules.h).
std::string parse_expr_policy(const json_t* v, Blueprint* b) {
  std::string text;
  if (json_is_string(v)) {
    if (json_string_length(v) == 0) return "";
    text.assign(json_string_value(v), json_string_length(v));
  } else if (json_is_object(v)) {
    // As the Go server marshals a decoded map: keys sorted, whole numbers as integers.
    JsonPtr copy(json_deep_copy(v));
    json_integralize(copy.get());
    char* dumped = json_dumps(copy.get(), JSON_COMPACT | JSON_SORT_KEYS);
    if (!dumped) return "expr_policy: invalid JSON: cannot encode the policy";
    text = dumped;
    free(dumped);
  } else {
    return "expr_policy: invalid JSON: the policy must be an object";
  }
  if (std::string e = expr_policy_error(text, /*require_rules=*/true); !e.empty()) return e;
  b->expr_policy = go_json_compact(text);
  return "";
}

}  // namespace

void json_integralize(json_t* j) {
  auto whole = [](const json_t* v) {
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    return d == std::trunc(d) && std::fabs(d) < 9007199254740992.0;  // 2^53: exact in a double
  };
  if (json_is_object(j)) {
    const char* key;
    json_t* v;
    json_object_foreach(j, key, v) {
      if (whole(v)) json_object_set_new(j, key, json_integer(json_int_t(json_real_value(v))));
      else json_integralize(v);
    }
  } else if (json_is_array(j)) {
    for (size_t i = 0; i < json_array_size(j); i++) {
      json_t* v = json_array_get(j, i);
      if (whole(v)) json_array_set_new(j, i, json_integer(json_int_t(json_real_value(v))));
      else json_integralize(v);
    }
  }
}

std::string parse_blueprint(const json_t* bp, const CidrList& allowed, Blueprint* b) {
  *b = Blueprint{};
  std::string e;
  if (!(e = blueprint_string(bp, "name", "name", kMaxFieldBytes, &b->name)).empty()) return e;
  if (b->name.empty()) return "name is required";
  if (!(e = network_name_error(b->name)).empty()) return e;
  if (!(e = blueprint_string(bp, "join_rule", "join_rule", kMaxFieldBytes, &b->join_rule)).empty()) return e;
  if (!b->join_rule.empty() && b->join_rule != "open" && b->join_rule != "token" && b->join_rule != "invite")
    return "invalid join_rule " + go_quote(b->join_rule) + " (must be open, token, or invite)";
  if (!(e = blueprint_string(bp, "join_token", "join_token", kMaxFieldBytes, &b->join_token)).empty()) return e;
  if (b->join_rule == "token" && b->join_token.empty()) return "join_token is required when join_rule is token";
  if (const json_t* v = json_object_get(bp, "enterprise"); v && !json_is_null(v)) {
    if (!json_is_boolean(v)) return "enterprise must be a boolean";
    b->enterprise = json_is_true(v);
  }
  if (!(e = blueprint_string(bp, "network_admin_token", "network_admin_token", kMaxFieldBytes,
                             &b->network_admin_token)).empty())
    return e;

  if (const json_t* roles = json_object_get(bp, "roles"); roles && !json_is_null(roles)) {
    if (!json_is_array(roles)) return "roles must be an array";
    if (json_array_size(roles) > kMaxBlueprintRoles)
      return "too many roles (max " + std::to_string(kMaxBlueprintRoles) + ")";
    size_t i;
    const json_t* entry;
    json_array_foreach(roles, i, entry) {
      if (!json_is_object(entry)) return "role entry " + std::to_string(i) + " must be an object";
      std::string ext, role;
      if (!(e = blueprint_string(entry, "external_id", "role entry external_id", kMaxFieldBytes, &ext)).empty()) return e;
      if (!(e = blueprint_string(entry, "role", "role entry role", kMaxFieldBytes, &role)).empty()) return e;
      if (ext.empty()) return "role entry: external_id is required";
      if (role != "owner" && role != "admin" && role != "member") return "invalid role " + go_quote(role) + " for " + ext;
      b->roles.emplace_back(std::move(ext), std::move(role));
    }
  }

  const json_t* obj;
  if (!(e = blueprint_object(bp, "identity_provider", &obj)).empty()) return e;
  if (obj) {
    IdentityProvider& idp = b->idp;
    for (auto [key, field, max] :
         {std::tuple{"type", &idp.idp_type, kMaxFieldBytes}, {"url", &idp.url, kMaxUrlBytes}, {"issuer", &idp.issuer, kMaxUrlBytes},
          {"client_id", &idp.client_id, kMaxFieldBytes}, {"tenant_id", &idp.tenant_id, kMaxFieldBytes},
          {"domain", &idp.domain, kMaxFieldBytes}})
      if (!(e = blueprint_string(obj, key, std::string("identity_provider.") + key, max, field)).empty()) return e;
    if (!is_idp_type(idp.idp_type)) return "invalid identity_provider type " + go_quote(idp.idp_type);
    if (idp.url.empty()) return "identity_provider.url is required";
    if (!(e = outbound_error(idp.url, allowed)).empty()) return "identity_provider.url: " + e;
    b->has_idp = true;
  }

  if (!(e = blueprint_object(bp, "webhooks", &obj)).empty()) return e;
  if (obj) {
    if (!(e = blueprint_string(obj, "audit_url", "webhooks.audit_url", kMaxUrlBytes, &b->audit_url)).empty()) return e;
    if (!(e = blueprint_string(obj, "identity_url", "webhooks.identity_url", kMaxUrlBytes, &b->identity_url)).empty())
      return e;
    if (!b->audit_url.empty() && !(e = outbound_error(b->audit_url, allowed)).empty()) return "webhooks.audit_url: " + e;
    if (!b->identity_url.empty() && !(e = outbound_error(b->identity_url, allowed)).empty())
      return "webhooks.identity_url: " + e;
  }

  if (!(e = blueprint_object(bp, "audit_export", &obj)).empty()) return e;
  if (obj) {
    AuditExportConfig& x = b->audit_export;
    for (auto [key, field, max] :
         {std::tuple{"format", &x.format, kMaxFieldBytes}, {"endpoint", &x.endpoint, kMaxUrlBytes},
          {"token", &x.token, kMaxFieldBytes}, {"index", &x.index, kMaxFieldBytes}, {"source", &x.source, kMaxFieldBytes}})
      if (!(e = blueprint_string(obj, key, std::string("audit_export.") + key, max, field)).empty()) return e;
    if (!is_export_format(x.format)) return "invalid audit_export format " + go_quote(x.format);
    if (x.endpoint.empty()) return "audit_export.endpoint is required";
    if (!(e = export_endpoint_error(x.format, x.endpoint, allowed)).empty()) return "audit_export.endpoint: " + e;
    b->has_audit_export = true;
  }

  if (const json_t* v = json_object_get(bp, "expr_policy"); v && !json_is_null(v))
    if (!(e = parse_expr_policy(v, b)).empty()) return e;

  if (!(e = blueprint_object(bp, "policy", &obj)).empty()) return e;
  if (obj && !(e = parse_policy(obj, b)).empty()) return e;
  return "";
}

namespace {

// A network that becomes enterprise gives every member without a role one, as
// set_network_enterprise does (§6.4.4): the earliest joined becomes owner when there is none,
// the others members.
void assign_missing_roles(Request& r, Write& w, const Network& net) {
  std::string prefix = key_u16(net.id);
  std::vector<std::pair<uint32_t, Member>> roleless;
  bool has_owner = false;
  {
    Cursor c(*r.write_txn, Db::Members);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      Member m;
      if (!decode_member(c.value(), &m)) continue;
      if (m.role == "owner") has_owner = true;
      if (m.role.empty()) roleless.emplace_back(read_u32(c.key().substr(2)), std::move(m));
    }
    r.view.note(c.error());
  }
  std::stable_sort(roleless.begin(), roleless.end(),
                   [](const auto& a, const auto& b) { return a.second.joined_at < b.second.joined_at; });
  for (auto& [id, m] : roleless) {
    m.role = has_owner ? "member" : "owner";
    has_owner = true;
    w.put_member(net.id, id, m);
  }
}

size_t count_prefix(const Txn& txn, Db db, const std::string& prefix, View& view) {
  size_t n = 0;
  Cursor c(txn, db);
  for (bool ok = c.seek(prefix); ok && c.key().substr(0, prefix.size()) == prefix; ok = c.next()) n++;
  view.note(c.error());
  return n;
}

json_t* actions_json(const std::vector<std::string>& actions) { return json_string_list(actions); }

}  // namespace

Outcome handle_provision_network(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  JsonPtr bp = r.msg.json("blueprint");
  if (!json_is_object(bp.get())) return Outcome::fail("blueprint is required");
  Blueprint b;
  if (std::string e = parse_blueprint(bp.get(), allowed_private_endpoints(r.cfg), &b); !e.empty())
    return Outcome::fail("invalid blueprint: " + e);

  Network net;
  uint16_t found = r.view.network_for_name(b.name);
  bool created = !(found && r.view.get_network(found, &net));
  if (created) {
    if (b.join_rule == "invite" && !b.enterprise)
      return Outcome::fail("provision network: enterprise feature: invite-only networks require the enterprise flag");
  } else if (b.has_max_members && b.max_members && b.max_members < net.member_count) {
    return Outcome::fail("cannot set max_members to " + std::to_string(b.max_members) + ": network already has " +
                         std::to_string(net.member_count) + " members");
  }

  Write w(r);
  std::vector<std::string> actions;
  if (created) {
    // Creator-less: no members and no owner (the blueprint's pre-assignments and the
    // network's admin token are how it gets administrators).
    net = Network{};
    net.id = w.allocate_network_id();
    if (!net.id) return Outcome::fail("network ID space exhausted (max 65535 networks)");
    net.name = b.name;
    net.join_rule = b.join_rule.empty() ? "open" : b.join_rule;
    net.token = b.join_token;
    net.admin_token = b.network_admin_token;
    net.enterprise = b.enterprise;
    net.created = r.now_ns / 1000000000;
    w.put(Db::NetNames, net.name, key_u16(net.id));
    actions.push_back("created network " + std::to_string(net.id) + " (" + net.name + ")");
    w.audit("network.created", net.id, 0,
            {{"name", net.name}, {"join_rule", net.join_rule}, {"enterprise", net.enterprise ? "true" : "false"},
             {"via", std::string(kVia)}});
  } else {
    actions.push_back("found existing network " + std::to_string(net.id) + " (" + net.name + ")");
  }
  if (b.enterprise) {
    if (!net.enterprise) {
      net.enterprise = true;
      assign_missing_roles(r, w, net);
    }
    actions.push_back("enabled enterprise features");
  }
  if (b.has_policy) {
    if (b.has_max_members) net.max_members = b.max_members;
    if (b.has_allowed_ports) {
      net.allowed_ports = b.allowed_ports;
      net.has_allowed_ports = true;
    }
    if (b.has_description) net.description = b.description;
    actions.push_back("applied network policy");
  }
  if (!b.expr_policy.empty()) {
    net.expr_policy = b.expr_policy;
    actions.push_back("applied expr policy");
  }
  net.provisioned = true;
  w.put_network(net);

  if (b.has_idp) {
    store_idp(w, &b.idp, kVia);
    actions.push_back("configured " + b.idp.idp_type + " identity provider");
  }
  if (!b.audit_url.empty()) {
    store_webhook(w, b.audit_url, "", kVia);
    actions.push_back("configured audit webhook");
  }
  if (!b.identity_url.empty()) {
    store_identity_webhook(w, b.identity_url, kVia);
    actions.push_back("configured identity webhook");
  }
  if (b.has_audit_export) {
    store_audit_export(w, &b.audit_export, kVia);
    actions.push_back("configured " + b.audit_export.format + " audit export to " + b.audit_export.endpoint);
  }
  if (!b.roles.empty()) {
    // Applied when a node whose external id matches (case-insensitively) joins (§6.4.2).
    for (auto& [ext, role] : b.roles) w.put(Db::PreAssign, preassign_key(net.id, ext), role);
    actions.push_back("stored " + std::to_string(b.roles.size()) + " RBAC pre-assignments");
  }
  w.audit("network.provisioned", net.id, 0,
          {{"name", net.name}, {"enterprise", net.enterprise ? "true" : "false"}, {"created", created ? "true" : "false"},
           {"actions", std::to_string(actions.size())}});

  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("provision_network_ok"));
  json_object_set_new(out, "network_id", json_integer(net.id));
  json_object_set_new(out, "name", json_stringn(net.name.data(), net.name.size()));
  json_object_set_new(out, "created", json_boolean(created));
  json_object_set_new(out, "actions", actions_json(actions));
  return Outcome::ok(out);
}

// Every network but the backbone, in id order, a turn at a time; the resume point is the next
// network's key.
Outcome handle_get_provision_status(Request& r) {
  std::string start;
  if (r.resume->empty()) {
    if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
    *r.partial = "{\"type\":\"get_provision_status_ok\",\"networks\":[";
    start = key_u16(1);
  } else {
    start = *r.resume;
  }
  std::string& body = *r.partial;
  size_t visited = 0;
  {
    Cursor c(r.view.txn(), Db::Networks);
    for (bool ok = c.seek(start); ok; ok = c.next()) {
      if (c.key().size() != 2) continue;
      if (visited >= kTurnBudget) {
        *r.resume = std::string(c.key());
        return Outcome::more();
      }
      uint16_t id = uint16_t(uint8_t(c.key()[0]) << 8 | uint8_t(c.key()[1]));
      Network n;
      if (id == 0 || !decode_network(c.value(), &n)) continue;
      size_t pre = count_prefix(r.view.txn(), Db::PreAssign, key_u16(id), r.view);
      visited += 1 + pre;
      if (body.back() != '[') body += ',';
      JsonWriter w(body);
      w.begin_object()
          .num("network_id", id)
          .str("name", n.name)
          .boolean("enterprise", n.enterprise)
          .num("members", n.member_count)
          .str("join_rule", n.join_rule);
      if (n.max_members) w.num("max_members", n.max_members);
      if (!n.allowed_ports.empty()) {
        w.begin_array("allowed_ports");
        for (uint16_t p : n.allowed_ports) w.value_num(p);
        w.end_array();
      }
      if (pre) w.num("rbac_pre_assignments", int64_t(pre));
      if (n.provisioned) w.boolean("provisioned", true);
      w.end_object();
    }
    r.view.note(c.error());
  }
  body += ']';
  JsonPtr idp = setting_object(r.view, kIdpSetting);
  JsonPtr exporter = setting_object(r.view, kSettingAuditExport);
  JsonPtr hook = setting_object(r.view, kSettingWebhook);
  if (std::string_view t = json_str(idp.get(), "idp_type"); !t.empty()) {
    body += ",\"idp_type\":";
    json_append_string(body, t);
  }
  if (std::string_view f = json_str(exporter.get(), "format"); !f.empty()) {
    body += ",\"audit_export\":";
    json_append_string(body, f);
  }
  if (!json_str(hook.get(), "url").empty()) body += ",\"webhook_enabled\":true";
  body += '}';
  return Outcome::ok_raw(std::move(body));
}

namespace {

// directory_status counts in turns: [u8 phase][u32 total][u32 mapped][u32 unmapped]
// [u32 pre-assignments][key to go on from]; phase 0 walks the members, phase 1 the
// pre-assignments.
struct StatusScan {
  uint8_t phase = 0;
  uint32_t total = 0, mapped = 0, unmapped = 0, pre = 0;
  std::string key;

  std::string encode() const {
    return std::string(1, char(phase)) + key_u32(total) + key_u32(mapped) + key_u32(unmapped) + key_u32(pre) + key;
  }
  void decode(std::string_view s) {
    phase = uint8_t(s[0]);
    total = read_u32(s.substr(1, 4));
    mapped = read_u32(s.substr(5, 4));
    unmapped = read_u32(s.substr(9, 4));
    pre = read_u32(s.substr(13, 4));
    key = std::string(s.substr(17));
  }
};

struct DirectoryEntry {
  std::string external_id, key;  // key: lower-case
  std::string display_name;
  std::string role;  // "", owner, admin, member
  bool disabled = false;
};

// The entries, read as the original reads them (non-strings as "", non-booleans as false,
// entries that are not objects or have no external_id skipped; an unknown role means member),
// but bounded. Returns "" or the error.
std::string parse_entries(const json_t* entries, std::vector<DirectoryEntry>* out) {
  if (json_array_size(entries) > kMaxDirectoryEntries)
    return "too many directory entries (max " + std::to_string(kMaxDirectoryEntries) + ")";
  size_t i;
  const json_t* e;
  json_array_foreach(entries, i, e) {
    if (!json_is_object(e)) continue;
    std::string where = "directory entry " + std::to_string(i) + ": ";
    for (const char* key : {"external_id", "display_name", "email", "role"})
      if (json_str(e, key).size() > kMaxFieldBytes) return too_long(where + key, kMaxFieldBytes);
    if (const json_t* groups = json_object_get(e, "groups"); json_is_array(groups)) {
      if (json_array_size(groups) > kMaxEntryGroups)
        return where + "too many groups (max " + std::to_string(kMaxEntryGroups) + ")";
      size_t j;
      const json_t* g;
      json_array_foreach(groups, j, g) {
        if (json_is_string(g) && json_string_length(g) > kMaxFieldBytes) return too_long(where + "group", kMaxFieldBytes);
      }
    }
    DirectoryEntry d;
    d.external_id = std::string(json_str(e, "external_id"));
    if (d.external_id.empty()) continue;
    d.key = lower_ascii(d.external_id);
    d.display_name = std::string(json_str(e, "display_name"));
    std::string_view role = json_str(e, "role");
    d.role = role.empty() ? "" : (role == "owner" || role == "admin") ? std::string(role) : "member";
    d.disabled = json_bool(e, "disabled");
    out->push_back(std::move(d));
  }
  return "";
}

}  // namespace

Outcome handle_directory_status(Request& r) {
  uint16_t net_id = r.msg.u16("network_id");
  StatusScan s;
  if (r.resume->empty()) {
    if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
    if (net_id == 0) return Outcome::fail("network_id is required");
    std::string_view rec;
    if (r.view.txn().get(Db::Networks, key_u16(net_id), &rec) != 0)
      return Outcome::fail("network " + std::to_string(net_id) + ": network not found");
    s.key = key_u16(net_id);
  } else {
    s.decode(*r.resume);
  }
  std::string prefix = key_u16(net_id);
  size_t visited = 0;
  if (s.phase == 0) {
    Cursor c(r.view.txn(), Db::Members);
    bool ok = c.seek(s.key);
    for (; ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      if (visited++ == kTurnBudget) {
        s.key = std::string(c.key());
        *r.resume = s.encode();
        return Outcome::more();
      }
      s.total++;
      Node n;
      // Reaped members count in the total but are neither mapped nor unmapped (as the original).
      if (r.view.get_node(read_u32(c.key().substr(2)), &n)) (n.external_id.empty() ? s.unmapped : s.mapped)++;
    }
    r.view.note(c.error());
    s.phase = 1;
    s.key = prefix;
  }
  {
    Cursor c(r.view.txn(), Db::PreAssign);
    for (bool ok = c.seek(s.key); ok && c.key().substr(0, 2) == prefix; ok = c.next()) {
      if (visited++ == kTurnBudget) {
        s.key = std::string(c.key());
        *r.resume = s.encode();
        return Outcome::more();
      }
      s.pre++;
    }
    r.view.note(c.error());
  }
  Network net;
  if (!r.view.get_network(net_id, &net)) return Outcome::fail("network " + std::to_string(net_id) + ": network not found");
  std::string body;
  JsonWriter w(body);
  w.begin_object()
      .str("type", "directory_status_ok")
      .num("network_id", net_id)
      .num("total", s.total)
      .num("mapped", s.mapped)
      .num("unmapped", s.unmapped)
      .boolean("enterprise", net.enterprise);
  if (s.pre) w.num("pre_assignments", s.pre);
  if (net.last_sync) w.str("last_sync", rfc3339_utc(net.last_sync));
  w.end_object();
  return Outcome::ok_raw(std::move(body));
}

Outcome handle_directory_sync(Request& r) {
  if (const std::string& err = r.admin(); !err.empty()) return Outcome::fail(err);
  uint16_t net_id = r.msg.u16("network_id");
  if (net_id == 0) return Outcome::fail("network_id is required");
  bool remove_unlisted = r.msg.boolean("remove_unlisted");
  JsonPtr raw = r.msg.json("entries");
  if (!json_is_array(raw.get()) || json_array_size(raw.get()) == 0) return Outcome::fail("entries array is required");
  std::vector<DirectoryEntry> entries;
  if (std::string e = parse_entries(raw.get(), &entries); !e.empty()) return Outcome::fail(e);
  // Not in the original, which went on with nothing and — with remove_unlisted — removed every
  // member that has an external id.
  if (entries.empty()) return Outcome::fail("entries array is required: no entry has an external_id");
  Network net;
  if (!r.view.get_network(net_id, &net)) return Outcome::fail("network " + std::to_string(net_id) + ": network not found");
  if (!net.enterprise) return Outcome::fail("directory sync requires enterprise network");

  Write w(r);
  // The members that carry an external id (reaped members are skipped: they have no record).
  std::vector<std::pair<uint32_t, std::string>> with_id;  // node, lower-case external id
  std::map<std::string, uint32_t> by_id;
  {
    std::string prefix = key_u16(net_id);
    std::vector<uint32_t> members;
    Cursor c(*r.write_txn, Db::Members);
    for (bool ok = c.seek(prefix); ok && c.key().substr(0, 2) == prefix; ok = c.next())
      members.push_back(read_u32(c.key().substr(2)));
    r.view.note(c.error());
    for (uint32_t id : members) {
      Node n;
      if (!r.view.get_node(id, &n) || n.external_id.empty()) continue;
      std::string key = lower_ascii(n.external_id);
      with_id.emplace_back(id, key);
      by_id[key] = id;
    }
  }

  uint32_t updated = 0, disabled = 0, mapped = 0, unmapped = 0;
  std::vector<std::string> actions;
  std::set<std::string> listed;
  std::set<uint32_t> removed;
  auto node_text = [](uint32_t id) { return " (node " + std::to_string(id) + ")"; };
  for (const DirectoryEntry& d : entries) {
    listed.insert(d.key);
    auto it = by_id.find(d.key);
    if (it == by_id.end()) {
      unmapped++;
      // For a future join_network (§6.4.2); a disabled identity gets none.
      std::string pre_key = preassign_key(net_id, d.external_id);
      if (d.disabled) w.del(Db::PreAssign, pre_key);
      else if (!d.role.empty()) w.put(Db::PreAssign, pre_key, d.role);
      continue;
    }
    mapped++;
    uint32_t id = it->second;
    if (removed.count(id)) continue;
    if (d.disabled) {
      remove_member(r, w, net, id);
      removed.insert(id);
      disabled++;
      actions.push_back("disabled " + d.external_id + node_text(id));
      continue;
    }
    Member m;
    if (!d.role.empty() && r.view.get_member(net_id, id, &m) && m.role != d.role) {
      actions.push_back("role " + d.external_id + ": " + (m.role.empty() ? "none" : m.role) + " → " + d.role +
                        node_text(id));
      m.role = d.role;
      w.put_member(net_id, id, m);
      updated++;
    }
    Node n;
    if (!d.display_name.empty() && hostname_error(d.display_name).empty() && r.view.get_node(id, &n) &&
        n.hostname.empty()) {
      uint32_t holder = r.view.node_for_hostname(d.display_name);
      Node other;
      bool taken = holder && holder != id && r.view.get_node(holder, &other) && other.hostname == d.display_name;
      if (!taken) {
        w.put(Db::HostIndex, d.display_name, key_u32(id));
        n.hostname = d.display_name;
        w.put_node(n);
        actions.push_back("hostname " + d.display_name + " for " + d.external_id + node_text(id));
      }
    }
  }
  if (remove_unlisted) {
    for (auto& [id, key] : with_id) {
      if (listed.count(key) || removed.count(id)) continue;
      Node n;
      std::string ext = r.view.get_node(id, &n) ? n.external_id : key;
      remove_member(r, w, net, id);
      removed.insert(id);
      disabled++;
      actions.push_back("removed unlisted " + ext + node_text(id));
    }
  }
  net.last_sync = r.now_ns / 1000000000;
  w.put_network(net);
  // One entry with the counts: an entry per change could flush the whole log (-audit-keep).
  w.audit("directory.synced", net_id, 0,
          {{"mapped", std::to_string(mapped)},
           {"updated", std::to_string(updated)},
           {"disabled", std::to_string(disabled)},
           {"unmapped", std::to_string(unmapped)},
           {"remove_unlisted", remove_unlisted ? "true" : "false"}});

  json_t* out = json_object();
  json_object_set_new(out, "type", json_string("directory_sync_ok"));
  json_object_set_new(out, "updated", json_integer(updated));
  json_object_set_new(out, "disabled", json_integer(disabled));
  json_object_set_new(out, "mapped", json_integer(mapped));
  json_object_set_new(out, "unmapped", json_integer(unmapped));
  json_object_set_new(out, "actions", actions_json(actions));
  return Outcome::ok(out);
}

}  // namespace rdv::registry
