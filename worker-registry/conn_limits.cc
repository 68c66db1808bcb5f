// The loop side of conn_limits.h: the refusal at -max-connections and the read-deadline sweep.
#include "conn_limits.h"

#include "conn.h"
#include "log.h"
#include "util.h"

namespace rdv::registry {

// Called with the accepted socket still owned by accept_from, which closes it on return:
// nothing is read from it (wire §2.5: "above it new sockets are closed immediately"). A daemon's
// client treats a closed connection as retryable, and an error reply as final
// (client-expectations.md), so closing is the refusal that lets it come back later.
void Server::refuse_over_cap() {
  if (auto* p = reg_.page()) p->connections_refused_total.fetch_add(1, std::memory_order_relaxed);
  uint64_t suppressed = 0;
  if (!refusal_warn_.note(mono_now_ns(), &suppressed)) return;
  log_warn("registry connection refused: -max-connections reached (closed without reading)",
           {{"max_connections", std::to_string(reg_.config().max_connections)},
            {"open", std::to_string(reg_.server.tcp_connections)},
            {"refused_since_last_warning", std::to_string(suppressed)}});
}

void Server::on_read_deadline_timer(evutil_socket_t, short, void* arg) {
  auto* s = static_cast<Server*>(arg);
  s->sweep_read_deadlines();
  s->arm_read_deadline_timer();
}

void Server::arm_read_deadline_timer() {
  if (!read_deadline_ev_ || shutting_down_) return;
  // Read again at every tick: a SIGHUP that changed -read-timeout applies from the next one.
  int64_t every = read_deadline_sweep_ns(reg_.config().read_timeout_ns);
  timeval tv{time_t(every / 1000000000), suseconds_t(every % 1000000000 / 1000)};
  if (event_add(read_deadline_ev_.get(), &tv) != 0) log_error("event_add(read deadline timer) failed");
}

void Server::sweep_read_deadlines() {
  const int64_t now = mono_now_ns();
  const int64_t timeout = reg_.config().read_timeout_ns;
  // close_conn only marks and moves a connection to dead_: conns_ is not reshaped until
  // free_dead, so indexing it here stays valid.
  for (size_t i = 0; i < conns_.size(); i++) {
    Conn* c = conns_[i].get();
    if (c->closed || c->control || c->close_after_flush) continue;  // the local socket keeps its fixed idle timeout
    if (c->events == 2) continue;  // an event stream only receives: it is never asked for a frame
    bool waiting_on_client = c->reading && !c->in_backlog && c->queue.empty() && c->pending_out() == 0 && c->away == 0;
    switch (read_deadline_action(waiting_on_client, c->last_frame_ns, now, timeout)) {
      case DeadlineAction::Keep:
        break;
      case DeadlineAction::Rearm:
        c->last_frame_ns = now;
        break;
      case DeadlineAction::Close:
        if (auto* p = reg_.page()) p->read_timeouts_total.fetch_add(1, std::memory_order_relaxed);
        close_conn(c, c->in.size() > c->in_off ? "read timeout: a frame started but did not complete"
                                               : "read timeout: no request");
        break;
    }
  }
}

}  // namespace rdv::registry
