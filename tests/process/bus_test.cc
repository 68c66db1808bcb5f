// The local bus on <run-dir>/registry.sock (worker-registry/control.cc): a subscriber hears
// of every commit with its sequence number, without polling; consumers' acknowledgements are
// stored and hold back change-log trimming; daemons cannot reach any of it.
#include "harness.h"

using namespace rt;

namespace {

class Bus : public ServerTest {
 protected:
  Conn local() {
    int e = 0;
    Conn c = Conn::open_unix(server.run_dir + "/registry.sock", &e);
    EXPECT_TRUE(c.ok()) << "connect registry.sock: " << std::strerror(e);
    return c;
  }
};

TEST_F(Bus, SubscriberHearsEachCommitWithItsSequence) {
  Conn bus = local();
  rdv::JsonPtr ok = bus.request(R"({"type":"bus_subscribe"})");
  ASSERT_TRUE(ok);
  ASSERT_EQ(str(ok.get(), "type"), "bus_subscribe_ok") << dump(ok.get());
  int64_t seq = num(ok.get(), "seq");
  ASSERT_GE(seq, 1);  // the store's init record at least
  EXPECT_GE(num(ok.get(), "epoch"), 1);

  Conn daemon = server.connect();
  for (int i = 0; i < 3; i++) {
    rdv::JsonPtr r = do_register(daemon, Key::generate());
    ASSERT_EQ(str(r.get(), "type"), "register_ok") << dump(r.get());
    // The commit that acknowledged it is announced (a liveness frame may come between).
    int64_t announced = 0;
    for (int frames = 0; frames < 10 && announced <= seq; frames++) {
      std::string body;
      ASSERT_EQ(bus.recv_json(&body, 10000), Io::Ok) << "no commit announced for registration " << i;
      rdv::JsonPtr f = parse_json(body);
      if (str(f.get(), "type") == "commit") announced = num(f.get(), "seq");
      else EXPECT_EQ(str(f.get(), "type"), "liveness") << body;
    }
    EXPECT_GT(announced, seq);
    seq = announced;
  }
}

TEST_F(Bus, AcknowledgementsAreStoredAndNeverGoBack) {
  Conn c = local();
  rdv::JsonPtr r = c.request(R"({"type":"bus_ack","consumer":"standby-a","seq":5})");
  ASSERT_EQ(str(r.get(), "type"), "bus_ack_ok") << dump(r.get());
  EXPECT_EQ(num(r.get(), "seq"), 5);
  r = c.request(R"({"type":"bus_ack","consumer":"standby-a","seq":3})");
  EXPECT_EQ(num(r.get(), "seq"), 5) << "an acknowledgement moved backwards";
  r = c.request(R"({"type":"bus_ack","consumer":"","seq":3})");
  EXPECT_EQ(str(r.get(), "error"), "consumer required") << dump(r.get());
  r = c.request(R"({"type":"bus_ack","consumer":"x","seq":"3"})");
  EXPECT_EQ(str(r.get(), "type"), "error") << dump(r.get());
  r = c.request(R"({"type":"bus_forget","consumer":"standby-a"})");
  EXPECT_EQ(str(r.get(), "type"), "bus_forget_ok") << dump(r.get());
  // Survives a restart: acknowledge again, restart, and the stored value is still the floor.
  r = c.request(R"({"type":"bus_ack","consumer":"standby-b","seq":9})");
  ASSERT_EQ(num(r.get(), "seq"), 9);
  c.close();
  ASSERT_NE(server.stop(), -1);
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn again = local();
  r = again.request(R"({"type":"bus_ack","consumer":"standby-b","seq":1})");
  EXPECT_EQ(num(r.get(), "seq"), 9) << dump(r.get());
}

TEST_F(Bus, DaemonsCannotReachLocalMessages) {
  Conn daemon = server.connect();
  for (const char* body : {R"({"type":"bus_subscribe"})", R"({"type":"bus_ack","consumer":"x","seq":1})",
                           R"({"type":"status"})"}) {
    rdv::JsonPtr r = daemon.request(body);
    ASSERT_TRUE(r) << body;
    EXPECT_EQ(str(r.get(), "type"), "error") << body;
    EXPECT_EQ(str(r.get(), "error"), "request failed") << body;  // the unknown-type error, sanitised
  }
}

}  // namespace
