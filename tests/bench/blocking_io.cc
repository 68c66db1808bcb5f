// Blocking loopback I/O for the bench's setup clients (blocking_io.h).
#include "tests/bench/blocking_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "shared/wire.h"

namespace rdv::bench {

int connect_loopback(uint16_t port, int recv_timeout_s) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{recv_timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += size_t(n);
  }
  return true;
}

bool recv_frame(int fd, std::string& buf, std::string* body) {
  for (;;) {
    if (buf.size() >= 4) {
      uint32_t n = wire::load_be32(reinterpret_cast<const uint8_t*>(buf.data()));
      if (buf.size() >= 4 + size_t(n)) {
        body->assign(buf, 4, n);
        buf.erase(0, 4 + size_t(n));
        return true;
      }
    }
    char tmp[65536];
    ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf.append(tmp, size_t(r));
  }
}

}  // namespace rdv::bench
