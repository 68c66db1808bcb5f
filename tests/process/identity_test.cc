// Keys and identity over the wire (wire-protocol §6.1.3–§6.1.8; §10.2 items 42–50, §10.9 items
// 113 and 116): key rotation, key expiry, key info, badges, recovery enrollment and identity
// recovery against keyrings the test generates, the admin identity ops, bad input for each,
// and survival of rotations and spent recovery nonces across a SIGKILL and a restart.
//
// Error texts: compared verbatim where they pass the §2.8 sanitiser, otherwise expected as
// "request failed".
#include <sys/wait.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <signal.h>

#include "crypto.h"
#include "epoch.h"
#include "model.h"
#include "protocol.h"
#include "store.h"

namespace rt {
namespace {

const char* kRF = "request failed";

int64_t now_unix() { return rdv::unix_now(); }

// `unix` written as Go's Format(RFC3339) writes it in a zone `offset` seconds east of UTC.
std::string at_offset(int64_t unix, int offset) {
  time_t local = time_t(unix + offset);
  tm t;
  gmtime_r(&local, &t);
  char buf[96];
  int a = offset < 0 ? -offset : offset;
  snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
           t.tm_hour, t.tm_min, t.tm_sec, offset < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  return buf;
}

std::string url_safe(std::string b64) {
  for (char& ch : b64) {
    if (ch == '+') ch = '-';
    else if (ch == '/') ch = '_';
  }
  return b64;
}

// ---- the store, read beside the server ----

bool open_store(const Server& s, rdv::Env* env, std::string* err) {
  return env->open(rdv::EnvOptions{s.data_dir, 1ull << 30, 1024, false}, err);
}

// Audit entries with `action` for `node_id`, oldest first.
std::vector<rdv::AuditEntry> audit_entries(const Server& s, const std::string& action, uint32_t node_id) {
  std::vector<rdv::AuditEntry> out;
  rdv::Env env;
  std::string err;
  if (!open_store(s, &env, &err)) {
    ADD_FAILURE() << err;
    return out;
  }
  rdv::Txn t;
  if (env.begin_read(&t) != 0) {
    ADD_FAILURE() << "begin_read failed";
    return out;
  }
  rdv::Cursor c(t, rdv::Db::Audit);
  for (bool ok = c.seek(); ok; ok = c.next()) {
    rdv::AuditEntry e;
    if (rdv::decode_audit(c.value(), &e) && e.action == action && e.node_id == node_id) out.push_back(e);
  }
  return out;
}

// Makes `d` the owner-member of a new network.
void join_new_network(Server& s, Conn& c, const Daemon& d, const std::string& name, bool enterprise) {
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:s, s:I, s:s, s:b}", "type", "create_network", "admin_token",
                                     s.admin_token.c_str(), "node_id", json_int_t(d.id), "name", name.c_str(),
                                     "enterprise", enterprise ? 1 : 0));
  ASSERT_TRUE(is_ok(r, "create_network_ok"));
}

// Statements, as the issuers write them.
std::string badge_for(uint32_t id, int64_t exp = 0, const std::string& kid = "bdg-v1") {
  return "pilotbadge:v1:" + std::to_string(id) + ":github:" + std::to_string(now_unix() - 86400) + ":" +
         std::to_string(exp) + ":" + kid + ":";
}
std::string enrollment_for(uint32_t id, const std::string& commitment) {
  return "pilotenroll:v1:" + std::to_string(id) + ":github:" + commitment + ":" + std::to_string(now_unix()) +
         ":bdg-v1";
}
std::string recovery_for(uint32_t id, const Key& new_key, const std::string& commitment, int64_t exp,
                         const std::string& nonce) {
  return "pilotrecover:v1:" + std::to_string(id) + ":" + new_key.pub_b64() + ":" + commitment + ":" +
         std::to_string(exp) + ":" + nonce + ":rec-v1";
}

// ---- the fixture: a server with an issuer keyring and a cold recovery keyring ----

class Identity : public ::testing::Test {
 protected:
  void SetUp() override {
    issuers_file = server.dir + "/issuers.json";
    recovery_file = server.dir + "/recovery.json";
    write_keyring(issuers_file, {{"bdg-v1", &issuer}, {"bdg-v2", &issuer2}});
    write_keyring(recovery_file, {{"rec-v1", &cold}});
    server.extra_args = {"-badge-issuer-keys", issuers_file, "-recovery-keys", recovery_file};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
    c = server.connect();
    ASSERT_TRUE(c.ok());
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }

  static void write_keyring(const std::string& path, std::initializer_list<std::pair<std::string, const Key*>> keys) {
    std::ofstream f(path);
    f << "{\"keys\":[";
    bool first = true;
    for (auto& [kid, k] : keys) {
      f << (first ? "" : ",") << "{\"kid\":\"" << kid << "\",\"public_key\":\"" << k->pub_b64() << "\"}";
      first = false;
    }
    f << "]}\n";
  }

