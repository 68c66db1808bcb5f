#include "delivery.h"

#include <algorithm>
#include <cstdlib>

#include "enterprise.h"
#include "files.h"
#include "log.h"
#include "util.h"

namespace rdv::registry {

namespace {
// How far back a sink without a cursor looks for the entry that configured it (its *.set
// action): the entries since then are delivered, that one included.
constexpr uint64_t kSetScanBack = 65536;
constexpr size_t kMaxSecretBytes = 4096;

uint64_t u64_of(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  if (json_is_integer(v)) return uint64_t(std::max<json_int_t>(0, json_integer_value(v)));
  if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1.8e19) return uint64_t(json_real_value(v));
  return 0;
}

std::string setting_text(const Txn& t, std::string_view name) {
  std::string_view v;
  return t.get(Db::Settings, name, &v) == 0 ? std::string(v) : std::string();
}

// Oldest and newest kept audit sequences (0, 0 when the log is empty).
void audit_bounds(const Txn& t, uint64_t* oldest, uint64_t* newest) {
  *oldest = *newest = 0;
  Cursor c(t, Db::Audit);
  if (c.seek()) *oldest = read_u64(c.key());
  Cursor l(t, Db::Audit);
  if (l.last()) *newest = read_u64(l.key());
}
}  // namespace

struct Deliverer::Sink {
  Deliverer* owner = nullptr;
  bool webhook = false;
  const char* name = "";  // for logs
  std::string_view config_name, stats_name, set_action;

  // Configuration, as last read.
  std::string config_text;  // "" = off
  std::string url, secret;  // webhook: url; export: the POST target
  ExportFormat format;
  std::string token;
  std::shared_ptr<const Config> cfg_seen;  // the secret file is read again after a SIGHUP
  std::string file_secret;

  // Progress, mirrored in the stats record.
  bool loaded = false;
  uint64_t cursor = 0;
  uint64_t ok = 0, failed = 0, dropped = 0;  // export: exported, -, dropped
  JsonPtr dlq;                               // webhook: the dead letters (array)
  std::string expected;                      // the stats record as last read or written
  bool dirty = false, dlq_dirty = false;
  bool needs_reload = false;

  // The entry in flight.
  bool busy = false;
  uint64_t seq = 0;
  AuditEntry entry;
  int attempt = 0;
  uint64_t generation = 0;  // bumped when the configuration changes: older results are stale
  OutboundCall call;
  EventPtr timer;
};

Deliverer::Deliverer(event_base* base, Registry& reg, Fetcher& fetcher) : base_(base), reg_(reg), fetcher_(fetcher) {
  // Tests shorten the 1 s / 2 s backoff of ops-spec §7.3 and §8.4.
  if (const char* e = std::getenv("RENDEZVOUS_DELIVERY_BACKOFF_MS"); e && *e) {
    long v = std::strtol(e, nullptr, 10);
    if (v >= 1 && v <= 60000) backoff_ms_ = int(v);
  }
  webhook_ = std::make_unique<Sink>();
  webhook_->webhook = true;
  webhook_->name = "webhook";
  webhook_->config_name = kSettingWebhook;
  webhook_->stats_name = kSettingWebhookStats;
  webhook_->set_action = "webhook.set";
  export_ = std::make_unique<Sink>();
  export_->name = "audit export";
  export_->config_name = kSettingAuditExport;
  export_->stats_name = kSettingAuditExportStats;
  export_->set_action = "audit_export.set";
  for (Sink* s : {webhook_.get(), export_.get()}) {
    s->owner = this;
    s->timer.reset(evtimer_new(base_, &Deliverer::on_backoff, s));
  }
}

Deliverer::~Deliverer() = default;

void Deliverer::shutdown() {
  stopped_ = true;
  for (Sink* s : {webhook_.get(), export_.get()})
    if (s->timer) evtimer_del(s->timer.get());
}

void Deliverer::wake(uint64_t) {
  if (stopped_ || reg_.is_standby()) return;
  for (Sink* s : {webhook_.get(), export_.get()}) {
    reload(*s, s->needs_reload);
    pump(*s);
  }
}

// ---- configuration and progress from the store ----

