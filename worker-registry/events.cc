// subscribe_events and the live event stream (events.h; docs/protocol-notes.md, "Live events").
//
// The connection side, as Server member functions (they work on Conn):
//  - queue_request hands every frame to events_intercept first: a frame that follows a
//    subscribe_events on its connection ends the stream (an event stream carries no replies,
//    and the official client expects exactly one reply per request and nothing unsolicited on
//    a request/response connection);
//  - finish() applies Effect::SubscribeEvents in events_subscribe: the reply becomes
//    subscribe_events_ok (with the newest id), then the replay or resync_required, and the
//    connection joins the index (events.h SubscriberIndex), all in the same released reply so
//    nothing can come before the ok. A subscribe_events that is not plain JSON (a PILT
//    passthrough frame, the local socket) passes every check as in JSON mode and is refused
//    there, with a precise error;
//  - batch_done hands each committed batch's record range to events_committed, and reaped
//    nodes to events_reaped; submit_batch notes the networks of the nodes it is about to reap
//    (their records are gone once the reap commits); Registry::seen calls events_online.
// Nothing is done, and nothing read from the store, while nobody subscribes.
//
// Bounded output: an event that would take a subscriber's unsent output past
// -max-conn-output-kb gets it one final error event instead, the connection leaves the index
// and closes once that is written (or after the 5 s write timeout if it never reads).
#include "events.h"

#include <sys/socket.h>

#include <charconv>

#include "conn.h"
#include "json.h"
#include "log.h"
#include "message_table.h"
#include "model.h"
#include "registry.h"