  rdv::JsonPtr rotate(const Daemon& d, const Key& new_key) {
    std::string pub = new_key.pub_b64();
    return call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                             "new_public_key", pub.c_str(), "signature",
                             d.sign("rotate:" + std::to_string(d.id) + ":" + pub).c_str()));
  }
  rdv::JsonPtr submit_badge(const Daemon& d, const std::string& badge, const std::string& badge_sig) {
    return call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "submit_badge", "node_id", json_int_t(d.id), "badge",
                             badge.c_str(), "badge_sig", badge_sig.c_str(), "signature",
                             d.sign("submit_badge:" + std::to_string(d.id) + ":" + badge).c_str()));
  }
  rdv::JsonPtr enroll(const Daemon& d, const std::string& commitment) {
    std::string e = enrollment_for(d.id, commitment);
    return call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "enroll_recovery", "node_id", json_int_t(d.id),
                             "enrollment", e.c_str(), "enrollment_sig", issuer.sign_b64(e).c_str(), "signature",
                             d.sign("enroll_recovery:" + std::to_string(d.id) + ":" + commitment).c_str()));
  }
  rdv::JsonPtr recover(uint32_t id, const std::string& statement, const std::string& sig, const Key& new_key) {
    return call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "recover_identity", "node_id", json_int_t(id),
                             "recovery", statement.c_str(), "recovery_sig", sig.c_str(), "new_public_key",
                             new_key.pub_b64().c_str()));
  }
  rdv::JsonPtr heartbeat(uint32_t id, const Key* k) {
    if (!k) return call(c, json_pack("{s:s, s:I}", "type", "heartbeat", "node_id", json_int_t(id)));
    return call(c, json_pack("{s:s, s:I, s:s}", "type", "heartbeat", "node_id", json_int_t(id), "signature",
                             k->sign_b64("heartbeat:" + std::to_string(id)).c_str()));
  }
  rdv::JsonPtr key_info(uint32_t id) {
    return call(c, json_pack("{s:s, s:I}", "type", "get_key_info", "node_id", json_int_t(id)));
  }
  rdv::JsonPtr set_expiry(const Daemon& d, const std::string& expires_at) {
    return call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_key_expiry", "node_id", json_int_t(d.id),
                             "expires_at", expires_at.c_str(), "signature",
                             d.sign("set_key_expiry:" + std::to_string(d.id)).c_str()));
  }

  Server server;
  Conn c;
  Key issuer = Key::generate(), issuer2 = Key::generate(), cold = Key::generate();
  std::string issuers_file, recovery_file;
};

// ---- rotate_key (§6.1.3; §10.2 item 42) ----

TEST_F(Identity, RotateKeyRequiredFieldsInOrder) {
  Daemon d = register_daemon(c);
  Key next = Key::generate();
  std::string pub = next.pub_b64();
  std::string sig = d.sign("rotate:" + std::to_string(d.id) + ":" + pub);
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", pub.c_str())),
                       "rotate_key requires a valid signature"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "signature", sig.c_str())),
                       "rotate_key requires new_public_key"));
  // Wrong types read as "" (§3.1).
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:i, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", 5, "signature", sig.c_str())),
                       "rotate_key requires new_public_key"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", "!!!", "signature", sig.c_str())),
                       "invalid new_public_key: illegal base64 data at input byte 0"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", "AAAA", "signature", sig.c_str())),
                       "invalid new_public_key: ed25519 public key must be 32 bytes, got 3"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:s, s:s}", "type", "rotate_key", "node_id", 99,
                                         "new_public_key", pub.c_str(), "signature", sig.c_str())),
                       "node 99: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:s, s:s, s:s}", "type", "rotate_key", "node_id", "1",
                                         "new_public_key", pub.c_str(), "signature", sig.c_str())),
                       "node 0: node not found"));
  // The Go server's decoders: standard base64, then URL-safe (whose error is reported).
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", pub.c_str(), "signature", "not-base64!!")),
                       "invalid signature encoding: illegal base64 data at input byte 10"));
  Key stranger = Key::generate();
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", pub.c_str(), "signature",
                                         stranger.sign_b64("rotate:" + std::to_string(d.id) + ":" + pub).c_str())),
                       "signature verification failed"));
  // The older challenge (rotate:<id>) no longer authorises a rotation (§11 row 7).
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id),
                                         "new_public_key", pub.c_str(), "signature",
                                         d.sign("rotate:" + std::to_string(d.id)).c_str())),
                       "signature verification failed"));
  // Nothing changed.
  rdv::JsonPtr l = do_lookup(c, d.id);
  EXPECT_EQ(str(l.get(), "public_key"), d.key.pub_b64()) << dump(l.get());
  EXPECT_EQ(num(l.get(), "key_generation"), 0) << dump(l.get());
}

