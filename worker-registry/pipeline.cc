// The pipeline: from decoded requests to released replies (server.h, "A loop pass"; the
// design in docs/architecture.md). Connection I/O is in server.cc.
#include <algorithm>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "message_table.h"
#include "util.h"

namespace rdv::registry {

const Txn& Server::snapshot() {
  if (!snapshot_.active()) {
    int rc = reg_.env().begin_read(&snapshot_);
    if (rc) log_error("mdb_txn_begin(read) failed", {{"error", lmdb_error(rc)}});
  }
  return snapshot_;
}

void Server::on_verified(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  for (Entry* e : s->verify_pool_.take_finished()) {
    s->verify_inflight_--;
    Conn* c = static_cast<Conn*>(e->conn);
    c->away--;
    e->state = Entry::State::Ready;
    s->mark(c);
  }
}

void Server::on_committed(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  if (auto b = s->writer_.take_finished()) s->batch_done(std::move(b));
}

// Whether a classified request will reach its handler (so its outbound step matters): not a
// native binary request, not undecodable, not refused on a standby.
static bool reaches_handler(const Entry& e, bool standby) {
  const MessageDesc* d = e.desc;
  return d && e.kind != EntryKind::Native && e.msg_ok && !(standby && !(d->standby_ok || d->standby_read)) &&
         !(d->access == Access::Write && !e.is_write && !d->standby_read);  // classified on a standby
}

// The request's turn has come and its descriptor has an outbound step: decide on the snapshot
// whether it needs a call, and if so start it. The entry waits (Fetching) in its queue while
// everyone else goes on; the result comes back on the loop, from the fetcher's callback.
bool Server::start_fetch(Entry& e) {
  const MessageDesc& d = *e.desc;
  View view(snapshot());
  Caller caller;
  caller.local_operator = e.kind == EntryKind::Control;
  std::vector<Effect> ignored;  // deciding changes nothing
  std::string resume, partial;
  Request r{d, e.msg, e.payload, *e.peer, e.now_ns, reg_.config(), reg_.epoch(), view, nullptr, &reg_, caller,
            SignatureChecker{&e.jobs, nullptr}, reg_.page(), ignored, &resume, &partial};
  std::optional<OutboundCall> call;
  try {
    call = d.fetch(r);
  } catch (const std::exception& ex) {
    log_error("outbound step failed", {{"type", d.type}, {"error", ex.what()}});  // the handler answers
    return false;
  }
  if (!call) return false;
  Conn* c = static_cast<Conn*>(e.conn);
  c->away++;  // the connection outlives the call, even if it closes meanwhile
  auto keep = call->keep;
  fetcher_.start(*call, reg_.outbound_allowed(), [this, &e, keep](const HttpResult& result) {
    Conn* conn = static_cast<Conn*>(e.conn);
    if (keep) keep(reg_, result, unix_now_ns());
    e.fetched = std::make_unique<HttpResult>(result);
    e.state = Entry::State::Ready;
    conn->away--;
    mark(conn);
  });
  return true;
}

bool Server::run_read(Entry& e) {
  RunContext ctx{reg_.config(), reg_.epoch(), reg_.is_standby(), &reg_, reg_.page(), &snapshot(), nullptr};
  if (e.answered) return true;  // answered at decoding (bad wire version)
  run_entry(e, ctx);
  if (e.continuing) {
    // Its next turn is next pass, behind everyone who is waiting now.
    continuing_.push_back(static_cast<Conn*>(e.conn));
    return false;
  }
  finish(e);
  return true;
}

// A request is final: its effects take hold and it is counted.
void Server::finish(Entry& e) {
  Conn* c = static_cast<Conn*>(e.conn);
  for (const Effect& fx : e.effects) {
    switch (fx.kind) {
      case Effect::SubscribeBus:
        if (!c->bus && !c->closed) {
          c->bus = true;
          bus_.push_back(c);
        }
        break;
      case Effect::ReplicaApplied:
        replica_applied(uint64_t(fx.value));
        break;
      case Effect::ReplAcked:
        sync_release(sync_.ack(uint64_t(fx.value), fx.id, mono_now_ns()), "ack");
        break;
      case Effect::SubscribeEvents:
        events_subscribe(e, fx.id, fx.value);
        break;
      default:
        reg_.apply(fx);
    }
  }
  if ((c->events == 1 || c->events == 4) && e.desc && e.desc->type == "subscribe_events") events_refused(c, e);
  // Daemon messages count whoever sent them (the local operator too); local commands do not.
  if (e.type_index != metrics::kUnknownType || e.kind != EntryKind::Control)
    metrics::observe(reg_.page(), e.type_index, mono_now_ns() - e.start_mono_ns, e.is_error);
}

void Server::advance(Conn* c) {
  c->queue.advance(
      [&](Entry& e) { return start_fetch(e); },
      [&](Entry& e) { return run_read(e); },
      [&](Entry& e) {
        if (!next_batch_) next_batch_ = std::make_unique<Batch>();
        next_batch_->entries.push_back(&e);
        e.batched_mono_ns = mono_now_ns();
        c->away++;
      });
  c->queue.release([&](Entry& e) {
    if (!c->closed) c->out.append(e.reply);
  });
}

void Server::submit_batch() {
  // A standby writes nothing but what the replicator applies; writes batched before a
  // demotion are answered with the standby refusal instead of waiting for ever.
  if (reg_.is_standby()) return refuse_batched_writes();
  if (writer_.busy()) return;
  int64_t now = unix_now_ns();
  bool timer_work = flush_due_ || reap_due_ || deliverer_.has_writes() || reg_.node_events.due(now);
  if (!next_batch_ && !timer_work) return;
  if (!next_batch_) next_batch_ = std::make_unique<Batch>();
  Batch& b = *next_batch_;
  b.cfg = reg_.config_ptr();
  b.epoch = reg_.epoch();
  if (flush_due_) {
    b.liveness = reg_.liveness_to_flush();
    b.flush_liveness = true;
  }
  if (reap_due_) {
    b.reap = reg_.reap_candidates(unix_now_ns(), reap_interval_ns_);
    events_reap_planned(b.reap);  // their records are gone once the reap commits
    b.trim = true;
  }
  deliverer_.take_writes(&b.settings);
  if (reg_.node_events.due(now)) b.audit = reg_.node_events.take(now);
  flush_due_ = reap_due_ = false;
  writer_.submit(std::move(next_batch_));
  note_writer_state();
}

void Server::batch_done(std::unique_ptr<Batch> b) {
  snapshot_.abort();  // reads from here on must see this commit
  // Effects in commit order, then the replies (advance() releases them in request order).
  const int64_t committed = mono_now_ns();
  const uint64_t seq_before = reg_.server.last_seq;
  for (Entry* e : b->entries) {
    if (metrics::RegistryPage* page = reg_.page()) {
      const int64_t waited = committed - e->batched_mono_ns;
      metrics::observe(page->commit_wait, metrics::kCommitBuckets, double(waited) / 1e9, uint64_t(waited));
    }
    finish(*e);
  }
  if (b->flush_liveness) reg_.liveness_flushed(b->liveness, b->rc == 0);
  if (b->rc == 0) {
    for (uint32_t id : b->reaped) {
      reg_.node_went_offline(id);
      events_reaped(id);
      reg_.apply({Effect::Forget, id, 0});
      log_info("node reaped", {{"node_id", std::to_string(id)}});
    }
    if (!b->reaped.empty()) reg_.apply({Effect::CountReaped, 0, int64_t(b->reaped.size())});
    if (b->trimmed.past_ack)
      log_warn("change log over its size limit: dropped records a consumer had not acknowledged; it will need a full copy",
               {{"lowest_ack", std::to_string(b->trimmed.lowest_ack)}, {"first_kept", std::to_string(b->trimmed.first_kept)}});
    if (b->last_seq > reg_.server.last_seq) {
      events_committed(reg_.server.last_seq + 1, b->last_seq);  // events.cc: only what committed
      reg_.server.last_seq = b->last_seq;
      std::string body = "{\"type\":\"commit\",\"seq\":" + std::to_string(b->last_seq) +
                         ",\"epoch\":" + std::to_string(b->epoch) + "}";
      publish(body);
    }
    if (b->flush_liveness && !b->liveness.empty())
      publish("{\"type\":\"liveness\",\"rows\":" + std::to_string(b->liveness.size()) +
              ",\"unix_ms\":" + std::to_string(unix_now_ns() / 1000000) + "}");
  }
  // The replies. With -repl-sync they wait, still counted away (so their connections outlive
  // them, closed or not), until a standby acknowledges the batch's last record or the gate
  // degrades (sync_gate.h); a batch that wrote no record has nothing to wait for.
  // Bus subscribers' own messages (the replicator's bus_ack) are never held: the replicator's
  // acknowledgements come on that connection, behind them, so holding them would wait for
  // an ack that cannot arrive.
  std::vector<Entry*> replies;
  for (Entry* e : b->entries) {
    if (static_cast<Conn*>(e->conn)->bus) write_released(*e);
    else replies.push_back(e);
  }
  const uint64_t hold_seq = b->rc == 0 && b->last_seq > seq_before ? b->last_seq : 0;
  if (!shutting_down_ && sync_.hold(hold_seq, replies, committed)) {
    note_sync_state();
    sync_arm_timer();
  } else {
    for (Entry* e : replies) write_released(*e);
  }
  note_writer_state();
  // The audit deliverer: its own writes first, then the news (a commit that appended entries).
  if (!b->settings.empty()) deliverer_.written(b->settings, b->rc == 0);
  if (b->rc == 0 && b->last_audit_seq != audit_seq_seen_) {
    audit_seq_seen_ = b->last_audit_seq;
    deliverer_.wake(b->last_audit_seq);
  }
}

void Server::write_released(Entry& e) {
  Conn* c = static_cast<Conn*>(e.conn);
  c->away--;
  c->queue.write_finished(e);
  mark(c);
}

// A standby's replicator applied records up to `seq`: the newest state a read here can see.
// It may be lower than before: a full copy replaces a diverged store with the leader's.
void Server::replica_applied(uint64_t seq) {
  if (seq == reg_.server.last_seq) return;
  reg_.server.last_seq = seq;
  // The replicator raises the epoch file as it follows a newer leader; the bus frame names it.
  std::string err;
  if (!reg_.reload_epoch(&err)) log_warn("cannot re-read the epoch file; keeping the previous epoch", {{"error", err}});
  if (metrics::RegistryPage* page = reg_.page()) page->changelog_last_seq.store(seq, std::memory_order_relaxed);
  publish("{\"type\":\"commit\",\"seq\":" + std::to_string(seq) + ",\"epoch\":" + std::to_string(reg_.epoch()) + "}");
}

void Server::publish(std::string_view body) {
  for (Conn* c : bus_) {
    if (c->pending_out() > kBusSkipBytes) continue;
    wire::append_json_frame(c->out, body);
    mark(c);
  }
}

void Server::end_pass() {
  // Outbound calls can take seconds: on the way out they fail at once (the requests are
  // answered with the reason) instead of outliving the shutdown deadline.
  if (shutting_down_) {
    deliverer_.shutdown();  // before the fetcher fails its calls: those entries go after the restart
    fetcher_.shutdown("registry shutting down");
  }
  // Buffered input takes its turns, oldest first, with what the pass's budget has left; a
  // connection whose turn ends with input left goes to the back. Connections read fresh this
  // pass already had theirs.
  std::vector<Conn*> backlog;
  backlog.swap(backlog_);
  size_t i = 0;
  for (; i < backlog.size() && pass_requests_ < kPassRequests; i++) {
    Conn* c = backlog[i];
    c->in_backlog = false;
    c->pass_requests = 0;
    if (!c->closed) decode_frames(c);
    if (!c->in_backlog) update_read_interest(c);
  }
  backlog_.insert(backlog_.begin(), backlog.begin() + ptrdiff_t(i), backlog.end());
  pass_requests_ = 0;
  for (Conn* c : continuing_) mark(c);
  continuing_.clear();
  std::vector<Conn*> marked;
  marked.swap(marked_);
  for (Conn* c : marked) {
    c->marked = false;
    if (c->closed) continue;  // nobody to answer; free_dead() waits for what is still away
    // New requests: collect their signature checks on the snapshot; those with checks go to
    // the pool (and come back through on_verified), the others are ready now.
    c->queue.prepare([&](Entry& e) {
      collect_checks(e, snapshot(), reg_);
      e.fetch_undecided = e.desc && e.desc->fetch && reaches_handler(e, reg_.is_standby());
      if (e.jobs.empty()) {
        e.state = Entry::State::Ready;
      } else {
        e.state = Entry::State::Verifying;
        c->away++;
        verify_inflight_++;
        verify_pool_.submit(&e);
      }
    });
    advance(c);
  }
  verify_pool_.flush();
  submit_batch();
  if (metrics::RegistryPage* page = reg_.page(); page && !marked.empty()) {
    page->loop_passes_total.fetch_add(1, std::memory_order_relaxed);
    page->verify_queue_depth.store(verify_inflight_, std::memory_order_relaxed);
  }
  for (Conn* c : marked) {
    c->pass_requests = 0;
    if (!c->closed) flush(c);
  }
  snapshot_.abort();  // never held across passes: the writer's map growth waits for it
  note_writer_state();
  free_dead();
}

}  // namespace rdv::registry
