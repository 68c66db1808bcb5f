// Fuzz target: the PROXY protocol header parser (shared/proxy_protocol.h), v1 and v2.
//
// Input: the first bytes of a connection. Invariants:
//   - consumed ≤ the input, within the version's bound (107 bytes for v1, kMaxV2Bytes for v2);
//   - the verdict is the one a server reading the bytes in pieces reaches: a prefix shorter
//     than a header is NeedMore, a longer one the same header; a prefix of bytes that are not
//     a header is NotProxy or NeedMore, of an invalid header NeedMore or Invalid;
//   - a header naming addresses of one family re-encodes (encode_v1 / encode_v2) to a header
//     that parses to the same addresses and ports.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shared/proxy_protocol.h"

namespace {

using namespace rdv::proxy;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

bool same_ip(const rdv::IpAddr& a, const rdv::IpAddr& b) {
  return a.family == b.family && std::memcmp(a.bytes, b.bytes, a.size()) == 0;
}

bool same_header(const Header& a, const Header& b) {
  if (a.has_address != b.has_address) return false;
  if (!a.has_address) return true;
  return same_ip(a.src, b.src) && same_ip(a.dst, b.dst) && a.src_port == b.src_port && a.dst_port == b.dst_port;
}

void check_prefix(const uint8_t* data, size_t n, const Result& full) {
  Result p = parse(data, n);
  switch (full.status) {
    case Status::Header:
      if (n < full.consumed) {
        check(p.status == Status::NeedMore, "a prefix of a header needs more");
      } else {
        check(p.status == Status::Header && p.consumed == full.consumed, "a header is found in any longer prefix");
        check(p.header.version == full.header.version && same_header(p.header, full.header), "the same header");
      }
      break;
    case Status::NotProxy:
      check(p.status == Status::NotProxy || p.status == Status::NeedMore, "a prefix of non-PROXY bytes");
      break;
    case Status::Invalid:
      check(p.status == Status::Invalid || p.status == Status::NeedMore, "a prefix of an invalid header");
      break;
    case Status::NeedMore:
      check(p.status == Status::NeedMore, "a prefix of an incomplete header");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Result r = parse(data, size);
  check(r.consumed <= size, "consumed within the input");
  if (r.status == Status::Invalid) check(!r.error.empty(), "an invalid header says why");
  if (r.status == Status::Header) {
    check(r.header.version == 1 || r.header.version == 2, "version 1 or 2");
    check(r.consumed <= (r.header.version == 1 ? kMaxV1Bytes : kMaxV2Bytes), "within the version's bound");
    // An IPv4-mapped address is read as IPv4, so a v6 header may name a v4 client and a v6
    // destination (a dual-stack front end); the encoders take one family, so only a header of
    // one family is re-encoded.
    if (r.header.has_address && r.header.src.family == r.header.dst.family) {
      const Header& h = r.header;
      std::string again = h.version == 1 ? encode_v1(h.src, h.src_port, h.dst, h.dst_port)
                                         : encode_v2(h.src, h.src_port, h.dst, h.dst_port);
      Result r2 = parse(reinterpret_cast<const uint8_t*>(again.data()), again.size());
      check(r2.status == Status::Header && r2.consumed == again.size(), "the re-encoded header parses whole");
      check(same_header(r2.header, h), "to the same addresses");
    }
  }
  // Pieces: every length up to 128, then a few further cut points.
  for (size_t n = 0; n < size && n <= 128; n++) check_prefix(data, n, r);
  for (size_t n = 129; n < size; n = n * 3 / 2) check_prefix(data, n, r);
  if (r.status == Status::Header && r.consumed > 0) check_prefix(data, r.consumed - 1, r);
  return 0;
}