TEST_F(Identity, RotateKeyReplacesTheKeyEverywhere) {
  Daemon d = register_daemon(c);
  // A verified heartbeat opens the 120 s window in which unsigned heartbeats pass (§4.5).
  ASSERT_TRUE(is_ok(heartbeat(d.id, &d.key), "heartbeat_ok"));
  ASSERT_TRUE(is_ok(heartbeat(d.id, nullptr), "heartbeat_ok"));
  int64_t before = now_unix();
  Key next = Key::generate();
  rdv::JsonPtr r = rotate(d, next);
  ASSERT_TRUE(is_ok(r, "rotate_key_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  EXPECT_EQ(str(r.get(), "address"), rdv::format_address(0, d.id));
  EXPECT_EQ(str(r.get(), "public_key"), next.pub_b64());

  rdv::JsonPtr l = do_lookup(c, d.id);
  EXPECT_EQ(str(l.get(), "public_key"), next.pub_b64()) << dump(l.get());
  EXPECT_EQ(num(l.get(), "key_generation"), 1) << dump(l.get());
  EXPECT_GE(num(l.get(), "last_seen_unix"), before) << dump(l.get());
  rdv::JsonPtr info = key_info(d.id);
  ASSERT_TRUE(is_ok(info, "get_key_info_ok"));
  EXPECT_EQ(num(info.get(), "rotate_count"), 1);
  int64_t rotated_at = 0;
  ASSERT_TRUE(rdv::parse_rfc3339(str(info.get(), "rotated_at"), &rotated_at)) << dump(info.get());
  EXPECT_GE(rotated_at, before);
  EXPECT_EQ(num(info.get(), "key_age_days"), 0);

  // The old key's verify window closed with the rotation: unsigned and old-key heartbeats fail,
  // the new key's work.
  EXPECT_TRUE(is_error(heartbeat(d.id, nullptr), "signature required for authenticated node"));
  EXPECT_TRUE(is_error(heartbeat(d.id, &d.key), "signature verification failed"));
  EXPECT_TRUE(is_ok(heartbeat(d.id, &next), "heartbeat_ok"));

  // Key index: the new key registers as the same node; the old key is not this node any more.
  rdv::JsonPtr reg = do_register(c, next);
  EXPECT_EQ(num(reg.get(), "node_id"), d.id) << dump(reg.get());
  reg = do_register(c, d.key);
  ASSERT_TRUE(is_ok(reg, "register_ok"));
  EXPECT_NE(num(reg.get(), "node_id"), d.id) << dump(reg.get());

  // Signed by the new key now; URL-safe base64 is accepted for this message (§3.2).
  Key third = Key::generate();
  std::string pub = third.pub_b64();
  r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "rotate_key", "node_id", json_int_t(d.id), "new_public_key",
                        pub.c_str(), "signature",
                        url_safe(next.sign_b64("rotate:" + std::to_string(d.id) + ":" + pub)).c_str()));
  ASSERT_TRUE(is_ok(r, "rotate_key_ok"));
  EXPECT_EQ(num(key_info(d.id).get(), "rotate_count"), 2);

  auto audit = audit_entries(server, "key.rotated", d.id);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].details, "rotate_count=2");
}

TEST_F(Identity, RotateKeyKeepsTheBadge) {
  Daemon d = register_daemon(c);
  std::string badge = badge_for(d.id);
  ASSERT_TRUE(is_ok(submit_badge(d, badge, issuer.sign_b64(badge)), "submit_badge_ok"));
  ASSERT_TRUE(is_ok(rotate(d, Key::generate()), "rotate_key_ok"));
  rdv::JsonPtr l = do_lookup(c, d.id);
  EXPECT_EQ(str(l.get(), "badge"), badge) << dump(l.get());
  EXPECT_TRUE(json_is_true(json_object_get(l.get(), "verified"))) << dump(l.get());
}

TEST_F(Identity, RotateToAnotherNodesKeyRefused) {
  Daemon a = register_daemon(c), b = register_daemon(c);
  rdv::JsonPtr r = rotate(a, b.key);
  EXPECT_TRUE(is_error(r, "new_public_key is already registered to node " + std::to_string(b.id)));
  EXPECT_EQ(str(do_lookup(c, a.id).get(), "public_key"), a.key.pub_b64());
  // A key that once belonged to a deregistered node still names that node's id.
  ASSERT_TRUE(is_ok(do_signed(c, b.key, "deregister", "deregister", b.id), "deregister_ok"));
  EXPECT_TRUE(is_error(rotate(a, b.key), "new_public_key is already registered to node " + std::to_string(b.id)));
  // Rotating to its own key is a rotation like any other.
  EXPECT_TRUE(is_ok(rotate(a, a.key), "rotate_key_ok"));
  EXPECT_EQ(num(key_info(a.id).get(), "rotate_count"), 1);
  EXPECT_EQ(num(do_register(c, a.key).get(), "node_id"), a.id);
}

// ---- set_key_expiry, get_key_info (§6.1.4, §6.1.5; §10.2 items 43–45) ----

TEST_F(Identity, SetKeyExpiryParseAndBounds) {
  Daemon d = register_daemon(c);
  EXPECT_TRUE(is_error(set_expiry(d, "not-a-date"),
                       "invalid expires_at: parsing time \"not-a-date\" as \"2006-01-02T15:04:05Z07:00\": "
                       "cannot parse \"not-a-date\" as \"2006\""));
  EXPECT_TRUE(is_error(set_expiry(d, "2030-02-30T00:00:00Z"),
                       "invalid expires_at: parsing time \"2030-02-30T00:00:00Z\": day out of range"));
  // "expires_at must be in the future" has no keyword: sanitised.
  EXPECT_TRUE(is_error(set_expiry(d, rdv::rfc3339_utc(now_unix() - 60)), kRF));
  EXPECT_TRUE(is_error(set_expiry(d, "0001-01-01T00:00:00Z"), kRF));  // SetKeyExpiry(time.Time{})
  EXPECT_TRUE(is_error(set_expiry(d, rdv::rfc3339_utc(now_unix() + 11LL * 365 * 86400)),
                       "invalid expires_at: cannot exceed 10 years"));
  EXPECT_TRUE(is_error(set_expiry(d, std::string(65, '2')), "invalid expires_at: value too long (max 64 bytes)"));
  // Checked before the node: an unknown node with a bad date gets the date's error.
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:s}", "type", "set_key_expiry", "node_id", 99, "expires_at",
                                         "soon")),
                       "invalid expires_at: parsing time \"soon\" as \"2006-01-02T15:04:05Z07:00\": "
                       "cannot parse \"soon\" as \"2006\""));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:s}", "type", "set_key_expiry", "node_id", 99, "expires_at",
                                         "never")),
                       "node 99: node not found"));
}

