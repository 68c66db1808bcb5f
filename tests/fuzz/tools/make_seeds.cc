// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/) from the project's
// own encoders: real frames, real change records, real replication frames, requests signed by
// the fixture's seeded node keys. Run by `make fuzz-seeds`; its output is committed, so a
// change of a format shows up as a change of the seeds.
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "shared/cidr.h"
#include "shared/crypto.h"
#include "shared/proxy_protocol.h"
#include "shared/replication.h"
#include "shared/store.h"
#include "shared/wire.h"
#include "tests/fuzz/registry_fixture.h"
#include "worker-registry/message_table.h"

namespace {

using rdv::fuzz::SeededKey;
using rdv::fuzz::kAdminToken;

std::string g_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  std::string dir = g_root + "/" + target;
  mkdir(g_root.c_str(), 0755);
  mkdir(dir.c_str(), 0755);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::string raw_sig(const SeededKey& k, const std::string& msg) {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), k.sk);
  return std::string(reinterpret_cast<char*>(sig), sizeof sig);
}

std::string be32(uint32_t v) {
  std::string s;
  rdv::wire::put_be32(s, v);
  return s;
}

std::string signed_node(const std::string& type, uint32_t id, const std::string& extra = "") {
  return "{\"type\":\"" + type + "\",\"node_id\":" + std::to_string(id) + ",\"signature\":\"" +
         SeededKey(uint8_t(id)).sign(rdv::challenge_node(type, id)) + "\"" + extra + "}";
}

