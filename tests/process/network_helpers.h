// Helpers shared by the network process tests (networks_test.cc, invites_test.cc,
// roles_test.cc): signed membership requests, pipelined bursts, and an offline edit of a
// stopped server's store for the states the wire cannot reach in a test's lifetime (an invite
// 31 days old) or that belong to another area's messages (max_members, RBAC pre-assignments).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "epoch.h"
#include "model.h"
#include "protocol.h"
#include "store.h"

namespace rt {

// join_network signed by `d` over "join_network:<id>:<net>"; `extra` fields merged.
inline rdv::JsonPtr join(Conn& c, const Daemon& d, uint16_t net, const json_t* extra = nullptr) {
  rdv::JsonPtr req(json_pack("{s:s,s:I,s:i,s:s}", "type", "join_network", "node_id", json_int_t(d.id), "network_id",
                             int(net), "signature",
                             d.sign("join_network:" + std::to_string(d.id) + ":" + std::to_string(net)).c_str()));
  if (extra) json_object_update(req.get(), const_cast<json_t*>(extra));
  return c.request(req.get());
}

inline rdv::JsonPtr leave(Conn& c, const Daemon& d, uint16_t net) {
  return call(c, json_pack("{s:s,s:I,s:i,s:s}", "type", "leave_network", "node_id", json_int_t(d.id), "network_id",
                           int(net), "signature",
                           d.sign("leave_network:" + std::to_string(d.id) + ":" + std::to_string(net)).c_str()));
}

// An enterprise network (join rule `rule`) created by `owner`.
inline uint16_t create_enterprise(Conn& c, const Server& s, const Daemon& owner, const std::string& name,
                                  const std::string& rule = "open") {
  rdv::JsonPtr extra(json_pack("{s:b,s:s}", "enterprise", 1, "join_rule", rule.c_str()));
  return create_network(c, s, owner, name, extra.get());
}

inline rdv::JsonPtr invite(Conn& c, const Daemon& inviter, uint16_t net, uint32_t target,
                           const json_t* extra = nullptr) {
  rdv::JsonPtr req(json_pack("{s:s,s:i,s:I,s:I,s:s}", "type", "invite_to_network", "network_id", int(net),
                             "inviter_id", json_int_t(inviter.id), "target_node_id", json_int_t(target), "signature",
                             inviter.sign("invite:" + std::to_string(inviter.id) + ":" + std::to_string(net) + ":" +
                                          std::to_string(target))
                                 .c_str()));
  if (extra) json_object_update(req.get(), const_cast<json_t*>(extra));
  return c.request(req.get());
}

inline rdv::JsonPtr poll_invites(Conn& c, const Daemon& d) {
  return call(c, json_pack("{s:s,s:I,s:s}", "type", "poll_invites", "node_id", json_int_t(d.id), "signature",
                           d.sign("poll_invites:" + std::to_string(d.id)).c_str()));
}

inline rdv::JsonPtr respond_invite(Conn& c, const Daemon& d, uint16_t net, bool accept) {
  return call(c, json_pack("{s:s,s:I,s:i,s:b,s:s}", "type", "respond_invite", "node_id", json_int_t(d.id),
                           "network_id", int(net), "accept", accept, "signature",
                           d.sign("respond_invite:" + std::to_string(d.id) + ":" + std::to_string(net)).c_str()));
}

// Sends every body before reading the replies (in chunks, so neither side's buffers fill),
// so a burst of writes shares commits instead of paying one fsync each. Returns the replies
// in order (a null entry for an I/O failure).
inline std::vector<rdv::JsonPtr> pipelined(Conn& c, const std::vector<std::string>& bodies) {
  std::vector<rdv::JsonPtr> out;
  constexpr size_t kChunk = 200;
  for (size_t at = 0; at < bodies.size(); at += kChunk) {
    size_t end = std::min(bodies.size(), at + kChunk);
    for (size_t i = at; i < end; i++) EXPECT_TRUE(c.send_json(bodies[i]));
    for (size_t i = at; i < end; i++) {
      std::string body;
      out.push_back(c.recv_json(&body, 20000) == Io::Ok ? parse_json(body) : nullptr);
    }
  }
  return out;
}

// Stops `s`, applies `edit` to its store in one write transaction recorded as one change
// record (so the change log still describes every state), and starts it again on new ports.
// `edit` returns false to abort. Returns false with *err on any failure.
inline bool edit_stopped_store(Server& s, const std::function<bool(rdv::Txn&, rdv::Mutation&)>& edit,
                               std::string* err) {
  if (s.stop() == -1) {
    *err = "server did not stop";
    return false;
  }
  {
    rdv::Env env;
    rdv::EnvOptions opts;
    opts.dir = s.data_dir;
    if (!env.open(opts, err)) return false;
    uint64_t epoch = 1;
    bool exists = false;
    if (!rdv::read_epoch_file(s.data_dir, &epoch, &exists, err)) return false;
    rdv::Txn txn;
    if (int rc = env.begin_write(&txn)) {
      *err = "begin_write: " + rdv::lmdb_error(rc);
      return false;
    }
    rdv::Mutation m(txn, rdv::ChangeType::Network);
    if (!edit(txn, m)) {
      *err = "edit refused";
      return false;
    }
    if (int rc = m.finish(epoch); rc || (rc = txn.commit())) {
      *err = "commit: " + rdv::lmdb_error(rc);
      return false;
    }
  }
  s.new_ports();
  return s.start(err);
}

// The audit log of a stopped server's store, oldest first ("<action> net=<n> node=<id> <details>").
inline std::vector<std::string> audit_lines(const Server& s, std::string* err) {
  std::vector<std::string> out;
  rdv::Env env;
  rdv::EnvOptions opts;
  opts.dir = s.data_dir;
  if (!env.open(opts, err)) return out;
  rdv::Txn txn;
  if (int rc = env.begin_read(&txn)) {
    *err = "begin_read: " + rdv::lmdb_error(rc);
    return out;
  }
  rdv::Cursor c(txn, rdv::Db::Audit);
  for (bool ok = c.seek(); ok; ok = c.next()) {
    rdv::AuditEntry e;
    if (rdv::decode_audit(c.value(), &e))
      out.push_back(e.action + " net=" + std::to_string(e.network_id) + " node=" + std::to_string(e.node_id) + " " +
                    e.details);
  }
  return out;
}

// Reads, changes and writes back one record decoded with `decode` / encoded with `encode`.
template <typename T, typename Decode, typename Encode>
bool edit_record(rdv::Txn& txn, rdv::Mutation& m, rdv::Db db, const std::string& key, Decode decode, Encode encode,
                 const std::function<void(T&)>& change) {
  std::string_view v;
  T rec;
  if (txn.get(db, key, &v) != 0 || !decode(v, &rec)) return false;
  change(rec);
  return m.put(db, key, encode(rec)) == 0;
}

inline bool edit_network(rdv::Txn& txn, rdv::Mutation& m, uint16_t id, const std::function<void(rdv::Network&)>& f) {
  return edit_record<rdv::Network>(
      txn, m, rdv::Db::Networks, rdv::key_u16(id), [](std::string_view v, rdv::Network* n) { return rdv::decode_network(v, n); },
      [](const rdv::Network& n) { return rdv::encode_network(n); }, f);
}

inline bool edit_invite(rdv::Txn& txn, rdv::Mutation& m, uint32_t target, uint16_t net,
                        const std::function<void(rdv::Invite&)>& f) {
  return edit_record<rdv::Invite>(
      txn, m, rdv::Db::Invites, rdv::key_u32(target) + rdv::key_u16(net),
      [](std::string_view v, rdv::Invite* i) { return rdv::decode_invite(v, i); },
      [](const rdv::Invite& i) { return rdv::encode_invite(i); }, f);
}

inline bool edit_node(rdv::Txn& txn, rdv::Mutation& m, uint32_t id, const std::function<void(rdv::Node&)>& f) {
  return edit_record<rdv::Node>(
      txn, m, rdv::Db::Nodes, rdv::key_u32(id), [](std::string_view v, rdv::Node* n) { return rdv::decode_node(v, n); },
      [](const rdv::Node& n) { return rdv::encode_node(n); }, f);
}

// The ids in a reply's array of objects at `key` (e.g. list_networks "networks" → "id").
inline std::vector<int64_t> ids_in(const json_t* reply, const char* array_key, const char* id_key) {
  std::vector<int64_t> out;
  size_t i;
  json_t* e;
  json_array_foreach(json_object_get(reply, array_key), i, e) out.push_back(num(e, id_key));
  return out;
}

// The entry of list_networks_ok with id `id`, or null.
inline const json_t* network_entry(const json_t* reply, int64_t id) {
  size_t i;
  json_t* e;
  json_array_foreach(json_object_get(reply, "networks"), i, e) if (num(e, "id") == id) return e;
  return nullptr;
}

}  // namespace rt