TEST_F(Identity, SetKeyExpiryNeedsEnterpriseMembershipAndAuthority) {
  Daemon d = register_daemon(c);
  std::string in_a_year = rdv::rfc3339_utc(now_unix() + 365 * 86400);
  const char* gate = "enterprise feature: key expiry requires enterprise network membership";
  EXPECT_TRUE(is_error(set_expiry(d, in_a_year), gate));
  join_new_network(server, c, d, "plain", false);
  EXPECT_TRUE(is_error(set_expiry(d, in_a_year), gate));
  // Authority before the gate: a bad signature says so, enterprise or not.
  Key stranger = Key::generate();
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_key_expiry", "node_id", json_int_t(d.id),
                                     "expires_at", in_a_year.c_str(), "signature",
                                     stranger.sign_b64("set_key_expiry:" + std::to_string(d.id)).c_str()));
  EXPECT_TRUE(is_error(r, "signature verification failed"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s}", "type", "set_key_expiry", "node_id", json_int_t(d.id),
                                         "expires_at", in_a_year.c_str())),
                       "signature required for authenticated node"));
  join_new_network(server, c, d, "corp", true);
  EXPECT_FALSE(has(key_info(d.id).get(), "expires_at"));

  // A numeric offset (what Go's Format(RFC3339) sends) is echoed as given; stored as the instant.
  int64_t at = now_unix() + 30 * 86400;
  std::string local = at_offset(at, 2 * 3600);
  r = set_expiry(d, local);
  ASSERT_TRUE(is_ok(r, "set_key_expiry_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  EXPECT_EQ(str(r.get(), "expires_at"), local);
  EXPECT_EQ(str(key_info(d.id).get(), "expires_at"), rdv::rfc3339_utc(at));
  auto audit = audit_entries(server, "key.expiry_set", d.id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].details, "expires_at=" + rdv::rfc3339_utc(at));

  // The admin token stands in for the signature (SIG|ADMIN).
  r = call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_key_expiry", "node_id", json_int_t(d.id), "expires_at",
                        "never", "admin_token", server.admin_token.c_str()));
  ASSERT_TRUE(is_ok(r, "set_key_expiry_ok"));
  EXPECT_FALSE(has(r.get(), "expires_at")) << dump(r.get());
  EXPECT_FALSE(has(key_info(d.id).get(), "expires_at"));
  EXPECT_EQ(audit_entries(server, "key.expiry_cleared", d.id).size(), 1u);

  ASSERT_TRUE(is_ok(set_expiry(d, in_a_year), "set_key_expiry_ok"));
  r = set_expiry(d, "");
  ASSERT_TRUE(is_ok(r, "set_key_expiry_ok"));
  EXPECT_FALSE(has(r.get(), "expires_at")) << dump(r.get());
  EXPECT_FALSE(has(key_info(d.id).get(), "expires_at"));
}

