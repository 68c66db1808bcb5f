#include "node_events.h"

#include <string>

#include "audit.h"

namespace rdv::registry {

namespace {
AuditEntry node_entry(bool online, int64_t now_ns, uint32_t id, uint64_t count) {
  AuditEntry e;
  e.timestamp = now_ns / 1000000000;
  e.action = online ? "node.online" : "node.offline";
  e.node_id = id;
  AuditAttrs a;
  if (count) a.emplace_back("count", std::to_string(count));  // a summary: no node id
  if (!online) a.emplace_back("reason", "stale");
  e.details = audit_details(a);
  return e;
}
}  // namespace

bool NodeEvents::due(int64_t now_ns) const {
  if (!queue_.empty()) return true;
  return window_start_ns_ != 0 && (suppressed_online_ || suppressed_offline_) && now_ns - window_start_ns_ >= window_ns_;
}

std::vector<AuditEntry> NodeEvents::take(int64_t now_ns) {
  std::vector<AuditEntry> out;
  if (window_start_ns_ == 0) {
    window_start_ns_ = now_ns;  // the first window starts with the first events
  } else if (now_ns - window_start_ns_ >= window_ns_) {
    // The window is over: what it held back goes out as one summary per action.
    if (suppressed_offline_) out.push_back(node_entry(false, now_ns, 0, suppressed_offline_));
    if (suppressed_online_) out.push_back(node_entry(true, now_ns, 0, suppressed_online_));
    suppressed_online_ = suppressed_offline_ = 0;
    window_start_ns_ = now_ns;
    used_ = 0;
  }
  for (const Event& ev : queue_) {
    if (used_ < per_window_) {
      out.push_back(node_entry(ev.online, now_ns, ev.id, 0));
      used_++;
    } else {
      (ev.online ? suppressed_online_ : suppressed_offline_)++;
    }
  }
  queue_.clear();
  return out;
}

}  // namespace rdv::registry
