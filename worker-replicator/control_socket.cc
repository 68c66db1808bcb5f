#include "control_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ipc.h"
#include "json.h"
#include "log.h"
#include "replicator.h"
#include "wire.h"

namespace rdv::replicator {

namespace {
constexpr size_t kMaxRequest = 1u << 20;
constexpr size_t kMaxClients = 64;
}  // namespace

struct ControlSocket::Client {
  ControlSocket* owner = nullptr;
  uint64_t id = 0;
  UniqueFd fd;
  EventPtr ev;
  std::string in;
  int passed_fd = -1;  // a descriptor that came with the bytes in `in`
  ~Client() {
    if (passed_fd >= 0) ::close(passed_fd);
  }
};

ControlSocket::ControlSocket(event_base* base, Replicator& r, const std::string& path)
    : base_(base), r_(r), path_(path) {
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (!listen_fd_ || path.size() >= sizeof sa.sun_path)
    ipc::WorkerControl::fatal("cannot create the replicator socket " + path + ": " + sys_error("socket"));
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());  // a stale socket from a previous (crashed) replicator
  mode_t old = ::umask(0077);
  int rc = ::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::listen(listen_fd_.get(), 64) != 0) ipc::WorkerControl::fatal(path + ": " + sys_error("bind/listen"));
  accept_ev_.reset(event_new(base_, listen_fd_.get(), EV_READ | EV_PERSIST, on_accept, this));
  event_add(accept_ev_.get(), nullptr);
}

ControlSocket::~ControlSocket() { ::unlink(path_.c_str()); }

void ControlSocket::on_accept(evutil_socket_t fd, short, void* arg) {
  auto* self = static_cast<ControlSocket*>(arg);
  for (;;) {
    UniqueFd c(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!c) return;
    if (self->clients_.size() >= kMaxClients) continue;  // closed: the caller retries
    auto client = std::make_unique<Client>();
    client->owner = self;
    client->id = self->next_id_++;
    client->fd = std::move(c);
    client->ev.reset(event_new(self->base_, client->fd.get(), EV_READ | EV_PERSIST, on_readable, client.get()));
    event_add(client->ev.get(), nullptr);
    self->clients_.push_back(std::move(client));
  }
}

void ControlSocket::on_readable(evutil_socket_t, short, void* arg) {
  auto* c = static_cast<Client*>(arg);
  ControlSocket* self = c->owner;
  std::string chunk;
  int fd = -1;
  ssize_t n = ipc::recv_with_fd(c->fd.get(), &chunk, 65536, &fd);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    self->close(c);
    return;
  }
  if (fd >= 0) {
    if (c->passed_fd >= 0) ::close(c->passed_fd);
    c->passed_fd = fd;
  }
  c->in += chunk;
  while (c->in.size() >= 4) {
    uint32_t len = wire::load_be32(reinterpret_cast<const uint8_t*>(c->in.data()));
    if (len > kMaxRequest) {
      log_warn("replicator socket: request too large; closing");
      self->close(c);
      return;
    }
    if (c->in.size() < 4 + size_t(len)) return;
    std::string body = c->in.substr(4, len);
    c->in.erase(0, 4 + len);
    int passed = c->passed_fd;
    c->passed_fd = -1;
    self->handle(*c, body, passed);
  }
}

void ControlSocket::close(Client* c) {
  auto it = std::find_if(clients_.begin(), clients_.end(), [c](const auto& p) { return p.get() == c; });
  if (it != clients_.end()) clients_.erase(it);
}

void ControlSocket::reply(uint64_t client_id, const std::string& body) {
  for (auto& c : clients_) {
    if (c->id != client_id) continue;
    std::string out;
    wire::append_json_frame(out, body);
    // Replies are small and the caller waits for them: a short blocking-ish send.
    (void)!::send(c->fd.get(), out.data(), out.size(), MSG_NOSIGNAL);
    return;
  }
}

void ControlSocket::handle(Client& c, const std::string& body, int fd) {
  json_error_t err;
  JsonPtr msg(json_loadb(body.data(), body.size(), 0, &err));
  std::string_view type = msg ? json_str(msg.get(), "type") : std::string_view();
  if (type == "handoff") {
    if (fd < 0) {
      log_warn("handoff without a descriptor ignored");
      return;
    }
    r_.handoff(fd, msg.get());
    return;
  }
  if (fd >= 0) ::close(fd);
  uint64_t id = c.id;
  auto answer = [this, id](JsonPtr j) { reply(id, json_dump_compact(j.get())); };
  if (type == "status") {
    answer(r_.status());
  } else if (type == "promote") {
    r_.promote(std::string(json_str(msg.get(), "by")), answer);
  } else if (type == "demote") {
    r_.demote(std::string(json_str(msg.get(), "leader")), std::string(json_str(msg.get(), "by")), answer);
  } else {
    answer(JsonPtr(json_pack("{s:s,s:s}", "type", "error", "error", msg ? "unknown request type" : "malformed request")));
  }
}

}  // namespace rdv::replicator