TEST_F(Identity, KeyExpiryReachesHeartbeats) {
  Daemon d = register_daemon(c);
  join_new_network(server, c, d, "corp", true);
  ASSERT_TRUE(is_ok(set_expiry(d, rdv::rfc3339_utc(now_unix() + 3600)), "set_key_expiry_ok"));
  rdv::JsonPtr hb = heartbeat(d.id, &d.key);
  ASSERT_TRUE(is_ok(hb, "heartbeat_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(hb.get(), "key_expiry_warning"))) << dump(hb.get());
  ASSERT_TRUE(is_ok(set_expiry(d, "never"), "set_key_expiry_ok"));
  hb = heartbeat(d.id, &d.key);
  ASSERT_TRUE(is_ok(hb, "heartbeat_ok"));
  EXPECT_FALSE(has(hb.get(), "key_expiry_warning")) << dump(hb.get());
}

TEST_F(Identity, GetKeyInfo) {
  int64_t before = now_unix();
  Daemon d = register_daemon(c);
  rdv::JsonPtr r = key_info(d.id);
  ASSERT_TRUE(is_ok(r, "get_key_info_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  int64_t created = 0;
  ASSERT_TRUE(rdv::parse_rfc3339(str(r.get(), "created_at"), &created)) << dump(r.get());
  EXPECT_GE(created, before);
  EXPECT_TRUE(json_is_integer(json_object_get(r.get(), "rotate_count"))) << dump(r.get());
  EXPECT_EQ(num(r.get(), "rotate_count"), 0);
  EXPECT_EQ(num(r.get(), "key_age_days"), 0);
  EXPECT_FALSE(has(r.get(), "rotated_at"));
  EXPECT_FALSE(has(r.get(), "expires_at"));
  EXPECT_TRUE(is_error(key_info(99), "node 99: node not found"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s}", "type", "get_key_info")), "node 0: node not found"));
}

// ---- submit_badge (§6.1.6; §10.2 item 46) ----

TEST_F(Identity, SubmitBadgeStoresAVerifiedBadge) {
  Daemon d = register_daemon(c);
  std::string badge = badge_for(d.id, now_unix() + 86400, "bdg-v2");
  rdv::JsonPtr r = submit_badge(d, badge, issuer2.sign_b64(badge));
  ASSERT_TRUE(is_ok(r, "submit_badge_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  EXPECT_EQ(str(r.get(), "provider"), "github");
  rdv::JsonPtr l = do_lookup(c, d.id);
  EXPECT_TRUE(json_is_true(json_object_get(l.get(), "verified"))) << dump(l.get());
  EXPECT_EQ(str(l.get(), "badge"), badge);
  EXPECT_EQ(str(l.get(), "badge_sig"), issuer2.sign_b64(badge));
  EXPECT_EQ(str(l.get(), "verification_provider"), "github");
  auto audit = audit_entries(server, "identity.badge_submitted", d.id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].details, "provider=github");
}

TEST_F(Identity, SubmitBadgeRefusals) {
  Daemon d = register_daemon(c), other = register_daemon(c);
  std::string badge = badge_for(d.id);
  std::string bsig = issuer.sign_b64(badge);
  auto send = [&](json_t* req) { return call(c, req); };
  const char* need = "submit_badge requires badge and badge_sig";
  EXPECT_TRUE(is_error(send(json_pack("{s:s, s:I, s:s}", "type", "submit_badge", "node_id", json_int_t(d.id), "badge",
                                      badge.c_str())),
                       need));
  EXPECT_TRUE(is_error(send(json_pack("{s:s, s:I, s:s, s:s}", "type", "submit_badge", "node_id", json_int_t(d.id),
                                      "badge", "", "badge_sig", bsig.c_str())),
                       need));
  EXPECT_TRUE(is_error(send(json_pack("{s:s, s:I, s:s, s:s}", "type", "submit_badge", "node_id", json_int_t(d.id),
                                      "badge", badge.c_str(), "badge_sig", bsig.c_str())),
                       "missing signature"));
  EXPECT_TRUE(is_error(send(json_pack("{s:s, s:i, s:s, s:s, s:s}", "type", "submit_badge", "node_id", 99, "badge",
                                      badge.c_str(), "badge_sig", bsig.c_str(), "signature", "AAAA")),
                       "node 99: node not found"));
  // Wrong node signature (another key, another badge string, undecodable).
  Daemon forged{Key::generate(), d.id};
  EXPECT_TRUE(is_error(submit_badge(forged, badge, bsig), "signature verification failed"));
  EXPECT_TRUE(is_error(send(json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "submit_badge", "node_id", json_int_t(d.id),
                                      "badge", badge.c_str(), "badge_sig", bsig.c_str(), "signature", "%%%")),
                       "invalid signature encoding: illegal base64 data at input byte 0"));
  // The badge itself: issuer signature, kid, binding, expiry, canonical form.
  EXPECT_TRUE(is_error(submit_badge(d, badge, issuer2.sign_b64(badge)),
                       "badge verification failed: signature verification failed"));
  EXPECT_TRUE(is_error(submit_badge(d, badge, cold.sign_b64(badge)),
                       "badge verification failed: signature verification failed"));
  std::string unknown_kid = badge_for(d.id, 0, "bdg-v9");
  EXPECT_TRUE(is_error(submit_badge(d, unknown_kid, issuer.sign_b64(unknown_kid)), kRF));  // unknown kid "bdg-v9"
  std::string others = badge_for(other.id);
  EXPECT_TRUE(is_error(submit_badge(d, others, issuer.sign_b64(others)), kRF));  // bound to another node
  std::string expired = badge_for(d.id, now_unix() - 60);
  EXPECT_TRUE(is_error_containing(submit_badge(d, expired, issuer.sign_b64(expired)),
                                  "badge verification failed: badge expired: exp=" + std::to_string(now_unix() - 60)));
  std::string padded = "pilotbadge:v1:0" + std::to_string(d.id) + ":github:0:0:bdg-v1:";
  EXPECT_TRUE(is_error(submit_badge(d, padded, issuer.sign_b64(padded)), kRF));  // not canonical decimal
  std::string enrollment = enrollment_for(d.id, "c0mm1t");
  EXPECT_TRUE(is_error(submit_badge(d, enrollment, issuer.sign_b64(enrollment)), kRF));  // not a badge
  std::string huge = badge + std::string(1100, 'x');
  EXPECT_TRUE(is_error(submit_badge(d, huge, bsig), "badge too long (max 1024 bytes)"));
  EXPECT_TRUE(is_error(submit_badge(d, badge, std::string(300, 'A')), "badge_sig too long (max 256 bytes)"));
  EXPECT_FALSE(has(do_lookup(c, d.id).get(), "badge"));
  EXPECT_TRUE(audit_entries(server, "identity.badge_submitted", d.id).empty());
}

using IdentityWithoutKeyrings = ServerTest;

// A server started without keyring flags has empty keyrings: every statement is refused.
TEST_F(IdentityWithoutKeyrings, NothingVerifies) {
  Conn c = server.connect();
  Key issuer = Key::generate(), cold = Key::generate();
  Daemon d = register_daemon(c);
  std::string badge = badge_for(d.id);
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "submit_badge", "node_id", json_int_t(d.id),
                                     "badge", badge.c_str(), "badge_sig", issuer.sign_b64(badge).c_str(), "signature",
                                     d.sign("submit_badge:" + std::to_string(d.id) + ":" + badge).c_str()));
  EXPECT_TRUE(is_error(r, kRF));  // badge verification failed: unknown kid "bdg-v1"
  std::string e = enrollment_for(d.id, "c");
  r = call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "enroll_recovery", "node_id", json_int_t(d.id),
                        "enrollment", e.c_str(), "enrollment_sig", issuer.sign_b64(e).c_str(), "signature",
                        d.sign("enroll_recovery:" + std::to_string(d.id) + ":c").c_str()));
  EXPECT_TRUE(is_error(r, kRF));  // enrollment verification failed: unknown kid "bdg-v1"
  Key next = Key::generate();
  std::string rec = recovery_for(d.id, next, "c", now_unix() + 600, "n");
  r = call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "recover_identity", "node_id", json_int_t(d.id),
                        "recovery", rec.c_str(), "recovery_sig", cold.sign_b64(rec).c_str(), "new_public_key",
                        next.pub_b64().c_str()));
  EXPECT_TRUE(is_error(r, kRF));  // recovery verification failed: unknown kid "rec-v1"
}

// ---- enroll_recovery (§6.1.6; §10.2 item 47) ----

