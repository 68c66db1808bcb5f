#include "worker-admin/metrics_endpoint.h"

#include <cmath>
#include <cstdlib>
#include <set>

#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/model.h"
#include "shared/util.h"

namespace rdv::admin {

using metrics::family;
using metrics::format_number;
using metrics::sample;

namespace {

// Label values are escaped as the text format requires: backslash, double quote, newline.
std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void labelled(std::string& out, std::string_view name, std::string_view label, std::string_view value, double v) {
  out += name;
  out += '{';
  out += label;
  out += "=\"";
  out += label_value(value);
  out += "\"} ";
  out += format_number(v);
  out += '\n';
}

uint64_t entries(const Txn& txn, Db db) {
  MDB_stat st{};
  return txn.stat(db, &st) == 0 ? st.ms_entries : 0;
}

// The settings record `name` as a JSON object, or null (absent, or not an object).
JsonPtr setting(const Txn& txn, std::string_view name) {
  std::string_view v;
  if (txn.get(Db::Settings, name, &v) != 0) return nullptr;
  JsonPtr j(json_loadb(v.data(), v.size(), 0, nullptr));
  if (!json_is_object(j.get())) return nullptr;
  return j;
}

uint64_t json_count(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  return json_is_integer(v) && json_integer_value(v) > 0 ? uint64_t(json_integer_value(v)) : 0;
}

}  // namespace

bool read_store_counts(Env& env, StoreCounts* out, std::string* error) {
  *out = StoreCounts{};
  Txn txn;
  if (int rc = env.begin_read(&txn)) {
    *error = "mdb_txn_begin: " + lmdb_error(rc);
    return false;
  }
  out->trust_links = entries(txn, Db::Trust);
  out->invites_pending = entries(txn, Db::Invites);
  out->handshake_inbox = entries(txn, Db::Handshakes);
  out->handshake_responses = entries(txn, Db::Responses);
  out->pubkeys = entries(txn, Db::KeyIndex);
  out->preassignments = entries(txn, Db::PreAssign);

  // Settings names as enterprise.h documents them (their writer is the registry).
  if (JsonPtr w = setting(txn, "webhook")) out->webhook_configured = !json_str(w.get(), "url").empty();
  if (JsonPtr s = setting(txn, "webhook_stats")) {
    out->webhook_delivered = json_count(s.get(), "delivered");
    out->webhook_failed = json_count(s.get(), "failed");
    out->webhook_dropped = json_count(s.get(), "dropped");
  }
  if (JsonPtr a = setting(txn, "audit_export")) out->audit_export_active = !json_str(a.get(), "endpoint").empty();
  if (JsonPtr i = setting(txn, "idp"))
    out->idp_configured = !json_str(i.get(), "idp_type").empty() || !json_str(i.get(), "url").empty();

  // Networks are few (a u16 id space); decoding them all is cheap.
  std::map<uint16_t, std::string> names;
  {
    Cursor cur(txn, Db::Networks);
    for (bool more = cur.seek(); more; more = cur.next()) {
      Network n;
      if (cur.key().size() != 2 || !decode_network(cur.value(), &n)) continue;
      uint16_t id = uint16_t((uint8_t(cur.key()[0]) << 8) | uint8_t(cur.key()[1]));
      if (id == 0) continue;  // the backbone is not a network for these gauges
      out->networks_total++;
      if (n.enterprise) out->networks_enterprise++;
      NetworkCounts& c = out->networks[n.name];
      c.members = n.member_count;
      c.enterprise = n.enterprise;
      c.policy_set = n.max_members > 0 || n.has_allowed_ports;
      names[id] = n.name;
    }
    if (cur.error()) {
      *error = "mdb_cursor_get networks: " + lmdb_error(cur.error());
      return false;
    }
  }
  // Roles need one pass over the members (key u16 net ‖ u32 node). O(memberships) per
  // scrape, as the original's gauges were; only the role is decoded.
  if (!names.empty()) {
    Cursor cur(txn, Db::Members);
    for (bool more = cur.seek(); more; more = cur.next()) {
      if (cur.key().size() != 6) continue;
      uint16_t id = uint16_t((uint8_t(cur.key()[0]) << 8) | uint8_t(cur.key()[1]));
      auto it = names.find(id);
      if (it == names.end()) continue;
      Member m;
      if (!decode_member(cur.value(), &m)) continue;
      NetworkCounts& c = out->networks[it->second];
      if (m.role == "owner") c.owners++;
      else if (m.role == "admin") c.admins++;
    }
  }
  return true;
}

std::string render_admin_families(const AdminFigures& f) {
  std::string out;
  out.reserve(8192);
  family(out, "pilot_admin_up", "gauge", "1 while the admin worker is serving HTTP.");
  sample(out, "pilot_admin_up", 1);
  // Tells a dashboard why the registry families are missing from a scrape.
  family(out, "pilot_admin_registry_metrics_available", "gauge",
         "1 when the registry's metrics page is readable; 0 means the registry families are absent from this scrape.");
  sample(out, "pilot_admin_registry_metrics_available", f.registry_page_available ? 1 : 0);

  if (f.counts_available) {
    const StoreCounts& c = f.counts;
    auto gauge = [&](const char* name, const char* help, double v) {
      family(out, name, "gauge", help);
      sample(out, name, v);
    };
    gauge("pilot_trust_links", "Symmetric trust pairs.", double(c.trust_links));
    gauge("pilot_handshake_inbox_size", "Handshake requests waiting in their targets' inboxes.", double(c.handshake_inbox));
    gauge("pilot_handshake_responses_size", "Handshake responses waiting for their requesters.",
          double(c.handshake_responses));
    gauge("pilot_networks_total", "Networks, excluding the backbone.", double(c.networks_total));
    gauge("pilot_networks_enterprise", "Enterprise networks.", double(c.networks_enterprise));
    gauge("pilot_invites_pending", "Network invites waiting for an answer.", double(c.invites_pending));
    gauge("pilot_idp_configured", "1 when an identity provider is configured.", c.idp_configured ? 1 : 0);
    gauge("pilot_webhook_configured", "1 when an audit webhook URL is configured.", c.webhook_configured ? 1 : 0);
    gauge("pilot_audit_export_active", "1 when an audit export endpoint is configured.", c.audit_export_active ? 1 : 0);
    gauge("pilot_directory_synced_networks", "RBAC pre-assignment entries (directory sync).", double(c.preassignments));
    gauge("pilot_pubkeys_total", "Public keys ever registered (the key index).", double(c.pubkeys));
    if (c.webhook_configured) {
      family(out, "pilot_webhook_deliveries_total", "counter", "Audit webhook deliveries by result.");
      labelled(out, "pilot_webhook_deliveries_total", "result", "dropped", double(c.webhook_dropped));
      labelled(out, "pilot_webhook_deliveries_total", "result", "error", double(c.webhook_failed));
      labelled(out, "pilot_webhook_deliveries_total", "result", "ok", double(c.webhook_delivered));
    }
    if (!c.networks.empty()) {
      struct PerNet {
        const char* name;
        const char* help;
        double (*value)(const NetworkCounts&);
      };
      const PerNet per_net[] = {
          {"pilot_network_members", "Members of a network.", [](const NetworkCounts& n) { return double(n.members); }},
          {"pilot_network_admins", "Admins of a network.", [](const NetworkCounts& n) { return double(n.admins); }},
          {"pilot_network_owners", "Owners of a network.", [](const NetworkCounts& n) { return double(n.owners); }},
          {"pilot_network_enterprise", "1 when a network is an enterprise network.",
           [](const NetworkCounts& n) { return n.enterprise ? 1.0 : 0.0; }},
          {"pilot_network_policy_set", "1 when a network has max members or allowed ports configured.",
           [](const NetworkCounts& n) { return n.policy_set ? 1.0 : 0.0; }},
      };
      for (const PerNet& p : per_net) {
        family(out, p.name, "gauge", p.help);
        for (const auto& [name, n] : c.networks) labelled(out, p.name, "network", name, p.value(n));
      }
    }
  }

  if (f.store_available) {
    const StoreFigures& s = f.store;
    auto gauge = [&](const char* name, const char* help, double v) {
      family(out, name, "gauge", help);
      sample(out, name, v);
    };
    gauge("rendezvous_lmdb_map_size_bytes", "Size of the LMDB memory map.", double(s.map_size_bytes));
    gauge("rendezvous_lmdb_used_bytes", "Bytes of the map in use (last used page + 1, times the page size).",
          double(s.used_bytes));
    gauge("rendezvous_lmdb_readers", "LMDB reader-table slots used (high-water mark).", double(s.readers_used));
    gauge("rendezvous_lmdb_max_readers", "Size of the LMDB reader table.", double(s.max_readers));
    gauge("rendezvous_lmdb_last_txn_id", "Id of the last committed LMDB transaction.", double(s.last_txn_id));
    gauge("rendezvous_lmdb_file_bytes", "Size of data.mdb on disk.", double(s.file_bytes));
  }

  if (f.workers_available && !f.workers.empty()) {
    // Series sorted by label value (§6.1).
    std::vector<const WorkerFigures*> ws;
    for (const WorkerFigures& w : f.workers) ws.push_back(&w);
    std::sort(ws.begin(), ws.end(), [](auto* a, auto* b) { return a->name < b->name; });
    auto per_worker = [&](const char* name, const char* type, const char* help, bool live_only,
                          double (*value)(const WorkerFigures&)) {
      family(out, name, type, help);
      for (const WorkerFigures* w : ws) {
        if (live_only && !(w->pid > 0 && w->proc.alive)) continue;
        labelled(out, name, "worker", w->name, value(*w));
      }
    };
    per_worker("rendezvous_worker_restarts_total", "counter", "Restarts of a worker by the supervisor.", false,
               [](const WorkerFigures& w) { return double(w.restarts); });
    per_worker("rendezvous_worker_up", "gauge", "1 while a worker has a running process.", false,
               [](const WorkerFigures& w) { return w.pid > 0 && w.proc.alive ? 1.0 : 0.0; });
    per_worker("process_start_time_seconds", "gauge", "Start time of a worker's process since the unix epoch.", true,
               [](const WorkerFigures& w) { return double(w.proc.start_unix); });
    per_worker("process_resident_memory_bytes", "gauge", "Resident memory of a worker's process.", true,
               [](const WorkerFigures& w) { return double(w.proc.rss_bytes); });
    per_worker("process_cpu_seconds_total", "counter", "User and system CPU time of a worker's process.", true,
               [](const WorkerFigures& w) { return w.proc.cpu_seconds; });
    family(out, "process_open_fds", "gauge", "Open file descriptors of a worker's process.");
    for (const WorkerFigures* w : ws)
      if (w->pid > 0 && w->proc.alive && w->proc.open_fds >= 0)
        labelled(out, "process_open_fds", "worker", w->name, double(w->proc.open_fds));
  }
  return out;
}

std::string render_replication_families(const json_t* rep) {
  if (rep && json_str(rep, "type") != "status_ok") rep = nullptr;
  std::string out;
  auto number = [](const json_t* obj, const char* key) {
    json_t* v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
  };
  auto gauge = [&](const char* name, const char* type, const char* help, double v) {
    family(out, name, type, help);
    sample(out, name, v);
  };
  gauge("rendezvous_replication_replicator_up", "gauge",
        "1 when the replicator answered this scrape; 0 means its families are absent.", rep ? 1 : 0);
  if (rep) {
    // One series per standby id, in label order; a standby that reconnects may briefly be
    // listed twice, and a series must not repeat: the first listing wins.
    std::map<std::string, const json_t*> standbys;
    const json_t* list = json_object_get(rep, "standbys");
    size_t i;
    const json_t* s;
    double streaming = 0;
    json_array_foreach(list, i, s) {
      if (!json_is_object(s)) continue;
      if (json_str(s, "state") == "streaming") streaming++;
      standbys.emplace(std::string(json_str(s, "id")), s);
    }
    gauge("pilot_replication_subscribers", "gauge", "Standbys streaming from this leader.", streaming);
    if (!standbys.empty()) {
      struct PerStandby {
        const char* name;
        const char* key;
        const char* help;
      };
      const PerStandby per_standby[] = {
          {"rendezvous_replication_lag_records", "lag_records", "Change-log records a standby has not acknowledged."},
          {"rendezvous_replication_lag_bytes", "lag_bytes",
           "Bytes of the change-log records a standby has not acknowledged."},
          {"rendezvous_replication_lag_seconds", "lag_seconds",
           "Age of the oldest change-log record a standby has not acknowledged."},
      };
      for (const PerStandby& p : per_standby) {
        family(out, p.name, "gauge", p.help);
        for (const auto& [id, st] : standbys) labelled(out, p.name, "standby", id, number(st, p.key));
      }
    }
    const json_t* f = json_object_get(rep, "follower");
    if (json_is_object(f)) {
      gauge("rendezvous_replication_follower_connected", "gauge", "1 while this standby's stream from its leader is up.",
            json_is_true(json_object_get(f, "connected")) ? 1 : 0);
      gauge("rendezvous_replication_follower_lag_records", "gauge",
            "Records the leader has that this standby has not applied (as of the last heartbeat).",
            number(f, "lag_records"));
      gauge("rendezvous_replication_follower_lag_seconds", "gauge",
            "Seconds this standby's applied state is behind its leader.", number(f, "lag_seconds"));
      gauge("rendezvous_replication_full_copies_total", "counter", "Full copies this standby received.",
            number(f, "full_copies"));
      gauge("rendezvous_replication_reconnects_total", "counter", "Times this standby reconnected to its leader.",
            number(f, "reconnects"));
    }
  }
  return out;
}

// ---- the exposition checker ----

namespace {

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); i++) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_value(std::string_view v) {
  if (v == "+Inf" || v == "-Inf" || v == "NaN") return true;
  std::string s(v);
  char* end = nullptr;
  errno = 0;
  std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size() && std::isfinite(std::strtod(s.c_str(), nullptr));
}

}  // namespace

