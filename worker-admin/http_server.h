// CivetWeb glue: starts the server on the supervisor's listener, turns each request into a
// Request for dispatch() (routes.h) and writes the Response back.
//
// Thread rules: start() and stop() from the main thread; the request callbacks run on
// CivetWeb's worker threads (num_threads of them) and only touch the AdminContext.
#pragma once

#include <civetweb.h>

#include <memory>
#include <string>
#include <vector>

#include "worker-admin/routes.h"

namespace rdv::admin {

class HttpServer {
 public:
  HttpServer() = default;
  ~HttpServer() { stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts CivetWeb serving `listener_fd` (a listening TCP socket we inherited). `admin` must
  // outlive the server (stop() before destroying it). Returns false with *error naming the fd
  // or the call and why; nothing is left running then.
  bool start(int listener_fd, const AdminContext* admin, std::string* error);

  // Stops accepting, waits for requests in flight to finish and closes CivetWeb's copy of
  // the listener (the inherited fd stays open). Idempotent.
  void stop();

 private:
  // What the CivetWeb callbacks see through the context's user data. Heap-allocated so its
  // address stays fixed while CivetWeb holds it.
  struct CallbackState {
    const AdminContext* admin = nullptr;
    int listener_fd = -1;
    std::vector<int> fds_before_start;  // for finding the socket CivetWeb opens
    int adopted_fd = -1;                // the fd number now pointing at our listener
    std::string adopt_error;
  };

  struct ContextStopper {
    void operator()(mg_context* ctx) const { mg_stop(ctx); }
  };

  static void on_init_context(const mg_context* ctx);
  static int on_begin_request(mg_connection* conn);
  static int on_log_message(const mg_connection* conn, const char* message);

  std::unique_ptr<CallbackState> state_;
  std::unique_ptr<mg_context, ContextStopper> context_;  // declared last: stopped first
  bool library_initialised_ = false;
};

}  // namespace rdv::admin
