// Making CivetWeb serve the listening socket the supervisor handed us (fd 4).
//
// Why: the supervisor owns the admin listener so that, while this worker restarts, new
// connections wait in the kernel backlog instead of being refused. CivetWeb 1.15 has no API to
// adopt an existing listening fd; it always creates and binds its own. So we let it bind a
// throwaway socket on 127.0.0.1:0, and before its master thread first polls, we dup2() our
// inherited socket over the fd number CivetWeb stored. From then on CivetWeb accepts from the
// supervisor's socket without knowing it. The throwaway socket is closed by that dup2.
//
// All of this runs single-threaded (before and inside CivetWeb's init_context callback, which
// 1.15 calls after binding its listeners and before starting any thread).
#pragma once

#include <string>
#include <vector>

namespace rdv::admin {

// Checks that `fd` is a listening SOCK_STREAM socket of family AF_INET or AF_INET6 and marks
// it close-on-exec. Sets *family. Returns false with *error naming the fd and the reason.
bool check_inherited_listener(int fd, int* family, std::string* error);

// The open fds of this process, sorted ascending (read from /proc/self/fd).
bool list_open_fds(std::vector<int>* out, std::string* error);

// Finds the single listening socket that is open now but was not in `before` (and is not
// `inherited_fd`) and is bound to `port`, then dup2()s `inherited_fd` over it and restores
// FD_CLOEXEC (dup2 clears it). Returns the fd number taken over, or -1 with *error.
int adopt_listener(const std::vector<int>& before, int inherited_fd, int port, std::string* error);

}  // namespace rdv::admin