std::string exposition_problem(std::string_view text) {
  std::set<std::string> families_seen, series_seen;
  std::string current, current_type;
  bool help_seen = false;
  bool inf_bucket_seen = true;
  size_t pos = 0, line_no = 0;
  auto where = [&] { return "line " + std::to_string(line_no) + ": "; };
  if (!text.empty() && text.back() != '\n') return "the text does not end with a newline";
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    line_no++;
    if (line.empty()) return where() + "empty line";
    if (line.starts_with("# HELP ")) {
      std::string_view rest = line.substr(7);
      std::string name(rest.substr(0, rest.find(' ')));
      if (!valid_metric_name(name)) return where() + "bad family name";
      if (current_type == "histogram" && !inf_bucket_seen) return where() + current + ": no le=\"+Inf\" bucket";
      if (!families_seen.insert(name).second) return where() + "family " + name + " appears twice";
      current = name;
      current_type.clear();
      help_seen = true;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::string_view rest = line.substr(7);
      size_t sp = rest.find(' ');
      if (sp == std::string_view::npos) return where() + "TYPE without a type";
      if (!help_seen || rest.substr(0, sp) != current) return where() + "TYPE without its HELP line first";
      current_type = std::string(rest.substr(sp + 1));
      if (current_type != "counter" && current_type != "gauge" && current_type != "histogram")
        return where() + "unknown type " + current_type;
      help_seen = false;
      inf_bucket_seen = true;  // until a bucket of this family shows up
      continue;
    }
    if (line.starts_with("#")) return where() + "unexpected comment";
    if (current_type.empty()) return where() + "sample before a TYPE line";
    size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) return where() + "sample without a value";
    std::string name(line.substr(0, name_end));
    bool belongs = name == current;
    if (current_type == "histogram")
      belongs = name == current + "_bucket" || name == current + "_sum" || name == current + "_count";
    if (!belongs) return where() + name + " outside its family (" + current + ")";
    size_t value_start = name_end;
    std::string labels;
    if (line[name_end] == '{') {
      size_t close = line.find("} ", name_end);
      if (close == std::string_view::npos) return where() + "unterminated labels";
      labels = std::string(line.substr(name_end, close - name_end + 1));
      value_start = close + 1;
      // Each bucket series must end with le="+Inf" before the next series' first bucket.
      if (name.ends_with("_bucket")) inf_bucket_seen = labels.find("le=\"+Inf\"") != std::string::npos;
    }
    if (line[value_start] != ' ') return where() + "no space before the value";
    if (!valid_value(line.substr(value_start + 1))) return where() + "bad value";
    if (!series_seen.insert(name + labels).second) return where() + "series " + name + labels + " repeats";
  }
  if (current_type == "histogram" && !inf_bucket_seen) return current + ": no le=\"+Inf\" bucket";
  return "";
}

