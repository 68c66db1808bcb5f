// Audit delivery (ops-spec §7.3, §8): the audit webhook and the audit export, fed from the
// audit database, at least once.
//
// The audit database is the durable queue: every audited mutation appends its entry, with a
// sequence key, in the transaction of the change it describes (request.h Write::audit). Each
// sink keeps a cursor — the last sequence it is done with — and its counters in its settings
// record (enterprise.h: webhook_stats {"delivered","failed","dropped","cursor"},
// audit_export_stats {"exported","dropped","cursor"}, and the webhook's dead letters in
// webhook_dlq). Those are written through the writer like everything else (Batch::settings:
// an internal write with its own change record, so a promoted standby goes on from the
// leader's cursor), never acknowledged to anyone, so a delivery never waits for a commit.
//
// After a crash the cursor on disk may lag what was delivered: those entries are sent again
// with the same event_id (the audit sequence), which is how a receiver deduplicates. In
// normal operation each entry is sent once per sink (the original posted every event twice).
// Entries go out in sequence order, one at a time per sink (an entry's retries hold up the
// ones behind it, as the original's single worker did). An entry trimmed by -audit-keep
// before its sink got to it is counted as dropped, never skipped silently.
//
// Each write of a sink's records is guarded by the stats record's text as the deliverer last
// knew it: an operator who replaced the sink (set_webhook / set_audit_export reset the stats)
// in the meantime wins, and the deliverer reloads.
//
// When: woken by every commit that appended an audit entry (Server::batch_done), and at start;
// never by a timer, except the retry backoff. Leader only: a standby delivers nothing.
//
// Threading: the loop thread only; the HTTP calls are the Fetcher's (libcurl multi on the
// loop, the SSRF check on every socket).
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "audit_export.h"
#include "event.h"
#include "fetcher.h"
#include "json.h"
#include "registry.h"

namespace rdv::registry {

// One sink's records to write, if the guard record still reads `expected` ("" = absent).
struct SettingsWrite {
  std::string guard, expected;
  std::vector<std::pair<std::string, std::string>> puts;  // name, JSON text ("" deletes)
  bool applied = false;                                   // set by the writer
};

class Deliverer {
 public:
  static constexpr int kAttempts = 3;
  static constexpr int kWebhookTimeoutMs = 5000;
  static constexpr int kExportTimeoutMs = 10000;
  static constexpr size_t kDlqKeep = 100;

  Deliverer(event_base* base, Registry& reg, Fetcher& fetcher);
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // A commit made the newest audit sequence `newest_seq` (or the worker started): re-reads
  // the sinks' configuration and sends what is pending.
  void wake(uint64_t newest_seq);
  // Records to write with the next batch (coalesced: one write per sink per batch).
  bool has_writes() const;
  void take_writes(std::vector<SettingsWrite>* out);
  // The batch carrying them came back (`committed`: it reached the disk). A write that did
  // not apply makes its sink reload from the store.
  void written(const std::vector<SettingsWrite>& writes, bool committed);
  // The worker is stopping: nothing more is sent; results still coming are ignored (their
  // entries go again after the restart).
  void shutdown();

 private:
  struct Sink;
  void reload(Sink& s, bool force);
  void init_cursor(Sink& s, const Txn& t);
  void pump(Sink& s);
  void attempt(Sink& s);
  void result(Sink& s, uint64_t generation, const HttpResult& r);
  void finish(Sink& s, bool delivered, const std::string& why);
  std::string stats_text(const Sink& s) const;
  std::string webhook_secret(Sink& s);  // the HMAC key: set_webhook's, else the file's
  static void on_backoff(evutil_socket_t, short, void* arg);

  event_base* base_;
  Registry& reg_;
  Fetcher& fetcher_;
  int backoff_ms_ = 1000;  // before attempt 2; doubled before attempt 3
  bool stopped_ = false;
  std::unique_ptr<Sink> webhook_, export_;
};

}  // namespace rdv::registry
