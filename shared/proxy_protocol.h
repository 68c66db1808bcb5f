// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the header a front end
// (nginx `proxy_protocol on`, HAProxy `send-proxy`/`send-proxy-v2`) writes before a client's
// bytes, naming the client's real address. Pure: no sockets, so the unit tests and the fuzzer
// run it on bytes.
//
// The registry accepts a header only from the ranges of -proxy-protocol-from, and there only
// as the first bytes of a connection, before TLS and before the PILT/JSON detection
// (worker-registry/server.cc). A header is unambiguous there: "PROX" and "\r\n\r\n" read as a
// JSON length are both far above the 64 MiB frame limit, and a TLS record starts with 0x16.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "cidr.h"

namespace rdv::proxy {

// A v1 header is at most 107 bytes with its CRLF (the specification's bound). A v2 header is
// 16 bytes plus its declared length; we take at most kMaxV2Bytes in all, which leaves room for
// every TLV the common front ends send (authority, unique id, SSL details).
inline constexpr size_t kMaxV1Bytes = 107;
inline constexpr size_t kMaxV2Bytes = 4096;

enum class Status {
  NotProxy,  // the bytes start like neither signature: no header (the connection's own data)
  NeedMore,  // a prefix of a header: read more (the caller bounds the time and the size)
  Header,    // a complete, valid header of `consumed` bytes
  Invalid,   // a header that breaks the specification: `error` says how; close the connection
};

struct Header {
  int version = 0;           // 1 or 2
  bool has_address = false;  // false: LOCAL (v2), UNKNOWN (v1) or an unspecified family: keep
                             // the connection's own addresses (the front end's health checks)
  IpAddr src, dst;
  uint16_t src_port = 0, dst_port = 0;
};

struct Result {
  Status status = Status::NeedMore;
  size_t consumed = 0;  // with Header: the header's length; the client's bytes start there
  Header header;
  std::string error;    // with Invalid
};

// Looks at the first `len` bytes a connection sent.
Result parse(const uint8_t* data, size_t len);

// A v1 or v2 header naming src → dst (both of one family), for tests and the bench.
std::string encode_v1(const IpAddr& src, uint16_t src_port, const IpAddr& dst, uint16_t dst_port);
std::string encode_v2(const IpAddr& src, uint16_t src_port, const IpAddr& dst, uint16_t dst_port,
                      const std::string& tlvs = {});
// A v2 LOCAL header (a front end's own connection, e.g. a health check).
std::string encode_v2_local();

}  // namespace rdv::proxy
