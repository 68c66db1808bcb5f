// Blocking loopback I/O of the bench's setup and probe clients (memory, events, soak): a TCP
// connection with a receive timeout, a whole write, and one JSON frame read. The measured load
// itself goes through loadgen.h.
#pragma once

#include <cstdint>
#include <string>

namespace rdv::bench {

// A blocking TCP connection to 127.0.0.1:port whose reads time out after `recv_timeout_s`;
// -1 on failure.
int connect_loopback(uint16_t port, int recv_timeout_s = 10);
bool send_all(int fd, const std::string& data);
// One JSON frame into *body, buffering what follows it in `buf`; false on EOF or timeout.
bool recv_frame(int fd, std::string& buf, std::string* body);

}  // namespace rdv::bench