void Deliverer::reload(Sink& s, bool force) {
  Txn t;
  if (int rc = reg_.env().begin_read(&t)) {
    log_error("audit delivery: cannot read the store", {{"error", lmdb_error(rc)}});
    return;
  }
  std::string text = setting_text(t, s.config_name);
  if (text == s.config_text && !force) return;
  // A new configuration (or the first look, or a write that lost to the operator's): whatever
  // was in flight belongs to the old one.
  s.generation++;
  evtimer_del(s.timer.get());
  s.busy = false;
  s.needs_reload = false;
  s.config_text = text;
  s.loaded = false;
  s.dirty = s.dlq_dirty = false;
  s.dlq.reset();
  s.cursor = s.ok = s.failed = s.dropped = 0;
  if (text.empty()) return;  // off: its setter cleared the records already
  JsonPtr cfg(json_loadb(text.data(), text.size(), 0, nullptr));
  if (s.webhook) {
    s.url = std::string(json_str(cfg.get(), "url"));
    s.secret = std::string(json_str(cfg.get(), "secret"));
  } else {
    s.format.format = std::string(json_str(cfg.get(), "format"));
    s.format.index = std::string(json_str(cfg.get(), "index"));
    s.format.source = std::string(json_str(cfg.get(), "source"));
    s.token = std::string(json_str(cfg.get(), "token"));
    s.url = std::string(json_str(cfg.get(), "endpoint"));
    // syslog_cef names a raw host:port (§7.3): lines go to it as HTTP POSTs (a syslog-over-
    // HTTP collector); the guard still checks every address.
    if (s.format.format == "syslog_cef" && s.url.find("://") == std::string::npos) s.url = "http://" + s.url + "/";
  }
  if (s.url.empty()) {
    s.config_text.clear();
    return;
  }
  std::string stats = setting_text(t, s.stats_name);
  s.expected = stats;
  JsonPtr st(stats.empty() ? nullptr : json_loadb(stats.data(), stats.size(), 0, nullptr));
  if (json_is_object(st.get()) && json_object_get(st.get(), "cursor")) {
    s.cursor = u64_of(st.get(), "cursor");
    s.ok = u64_of(st.get(), s.webhook ? "delivered" : "exported");
    s.failed = u64_of(st.get(), "failed");
    s.dropped = u64_of(st.get(), "dropped");
  } else {
    init_cursor(s, t);
    s.dirty = true;  // the starting point goes to disk at once
  }
  if (s.webhook) {
    std::string d = setting_text(t, kSettingWebhookDlq);
    JsonPtr dj(d.empty() ? nullptr : json_loadb(d.data(), d.size(), 0, nullptr));
    json_t* events = json_object_get(dj.get(), "events");
    s.dlq.reset(json_is_array(events) ? json_incref(events) : json_array());
  }
  s.loaded = true;
}

// A sink with no cursor yet starts at the entry that configured it: the newest *.set entry
// (normally in the commit that just woke us), or at the end of the log when none is found.
void Deliverer::init_cursor(Sink& s, const Txn& t) {
  uint64_t oldest, newest;
  audit_bounds(t, &oldest, &newest);
  s.cursor = newest;
  for (uint64_t seq = newest; seq >= oldest && seq > 0 && newest - seq < kSetScanBack; seq--) {
    std::string_view v;
    AuditEntry e;
    if (t.get(Db::Audit, key_u64(seq), &v) != 0) break;
    if (decode_audit(v, &e) && e.action == s.set_action) {
      s.cursor = seq - 1;
      break;
    }
  }
}

std::string Deliverer::stats_text(const Sink& s) const {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  if (s.webhook) {
    w.num("delivered", int64_t(s.ok)).num("failed", int64_t(s.failed)).num("dropped", int64_t(s.dropped));
  } else {
    w.num("exported", int64_t(s.ok)).num("dropped", int64_t(s.dropped));
  }
  w.num("cursor", int64_t(s.cursor)).end_object();
  return out;
}

bool Deliverer::has_writes() const { return webhook_->dirty || export_->dirty; }

void Deliverer::take_writes(std::vector<SettingsWrite>* out) {
  for (Sink* s : {webhook_.get(), export_.get()}) {
    if (!s->dirty || !s->loaded) continue;
    SettingsWrite w;
    w.guard = std::string(s->stats_name);
    w.expected = s->expected;
    std::string text = stats_text(*s);
    w.puts.emplace_back(std::string(s->stats_name), text);
    if (s->webhook && s->dlq_dirty) {
      std::string d = "{\"events\":" + json_dump_compact(s->dlq.get()) + "}";
      w.puts.emplace_back(std::string(kSettingWebhookDlq), d);
    }
    s->expected = text;
    s->dirty = s->dlq_dirty = false;
    out->push_back(std::move(w));
  }
}

void Deliverer::written(const std::vector<SettingsWrite>& writes, bool committed) {
  for (const SettingsWrite& w : writes) {
    if (committed && w.applied) continue;
    Sink& s = w.guard == webhook_->stats_name ? *webhook_ : *export_;
    // Replaced by the operator meanwhile, or not on disk: start again from what the store says
    // (at worst a few entries go twice).
    s.needs_reload = true;
  }
  bool any = false;
  for (const SettingsWrite& w : writes) any |= !(committed && w.applied);
  if (any) wake(0);
}

// ---- sending ----

std::string Deliverer::webhook_secret(Sink& m) {
  if (!m.secret.empty()) return m.secret;  // set_webhook's own wins over the file
  std::shared_ptr<const Config> cfg = reg_.config_ptr();
  if (m.cfg_seen != cfg) {
    m.cfg_seen = cfg;
    m.file_secret.clear();
    if (!cfg->webhook_secret_file.empty()) {
      std::string content, err;
      bool exists = false;
      if (!read_small_file(cfg->webhook_secret_file, kMaxSecretBytes, &content, &exists, &err) || !exists) {
        log_error("webhook secret file unreadable; deliveries go unsigned",
                  {{"file", cfg->webhook_secret_file}, {"error", exists ? err : "no such file"}});
      } else {
        while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
        m.file_secret = std::move(content);
      }
    }
  }
  return m.file_secret;
}