namespace rdv::registry {

// ---- pure parts ----

namespace {

constexpr int kStreamSocketBuffer = 64 * 1024;  // an event stream's kernel send buffer (doubled by Linux)

uint32_t be32(std::string_view b, size_t off) {
  return uint32_t(uint8_t(b[off])) << 24 | uint32_t(uint8_t(b[off + 1])) << 16 | uint32_t(uint8_t(b[off + 2])) << 8 |
         uint32_t(uint8_t(b[off + 3]));
}
uint16_t be16(std::string_view b, size_t off) { return uint16_t(uint8_t(b[off]) << 8 | uint8_t(b[off + 1])); }

std::string fields_net_node(uint16_t net, uint32_t node) {
  std::string f;
  JsonWriter w(f);
  w.num("network_id", net).num("node_id", node);
  return "," + f;
}

}  // namespace

std::vector<DerivedEvent> derive_events(const ChangeRecord& rec) {
  std::vector<DerivedEvent> out;
  // A join writes the joining node's record (its network list) in the same change; a role or
  // tag change writes only the members record.
  std::unordered_set<uint32_t> nodes_written;
  for (const ChangeOp& op : rec.ops)
    if (op.db == Db::Nodes && op.is_put && op.key.size() == 4) nodes_written.insert(be32(op.key, 0));
  for (const ChangeOp& op : rec.ops) {
    DerivedEvent ev;
    switch (op.db) {
      case Db::Members: {
        if (op.key.size() != 6) continue;
        uint16_t net = be16(op.key, 0);
        uint32_t node = be32(op.key, 2);
        ev.network = net;
        ev.to[0] = node;  // the member itself sees its own join or leave, in any network
        ev.member = node;
        ev.fields = fields_net_node(net, node);
        if (!op.is_put) {
          ev.name = "member_left";
          ev.left = true;
          break;
        }
        Member m;
        if (!decode_member(op.value, &m)) continue;
        std::string f;
        JsonWriter w(f);
        w.str("role", m.role);
        ev.joined = nodes_written.count(node) != 0;
        ev.name = ev.joined ? "member_joined" : "member_updated";
        if (!ev.joined) {
          w.begin_array("tags");
          for (const std::string& t : m.tags) w.value_str(t);
          w.end_array();
        }
        ev.fields += "," + f;
        break;
      }
      case Db::Trust: {
        if (op.key.size() != 8) continue;
        uint32_t a = be32(op.key, 0), b = be32(op.key, 4);
        const char* name = op.is_put ? "trust_established" : "trust_revoked";
        for (int side = 0; side < 2; side++) {
          DerivedEvent t;
          t.name = name;
          t.to[0] = side == 0 ? a : b;
          std::string f;
          JsonWriter(f).num("node_id", side == 0 ? b : a);
          t.fields = "," + f;
          out.push_back(std::move(t));
          if (a == b) break;
        }
        continue;
      }
      case Db::Invites: {
        if (!op.is_put || op.key.size() != 6) continue;
        Invite inv;
        if (!decode_invite(op.value, &inv)) continue;
        ev.name = "invite_received";
        ev.to[0] = be32(op.key, 0);
        std::string f;
        JsonWriter(f).num("network_id", be16(op.key, 4)).num("inviter", inv.inviter);
        ev.fields = "," + f;
        break;
      }
      case Db::Handshakes: {
        if (!op.is_put || op.key.size() != 8) continue;
        Handshake h;
        if (!decode_handshake(op.value, &h)) continue;
        ev.name = "handshake_request";
        ev.to[0] = be32(op.key, 0);
        std::string f;
        JsonWriter(f).num("node_id", be32(op.key, 4)).str("justification", h.justification);
        ev.fields = "," + f;
        break;
      }
      case Db::Responses: {
        if (!op.is_put || op.key.size() != 8) continue;
        HandshakeResponse hr;
        if (!decode_handshake_response(op.value, &hr)) continue;
        ev.name = "handshake_response";
        ev.to[0] = be32(op.key, 0);
        std::string f;
        JsonWriter(f).num("node_id", be32(op.key, 4)).boolean("accept", hr.accept);
        ev.fields = "," + f;
        break;
      }
      default:
        continue;
    }
    out.push_back(std::move(ev));
  }
  return out;
}

std::vector<DerivedEvent> liveness_events(uint32_t node, bool online, const std::vector<uint16_t>& networks) {
  std::vector<DerivedEvent> out;
  for (uint16_t net : networks) {
    if (net == 0) continue;
    DerivedEvent ev;
    ev.name = online ? "node_online" : "node_offline";
    ev.network = net;
    ev.fields = fields_net_node(net, node);
    out.push_back(std::move(ev));
  }
  return out;
}

void EventWindow::drop_front() {
  dropped_up_to_ = events_.front().id;
  events_.pop_front();
}

void EventWindow::expire(int64_t now_ns) {
  while (!events_.empty() && now_ns - events_.front().at_ns > max_age_ns_) drop_front();
}

void EventWindow::add(Stored e, int64_t now_ns) {
  events_.push_back(std::move(e));
  while (events_.size() > max_events_) drop_front();
  expire(now_ns);
}

EventWindow::Resume EventWindow::check(uint64_t since, uint64_t newest) const {
  if (since > newest) return Resume::Unknown;
  if (since + 1 < first_id_) return Resume::Restarted;  // first_id_ - 1 is "nothing seen here yet"
  if (since < dropped_up_to_) return Resume::TooOld;
  return Resume::Ok;
}

std::string event_body(uint64_t id, std::string_view name, std::string_view fields) {
  std::string body = "{\"type\":\"event\",\"id\":" + std::to_string(id) + ",\"event\":\"";
  body.append(name);
  body += '"';
  body.append(fields);
  body += '}';
  return body;
}

std::string subscribe_events_challenge_text(uint32_t node_id) { return "subscribe_events:" + std::to_string(node_id); }

// ---- the message ----

namespace {

Signer events_signer(const Message& m) { return {m.u32("node_id"), {}}; }
std::string events_challenge(const Message& m) { return subscribe_events_challenge_text(m.u32("node_id")); }

Outcome handle_subscribe_events(Request& r) {
  uint32_t id = r.msg.u32("node_id");
  Node node;
  if (!r.view.get_node(id, &node)) return Outcome::fail(node_not_found(id));
  std::string err = r.authorise(node);
  if (!err.empty()) return Outcome::fail(err);
  int64_t since = -1;
  if (r.msg.has("since")) {
    // An event id is an integer up to 2^63-1; read from the text, not a double, so it is exact.
    std::string_view raw = r.msg.raw("since");
    uint64_t v = 0;
    auto res = std::from_chars(raw.data(), raw.data() + raw.size(), v);
    if (raw.empty() || res.ec != std::errc() || res.ptr != raw.data() + raw.size() || v > uint64_t(INT64_MAX))
      return Outcome::fail("invalid since: an event id (a non-negative integer) required");
    since = int64_t(v);
  }
  r.effect(Effect::SubscribeEvents, id, since);
  // The connection layer writes the real reply (events_subscribe): it names the newest id.
  return Outcome::ok(json_pack("{s:s}", "type", "subscribe_events_ok"));
}

const MessageDesc kMessages[] = {
    {.type = "subscribe_events", .access = Access::Read, .auth = Auth::Sig, .standby_ok = false,
     .handler = handle_subscribe_events, .signer = events_signer, .challenge = events_challenge},
};

}  // namespace

std::span<const MessageDesc> events_messages() { return kMessages; }

// ---- the connection side ----

namespace {

constexpr std::string_view kSubscribeType = "subscribe_events";
constexpr const char* kNoRequests = "no requests are served on an event stream (subscribe_events)";

uint64_t now_us() { return uint64_t(unix_now_ns() / 1000); }

std::string error_event(std::string_view text) {
  std::string body;
  JsonWriter(body).begin_object().str("type", "event").str("event", "error").str("error", text).end_object();
  return body;
}

// The networks of `node` in the store (the backbone left out).
std::vector<uint16_t> networks_of(const Txn& txn, uint32_t node) {
  std::vector<uint16_t> nets;
  if (!txn.active()) return nets;
  View view(txn);
  Node n;
  if (!view.get_node(node, &n)) return nets;
  for (uint16_t id : n.networks)
    if (id != 0) nets.push_back(id);
  return nets;
}

}  // namespace

EventStream::EventStream(uint64_t now_us, Registry& r) : clock(now_us), window(clock.first()), reg(r) {
  reg.on_online = [this](uint32_t id) {
    if (server_online) server_online(id);
  };
}

EventStream::~EventStream() { reg.on_online = nullptr; }

void Server::events_init() {
  events_ = std::make_unique<EventStream>(now_us(), reg_);
  events_->server_online = [this](uint32_t id) { events_online(id); };
}

bool Server::events_intercept(Conn* c, Entry& e) {
  if (c->events != 0) {
    // A frame on an event stream: there is no reply to give it a place for. Behind a
    // subscribe_events not yet answered, the stream ends in that answer's place (so earlier
    // replies still come first); on a stream, at once.
    if (c->events == 1) c->events = 4;
    else if (c->events == 2) events_cut(c, kNoRequests);
    return true;
  }
  // Only a JSON connection becomes a stream; elsewhere the request runs its checks as in JSON
  // mode and is refused where it would subscribe (events_subscribe).
  if (!e.desc || e.desc->type != kSubscribeType || e.answered || e.kind != EntryKind::Json) return false;
  c->events = 1;  // requested: whatever follows on this connection ends it
  return false;
}

void Server::events_refused(Conn* c, Entry& e) {
  if (c->events == 1) c->events = 0;  // the subscription was refused: an ordinary connection again
  if (c->events == 4) {
    c->events = 3;  // refused, and frames followed it: they end the connection after its answer
    wire::append_json_frame(e.reply, error_event(kNoRequests));
    c->close_after_flush = true;
  }
}

void Server::events_subscribe(Entry& e, uint32_t node, int64_t since) {
  Conn* c = static_cast<Conn*>(e.conn);
  if (c->closed) return;
  // A read runs only once every earlier request of its connection is done (request_queue.h),
  // and frames after it are refused at decoding: this reply is released right after the
  // earlier ones, in this same advance(), before any event can be appended to the output.
  e.reply.clear();
  if (e.kind != EntryKind::Json) {
    // A PILT passthrough frame or registry.sock: no frame there can carry unsolicited events.
    std::string text = e.kind == EntryKind::Control ? "subscribe_events requires a daemon connection (not registry.sock)"
                                                    : "subscribe_events requires JSON mode (not a PILT passthrough frame)";
    std::string body;
    JsonWriter(body).begin_object().str("type", "error").str("error", text).end_object();
    if (e.kind == EntryKind::Passthrough) wire::append_binary_frame(e.reply, wire::kPassthrough, body);
    else wire::append_json_frame(e.reply, body);
    e.is_error = true;
    return;
  }
  if (c->events == 4) {
    // Frames followed the subscription: its answer is the end of the stream.
    c->events = 3;
    wire::append_json_frame(e.reply, error_event(kNoRequests));
    c->close_after_flush = true;
    return;
  }
  EventStream& s = *events_;
  const int64_t now = unix_now_ns();
  s.window.expire(now);
  const uint64_t newest = s.clock.last();
  std::string body;
  JsonWriter(body).begin_object().str("type", "subscribe_events_ok").num("node_id", node)
      .num("last_event_id", int64_t(newest)).end_object();
  wire::append_json_frame(e.reply, body);
  s.index.add(c, node, networks_of(snapshot(), node));
  c->events = 2;
  // The kernel's share of a stream's backlog is bounded too: left to autotune, a socket's send
  // buffer grows to megabytes, which 10 000 slow subscribers would multiply, and a subscriber
  // that stopped reading would be noticed only once that much had piled up.
  int sndbuf = kStreamSocketBuffer;
  if (setsockopt(c->fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0)
    log_debug("setsockopt(SO_SNDBUF) failed on an event stream", {{"error", sys_error("setsockopt")}});
  // An event stream sends, it does not ask: its read event loses the 5-minute idle timeout
  // (wire §2.5). Reading stays on for as long as it is a stream (its output never reaches the
  // bound that would stop it: the stream is cut first), so nothing adds the timeout back.
  if (c->reading) {
    event_del(c->rev.get());
    event_add(c->rev.get(), nullptr);
  }
  if (since >= 0) {
    const char* why = nullptr;
    switch (s.window.check(uint64_t(since), newest)) {
      case EventWindow::Resume::Ok: {
        auto replay = s.window.after(uint64_t(since), [&](const EventWindow::Stored& ev) {
          return s.index.sees(c, ev.network, ev.to);
        });
        size_t bytes = 0;
        for (const auto* ev : replay) bytes += ev->body.size() + 4;
        if (bytes > size_t(reg_.config().max_conn_output_kb) * 1024) {
          why = "too many events since the given id to replay";
          break;
        }
        for (const auto* ev : replay) wire::append_json_frame(e.reply, ev->body);
        break;
      }
      case EventWindow::Resume::TooOld:
        why = "the given id is older than the resume window";
        break;
      case EventWindow::Resume::Restarted:
        why = "the given id is from before the registry worker restarted";
        break;
      case EventWindow::Resume::Unknown:
        why = "the given id is newer than any event of this registry";
        break;
    }
    if (why) {
      std::string rs;
      JsonWriter(rs).begin_object().str("type", "event").num("id", int64_t(newest)).str("event", "resync_required")
          .str("reason", why).end_object();
      wire::append_json_frame(e.reply, rs);
    }
  }
}

void Server::events_cut(Conn* c, std::string_view why) {
  events_->index.remove(c);
  events_->warm_until_ns = unix_now_ns() + EventWindow::kMaxAgeNs;
  c->events = 3;  // cut off: nothing more is sent or read
  wire::append_json_frame(c->out, error_event(why));
  c->close_after_flush = true;
  update_read_interest(c);
  mark(c);
  log_debug("event subscriber cut off", {{"reason", std::string(why)}, {"peer", c->peer.ip}});
}

void Server::events_closed(Conn* c) {
  if (c->events == 2) {
    events_->index.remove(c);
    events_->warm_until_ns = unix_now_ns() + EventWindow::kMaxAgeNs;
  }
  c->events = 0;
}

void Server::events_emit(DerivedEvent ev, int64_t now_ns) {
  EventStream& s = *events_;
  // The subscriber's own membership changes first, so a joining subscriber sees its join.
  if (ev.joined) s.index.joined(ev.member, ev.network);
  const uint64_t id = s.clock.next(uint64_t(now_ns / 1000));
  std::string body = event_body(id, ev.name, ev.fields);
  s.index.recipients(ev.network, ev.to, &s.scratch);
  const size_t bound = size_t(reg_.config().max_conn_output_kb) * 1024;
  for (void* h : s.scratch) {
    Conn* c = static_cast<Conn*>(h);
    if (c->closed || c->events != 2) continue;
    if (c->pending_out() + body.size() + 4 > bound) {
      events_cut(c, "subscriber fell behind: more than " + std::to_string(bound / 1024) + " KiB of events unread");
      continue;
    }
    wire::append_json_frame(c->out, body);
    mark(c);
  }
  if (ev.left) s.index.left(ev.member, ev.network);
  EventWindow::Stored st;
  st.id = id;
  st.at_ns = now_ns;
  st.network = ev.network;
  st.to[0] = ev.to[0];
  st.to[1] = ev.to[1];
  st.body = std::move(body);
  s.window.add(std::move(st), now_ns);
}

void Server::events_committed(uint64_t first_seq, uint64_t last_seq) {
  const int64_t now = unix_now_ns();
  if (!events_ || !events_->active(now) || first_seq > last_seq) return;
  const Txn& txn = snapshot();
  if (!txn.active()) return;
  for (uint64_t seq = first_seq; seq <= last_seq; seq++) {
    std::string_view raw;
    if (txn.get(Db::ChangeLog, key_u64(seq), &raw) != 0) continue;  // trimmed already: nothing to say
    ChangeRecord rec;
    std::string why;
    if (!decode_change(raw, &rec, &why)) {
      log_warn("event stream: cannot decode a committed change record", {{"seq", std::to_string(seq)}, {"error", why}});
      continue;
    }
    for (DerivedEvent& ev : derive_events(rec)) events_emit(std::move(ev), now);
  }
}

void Server::events_online(uint32_t id) {
  const int64_t now = unix_now_ns();
  if (!events_ || !events_->active(now)) return;
  for (DerivedEvent& ev : liveness_events(id, true, networks_of(snapshot(), id))) events_emit(std::move(ev), now);
}

void Server::events_reap_planned(const std::vector<uint32_t>& ids) {
  if (!events_) return;
  events_->reaping.clear();
  if (!events_->active(unix_now_ns())) return;
  const Txn& txn = snapshot();
  // With subscribers connected only their networks matter; while only warm (for a resume),
  // every network does, since who will resume is not known.
  const bool filter = !events_->index.empty() && unix_now_ns() >= events_->warm_until_ns;
  for (uint32_t id : ids) {
    std::vector<uint16_t> nets = networks_of(txn, id);
    if (filter) std::erase_if(nets, [&](uint16_t n) { return !events_->index.watches_network(n); });
    if (!nets.empty()) events_->reaping.emplace(id, std::move(nets));
  }
}

void Server::events_reaped(uint32_t id) {
  if (!events_) return;
  auto it = events_->reaping.find(id);
  if (it == events_->reaping.end()) return;
  const int64_t now = unix_now_ns();
  for (DerivedEvent& ev : liveness_events(id, false, it->second)) events_emit(std::move(ev), now);
  events_->reaping.erase(it);
}

// No longer the leader: nothing will be committed here, so no event will come. Subscribers
// are told and closed, to subscribe again at the leader (where their since gets resync_required
// or, from another server's ids, an honest answer). A scan of the connections, once per demotion.
void Server::events_demoted() {
  if (!events_ || events_->index.empty()) return;
  for (auto& c : conns_)
    if (c->events == 2 && !c->closed) events_cut(c.get(), "registry is no longer the leader: subscribe at the leader");
}

}  // namespace rdv::registry
