#include "import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>

#include "audit.h"
#include "directories.h"
#include "epoch.h"
#include "go_snapshot.h"
#include "json.h"
#include "files.h"
#include "log.h"
#include "model.h"
#include "role.h"
#include "store.h"
#include "util.h"

namespace rdv::supervisor {

namespace {

// Go snapshots reach 50–100 MB at fleet scale (ops-spec §3.2); the WAL is capped at 256 MiB
// by the Go writer (§3.5.2). Anything past these is not a file the Go server wrote.
constexpr size_t kMaxSnapshotBytes = size_t(4) << 30;
constexpr size_t kMaxWalBytes = size_t(512) << 20;
// Ops per change record: keeps each record far below the replication batch size (4 MiB),
// so a standby streams the import like any other run of records.
constexpr size_t kOpsPerRecord = 2048;

// The registry's view of the imported state, with the cross-references fixed up: node lists
// agree with member lists, indexes have one holder, counters sit above every id in use.
struct Plan {
  gosnap::GoState st;
  uint64_t next_node = 1, next_net = 1, epoch = 1;
  std::map<std::string, uint32_t> hostidx, owneridx, netnames;
  std::map<std::pair<uint32_t, uint16_t>, gosnap::GoInvite> invites;              // (target, net)
  std::map<std::pair<uint32_t, uint32_t>, gosnap::GoHandshake> handshakes;        // (target, from)
  std::map<std::pair<uint32_t, uint32_t>, gosnap::GoHandshakeResponse> responses;  // (requester, responder)
  uint64_t members = 0;
  std::vector<std::string> warnings;
};

void build_plan(Plan& p, int64_t now_s) {
  gosnap::GoState& st = p.st;
  // Node lists from the networks' member lists (members of a network stay members after a
  // reap, so a member need not be a node): a node keeps its own order for networks that list
  // it, and gains the ones that list it without it listing them.
  for (auto& [id, node] : st.nodes) {
    std::vector<uint16_t> nets{0};
    for (uint16_t net : node.networks) {
      if (net == 0) continue;
      auto g = st.networks.find(net);
      if (g == st.networks.end() ||
          std::find(g->second.members.begin(), g->second.members.end(), id) == g->second.members.end()) {
        p.warnings.push_back("node " + std::to_string(id) + " lists network " + std::to_string(net) +
                             " which does not list it as a member; dropped from the node");
        continue;
      }
      nets.push_back(net);
    }
    node.networks = std::move(nets);
  }
  for (auto& [net, g] : st.networks) {
    for (uint32_t m : g.members) {
      auto n = st.nodes.find(m);
      if (n != st.nodes.end() && std::find(n->second.networks.begin(), n->second.networks.end(), net) == n->second.networks.end())
        n->second.networks.push_back(net);
    }
    g.net.member_count = uint32_t(g.members.size());
    p.members += g.members.size();
    if (g.net.name.empty() || p.netnames.count(g.net.name)) {
      p.warnings.push_back("network " + std::to_string(net) + ": name \"" + g.net.name +
                           "\" is empty or taken by a lower id; not indexed by name");
    } else {
      p.netnames[g.net.name] = net;
    }
  }
  // Hostnames and owners: one holder each, the lowest id (the registry refuses a second claim).
  for (auto& [id, node] : st.nodes) {
    if (!node.hostname.empty()) {
      if (auto [it, fresh] = p.hostidx.emplace(node.hostname, id); !fresh) {
        p.warnings.push_back("node " + std::to_string(id) + ": hostname \"" + node.hostname + "\" is also node " +
                             std::to_string(it->second) + "'s; cleared on this node");
        node.hostname.clear();
      }
    }
    if (!node.owner.empty()) p.owneridx.emplace(node.owner, id);
  }
  // Counters: above every id in use. 0 (absent in legacy files, or Go's uint wrap) reads as
  // "derive it"; an exhausted space (next above the largest id) stays exhausted.
  uint64_t max_node = 0, max_net = 0;
  for (auto& [id, _] : st.nodes) max_node = std::max<uint64_t>(max_node, id);
  for (auto& [_, id] : st.key_index) max_node = std::max<uint64_t>(max_node, id);
  for (auto& [id, _] : st.networks) max_net = std::max<uint64_t>(max_net, id);
  p.next_node = std::max<uint64_t>({st.next_node, max_node + 1, 1});
  p.next_net = std::max<uint64_t>({st.next_net, max_net + 1, 1});
  p.epoch = std::max<uint64_t>(st.term, 1);

  for (auto& [target, inbox] : st.invites)
    for (const gosnap::GoInvite& inv : inbox) {
      if (!st.networks.count(inv.network)) {
        p.warnings.push_back("invite of node " + std::to_string(target) + " to unknown network " +
                             std::to_string(inv.network) + "; dropped");
        continue;
      }
      auto [it, fresh] = p.invites.emplace(std::pair{target, inv.network}, inv);
      if (!fresh && inv.timestamp >= it->second.timestamp) it->second = inv;  // one per network: the latest
    }
  for (auto& [target, inbox] : st.handshakes)
    for (const gosnap::GoHandshake& h : inbox) {
      auto [it, fresh] = p.handshakes.emplace(std::pair{target, h.from}, h);
      if (!fresh && h.timestamp_ns >= it->second.timestamp_ns) it->second = h;
    }
  for (auto& [requester, inbox] : st.responses)
    for (const gosnap::GoHandshakeResponse& r : inbox) {
      auto [it, fresh] = p.responses.emplace(std::pair{requester, r.from}, r);
      if (!fresh && r.timestamp_ns >= it->second.timestamp_ns) it->second = r;
    }
  for (auto& [k, role] : st.preassign)
    if (!st.networks.count(k.first))
      p.warnings.push_back("rbac_pre_assign for unknown network " + std::to_string(k.first) + "; dropped");
  (void)now_s;
}

// Change records of one write transaction, each at most kOpsPerRecord operations and of one
// type, so the log reads as what was imported. The first error sticks: every later call
// returns it, so the caller may check only the last one.
class Records {
 public:
  Records(Txn& txn, uint64_t epoch) : txn_(txn), epoch_(epoch) {}
  int put(ChangeType type, Db db, std::string_view key, std::string_view value) {
    turn(type);
    if (!err_) err_ = m_->put(db, key, value);
    return err_;
  }
  // The current record, for writes put() does not cover (set_meta_u64).
  Mutation& mutation(ChangeType type) {
    turn(type);
    return *m_;
  }
  int finish() {
    if (m_ && !err_ && !m_->empty()) {
      err_ = m_->finish(epoch_);
      if (!err_) records_++;
    }
    m_.reset();
    ops_ = 0;
    return err_;
  }
  uint64_t records() const { return records_; }