void Deliverer::pump(Sink& s) {
  if (stopped_ || reg_.is_standby() || s.busy || !s.loaded || s.config_text.empty()) return;
  Txn t;
  if (reg_.env().begin_read(&t) != 0) return;
  uint64_t oldest, newest;
  audit_bounds(t, &oldest, &newest);
  while (s.cursor < newest) {
    uint64_t next = s.cursor + 1;
    if (next < oldest) {
      // Trimmed by -audit-keep before this sink got to them.
      s.dropped += oldest - next;
      log_warn("audit delivery: entries trimmed before delivery; counted as dropped",
               {{"sink", s.name}, {"count", std::to_string(oldest - next)}});
      s.cursor = oldest - 1;
      s.dirty = true;
      continue;
    }
    std::string_view v;
    AuditEntry e;
    if (t.get(Db::Audit, key_u64(next), &v) != 0 || !decode_audit(v, &e)) {
      s.dropped++;
      s.cursor = next;
      s.dirty = true;
      continue;
    }
    s.busy = true;
    s.seq = next;
    s.entry = std::move(e);
    s.attempt = 0;
    OutboundCall& c = s.call;
    c = OutboundCall{};
    c.url = s.url;
    if (s.webhook) {
      c.body = webhook_body(next, s.entry);
      c.timeout_ms = kWebhookTimeoutMs;
      if (std::string key = webhook_secret(s); !key.empty())
        c.headers.push_back("X-Pilot-Signature-256: " + hmac_sha256_hex(key, c.body));
    } else {
      ExportBody b = format_export(s.format, s.entry);
      c.body = std::move(b.body);
      c.content_type = std::move(b.content_type);
      c.timeout_ms = kExportTimeoutMs;
      if (!s.token.empty()) c.headers.push_back("Authorization: Splunk " + s.token);
    }
    t.abort();
    attempt(s);
    return;
  }
}

void Deliverer::attempt(Sink& s) {
  s.attempt++;
  uint64_t gen = s.generation;
  Sink* sp = &s;
  fetcher_.start(s.call, reg_.outbound_allowed(), [this, sp, gen](const HttpResult& r) { result(*sp, gen, r); });
}

void Deliverer::on_backoff(evutil_socket_t, short, void* arg) {
  Sink& s = *static_cast<Sink*>(arg);
  if (!s.owner->stopped_ && s.busy) s.owner->attempt(s);
}

void Deliverer::result(Sink& s, uint64_t generation, const HttpResult& r) {
  if (stopped_ || generation != s.generation || !s.busy) return;  // stale: the sink changed
  bool answered = r.error.empty() && r.status > 0;
  if (answered && r.status < 400) return finish(s, true, "");
  std::string why = answered ? "HTTP " + std::to_string(r.status) : r.error;
  bool client_error = answered && r.status < 500;  // 4xx: retrying will not help
  if (client_error || s.attempt >= kAttempts) return finish(s, false, why);
  log_info("audit delivery: attempt failed; retrying",
           {{"sink", s.name}, {"event_id", std::to_string(s.seq)}, {"attempt", std::to_string(s.attempt)}, {"error", why}});
  int64_t ms = int64_t(backoff_ms_) << (s.attempt - 1);  // 1 s before attempt 2, 2 s before 3
  timeval tv{time_t(ms / 1000), suseconds_t((ms % 1000) * 1000)};
  evtimer_add(s.timer.get(), &tv);
}

void Deliverer::finish(Sink& s, bool delivered, const std::string& why) {
  if (delivered) {
    s.ok++;
  } else if (s.webhook) {
    s.failed++;
    log_warn("webhook delivery failed; event dead-lettered",
             {{"event_id", std::to_string(s.seq)}, {"action", s.entry.action}, {"error", why},
              {"attempts", std::to_string(s.attempt)}});
    json_t* ev = json_object();
    json_object_set_new(ev, "event_id", json_integer(json_int_t(s.seq)));
    json_object_set_new(ev, "action", json_stringn(s.entry.action.data(), s.entry.action.size()));
    std::string ts = rfc3339_utc(s.entry.timestamp);
    json_object_set_new(ev, "timestamp", json_stringn(ts.data(), ts.size()));
    JsonPtr body(json_loads(s.call.body.c_str(), 0, nullptr));
    if (json_t* d = json_object_get(body.get(), "details")) json_object_set(ev, "details", d);
    json_array_append_new(s.dlq.get(), ev);
    while (json_array_size(s.dlq.get()) > kDlqKeep) json_array_remove(s.dlq.get(), 0);
    s.dlq_dirty = true;
  } else {
    s.dropped++;
    log_warn("audit export failed; entry discarded",
             {{"seq", std::to_string(s.seq)}, {"action", s.entry.action}, {"error", why},
              {"attempts", std::to_string(s.attempt)}});
  }
  s.cursor = s.seq;
  s.dirty = true;
  s.busy = false;
  pump(s);
}

}  // namespace rdv::registry