TEST_F(Identity, EnrollRecovery) {
  Daemon d = register_daemon(c), other = register_daemon(c);
  ASSERT_TRUE(is_ok(enroll(d, "c0mm1t"), "enroll_recovery_ok"));
  auto audit = audit_entries(server, "identity.recovery_enrolled", d.id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].details, "provider=github");

  std::string e = enrollment_for(other.id, "c0mm1t");
  std::string esig = issuer.sign_b64(e);
  auto req = [&](const std::string& enrollment, const std::string& sig, const std::string& node_sig) {
    return call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "enroll_recovery", "node_id", json_int_t(d.id),
                             "enrollment", enrollment.c_str(), "enrollment_sig", sig.c_str(), "signature",
                             node_sig.c_str()));
  };
  std::string good_sig = d.sign("enroll_recovery:" + std::to_string(d.id) + ":c0mm1t");
  // A statement for another node: "enrollment node_id mismatch: statement=… request=…".
  EXPECT_TRUE(is_error(req(e, esig, good_sig), kRF));
  EXPECT_TRUE(is_error(req("", esig, good_sig), "enroll_recovery requires enrollment and enrollment_sig"));
  EXPECT_TRUE(is_error(req(e, "", good_sig), "enroll_recovery requires enrollment and enrollment_sig"));
  std::string mine = enrollment_for(d.id, "other");
  EXPECT_TRUE(is_error(req(mine, cold.sign_b64(mine), d.sign("enroll_recovery:" + std::to_string(d.id) + ":other")),
                       "enrollment verification failed: signature verification failed"));
  // The node signs the commitment it enrols: a signature over another commitment does not do.
  EXPECT_TRUE(is_error(req(mine, issuer.sign_b64(mine), good_sig), "signature verification failed"));
  EXPECT_TRUE(is_error(req(mine, issuer.sign_b64(mine), ""), "missing signature"));
  EXPECT_TRUE(is_error(req(mine + std::string(1100, 'x'), esig, good_sig), "enrollment too long (max 1024 bytes)"));
  EXPECT_TRUE(is_error(req("garbage", esig, good_sig), kRF));  // enrollment verification failed: …
  EXPECT_EQ(audit_entries(server, "identity.recovery_enrolled", d.id).size(), 1u);
}

// ---- recover_identity (§6.1.7; §10.2 items 48–50) ----

