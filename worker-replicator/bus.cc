#include "bus.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "log.h"
#include "wire.h"

namespace rdv::replicator {

Bus::Bus(event_base* base, std::string socket_path, Handlers handlers)
    : base_(base), path_(std::move(socket_path)), h_(std::move(handlers)) {
  retry_ev_.reset(event_new(base_, -1, 0, on_retry, this));
}

void Bus::start() { connect(); }

void Bus::on_retry(evutil_socket_t, short, void* arg) { static_cast<Bus*>(arg)->connect(); }

void Bus::connect() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path_.c_str(), std::min(path_.size() + 1, sizeof sa.sun_path - 1));
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    log_debug("registry bus not reachable yet", {{"socket", path_}, {"error", sys_error("connect")}});
    on_closed("connect failed");
    return;
  }
  link_ = std::make_unique<Link>(base_, std::move(fd),
                                 Link::Handlers{[this] { on_input(); }, [this](const std::string& why) { on_closed(why); }, nullptr},
                                 64u << 20);
  subscribed_ = false;
  std::string out;
  wire::append_json_frame(out, R"({"type":"bus_subscribe"})");
  link_->send(out);
}

void Bus::send(const json_t* msg) {
  if (!connected()) {
    log_debug("bus not connected; message dropped", {{"type", json_str(msg, "type")}});
    return;
  }
  std::string out;
  wire::append_json_frame(out, json_dump_compact(msg));
  link_->send(out);
}

void Bus::on_input() {
  std::string& in = link_->in();
  size_t off = 0;
  while (in.size() - off >= 4) {
    uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(in.data() + off));
    if (len > wire::kMaxMessageSize) {
      link_->close("bus frame too large");
      return;
    }
    if (in.size() - off < 4 + size_t(len)) break;
    json_error_t err;
    JsonPtr frame(json_loadb(in.data() + off + 4, len, 0, &err));
    off += 4 + len;
    if (!frame) continue;
    if (!subscribed_) {
      if (json_str(frame.get(), "type") != "bus_subscribe_ok") continue;
      subscribed_ = true;
      backoff_ms_ = 100;
      json_t* seq = json_object_get(frame.get(), "seq");
      if (h_.on_connected) h_.on_connected(json_is_integer(seq) ? uint64_t(json_integer_value(seq)) : 0);
      continue;
    }
    if (h_.on_frame) h_.on_frame(frame.get());
    if (!link_) return;
  }
  link_->consume(off);
}

void Bus::on_closed(const std::string& why) {
  if (link_) log_info("registry bus closed; reconnecting", {{"reason", why}});
  link_.reset();
  subscribed_ = false;
  timeval tv{time_t(backoff_ms_ / 1000), suseconds_t((backoff_ms_ % 1000) * 1000)};
  event_add(retry_ev_.get(), &tv);
  backoff_ms_ = std::min<int64_t>(backoff_ms_ * 2, 2000);
}

}  // namespace rdv::replicator