std::vector<std::string> requests() {
  std::vector<std::string> out;
  SeededKey fresh(4);
  std::string listen = rdv::fuzz::kListen;
  out.push_back(R"({"type":"register","listen_addr":")" + listen + R"(","public_key":")" + fresh.pub() +
                R"(","signature":")" + fresh.sign(rdv::challenge_register(listen, fresh.pub())) +
                R"(","hostname":"node-four","tags":["a","b"],"lan_addrs":["10.0.0.4:4000"]})");
  out.push_back(signed_node("heartbeat", 1));
  out.push_back(signed_node("deregister", 3));
  out.push_back(signed_node("set_hostname", 2, R"(,"hostname":"node-two")"));
  out.push_back(signed_node("set_visibility", 1, R"(,"public":true)"));
  out.push_back(signed_node("set_tags", 1, R"(,"tags":["web","eu"])"));
  out.push_back(R"({"type":"resolve","node_id":2,"requester_id":1,"signature":")" +
                SeededKey(1).sign(rdv::challenge_pair("resolve", 1, 2)) + "\"}");
  out.push_back(R"({"type":"lookup","node_id":1})");
  out.push_back(R"({"type":"list_nodes","network_id":0})");
  out.push_back(std::string(R"({"type":"create_network","node_id":1,"name":"fuzz-net","join_rule":"open","admin_token":")") +
                kAdminToken + "\"}");
  out.push_back(R"({"type":"lookup","node_id":1.5e0,"x":[1,{"y":null}],"s":"\u00e9\ud83d\ude00\n"})");
  out.push_back("null");
  out.push_back("{}");
  // Every message in the table once, with the fields most of them read.
  for (const rdv::registry::MessageDesc* d : rdv::registry::all_messages())
    out.push_back("{\"type\":\"" + std::string(d->type) +
                  "\",\"node_id\":1,\"requester_id\":2,\"network_id\":1,\"target_id\":2,\"name\":\"n\",\"admin_token\":\"" +
                  kAdminToken + "\"}");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  if (!rdv::crypto_init()) return 1;
  std::vector<std::string> reqs = requests();

  // request_dispatch: the bodies.
  for (size_t i = 0; i < reqs.size(); i++) put("request_dispatch", "req-" + std::to_string(i), reqs[i]);

  // frame_decoder: [options][4 chunk-seed bytes][stream].
  {
    std::string json;
    for (size_t i = 0; i < 4 && i < reqs.size(); i++) rdv::wire::append_json_frame(json, reqs[i]);
    put("frame_decoder", "json-stream", std::string("\x0e\x12\x34\x56\x78", 5) + json);
    put("frame_decoder", "json-small-cap", std::string("\x08\x01\x02\x03\x04", 5) + json);
    std::string bin;
    rdv::wire::append_binary_frame(bin, rdv::wire::kHeartbeat, be32(1) + raw_sig(SeededKey(1), "heartbeat:1"));
    rdv::wire::append_binary_frame(bin, rdv::wire::kLookup, be32(2));
    rdv::wire::append_binary_frame(bin, rdv::wire::kPassthrough, reqs[7]);
    rdv::wire::append_binary_error(bin, "node 7: not found");
    put("frame_decoder", "binary-stream", std::string("\x0f\x9a\xbc\xde\xf0", 5) + bin);
    put("frame_decoder", "binary-explicit-preamble", std::string("\x0e\x01\x01\x01\x01PILT\x01", 10) + bin);
    put("frame_decoder", "bad-version", std::string("\x0e\x01\x01\x01\x01PILT\x02", 10));
    put("frame_decoder", "zero-binary-frame", std::string("\x0f\x01\x01\x01\x01\x00\x00\x00\x00", 9));
    put("frame_decoder", "oversize", std::string("\x0e\x01\x01\x01\x01\xff\xff\xff\xff", 9));
    put("frame_decoder", "partial", std::string("\x0e\x01\x01\x01\x01\x00\x00\x00\x10{\"type\"", 16));
  }

  // binary_codec: [type][payload].
  {
    put("binary_codec", "heartbeat", "\x01" + be32(1) + raw_sig(SeededKey(1), "heartbeat:1"));
    put("binary_codec", "heartbeat-bad-sig", "\x01" + be32(2) + raw_sig(SeededKey(1), "heartbeat:2"));
    put("binary_codec", "heartbeat-short", "\x01" + be32(1));
    put("binary_codec", "lookup", "\x02" + be32(1));
    put("binary_codec", "lookup-missing", "\x02" + be32(99));
    put("binary_codec", "resolve", "\x03" + be32(2) + be32(1) + raw_sig(SeededKey(1), rdv::challenge_pair("resolve", 1, 2)));
    put("binary_codec", "resolve-unsigned", "\x03" + be32(2) + be32(1) + std::string(64, '\0'));
    put("binary_codec", "passthrough-lookup", std::string(1, '\0') + reqs[7]);
    put("binary_codec", "passthrough-heartbeat", std::string(1, '\0') + reqs[1]);
    put("binary_codec", "unknown-opcode", "\x07" + be32(1));
  }

  // change_record: [0][record as stored] and [1][record without its CRC].
  {
    rdv::ChangeRecord r;
    r.seq = 42;
    r.epoch = 3;
    r.type = rdv::ChangeType::Register;
    r.ops.push_back({true, rdv::Db::Nodes, be32(7), "node-record-bytes"});
    r.ops.push_back({true, rdv::Db::Meta, "next_node_id", be32(8)});
    std::string rec = rdv::encode_change(r);
    put("change_record", "register", std::string(1, '\0') + rec);
    put("change_record", "register-body", std::string(1, '\1') + rec.substr(0, rec.size() - 4));
    rdv::ChangeRecord d;
    d.seq = 43;
    d.epoch = 3;
    d.type = rdv::ChangeType::Reap;
    d.ops.push_back({false, rdv::Db::Nodes, be32(7), ""});
    std::string del = rdv::encode_change(d);
    put("change_record", "reap-delete", std::string(1, '\0') + del);
    put("change_record", "reap-delete-body", std::string(1, '\1') + del.substr(0, del.size() - 4));
    put("change_record", "v1", std::string("\0\1", 2) + rec.substr(1));
  }

  // replication_stream: [0][stream] and [1][pieces: kind, u16 len, payload].
  {
    using namespace rdv::repl;
    rdv::ChangeRecord r;
    r.seq = 1;
    r.epoch = 1;
    r.type = rdv::ChangeType::Register;
    r.ops.push_back({true, rdv::Db::Nodes, be32(1), "n"});
    RecordsBuilder b;
    b.add(rdv::encode_change(r));
    r.seq = 2;
    b.add(rdv::encode_change(r));
    std::vector<std::pair<Kind, std::string>> frames = {
        {Kind::Records, b.take()},
        {Kind::Liveness, encode_liveness({{1, 1700000000000000000}, {2, 1700000001000000000}})},
        {Kind::Heartbeat, encode_heartbeat({2, 1, 1700000000000000000})},
        {Kind::CopyChunk, encode_copy_chunk(0, "lmdb-copy-bytes")},
        {Kind::CopyEnd, encode_copy_end(15, 0x12345678)},
        {Kind::Error, "standby is ahead of the leader"},
        {Kind::Ack, encode_ack(2)},
        {Kind::StandbyBeat, encode_standby_beat({2, 1700000000000000000})},
    };
    std::string stream, pieces;
    for (auto& [kind, payload] : frames) {
      append_frame(stream, kind, payload);
      pieces += char(kind);
      rdv::wire::put_be16(pieces, uint16_t(payload.size()));
      pieces += payload;
      std::string one;
      append_frame(one, kind, payload);
      put("replication_stream", std::string("frame-") + kind_name(kind), std::string(1, '\0') + one);
    }
    put("replication_stream", "stream", std::string(1, '\0') + stream);
    put("replication_stream", "pieces", std::string(1, '\1') + pieces);
  }

  // admin_router: method, path, query, peer, headers, blank line, body.
  {
    std::string tok = std::string("X-Admin-Token: ") + kAdminToken + "\n";
    auto req = [](const std::string& m, const std::string& p, const std::string& q, const std::string& peer,
                  const std::string& headers, const std::string& body) {
      return m + "\n" + p + "\n" + q + "\n" + peer + "\n" + headers + "\n" + body;
    };
    int i = 0;
    auto add = [&](const std::string& s) { put("admin_router", "req-" + std::to_string(i++), s); };
    add(req("GET", "/healthz", "", "203.0.113.9", "", ""));
    add(req("GET", "/readyz", "", "127.0.0.1", "", ""));
    add(req("GET", "/metrics", "", "127.0.0.1", "", ""));
    add(req("GET", "/api/nodes", "", "::1", "", ""));
    add(req("GET", "/api/stats", "", "127.0.0.1", tok, ""));
    add(req("GET", "/api/public-stats", "", "203.0.113.9", "", ""));
    add(req("GET", "/api/admin/networks", std::string("admin_token=") + kAdminToken, "127.0.0.1", "", ""));
    add(req("GET", "/api/admin/networks/1/members", "", "127.0.0.1", tok, ""));
    add(req("PUT", "/api/admin/networks/1/members/2/role", "", "127.0.0.1", tok, R"({"role":"admin"})"));
    add(req("DELETE", "/api/admin/networks/1/members/2", "", "127.0.0.1", tok, ""));
    add(req("POST", "/api/banner", "", "127.0.0.1", tok, R"({"message":"maintenance at 02:00"})"));
    add(req("GET", "/api/breakers", "", "127.0.0.1", tok, ""));
    add(req("PUT", "/api/breakers/registry.register", "", "127.0.0.1", tok, R"({"open":true,"reason":"x"})"));
    add(req("GET", "/api/admin/pending", "limit=10", "127.0.0.1", tok, ""));
    add(req("POST", "/api/admin/pending/5/approve", "", "127.0.0.1", tok, ""));
    add(req("POST", "/api/admin/promote", "", "127.0.0.1", tok, R"({"reason":"leader host died"})"));
    add(req("GET", "/api/admin/replication-status", "", "127.0.0.1", tok, ""));
    add(req("PUT", "/api/admin/runtime/log-level", "", "127.0.0.1", tok, R"({"level":"error"})"));
    add(req("POST", "/api/v1/verify", "", "203.0.113.9", "Content-Type: application/json\n",
            R"({"node_id":1,"message":"aGVsbG8=","signature":"AAAA"})"));
    add(req("GET", "/api/v1/verify/keys", "node_id=1", "203.0.113.9", "", ""));
    add(req("GET", "/api/admin/audit/recent", "limit=5&type=register", "127.0.0.1", tok, ""));
    add(req("POST", "/api/admin/whitelist", "", "127.0.0.1", tok, R"({"cidrs":["10.0.0.0/8"]})"));
    add(req("GET", "/api/admin/backups", "", "127.0.0.1", tok, ""));
    add(req("GET", "/api/pulse", "", "127.0.0.1", tok, ""));
    add(req("GET", "/dashboard/", "", "127.0.0.1", "", ""));
    add(req("POST", "/healthz", "", "127.0.0.1", "", ""));
  }
  // proxy_header: headers as nginx and HAProxy send them, each followed by the client's first bytes.
  {
    rdv::IpAddr a4, b4, a6, b6;
    rdv::parse_ip("203.0.113.7", &a4);
    rdv::parse_ip("10.0.0.5", &b4);
    rdv::parse_ip("2001:db8::7", &a6);
    rdv::parse_ip("2001:db8::1:5", &b6);
    std::string frame;
    rdv::wire::append_json_frame(frame, reqs[7]);
    put("proxy_header", "v1-tcp4", rdv::proxy::encode_v1(a4, 40000, b4, 9000) + frame);
    put("proxy_header", "v1-tcp6", rdv::proxy::encode_v1(a6, 40000, b6, 9000) + "PILT\x01");
    put("proxy_header", "v1-unknown", "PROXY UNKNOWN\r\n" + frame);
    put("proxy_header", "v1-unknown-with-addresses", "PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n");
    put("proxy_header", "v2-ipv4", rdv::proxy::encode_v2(a4, 40000, b4, 9000) + frame);
    put("proxy_header", "v2-ipv6", rdv::proxy::encode_v2(a6, 40000, b6, 9000) + "PILT\x01");
    put("proxy_header", "v2-local", rdv::proxy::encode_v2_local() + frame);
    // TLVs: PP2_TYPE_AUTHORITY (0x02) "registry.example", PP2_TYPE_UNIQUE_ID (0x05).
    std::string tlvs = std::string("\x02\x00\x10", 3) + "registry.example" + std::string("\x05\x00\x04", 3) + "abcd";
    put("proxy_header", "v2-tlvs", rdv::proxy::encode_v2(a4, 40000, b4, 9000, tlvs) + frame);
    put("proxy_header", "v1-truncated", "PROXY TCP4 203.0.113.7 10.0.0.5 40000");
    put("proxy_header", "not-proxy", frame);
    put("proxy_header", "tls-hello", std::string("\x16\x03\x01\x00\x05hello", 10));
  }
  return 0;
}