TEST_F(Identity, RecoverIdentityForceRotatesAndClearsTheBadge) {
  Daemon d = register_daemon(c);
  std::string badge = badge_for(d.id);
  ASSERT_TRUE(is_ok(submit_badge(d, badge, issuer.sign_b64(badge)), "submit_badge_ok"));
  ASSERT_TRUE(is_ok(enroll(d, "c0mm1t"), "enroll_recovery_ok"));
  ASSERT_TRUE(is_ok(heartbeat(d.id, &d.key), "heartbeat_ok"));  // opens the verify window

  Key next = Key::generate();
  std::string rec = recovery_for(d.id, next, "c0mm1t", now_unix() + 29 * 60, "nonce-48");
  rdv::JsonPtr r = recover(d.id, rec, cold.sign_b64(rec), next);
  ASSERT_TRUE(is_ok(r, "recover_identity_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  EXPECT_EQ(str(r.get(), "address"), rdv::format_address(0, d.id));
  EXPECT_EQ(str(r.get(), "public_key"), next.pub_b64());

  rdv::JsonPtr l = do_lookup(c, d.id);
  EXPECT_EQ(str(l.get(), "public_key"), next.pub_b64()) << dump(l.get());
  EXPECT_EQ(num(l.get(), "key_generation"), 1);
  EXPECT_FALSE(has(l.get(), "badge")) << dump(l.get());
  EXPECT_FALSE(has(l.get(), "verified")) << dump(l.get());
  EXPECT_EQ(num(key_info(d.id).get(), "rotate_count"), 1);
  auto audit = audit_entries(server, "node.recovered", d.id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].details, "provider=github");

  EXPECT_TRUE(is_error(heartbeat(d.id, nullptr), "signature required for authenticated node"));
  EXPECT_TRUE(is_error(heartbeat(d.id, &d.key), "signature verification failed"));
  EXPECT_TRUE(is_ok(heartbeat(d.id, &next), "heartbeat_ok"));
  EXPECT_EQ(num(do_register(c, next).get(), "node_id"), d.id);

  // Replayed (§10.2 item 49): the nonce is spent.
  EXPECT_TRUE(is_error(recover(d.id, rec, cold.sign_b64(rec), next), "recovery authorization already used"));
  // The enrollment stays: a fresh authorisation recovers the address again.
  Key third = Key::generate();
  std::string again = recovery_for(d.id, third, "c0mm1t", now_unix() + 600, "nonce-48b");
  EXPECT_TRUE(is_ok(recover(d.id, again, cold.sign_b64(again), third), "recover_identity_ok"));
}

TEST_F(Identity, RecoverIdentityRefusalsChangeNothing) {
  Daemon d = register_daemon(c), other = register_daemon(c);
  ASSERT_TRUE(is_ok(enroll(d, "c0mm1t"), "enroll_recovery_ok"));
  Key next = Key::generate();
  int64_t exp = now_unix() + 20 * 60;
  const std::string nonce = "nonce-50";
  auto attempt = [&](const std::string& statement, const std::string& sig, const Key& key, uint32_t id) {
    return recover(id, statement, sig, key);
  };
  std::string good = recovery_for(d.id, next, "c0mm1t", exp, nonce);

  const char* need = "recover_identity requires recovery, recovery_sig, new_public_key";
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "recover_identity", "node_id",
                                         json_int_t(d.id), "recovery", good.c_str(), "recovery_sig",
                                         cold.sign_b64(good).c_str())),
                       need));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "recover_identity", "node_id",
                                         json_int_t(d.id), "recovery", good.c_str(), "new_public_key",
                                         next.pub_b64().c_str())),
                       need));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s, s:s, s:s}", "type", "recover_identity", "node_id",
                                         json_int_t(d.id), "recovery", good.c_str(), "recovery_sig",
                                         cold.sign_b64(good).c_str(), "new_public_key", "short")),
                       "invalid new_public_key: illegal base64 data at input byte 4"));
  // Signed by the online issuer instead of the cold key, or by nobody we know.
  EXPECT_TRUE(is_error(attempt(good, issuer.sign_b64(good), next, d.id),
                       "recovery verification failed: signature verification failed"));
  std::string issuer_kid = good.substr(0, good.size() - 6) + "bdg-v1";
  EXPECT_TRUE(is_error(attempt(issuer_kid, issuer.sign_b64(issuer_kid), next, d.id), kRF));  // unknown kid
  std::string past = recovery_for(d.id, next, "c0mm1t", now_unix() - 5, nonce);
  EXPECT_TRUE(is_error_containing(attempt(past, cold.sign_b64(past), next, d.id),
                                  "recovery verification failed: recovery expired: exp="));
  // A valid statement used for another node, another key, too far ahead, another identity.
  std::string for_other = recovery_for(other.id, next, "c0mm1t", exp, nonce);
  EXPECT_TRUE(is_error(attempt(for_other, cold.sign_b64(for_other), next, d.id), kRF));  // node_id mismatch
  Key elsewhere = Key::generate();
  EXPECT_TRUE(is_error(attempt(good, cold.sign_b64(good), elsewhere, d.id), kRF));  // not bound to this new key
  std::string far = recovery_for(d.id, next, "c0mm1t", now_unix() + 31 * 60, nonce);
  EXPECT_TRUE(is_error(attempt(far, cold.sign_b64(far), next, d.id), kRF));  // expiry too far (max 30m0s)
  std::string wrong_identity = recovery_for(d.id, next, "someone-else", exp, nonce);
  EXPECT_TRUE(is_error(attempt(wrong_identity, cold.sign_b64(wrong_identity), next, d.id), kRF));  // does not match
  std::string unenrolled = recovery_for(other.id, next, "c0mm1t", exp, nonce);
  EXPECT_TRUE(is_error(attempt(unenrolled, cold.sign_b64(unenrolled), next, other.id), kRF));  // not enrolled
  std::string nobody = recovery_for(99, next, "c0mm1t", exp, nonce);
  EXPECT_TRUE(is_error(attempt(nobody, cold.sign_b64(nobody), next, 99), kRF));
  // The new key may not be one another node holds.
  std::string takeover = recovery_for(d.id, other.key, "c0mm1t", exp, nonce);
  EXPECT_TRUE(is_error(attempt(takeover, cold.sign_b64(takeover), other.key, d.id),
                       "new_public_key is already registered to node " + std::to_string(other.id)));
  std::string long_nonce = recovery_for(d.id, next, "c0mm1t", exp, std::string(200, 'n'));
  EXPECT_TRUE(is_error(attempt(long_nonce, cold.sign_b64(long_nonce), next, d.id),
                       "recovery nonce too long (max 128 bytes)"));
  EXPECT_TRUE(is_error(attempt(good + std::string(1100, 'x'), "AAAA", next, d.id), "recovery too long (max 1024 bytes)"));

  // Nothing of that changed the node or spent the nonce: the good statement still works.
  rdv::JsonPtr l = do_lookup(c, d.id);
  EXPECT_EQ(str(l.get(), "public_key"), d.key.pub_b64());
  EXPECT_EQ(num(l.get(), "key_generation"), 0);
  EXPECT_TRUE(audit_entries(server, "node.recovered", d.id).empty());
  EXPECT_TRUE(is_ok(attempt(good, cold.sign_b64(good), next, d.id), "recover_identity_ok"));
}

// ---- set_external_id, get_identity (§6.1.8; §10.9 items 113 and 116) ----

TEST_F(Identity, GetIdentityIsAdminOnly) {
  rdv::JsonPtr extra(json_pack("{s:s}", "owner", "alice@example.com"));
  Daemon d = register_daemon(c, extra.get());
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I}", "type", "get_identity", "node_id", json_int_t(d.id))),
                       "invalid admin token"));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:I, s:s}", "type", "get_identity", "node_id", json_int_t(d.id),
                                         "admin_token", "wrong")),
                       "invalid admin token"));
  rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:s}", "type", "get_identity", "node_id", json_int_t(d.id),
                                     "admin_token", server.admin_token.c_str()));
  ASSERT_TRUE(is_ok(r, "get_identity_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  EXPECT_EQ(str(r.get(), "owner"), "alice@example.com");
  EXPECT_TRUE(json_is_string(json_object_get(r.get(), "external_id"))) << dump(r.get());
  EXPECT_EQ(str(r.get(), "external_id"), "");
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s, s:i, s:s}", "type", "get_identity", "node_id", 99, "admin_token",
                                         server.admin_token.c_str())),
                       "node not found"));
}

