// list_nodes of a directory larger than one turn (worker-registry/directory.cc writes 1 000
// entries per pass and goes on in the next): the reply is still one complete, well-formed
// frame with every node exactly once, in id order, and the requests behind it on the same
// connection are answered after it, in order.
#include <set>

#include "harness.h"

using namespace rt;

namespace {

class ListNodes : public ServerTest {};


TEST_F(ListNodes, AListingOfManyTurnsIsOneCompleteReplyInOrder) {
  Conn c = server.connect();
  ASSERT_TRUE(c.ok());
  constexpr int kNodes = 2600;  // three turns
  std::string batch;
  for (int i = 0; i < kNodes; i++) {
    Key k = Key::generate();
    batch += json_frame(R"({"type":"register","public_key":")" + k.pub_b64() + R"(","hostname":"list-)" +
                   std::to_string(i) + R"("})");
  }
  ASSERT_TRUE(c.send_all(batch));
  for (int i = 0; i < kNodes; i++) {
    std::string body;
    ASSERT_EQ(c.recv_json(&body, 10000), Io::Ok) << "register reply " << i;
    rdv::JsonPtr j = parse_json(body);
    ASSERT_EQ(str(j.get(), "type"), "register_ok") << body;
  }

  // The listing, then a lookup pipelined behind it on the same connection.
  std::string list = R"({"type":"list_nodes","network_id":0,"admin_token":")" + server.admin_token + R"("})";
  ASSERT_TRUE(c.send_all(json_frame(list) + json_frame(R"({"type":"lookup","node_id":7})")));
  Conn other = server.connect();  // meanwhile another connection is served
  rdv::JsonPtr o = other.request(R"({"type":"lookup","node_id":1})", nullptr, 10000);
  ASSERT_TRUE(o);
  EXPECT_EQ(str(o.get(), "type"), "lookup_ok");

  std::string body;
  ASSERT_EQ(c.recv_json(&body, 20000), Io::Ok);
  rdv::JsonPtr j = parse_json(body);
  ASSERT_TRUE(j) << "the listing is not valid JSON (" << body.size() << " bytes)";
  ASSERT_EQ(str(j.get(), "type"), "list_nodes_ok") << body.substr(0, 200);
  json_t* nodes = json_object_get(j.get(), "nodes");
  ASSERT_TRUE(json_is_array(nodes));
  ASSERT_EQ(json_array_size(nodes), size_t(kNodes));
  std::set<int64_t> seen;
  int64_t prev = 0;
  for (size_t i = 0; i < json_array_size(nodes); i++) {
    json_t* n = json_array_get(nodes, i);
    int64_t id = num(n, "node_id");
    EXPECT_GT(id, prev) << "not in id order at " << i;
    prev = id;
    seen.insert(id);
    EXPECT_EQ(str(n, "hostname"), "list-" + std::to_string(id - 1));
    EXPECT_FALSE(str(n, "last_seen").empty());
  }
  EXPECT_EQ(seen.size(), size_t(kNodes));

  ASSERT_EQ(c.recv_json(&body, 10000), Io::Ok);
  rdv::JsonPtr l = parse_json(body);
  EXPECT_EQ(str(l.get(), "type"), "lookup_ok") << body;
  EXPECT_EQ(num(l.get(), "node_id"), 7);
}

}  // namespace
