#include "worker-admin/live_feed.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "shared/ipc.h"
#include "shared/log.h"
#include "shared/wire.h"

namespace rdv::admin {

namespace {

int64_t mono_ms() { return mono_now_ns() / 1000000; }

timeval ms_to_tv(int64_t ms) { return timeval{time_t(ms / 1000), suseconds_t((ms % 1000) * 1000)}; }

// The bus only sends small frames (commit, liveness, status replies): anything larger is not
// the registry speaking, and the connection is dropped rather than buffered.
constexpr uint32_t kMaxBusFrame = 64 * 1024;

}  // namespace

bool take_bus_frames(std::string* buffer, uint32_t max_frame, std::vector<JsonPtr>* frames) {
  size_t pos = 0;
  bool ok = true;
  while (buffer->size() - pos >= 4) {
    uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(buffer->data() + pos));
    if (len > max_frame) {
      ok = false;
      break;
    }
    if (buffer->size() - pos < 4 + size_t(len)) break;
    json_error_t jerr;
    JsonPtr frame(json_loadb(buffer->data() + pos + 4, len, 0, &jerr));
    pos += 4 + size_t(len);
    if (frame) frames->push_back(std::move(frame));
  }
  buffer->erase(0, pos);
  return ok;
}

int64_t rebuild_delay_ms(int64_t last_rebuild_ms, int64_t now_ms, int64_t min_interval_ms) {
  int64_t wait = last_rebuild_ms + min_interval_ms - now_ms;
  if (wait < 0) return 0;
  return wait > min_interval_ms ? min_interval_ms : wait;  // a clock that went back waits no longer
}

LiveFeed::LiveFeed(event_base* base, const AdminContext* ctx, DashboardHub* hub, std::string socket_path)
    : base_(base), ctx_(ctx), hub_(hub), socket_path_(std::move(socket_path)) {}

bool LiveFeed::start() {
  sample_timer_.reset(event_new(base_, -1, EV_PERSIST, &LiveFeed::on_sample, this));
  rebuild_timer_.reset(evtimer_new(base_, &LiveFeed::on_rebuild, this));
  reconnect_timer_.reset(evtimer_new(base_, &LiveFeed::on_reconnect, this));
  if (!sample_timer_ || !rebuild_timer_ || !reconnect_timer_) {
    log_error("live feed: event_new() failed");
    return false;
  }
  timeval tv = ms_to_tv(kSampleIntervalMs);
  if (event_add(sample_timer_.get(), &tv) != 0) {
    log_error("live feed: event_add(sample timer) failed");
    return false;
  }
  hub_->add_sample({unix_now_ns() / 1000000, registry_total_requests(*ctx_)});
  rebuild();
  connect_bus();
  return true;
}

void LiveFeed::on_sample(evutil_socket_t, short, void* arg) {
  auto* self = static_cast<LiveFeed*>(arg);
  self->hub_->add_sample({unix_now_ns() / 1000000, registry_total_requests(*self->ctx_)});
  self->poll_replicator();
  if (self->subscribed_) {
    JsonPtr status(json_pack("{s:s}", "type", "status"));
    self->send_frame(status.get());
  }
  self->request_rebuild();
}

// The replicator's socket has no bus: one status call per sample. It answers from memory at
// once; the short timeout bounds what a stuck replicator costs this loop (the control
// channel is served here too), and a missed answer only leaves the panel a second older.
void LiveFeed::poll_replicator() {
  JsonPtr request(json_pack("{s:s}", "type", "status"));
  std::string error;
  JsonPtr reply = ipc::unix_call(ipc::replicator_socket_path(ctx_->config->get()->run_dir), request.get(),
                                 kReplicatorPollTimeoutMs, &error);
  hub_->set_replicator_status(reply && json_str(reply.get(), "type") == "status_ok" ? json_dump_compact(reply.get())
                                                                                     : std::string());
}

void LiveFeed::on_rebuild(evutil_socket_t, short, void* arg) { static_cast<LiveFeed*>(arg)->rebuild(); }

void LiveFeed::on_reconnect(evutil_socket_t, short, void* arg) { static_cast<LiveFeed*>(arg)->connect_bus(); }

void LiveFeed::request_rebuild() {
  if (rebuild_pending_) return;  // coalesced into the one already scheduled
  timeval tv = ms_to_tv(rebuild_delay_ms(last_rebuild_ms_, mono_ms(), kMinRebuildIntervalMs));
  if (event_add(rebuild_timer_.get(), &tv) != 0) {
    log_warn("live feed: event_add(rebuild timer) failed; rebuilding now");
    rebuild();
    return;
  }
  rebuild_pending_ = true;
}