TEST_F(Identity, SetExternalIdIsAdminOnlyAndPrivate) {
  Daemon d = register_daemon(c);
  auto set = [&](uint32_t id, const std::string& ext, const char* token) {
    rdv::JsonPtr req(json_pack("{s:s, s:I, s:s}", "type", "set_external_id", "node_id", json_int_t(id), "external_id",
                               ext.c_str()));
    if (token) json_object_set_new(req.get(), "admin_token", json_string(token));
    return c.request(req.get());
  };
  EXPECT_TRUE(is_error(set(d.id, "okta|alice", nullptr), "invalid admin token"));
  EXPECT_TRUE(is_error(set(99, "okta|alice", server.admin_token.c_str()), "node not found"));
  EXPECT_TRUE(is_error(set(d.id, std::string(257, 'e'), server.admin_token.c_str()),
                       "external_id too long (max 256 bytes)"));
  rdv::JsonPtr r = set(d.id, "okta|alice", server.admin_token.c_str());
  ASSERT_TRUE(is_ok(r, "set_external_id_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), d.id);
  EXPECT_EQ(str(r.get(), "external_id"), "okta|alice");
  r = call(c, json_pack("{s:s, s:I, s:s}", "type", "get_identity", "node_id", json_int_t(d.id), "admin_token",
                        server.admin_token.c_str()));
  EXPECT_EQ(str(r.get(), "external_id"), "okta|alice") << dump(r.get());
  EXPECT_FALSE(has(do_lookup(c, d.id).get(), "external_id"));  // never shown by lookup
  auto audit = audit_entries(server, "identity.external_id_set", d.id);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].details, "old_external_id=, new_external_id=okta|alice");
  ASSERT_TRUE(is_ok(set(d.id, std::string(256, 'e'), server.admin_token.c_str()), "set_external_id_ok"));
}

// ---- keyring files at start-up ----

TEST(IdentityKeyrings, BadKeyringFileRefusesToStart) {
  Server s;
  std::string path = s.dir + "/issuers.json";
  std::ofstream(path) << R"({"keys":[{"kid":"bdg-v1","public_key":"AAAA"}]})";
  s.extra_args = {"-badge-issuer-keys", path};
  std::string err;
  ASSERT_TRUE(s.spawn(&err)) << err;
  int status = s.wait_exit(15000);
  ASSERT_NE(status, -1) << "supervisor kept running with a bad keyring";
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 78);
  std::string log = s.log();
  EXPECT_NE(log.find("-badge-issuer-keys " + path + ": keys[0] (kid"), std::string::npos) << log;
}

TEST(IdentityKeyrings, MissingKeyringFileRefusesToStart) {
  Server s;
  std::string path = s.dir + "/nowhere.json";
  s.extra_args = {"-recovery-keys", path};
  std::string err;
  ASSERT_TRUE(s.spawn(&err)) << err;
  int status = s.wait_exit(15000);
  ASSERT_NE(status, -1) << "supervisor kept running with a missing keyring";
  ASSERT_TRUE(WIFEXITED(status)) << "wait status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 78);
  EXPECT_NE(s.log().find("-recovery-keys " + path + ": does not exist"), std::string::npos) << s.log();
}

// ---- durability ----

TEST_F(Identity, RotationsAndSpentNoncesSurviveCrashAndRestart) {
  Daemon d = register_daemon(c), e = register_daemon(c);
  Key rotated = Key::generate();
  ASSERT_TRUE(is_ok(rotate(d, rotated), "rotate_key_ok"));
  ASSERT_TRUE(is_ok(enroll(e, "c0mm1t"), "enroll_recovery_ok"));
  Key recovered = Key::generate();
  std::string rec = recovery_for(e.id, recovered, "c0mm1t", now_unix() + 25 * 60, "nonce-durable");
  ASSERT_TRUE(is_ok(recover(e.id, rec, cold.sign_b64(rec), recovered), "recover_identity_ok"));
  ASSERT_TRUE(is_ok(call(c, json_pack("{s:s, s:I, s:s, s:s}", "type", "set_external_id", "node_id", json_int_t(d.id),
                                      "external_id", "okta|dee", "admin_token", server.admin_token.c_str())),
                    "set_external_id_ok"));

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    c = server.connect();
    ASSERT_TRUE(c.ok());
    // The old key first: a verified heartbeat would open the 120 s window (§4.5).
    EXPECT_TRUE(is_error(heartbeat(d.id, &d.key), "signature verification failed"));
    EXPECT_TRUE(is_ok(heartbeat(d.id, &rotated), "heartbeat_ok"));
    EXPECT_EQ(num(do_register(c, rotated).get(), "node_id"), d.id);
    EXPECT_EQ(num(key_info(d.id).get(), "rotate_count"), 1);
    EXPECT_TRUE(is_ok(heartbeat(e.id, &recovered), "heartbeat_ok"));
    // The spent nonce stays spent: a replay after the restart is refused.
    EXPECT_TRUE(is_error(recover(e.id, rec, cold.sign_b64(rec), recovered), "recovery authorization already used"));
    rdv::JsonPtr r = call(c, json_pack("{s:s, s:I, s:s}", "type", "get_identity", "node_id", json_int_t(d.id),
                                       "admin_token", server.admin_token.c_str()));
    EXPECT_EQ(str(r.get(), "external_id"), "okta|dee") << dump(r.get());
  };

  pid_t worker = server.worker("rendezvous-registry");
  ASSERT_GT(worker, 0);
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  ASSERT_GT(server.wait_worker("rendezvous-registry", worker, 15000), 0);
  std::string err;
  ASSERT_TRUE(server.wait_ready(15000, &err)) << err;
  check("after SIGKILL of the registry worker");

  ASSERT_NE(server.stop(), -1);
  server.new_ports();
  ASSERT_TRUE(server.start(&err)) << err;
  check("after a restart");
}

}  // namespace
}  // namespace rt
