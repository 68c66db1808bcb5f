#include "worker-admin/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <exception>

#include "shared/log.h"
#include "shared/util.h"
#include "worker-admin/listener_adoption.h"

namespace rdv::admin {

namespace {

// CivetWeb binds this throwaway socket; on_init_context replaces it with our listener. Port 0
// lets the kernel pick a free port, which CivetWeb 1.15 accepts.
constexpr const char* kThrowawayListener = "127.0.0.1:0";

constexpr unsigned kFeatureIpv6 = 8;  // mg_check_feature bit: built with USE_IPV6

// Reads the request body, at most `limit` bytes; *too_large when the client announced or sent
// more (the rest is left unread and CivetWeb closes the connection instead of reusing it).
void read_body(mg_connection* conn, const mg_request_info* info, size_t limit, std::string* body, bool* too_large) {
  if (info->content_length > 0 && uint64_t(info->content_length) > limit) {
    *too_large = true;
    return;
  }
  char buf[8192];
  while (true) {
    int n = mg_read(conn, buf, sizeof buf);
    if (n <= 0) return;
    if (body->size() + size_t(n) > limit) {
      *too_large = true;
      return;
    }
    body->append(buf, size_t(n));
  }
}

void send_response(mg_connection* conn, bool head, const Response& r) {
  mg_response_header_start(conn, r.status);
  if (!r.content_type.empty()) mg_response_header_add(conn, "Content-Type", r.content_type.c_str(), -1);
  for (const auto& [name, value] : r.headers) mg_response_header_add(conn, name.c_str(), value.c_str(), -1);
  if (r.stream) {
    // No length: the stream ends when the connection closes.
    mg_response_header_add(conn, "Connection", "close", -1);
    mg_response_header_send(conn);
    if (head) return;
    r.stream([conn](std::string_view chunk) { return mg_write(conn, chunk.data(), chunk.size()) > 0; });
    return;
  }
  // An explicit length keeps the connection reusable (keep-alive).
  mg_response_header_add(conn, "Content-Length", std::to_string(r.body.size()).c_str(), -1);
  mg_response_header_send(conn);
  if (!head && !r.body.empty() && mg_write(conn, r.body.data(), r.body.size()) < 0)
    log_debug("http: client went away before the response was written");
}

}  // namespace

bool HttpServer::start(int listener_fd, const AdminContext* admin, std::string* error) {
  int family = 0;
  if (!check_inherited_listener(listener_fd, &family, error)) return false;
  if (family == AF_INET6 && !(mg_check_feature(kFeatureIpv6) & kFeatureIpv6)) {
    // Debian's CivetWeb 1.15 is built without USE_IPV6: accept() truncates the peer's
    // sockaddr_in6 into an IPv4-sized buffer and remote_addr comes out "" — for IPv4 clients
    // of a dual-stack socket (":3000") too. The loopback check then refuses every peer, so
    // localhost-only routes fail closed; say so once instead of leaving operators puzzled.
    log_warn("http: CivetWeb is built without IPv6 but the listener is IPv6 (or dual-stack); peers have "
             "no address, so /metrics and /api/nodes answer 403 to everyone. Bind -http to an IPv4 "
             "address (e.g. 0.0.0.0:3000) to use them.");
  }

  state_ = std::make_unique<CallbackState>();
  state_->admin = admin;
  state_->listener_fd = listener_fd;
  if (!list_open_fds(&state_->fds_before_start, error)) return false;

  mg_init_library(0);
  library_initialised_ = true;

  mg_callbacks callbacks{};
  callbacks.init_context = &HttpServer::on_init_context;
  callbacks.begin_request = &HttpServer::on_begin_request;
  callbacks.log_message = &HttpServer::on_log_message;
  const std::string threads = std::to_string(admin->config->get()->http_threads);
  const char* options[] = {
      "listening_ports", kThrowawayListener,
      // One thread per open connection (CivetWeb's model): sized in the config so that the
      // capped dashboard streams always leave threads for probes and scrapes.
      "num_threads", threads.c_str(),
      "request_timeout_ms", "10000",  // ops-spec §5.1 REC: bound slow clients
      "enable_keep_alive", "yes",
      "keep_alive_timeout_ms", "5000",
      // Headers and body leave in two writes; without TCP_NODELAY, Nagle holds the body back
      // until the client's delayed ACK, adding ~40 ms to every keep-alive request.
      "tcp_nodelay", "1",
      nullptr,
  };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = state_.get();
  init.configuration_options = options;
  char why[256] = "";
  unsigned code = 0;
  mg_error_data err{};
  err.code = &code;
  err.text = why;
  err.text_buffer_size = sizeof why;
  context_.reset(mg_start2(&init, &err));
  if (!context_) {
    *error = std::string("mg_start2 failed: ") + (why[0] ? why : "unknown error");
    stop();
    return false;
  }
  if (state_->adopted_fd < 0) {
    *error = "listener fd " + std::to_string(listener_fd) + ": cannot hand it to CivetWeb: " +
             state_->adopt_error;
    stop();
    return false;
  }
  log_debug("http: serving the inherited listener", {{"fd", std::to_string(listener_fd)},
                                                     {"civetweb_fd", std::to_string(state_->adopted_fd)}});
  return true;
}

namespace {
// CivetWeb's master thread notices mg_stop only when its poll() on the listener returns, which
// otherwise takes up to its 2 s poll quantum. A connection to our own listener wakes it at
// once; the connection is closed straight away, so whoever accepts it next reads EOF.
void wake_listener(int listener_fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(listener_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || ss.ss_family != AF_INET) return;
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    log_debug(sys_error("socket() failed while waking the HTTP listener"));
    return;
  }
  // Non-blocking: EINPROGRESS is the normal answer, and the SYN alone wakes CivetWeb's poll.
  // Any other failure only means the waker tries again in 20 ms.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(in), sizeof *in) != 0 && errno != EINPROGRESS)
    log_debug(sys_error("connect() failed while waking the HTTP listener"));
}
}  // namespace