 private:
  // Ends the current record when the type changes or it is full; always leaves one open.
  void turn(ChangeType type) {
    if (m_ && (type_ != type || ops_ >= kOpsPerRecord)) finish();
    if (!m_) {
      m_.emplace(txn_, type);
      type_ = type;
    }
    ops_++;
  }
  Txn& txn_;
  uint64_t epoch_;
  std::optional<Mutation> m_;
  ChangeType type_ = ChangeType::Init;
  size_t ops_ = 0;
  uint64_t records_ = 0;
  int err_ = 0;
};

struct Written {
  uint64_t records = 0, audit = 0, liveness = 0;
};

// Everything in one write transaction. Returns 0 or the first LMDB error.
int write_plan(Env& env, const Plan& p, const std::string& source, uint64_t audit_keep, int64_t now_s, Written* out) {
  const gosnap::GoState& st = p.st;
  Txn txn;
  if (int rc = env.begin_write(&txn)) return rc;
  Records rec(txn, p.epoch);
  int rc = 0;
  auto put = [&](ChangeType t, Db db, std::string_view k, std::string_view v) {
    if (!rc) rc = rec.put(t, db, k, v);
  };

  // What a fresh store's Init record holds (worker-registry/registry.cc Registry::load), with
  // the Go server's counters: the registry then sees an initialised store and starts from it.
  {
    Mutation& m = rec.mutation(ChangeType::Init);
    if (!rc) rc = set_meta_u64(m, "next_node", p.next_node);
    if (!rc) rc = set_meta_u64(m, "next_net", p.next_net);
    if (!rc) rc = set_meta_u64(m, "created", uint64_t(st.start_time > 0 ? st.start_time : now_s));
    Network backbone;
    backbone.name = "backbone";
    backbone.created = st.backbone_created ? st.backbone_created : (st.start_time ? st.start_time : now_s);
    if (!rc) rc = m.put(Db::Networks, key_u16(0), encode_network(backbone));
    if (!rc) rc = rec.finish();
  }

  // Nodes and their indexes, as a registration writes them (worker-registry/nodes.cc).
  for (auto& [id, node] : st.nodes) put(ChangeType::Register, Db::Nodes, key_u32(id), encode_node(node));
  for (auto& [key, id] : st.key_index) put(ChangeType::Register, Db::KeyIndex, key, key_u32(id));
  for (auto& [host, id] : p.hostidx) put(ChangeType::Register, Db::HostIndex, host, key_u32(id));
  for (auto& [owner, id] : p.owneridx) put(ChangeType::Register, Db::OwnerIndex, owner, key_u32(id));

  // Networks, their names and members (networks.cc, membership.cc).
  for (auto& [id, g] : st.networks) {
    put(ChangeType::Network, Db::Networks, key_u16(id), encode_network(g.net));
  }
  for (auto& [name, id] : p.netnames) put(ChangeType::Network, Db::NetNames, name, key_u16(id));
  for (auto& [id, g] : st.networks)
    for (uint32_t m : g.members) {
      Member mem;
      auto role = g.roles.find(m);
      if (role != g.roles.end()) mem.role = role->second;
      auto tags = g.member_tags.find(m);
      if (tags != g.member_tags.end()) mem.tags = tags->second;
      mem.joined_at = g.net.created;  // Go keeps no join time
      put(ChangeType::Membership, Db::Members, key_u16(id) + key_u32(m), encode_member(mem));
    }

  for (auto& [a, b] : st.trust) put(ChangeType::Trust, Db::Trust, key_u32(a) + key_u32(b), "");

  // Invite inboxes, with the sender index the registry keeps to drop them (membership.cc).
  for (auto& [k, inv] : p.invites) {
    put(ChangeType::Invite, Db::Invites, key_u32(k.first) + key_u16(k.second), encode_invite({inv.inviter, inv.timestamp}));
    put(ChangeType::Invite, Db::SentInvites, key_u32(inv.inviter) + key_u16(k.second) + key_u32(k.first), "");
  }
  // Handshake inboxes (trust.cc): a waiting request is also pending, so the target can still
  // accept it after polling.
  for (auto& [k, h] : p.handshakes) {
    std::string key = key_u32(k.first) + key_u32(k.second);
    put(ChangeType::Handshake, Db::Handshakes, key, encode_handshake({h.timestamp_ns, h.justification}));
    put(ChangeType::Handshake, Db::Pending, key, "");
  }
  for (auto& [k, r] : p.responses)
    put(ChangeType::Handshake, Db::Responses, key_u32(k.first) + key_u32(k.second),
        encode_handshake_response({r.accept, r.timestamp_ns}));

  for (auto& [nonce, exp] : st.recovery_nonces)
    put(ChangeType::Identity, Db::Nonces, nonce, key_u64(uint64_t(std::max<int64_t>(exp, 0))));

  // Enterprise configuration, in the settings the registry reads (worker-registry/tokens.h
  // kIdpSetting and kIdentityWebhookSetting, enterprise.h kSettingAuditExport: the IdP's URL
  // is the identity webhook too, §6.8) and the RBAC pre-assignments (membership.cc
  // preassign_key: network, then the lower-cased external id).
  if (st.idp) {
    std::string body, hook;
    JsonWriter(body).begin_object().str("idp_type", st.idp->type).str("url", st.idp->url)
        .str("issuer", st.idp->issuer).str("client_id", st.idp->client_id).str("tenant_id", st.idp->tenant_id)
        .str("domain", st.idp->domain).end_object();
    JsonWriter(hook).begin_object().str("url", st.idp->url).end_object();
    put(ChangeType::Settings, Db::Settings, "idp", body);
    put(ChangeType::Settings, Db::Settings, "identity_webhook", hook);
  }
  if (st.audit_export) {
    std::string body;
    JsonWriter(body).begin_object().str("format", st.audit_export->format).str("endpoint", st.audit_export->endpoint)
        .str("token", st.audit_export->token).str("index", st.audit_export->index)
        .str("source", st.audit_export->source).end_object();
    put(ChangeType::Settings, Db::Settings, "audit_export", body);
  }
  for (auto& [k, role] : st.preassign) {
    if (!st.networks.count(k.first)) continue;  // counted in the plan's warnings
    std::string key = key_u16(k.first);
    for (char c : k.second) key += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    put(ChangeType::Network, Db::PreAssign, key, role);
  }

  // The audit log: the newest entries that fit -audit-keep, re-chained with our hash (Go's live
  // ring carries no hashes, §7.1), then one entry of our own that records the import.
  std::vector<AuditEntry> audit(st.audit.end() - std::min<size_t>(st.audit.size(), audit_keep > 0 ? audit_keep - 1 : 0),
                                st.audit.end());
  AuditEntry mark;
  mark.timestamp = now_s;
  mark.action = "store.imported";
  mark.details = audit_details({{"source", source},
                                {"nodes", std::to_string(st.nodes.size())},
                                {"networks", std::to_string(st.networks.size())},
                                {"term", std::to_string(st.term)}});
  audit.push_back(mark);
  std::string prev;
  uint64_t seq = 0;
  for (AuditEntry& e : audit) {
    e.prev_hash = prev;
    e.hash = audit_hash(e);
    prev = e.hash;
    put(ChangeType::Init, Db::Audit, key_u64(++seq), encode_audit(e));
  }
  if (!rc) rc = rec.finish();

  // Liveness is outside the change log, as the registry writes it (request.cc set_liveness):
  // the snapshot's last_seen, else the key's creation, else "long ago" — a node the Go server
  // never saw alive is reaped as it would have been there.
  for (auto& [id, node] : st.nodes) {
    if (rc) break;
    auto seen = st.last_seen_ns.find(id);
    int64_t ns = seen != st.last_seen_ns.end() ? seen->second : node.created_at * 1000000000;
    if (ns <= 0) ns = 1000000000;
    rc = txn.put(Db::Liveness, key_u32(id), key_u64(uint64_t(ns)));
    out->liveness++;
  }
  if (!rc) rc = txn.commit();
  out->records = rec.records();
  out->audit = audit.size();
  return rc;
}

// The files an import may have created in an empty data dir (removed again on failure).
void remove_created(const std::string& dir, bool epoch_created) {
  for (const char* f : {"data.mdb", "lock.mdb", kStoreMarker}) ::unlink((dir + "/" + f).c_str());
  if (epoch_created) ::unlink((dir + "/" + kEpochFileName).c_str());
}

void line(std::string& out, const std::string& key, const std::string& value) {
  out += key;
  out += ": ";
  out += value;
  out += '\n';
}

}  // namespace

const char* import_usage() {
  return "\nMigration from the Go server:\n"
         "  rendezvous import-go-snapshot FILE [WALFILE] [-data-dir DIR] [-map-size-mb N] [-config FILE]\n"
         "      Loads a Go server's registry.json snapshot (checksum verified on its bytes) and its\n"
         "      write-ahead log (default FILE.wal when it exists) into an EMPTY data dir, prints what\n"
         "      it imported and exits. Refuses (exit 78) a data dir that holds a store, a checksum\n"
         "      mismatch, unparsable JSON and unknown snapshot versions.\n"
         "      -store FILE at a normal start does the same when the data dir is empty.\n";
}

bool data_dir_has_store(const std::string& dir) {
  return ::access((dir + "/" + kStoreMarker).c_str(), F_OK) == 0 || ::access((dir + "/data.mdb").c_str(), F_OK) == 0;
}

int import_go_snapshot(const Config& cfg, const ImportRequest& req, std::string* report, std::string* error) {
  if (data_dir_has_store(cfg.data_dir)) {
    *error = "import: data dir " + cfg.data_dir + " already holds a store (" + kStoreMarker +
             " or data.mdb); import only into an empty data dir";
    return kExitConfig;
  }
  int64_t now_s = unix_now();
  std::string raw;
  bool exists = false;
  // Links are followed: the operator names these files (shared/files.h).
  if (!read_small_file(req.snapshot, kMaxSnapshotBytes, &raw, &exists, error, Links::Follow) || !exists) {
    *error = exists ? "import: " + *error : "import: snapshot " + req.snapshot + " does not exist";
    return kExitConfig;
  }
  Plan p;
  if (!gosnap::parse_snapshot(raw, &p.st, error)) {
    *error = "import: " + req.snapshot + ": " + *error;
    return kExitConfig;
  }
  gosnap::Checksum cs = gosnap::raw_checksum(raw);
  raw.clear();
  raw.shrink_to_fit();

  std::string wal_path = req.wal.empty() ? req.snapshot + ".wal" : req.wal;
  std::string wal;
  bool read_ok = read_small_file(wal_path, kMaxWalBytes, &wal, &exists, error, Links::Follow);
  bool have_wal = read_ok && exists;
  if (!read_ok || (!exists && req.wal_explicit)) {
    *error = read_ok ? "import: WAL " + wal_path + " does not exist" : "import: WAL: " + *error;
    return kExitConfig;
  }
  error->clear();
  gosnap::WalReport wr;
  if (have_wal) wr = gosnap::replay_wal(wal, &p.st, now_s);
  build_plan(p, now_s);

  // The epoch first: never below one this directory may already have recorded.
  uint64_t old_epoch = 0;
  bool epoch_exists = false;
  if (!read_epoch_file(cfg.data_dir, &old_epoch, &epoch_exists, error)) {
    *error = "import: " + *error;
    return kExitConfig;
  }
  p.epoch = std::max(p.epoch, old_epoch);
  if (!write_epoch_file(cfg.data_dir, p.epoch, error)) {
    *error = "import: " + *error;
    return kExitFailure;
  }

  Written w;
  int rc = 0;
  {
    Env env;
    EnvOptions o;
    o.dir = cfg.data_dir;
    o.map_size = uint64_t(std::max<int64_t>(cfg.map_size_mb, 1)) << 20;
    o.create = true;
    if (!env.open(o, error)) {
      remove_created(cfg.data_dir, !epoch_exists);
      *error = "import: " + *error;
      return kExitFailure;
    }
    for (int attempt = 0;; attempt++) {
      w = Written{};
      rc = write_plan(env, p, req.snapshot, uint64_t(std::max<int64_t>(cfg.audit_keep, 1)), now_s, &w);
      if (rc != MDB_MAP_FULL || attempt >= 16) break;
      if ((rc = env.grow()) != 0) break;  // the aborted transaction left nothing
      log_info("import needs a larger map; grown", {{"map_size_mb", std::to_string(env.map_size() >> 20)}});
    }
  }
  if (rc) {
    remove_created(cfg.data_dir, !epoch_exists);
    *error = "import: writing the store in " + cfg.data_dir + " failed: " + lmdb_error(rc) +
             " (nothing was kept; the data dir is empty again)";
    return kExitFailure;
  }

  const gosnap::GoState& st = p.st;
  std::string& r = *report;
  line(r, "imported", req.snapshot + " (version " + std::to_string(st.version) + ") into " + cfg.data_dir);
  line(r, "checksum", cs.present ? cs.computed + " (verified on the file's bytes)" : "none (legacy snapshot)");
  line(r, "nodes", std::to_string(st.nodes.size()));
  line(r, "networks", std::to_string(st.networks.size()) + " (besides the backbone)");
  line(r, "members", std::to_string(p.members));
  line(r, "trust pairs", std::to_string(st.trust.size()));
  line(r, "invites", std::to_string(p.invites.size()));
  line(r, "handshake requests", std::to_string(p.handshakes.size()));
  line(r, "handshake responses", std::to_string(p.responses.size()));
  line(r, "audit entries", std::to_string(w.audit) + " (with the store.imported entry; chain recomputed)");
  line(r, "key-index entries", std::to_string(st.key_index.size()));
  line(r, "recovery nonces", std::to_string(st.recovery_nonces.size()));
  line(r, "rbac pre-assignments", std::to_string(st.preassign.size()));
  line(r, "settings", std::string(st.idp ? "idp_config (and the identity webhook) " : "") +
                          (st.audit_export ? "audit_export_config" : "") + (st.idp || st.audit_export ? "" : "none"));
  line(r, "liveness rows", std::to_string(w.liveness));
  if (have_wal)
    line(r, "wal", wal_path + ": " + std::to_string(wr.records) + " records, " + std::to_string(wr.applied) +
                       " applied, " + std::to_string(wr.noop) + " already in effect, " +
                       std::to_string(wr.skipped_corrupt) + " corrupt skipped, " + std::to_string(wr.skipped_type) +
                       " of other types skipped, " + std::to_string(wr.torn_bytes) + " torn bytes at the end");
  else
    line(r, "wal", "none (" + wal_path + " does not exist)");
  line(r, "next_node", std::to_string(p.next_node));
  line(r, "next_net", std::to_string(p.next_net));
  line(r, "term", std::to_string(st.term) + " -> epoch " + std::to_string(p.epoch) + " (" + cfg.data_dir + "/" +
                      kEpochFileName + ")");
  line(r, "change records", std::to_string(w.records));
  if (wr.stopped)
    r += "warning: WAL replay stopped: " + wr.stop_reason + "; " + std::to_string(wr.unread_bytes) +
         " bytes after it were not replayed (as the Go server would have done)\n";
  for (const std::string& s : wr.warnings) r += "warning: " + s + "\n";
  for (const std::string& s : st.warnings) r += "warning: " + s + "\n";
  for (const std::string& s : p.warnings) r += "warning: " + s + "\n";
  for (const std::string& k : st.not_imported) r += "warning: snapshot key \"" + k + "\" is not carried over\n";
  log_info("Go snapshot imported", {{"snapshot", req.snapshot},
                                    {"data_dir", cfg.data_dir},
                                    {"nodes", std::to_string(st.nodes.size())},
                                    {"networks", std::to_string(st.networks.size())},
                                    {"epoch", std::to_string(p.epoch)}});
  return kExitOk;
}

int import_at_first_start(const Config& cfg, std::string* error) {
  if (cfg.store.empty()) return kExitOk;
  // Only a leader imports: a standby's (or a fenced node's) store comes from its leader, and a
  // second imported copy would diverge from it.
  bool leader = role_of(cfg).kind == Role::Kind::Leader;
  if (!leader || data_dir_has_store(cfg.data_dir) || ::access(cfg.store.c_str(), F_OK) != 0) {
    log_warn(leader ? "-store is ignored: the LMDB store in -data-dir is the source of truth"
                    : "-store is ignored: this node is not the leader, its store comes from the leader",
             {{"store", cfg.store}});
    return kExitOk;
  }
  std::string report;
  int code = import_go_snapshot(cfg, {cfg.store, "", false}, &report, error);
  if (code != kExitOk) {
    *error += "; refusing to start (drop -store to start empty deliberately)";
    return code;
  }
  for (size_t at = 0, nl; (nl = report.find('\n', at)) != std::string::npos; at = nl + 1) {
    if (report.compare(at, 9, "warning: ") == 0) log_warn("import: " + report.substr(at + 9, nl - at - 9));
    else log_info("import: " + report.substr(at, nl - at));
  }
  return kExitOk;
}

int import_command(const std::vector<std::string>& args) {
  ImportRequest req;
  std::vector<std::string> flags;
  size_t i = 0;
  for (; i < args.size() && !args[i].empty() && args[i][0] != '-'; i++) {
    if (req.snapshot.empty()) {
      req.snapshot = args[i];
    } else if (req.wal.empty()) {
      req.wal = args[i];
      req.wal_explicit = true;
    } else {
      std::fprintf(stderr, "rendezvous: %s: unexpected argument \"%s\" (FILE [WALFILE] then flags)\n", kImportCommand,
                   args[i].c_str());
      return kExitConfig;
    }
  }
  flags.assign(args.begin() + long(i), args.end());
  Config cfg;
  std::string error;
  bool ok = cfg.parse(flags, &error);
  if (cfg.show_help) {
    std::fputs(import_usage(), stdout);
    return kExitOk;
  }
  if (!ok) {
    std::fprintf(stderr, "rendezvous: %s: %s\n", kImportCommand, error.c_str());
    return kExitConfig;
  }
  if (req.snapshot.empty()) {
    std::fprintf(stderr, "rendezvous: %s: needs the snapshot FILE (see --help)\n", kImportCommand);
    return kExitConfig;
  }
  if (!make_dirs(cfg.data_dir, &error) || !check_private_directory("-data-dir", cfg.data_dir, &error)) {
    std::fprintf(stderr, "rendezvous: %s: %s\n", kImportCommand, error.c_str());
    return kExitConfig;
  }
  std::string report;
  int code = import_go_snapshot(cfg, req, &report, &error);
  if (code != kExitOk) {
    std::fprintf(stderr, "rendezvous: %s\n", error.c_str());
    return code;
  }
  std::fputs(report.c_str(), stdout);
  return kExitOk;
}

}  // namespace rdv::supervisor
