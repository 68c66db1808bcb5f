#include "dispatch.h"

#include <string_view>

#include "breakers.h"
#include "log.h"
#include "message_table.h"
#include "util.h"
#include "wire.h"

namespace rdv::registry {

namespace {

std::string error_body(std::string_view text, bool sanitise = true) {
  std::string body;
  JsonWriter w(body);
  w.begin_object().str("type", "error").str("error", sanitise ? wire::sanitize_error(text) : text).end_object();
  return body;
}

// Frames a JSON reply body for the request's connection mode.
void frame_json(Entry& e, const std::string& body) {
  if (e.kind == EntryKind::Passthrough) wire::append_binary_frame(e.reply, wire::kPassthrough, body);
  else wire::append_json_frame(e.reply, body);
}

void fail_json(Entry& e, std::string_view text, bool sanitise = true) {
  e.is_error = true;
  frame_json(e, error_body(text, sanitise));
}

}  // namespace

void classify(Entry& e, bool standby) {
  e.desc = nullptr;
  e.is_write = false;
  if (e.kind == EntryKind::Native) {
    e.desc = find_opcode(e.opcode);
    e.type_index = e.desc ? metrics::type_index(e.desc->type) : metrics::kUnknownType;
  } else if (e.msg_ok) {
    std::string_view type = e.msg.type();
    e.type_index = metrics::type_index(type);
    const MessageDesc* d = find_message(type);
    // Local messages do not exist for daemons; daemon messages do for the local operator.
    if (d && d->auth == Auth::Local && e.kind != EntryKind::Control) d = nullptr;
    e.desc = d;
  } else {
    e.type_index = metrics::kUnknownType;
  }
  // A write on a standby is refused on the loop, never handed to the writer.
  if (e.desc && e.desc->access == Access::Write && !(standby && !e.desc->standby_ok)) e.is_write = true;
}

void collect_checks(Entry& e, const Txn& snapshot, const Registry& state) {
  e.jobs.clear();
  const MessageDesc* d = e.desc;
  if (!d || !d->challenge) return;
  // Refused on a standby: nothing to check.
  if (d->access == Access::Write && !e.is_write && !d->standby_read) return;
  // Strict heartbeat freshness bypasses the verify window (§4.5) and refuses binary heartbeats
  // unverified (§6.2.2).
  const bool window = d->verify_window && !state.config().strict_heartbeat_freshness;
  VerifyJob job;
  if (e.kind == EntryKind::Native) {
    if (d->verify_window && !window) return;
    uint32_t signer;
    const uint8_t* sig;
    if (!d->binary_signature || !d->binary_signature(e.payload, &signer, &job.message, &sig)) return;
    if (window && state.recently_verified(signer, e.now_ns)) return;
    View view(snapshot);
    Node n;
    if (!view.get_node(signer, &n) || !n.has_key) return;
    job.key = n.public_key;
    std::copy(sig, sig + 64, job.sig.begin());
  } else {
    if (!e.msg_ok || e.kind == EntryKind::Control) return;
    std::string_view sig_b64 = e.msg.str("signature");
    if (sig_b64.empty() || !decode_signature(sig_b64, &job.sig)) return;
    Signer s = d->signer(e.msg);
    if (!s.public_key_b64.empty()) {
      if (!decode_public_key(s.public_key_b64, &job.key)) return;
    } else {
      if (window && state.recently_verified(s.node_id, e.now_ns)) return;
      View view(snapshot);
      Node n;
      if (!view.get_node(s.node_id, &n) || !n.has_key) return;
      job.key = n.public_key;
    }
    job.message = d->challenge(e.msg);
  }
  e.jobs.push_back(std::move(job));
}

void fail_entry(Entry& e, const std::string& text) {
  e.reply.clear();
  e.effects.clear();
  e.is_error = true;
  if (e.kind == EntryKind::Native) {
    wire::append_binary_error(e.reply, text);
  } else {
    std::string body;
    JsonWriter w(body);
    w.begin_object().str("type", "error").str("error", text).end_object();
    frame_json(e, body);
  }
}

void run_entry(Entry& e, RunContext& ctx) {
  e.reply.clear();
  if (!e.continuing) e.effects.clear();
  e.is_error = false;
  const MessageDesc* d = e.desc;

  if (e.kind == EntryKind::Native && !d) {
    char buf[48];
    snprintf(buf, sizeof buf, "unknown message type 0x%02x", unsigned(e.opcode));
    wire::append_binary_error(e.reply, buf);
    e.is_error = true;
    return;
  }
  if (e.kind == EntryKind::Passthrough && !e.msg_ok) {
    wire::append_binary_error(e.reply, "json decode: " + e.decode_error);
    e.is_error = true;
    return;
  }
  // JSON mode hands these to the replicator before dispatch (replication.cc); inside a binary
  // passthrough frame they are refused, and the connection stays open.
  if (e.kind == EntryKind::Passthrough && is_replication_frame(e.msg.type())) {
    e.is_error = true;
    wire::append_binary_error(e.reply, "replication not supported over binary protocol");
    return;
  }
  // Verbatim, not sanitised (the original hid it as "request failed"): a daemon must be able to
  // tell that it reached a standby (docs/protocol-notes.md).
  // A write classified on a standby stays refused when a promotion came before its turn: it
  // has no batch transaction to run in (classify decided is_write).
  const bool classified_on_standby = d && d->access == Access::Write && !e.is_write && !d->standby_read;
  if (classified_on_standby || (ctx.standby && !(d && (d->standby_ok || d->standby_read))))
    return fail_json(e, "standby mode: write operations not accepted (use primary)", false);
  if (!d) {
    std::string_view type = e.msg.type();
    if (e.kind == EntryKind::Control) return fail_json(e, "unknown command \"" + std::string(type) + "\"", false);
    return fail_json(e, "unknown message type: " + go_quote(type));
  }

  // Circuit breakers (ops-spec §9.2): after the standby check and the handler lookup, before
  // validation and the handler; JSON requests only (the binary fast paths are not gated).
  // The denial goes out verbatim: the sanitiser would turn it into "request failed" (§9.2 REC).
  if (e.kind != EntryKind::Native && !e.continuing) {
    if (std::string_view name = breakers::breaker_for_type(d->type); !name.empty()) {
      std::string reason;
      if (!registry_breakers().allow(ctx.cfg.data_dir, name, e.now_ns / 1000000000, &reason)) {
        if (ctx.page) ctx.page->types[e.type_index].breaker_open.fetch_add(1, std::memory_order_relaxed);
        return fail_json(e, breakers::denial_text(name, reason), false);
      }
    }
  }

  // A write runs in its own transaction nested in the batch's: a refused request (or one
  // whose handler threw) leaves nothing behind, and the batch goes on.
  Txn child;
  const Txn* txn = ctx.snapshot;
  if (e.is_write) {
    RDV_ASSERT(ctx.batch_txn);
    int rc = ctx.batch_txn->env()->begin_nested(*ctx.batch_txn, &child);
    if (rc) {
      ctx.store_error = rc;
      return fail_entry(e, "registry cannot store the request: " + lmdb_error(rc));
    }
    txn = &child;
  }
  View view(*txn);
  Caller caller;
  caller.local_operator = e.kind == EntryKind::Control;
  Request r{*d, e.msg, e.payload, *e.peer, e.now_ns, ctx.cfg, ctx.epoch, view,
            e.is_write ? &child : nullptr, ctx.state, caller, SignatureChecker{&e.jobs, ctx.page}, ctx.page,
            e.effects, &e.resume, &e.partial};
  r.fetched = e.fetched.get();

  Outcome out;
  bool ok = false;
  try {
    if (e.kind == EntryKind::Native) {
      d->binary(r, e.reply);
      ok = !(e.reply.size() > 4 && uint8_t(e.reply[4]) == wire::kError);
    } else {
      out = d->handler(r);
      ok = !out.failed || (out.keep_writes && e.is_write);
    }
  } catch (const std::exception& ex) {
    // The C++ analogue of the Go server's recovered handler panic: an ordinary error reply.
    log_error("handler failed", {{"type", d->type}, {"error", ex.what()}});
    out = Outcome::fail(std::string("registry handler panic recovered: ") + ex.what());
    e.reply.clear();
    ok = false;
  }

  if (e.is_write) {
    if (ok && !view.error()) view.note(child.commit());
    else child.abort();
  }
  if (view.error()) {
    // A store error: nothing of this request is kept. MDB_MAP_FULL makes the writer grow
    // the map and replay its batch; other errors fail just this request.
    log_warn("store error during request", {{"type", d->type}, {"error", lmdb_error(view.error())}});
    if (e.is_write) ctx.store_error = view.error();
    fail_entry(e, "registry cannot store the request: " + lmdb_error(view.error()));
    e.continuing = false;
    return;
  }
  if (!ok) e.effects.clear();  // a refused request changes nothing, in memory either
  e.continuing = out.continues && !e.is_write;
  if (e.continuing) return;
  if (e.kind == EntryKind::Native) {
    e.is_error = !ok;
    return;
  }
  if (out.failed) return fail_json(e, out.error, !d->raw_errors && !caller.local_operator);
  if (!out.raw.empty()) return frame_json(e, out.raw);
  if (!json_object_get(out.json.get(), "type"))
    json_object_set_new(out.json.get(), "type", json_stringn(d->type.data(), d->type.size()));
  frame_json(e, json_dump_compact(out.json.get()));
}

}  // namespace rdv::registry