void HttpServer::stop() {
  // mg_stop joins every CivetWeb thread and closes CivetWeb's listener fd — our dup2 copy.
  // The inherited fd and the supervisor's socket stay open, so connections keep queueing in
  // the backlog for the next admin worker.
  if (context_ && state_) {
    std::atomic<bool> stopped{false};
    int fd = state_->listener_fd;
    std::thread waker([&] {
      while (!stopped.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!stopped.load()) wake_listener(fd);
      }
    });
    context_.reset();
    stopped.store(true);
    waker.join();
  }
  context_.reset();
  if (library_initialised_) {
    mg_exit_library();
    library_initialised_ = false;
  }
  state_.reset();
}

// Called by CivetWeb 1.15 inside mg_start2, after its listening sockets are bound and before
// its master and worker threads start; so nothing polls the throwaway socket yet and the
// dup2 below cannot race with CivetWeb.
void HttpServer::on_init_context(const mg_context* ctx) {
  auto* state = static_cast<CallbackState*>(mg_get_user_data(ctx));
  mg_server_port ports[2]{};
  int n = mg_get_server_ports(ctx, 2, ports);
  if (n != 1) {
    state->adopt_error = "expected one CivetWeb listener, found " + std::to_string(n);
    return;
  }
  state->adopted_fd = adopt_listener(state->fds_before_start, state->listener_fd, ports[0].port,
                                     &state->adopt_error);
}

int HttpServer::on_begin_request(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  auto* state = static_cast<CallbackState*>(info->user_data);
  Request req;
  req.method = info->request_method ? info->request_method : "";
  // local_uri is decoded and normalised; it is null for a request aimed at another host.
  req.path = info->local_uri ? info->local_uri : "";
  req.remote_addr = info->remote_addr;  // from accept(), i.e. the real TCP peer
  req.query = info->query_string ? info->query_string : "";
  for (int i = 0; i < info->num_headers; i++)
    req.headers.emplace_back(info->http_headers[i].name ? info->http_headers[i].name : "",
                             info->http_headers[i].value ? info->http_headers[i].value : "");
  std::string body;
  if (const Route* route = find_route(req.path); route && route->max_body > 0)
    read_body(conn, info, route->max_body, &body, &req.body_too_large);
  req.body = body;

  Response response;
  try {
    response = dispatch(*state->admin, req);
  } catch (const std::exception& e) {
    log_error("http: handler failed", {{"path", req.path}, {"error", e.what()}});
    response = text_error(500, "Internal Server Error");
  }
  send_response(conn, req.method == "HEAD", response);
  if (log_enabled(LogLevel::Debug))
    log_debug("http request", {{"method", req.method},
                               {"path", req.path},
                               {"status", std::to_string(response.status)},
                               {"remote", req.remote_addr}});
  return response.status;  // non-zero: handled, CivetWeb sends nothing more
}

int HttpServer::on_log_message(const mg_connection*, const char* message) {
  std::string_view text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  log_warn("civetweb", {{"error", text}});
  return 1;  // handled: CivetWeb writes nothing to stderr itself
}

}  // namespace rdv::admin
