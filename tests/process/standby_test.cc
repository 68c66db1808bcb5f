// A hot standby (-standby <leader host:port>, wire-protocol §2.9 step 3, ops-spec §4.6): it
// serves the read allowlist from its store and refuses every write with
// `standby mode: write operations not accepted (use primary)` — verbatim, not sanitised, so a
// daemon can tell that it reached a standby (docs/protocol-notes.md) — in JSON mode and in
// binary passthrough alike.
//
// Streaming replication is not in this release (the replicator idles), so the standby's store
// here is a copy of the leader's, taken while the leader was stopped.
#include <filesystem>

#include "protocol.h"

namespace rt {
namespace {

constexpr const char* kRefused = "standby mode: write operations not accepted (use primary)";

using Standby = PairTest;

TEST_F(Standby, RefusesWritesVerbatimAndServesReads) {
  std::string err;
  ASSERT_TRUE(leader.start(&err)) << err;
  Daemon d;
  {
    Conn c = leader.connect();
    d = register_daemon(c);
    ASSERT_TRUE(is_ok(do_signed(c, d.key, "set_hostname", "set_hostname", d.id,
                                rdv::JsonPtr(json_pack("{s:s}", "hostname", "on-leader")).get()),
                      "set_hostname_ok"));
  }
  ASSERT_NE(leader.stop(), -1);
  namespace fs = std::filesystem;
  for (const auto& f : fs::directory_iterator(leader.data_dir)) {
    std::string name = f.path().filename();
    if (name == "lock.mdb" || name == "registry.lock") continue;  // per-process state, not data
    fs::copy_file(f.path(), standby.data_dir + "/" + name, fs::copy_options::overwrite_existing);
  }
  leader.new_ports();
  ASSERT_TRUE(leader.start(&err)) << err;
  standby.extra_args = {"-standby", "127.0.0.1:" + std::to_string(leader.registry_port)};
  ASSERT_TRUE(standby.start(&err)) << err;

  Conn c = standby.connect();
  // Writes: refused verbatim, and nothing changes.
  EXPECT_TRUE(is_error(do_register(c, Key::generate()), kRefused));
  EXPECT_TRUE(is_error(do_signed(c, d.key, "set_hostname", "set_hostname", d.id,
                                 rdv::JsonPtr(json_pack("{s:s}", "hostname", "on-standby")).get()),
                       kRefused));
  EXPECT_TRUE(is_error(do_signed(c, d.key, "deregister", "deregister", d.id), kRefused));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s, s:I, s:s}", "type", "create_network", "admin_token",
                                         standby.admin_token.c_str(), "node_id", json_int_t(d.id), "name", "n1")),
                       kRefused));
  // Reads of the allowlist: served from the standby's store.
  rdv::JsonPtr r = do_lookup(c, d.id);
  ASSERT_TRUE(is_ok(r, "lookup_ok"));
  EXPECT_EQ(str(r.get(), "hostname"), "on-leader");
  EXPECT_TRUE(is_ok(do_signed(c, d.key, "heartbeat", "heartbeat", d.id), "heartbeat_ok"));
  EXPECT_TRUE(is_ok(call(c, json_pack("{s:s, s:s, s:I}", "type", "resolve_hostname", "hostname", "on-leader",
                                      "requester_id", json_int_t(d.id))),
                    "resolve_hostname_ok"));
  rdv::JsonPtr list = call(c, json_pack("{s:s, s:i, s:s}", "type", "list_nodes", "network_id", 0, "admin_token",
                                        standby.admin_token.c_str()));
  ASSERT_TRUE(is_ok(list, "list_nodes_ok"));
  EXPECT_EQ(json_array_size(json_object_get(list.get(), "nodes")), 1u);

  // Binary mode: the same gate inside passthrough; native reads served.
  Conn b = standby.connect();
  ASSERT_TRUE(b.send_preamble());
  std::string body = R"({"type":"set_visibility","node_id":)" + std::to_string(d.id) + R"(,"public":true,"signature":")" +
                     d.sign("set_visibility:" + std::to_string(d.id)) + "\"}";
  ASSERT_TRUE(b.send_frame(0x00, body));
  uint8_t t = 0;
  std::string p;
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  ASSERT_EQ(t, 0x00) << binary_error_text(p);
  EXPECT_EQ(p, std::string(R"({"type":"error","error":")") + kRefused + "\"}");
  ASSERT_TRUE(b.send_frame(0x02, be32(d.id)));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x82) << binary_error_text(p);
  EXPECT_EQ(uint8_t(p[4]) & 1, 0) << "the refused set_visibility changed the node";
  ASSERT_TRUE(b.send_frame(0x01, be32(d.id) + d.key.sign_raw("heartbeat:" + std::to_string(d.id))));
  ASSERT_EQ(b.recv_frame(&t, &p), Io::Ok);
  EXPECT_EQ(t, 0x81) << binary_error_text(p);

  // The leader, meanwhile, takes writes.
  Conn lc = leader.connect();
  EXPECT_TRUE(is_ok(do_register(lc, Key::generate()), "register_ok"));
}

}  // namespace
}  // namespace rt
