// Backups (ops-spec §3.9, §5.3 rows 9 and 16): POST /api/snapshot takes a compacted copy,
// GET /api/admin/backups lists it, and a copy restored into a fresh data dir as data.mdb
// serves every node it holds.
#include <filesystem>
#include <fstream>

#include "protocol.h"

namespace rt {
namespace {

using Backups = ServerTest;

TEST_F(Backups, SnapshotListRestore) {
  Conn c = server.connect();
  std::vector<Daemon> before;
  for (int i = 0; i < 3; i++) before.push_back(register_daemon(c));

  HttpResponse snap;
  ASSERT_TRUE(http_request(server.http_port, "POST", "/api/snapshot", "", &snap));
  ASSERT_EQ(snap.status, 200) << snap.body;
  rdv::JsonPtr j = json_body(snap);
  EXPECT_EQ(str(j.get(), "status"), "ok");
  EXPECT_EQ(str(j.get(), "message"), "snapshot saved successfully");
  const std::string name = str(j.get(), "name");
  ASSERT_EQ(name.rfind("rendezvous-", 0), 0u) << snap.body;
  const std::string path = server.data_dir + "/backups/" + name;
  ASSERT_TRUE(std::filesystem::is_regular_file(path)) << path;

  // Registered after the copy: not in the backup.
  std::vector<Daemon> after;
  for (int i = 0; i < 2; i++) after.push_back(register_daemon(c));

  HttpResponse list = admin_http(server, "GET", "/api/admin/backups");
  ASSERT_EQ(list.status, 200) << list.body;
  rdv::JsonPtr l = json_body(list);
  EXPECT_EQ(num(l.get(), "count"), 1) << list.body;
  const json_t* entries = json_object_get(l.get(), "entries");
  ASSERT_EQ(json_array_size(entries), 1u) << list.body;
  const json_t* e = json_array_get(entries, 0);
  EXPECT_EQ(str(e, "name"), name);
  EXPECT_EQ(num(e, "size_bytes"), int64_t(std::filesystem::file_size(path)));
  EXPECT_EQ(num(l.get(), "total_size_bytes"), num(e, "size_bytes"));
  EXPECT_GT(num(e, "mod_unix"), 1600000000);

  // Restore (docs/operations.md): a fresh data dir with the copy as data.mdb.
  Server restored;
  std::filesystem::copy_file(path, restored.data_dir + "/data.mdb");
  std::string err;
  ASSERT_TRUE(restored.start(&err)) << err << "\n" << restored.log_tail();
  Conn rc = restored.connect();
  for (const Daemon& d : before) {
    rdv::JsonPtr r = do_lookup(rc, d.id);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(str(r.get(), "type"), "lookup_ok") << dump(r.get());
    EXPECT_EQ(str(r.get(), "public_key"), d.key.pub_b64()) << dump(r.get());
  }
  for (const Daemon& d : after) {
    rdv::JsonPtr r = do_lookup(rc, d.id);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(str(r.get(), "type"), "error") << "node " << d.id << " registered after the backup: " << dump(r.get());
  }
  // The restored server registers new nodes after the restored ones.
  Daemon fresh = register_daemon(rc);
  EXPECT_GT(fresh.id, before.back().id);
}

TEST_F(Backups, AccessAndMethods) {
  HttpResponse h;
  ASSERT_TRUE(http_get(server.http_port, "/api/snapshot", &h));
  EXPECT_EQ(h.status, 405);
  EXPECT_EQ(h.header("Allow"), "POST");
  ASSERT_TRUE(http_get(server.http_port, "/api/admin/backups", &h));
  EXPECT_EQ(h.status, 401);
  EXPECT_EQ(h.body, "unauthorized\n");
  // No backup yet: an empty listing, not an error.
  HttpResponse list = admin_http(server, "GET", "/api/admin/backups");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body, R"({"count":0,"total_size_bytes":0,"entries":[]})");
}

TEST(BackupRetention, KeepsMaxCountAndNeverTouchesForeignFiles) {
  Server server;
  // Backups dir prepared before start: the start-up sweep runs over it.
  std::string dir = server.data_dir + "/backups";
  std::filesystem::create_directories(dir);
  const char* ours[] = {"rendezvous-20200101T000000Z.mdb", "rendezvous-20200102T000000Z.mdb",
                        "registry-20200103-000000.json"};
  const char* foreign[] = {"registry-PRISTINE-20200101T000000Z.json", "RECOVERY-README.md"};
  for (const char* n : ours) std::ofstream(dir + "/" + n) << "x";
  for (const char* n : foreign) std::ofstream(dir + "/" + n) << "x";
  server.extra_args = {"-backups-max-count", "1", "-backups-max-age", "0"};
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  // One matching file survives; poll since the sweep runs on the admin's own thread.
  int64_t deadline = mono_ms() + 10000;
  auto matching = [&] {
    int n = 0;
    for (const char* f : ours) n += std::filesystem::exists(dir + "/" + f) ? 1 : 0;
    return n;
  };
  while (matching() > 1 && mono_ms() < deadline) sleep_ms(20);
  EXPECT_EQ(matching(), 1);
  for (const char* n : foreign) EXPECT_TRUE(std::filesystem::exists(dir + "/" + n)) << n;
  EXPECT_NE(server.log().find("backup retention swept"), std::string::npos) << server.log_tail();
  if (::testing::Test::HasFailure()) dump_log(server);
}

}  // namespace
}  // namespace rt

namespace rt {
namespace {

// -backup-interval drives the admin worker's backup thread; the sweep after each copy keeps
// -backups-max-count of them.
TEST(BackupPeriodic, IntervalTakesCopiesAndSweepKeepsCount) {
  Server server;
  server.extra_args = {"-backup-interval", "1s", "-backups-max-count", "2"};
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  const std::string dir = server.data_dir + "/backups";
  auto count_backups = [&] {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      n += e.path().extension() == ".mdb" ? 1 : 0;
    return n;
  };
  int64_t deadline = mono_ms() + 20000;
  while (server.log().find("backup retention swept") == std::string::npos && mono_ms() < deadline) sleep_ms(100);
  EXPECT_NE(server.log().find("backup retention swept"), std::string::npos) << server.log_tail();
  // Stopped, so no copy lands between its rename and its sweep while we count.
  server.stop();
  EXPECT_GE(count_backups(), 1);
  EXPECT_LE(count_backups(), 2);
  if (::testing::Test::HasFailure()) dump_log(server);
}

}  // namespace
}  // namespace rt