Response handle_metrics(const AdminContext& ctx, const Request&) {
  AdminFigures f;
  const metrics::RegistryPage* page = ctx.registry_metrics->page();
  f.registry_page_available = page != nullptr;
  std::string error;
  f.counts_available = read_store_counts(*ctx.env, &f.counts, &error);
  if (!f.counts_available) log_warn("/metrics: store counts unavailable", {{"error", error}});
  f.store_available = read_store_figures(*ctx.env, &f.store, &error);
  f.workers_available = read_workers(ctx.config->get()->run_dir, &f.workers, &error);
  Response r;
  r.status = 200;
  r.content_type = kMetricsContentType;
  if (page) r.body = metrics::render_registry(*page);
  r.body += render_admin_families(f);
  // The standbys' lag lives in the replicator; the sync families are on the registry's page.
  JsonPtr status(json_pack("{s:s}", "type", "status"));
  std::string rep_error;
  JsonPtr rep = ctx.replicator_call ? ctx.replicator_call(status.get(), &rep_error) : nullptr;
  r.body += render_replication_families(rep.get());
  return r;
}

namespace {
const Route kRoutes[] = {
    {.pattern = "/metrics", .methods = "GET", .access = Access::LocalhostOnly, .handler = handle_metrics},
};
}  // namespace

std::span<const Route> metrics_routes() { return kRoutes; }

}  // namespace rdv::admin