void LiveFeed::rebuild() {
  rebuild_pending_ = false;
  last_rebuild_ms_ = mono_ms();
  // Nobody watching: skip the store reads. A stream that opens builds its first payload
  // itself, then waits for the next publish.
  if (hub_->streams() == 0) return;
  JsonPtr pub = current_public_stats(*ctx_, *hub_);
  JsonPtr admin = current_admin_snapshot(*ctx_, *hub_);
  hub_->publish(json_dump_compact(pub.get()), json_dump_compact(admin.get()));
}

void LiveFeed::connect_bus() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    drop_bus(sys_error("socket() failed"));
    return;
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof sa.sun_path) {
    drop_bus("socket path too long: " + socket_path_);
    return;
  }
  std::memcpy(sa.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  // A Unix stream connect completes at once or fails (EAGAIN: the backlog is full; try later).
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    drop_bus(socket_path_ + ": " + sys_error("connect() failed"));
    return;
  }
  bus_fd_ = std::move(fd);
  in_.clear();
  bus_event_.reset(event_new(base_, bus_fd_.get(), EV_READ | EV_PERSIST, &LiveFeed::on_readable, this));
  if (!bus_event_ || event_add(bus_event_.get(), nullptr) != 0) {
    drop_bus("event_new/event_add(bus) failed");
    return;
  }
  JsonPtr subscribe(json_pack("{s:s}", "type", "bus_subscribe"));
  if (!send_frame(subscribe.get())) return;
  JsonPtr status(json_pack("{s:s}", "type", "status"));
  send_frame(status.get());
}

void LiveFeed::drop_bus(const std::string& why) {
  bus_event_.reset();
  bus_fd_.reset();
  in_.clear();
  subscribed_ = false;
  if (why != last_drop_reason_) {
    log_info("live feed: registry bus unavailable; retrying", {{"reason", why}});
    last_drop_reason_ = why;
  }
  timeval tv = ms_to_tv(backoff_ms_);
  backoff_ms_ = next_backoff_ms(backoff_ms_, kReconnectMaxMs);
  if (event_add(reconnect_timer_.get(), &tv) != 0) log_error("live feed: event_add(reconnect timer) failed");
  request_rebuild();  // the registry component may just have gone down
}

bool LiveFeed::send_frame(const json_t* msg) {
  if (!bus_fd_) return false;
  std::string out;
  wire::append_json_frame(out, json_dump_compact(msg));
  // Frames are tiny and the registry reads its local socket promptly; a full send buffer means
  // it is stuck, and the status poll can wait for the next tick (a partial write would break
  // the framing, so it drops the connection instead).
  ssize_t n = ::send(bus_fd_.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == ssize_t(out.size())) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  drop_bus(n < 0 ? sys_error("send() failed") : "short write on the bus");
  return false;
}

void LiveFeed::on_readable(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<LiveFeed*>(arg);
  char buf[16384];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n == 0) {
    self->drop_bus("the registry closed the bus");
    return;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    self->drop_bus(sys_error("recv() failed"));
    return;
  }
  self->in_.append(buf, size_t(n));
  std::vector<JsonPtr> frames;
  bool ok = take_bus_frames(&self->in_, kMaxBusFrame, &frames);
  for (const JsonPtr& frame : frames) self->handle_frame(frame.get());
  if (!ok) self->drop_bus("bus frame too large");
}

void LiveFeed::handle_frame(const json_t* frame) {
  std::string_view type = json_str(frame, "type");
  if (type == "bus_subscribe_ok") {
    subscribed_ = true;
    backoff_ms_ = kReconnectMinMs;
    if (!last_drop_reason_.empty()) log_info("live feed: subscribed to the registry bus");
    last_drop_reason_.clear();
    request_rebuild();
  } else if (type == "commit" || type == "liveness") {
    request_rebuild();
  } else if (type == "status_ok") {
    hub_->set_registry_status(json_dump_compact(frame));
    std::string_view role = json_str(frame, "role");
    hub_->set_role(std::string(role.empty() ? "unknown" : role),
                   int64_t(json_integer_value(json_object_get(frame, "epoch"))));
  } else if (type == "error" || json_has(frame, "error")) {
    // A registry that refuses the subscription (e.g. an older build): keep polling on the
    // timer, which still pushes once a second.
    log_debug("live feed: bus reply", {{"frame", json_dump_compact(frame)}});
  }
}

}  // namespace rdv::admin
