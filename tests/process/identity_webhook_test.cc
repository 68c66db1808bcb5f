// The registry's outbound calls, against a real HTTP server run by the test (http_receiver.h):
// register's identity webhook (wire-protocol §6.1.1 step 2, §10.2 item 24) and validate_token's
// JWKS (§6.1.8) — and that they never block the loop: while one request waits for a slow
// receiver, other connections are answered.
//
// Servers start with -allow-private-endpoints 127.0.0.0/8 so the loopback receiver may be
// called. Most of the texts these calls fail with carry none of the sanitiser's keywords
// (§2.8): over TCP they arrive as "request failed", so the exact texts are checked through
// <run-dir>/registry.sock, where the local operator gets them unsanitised.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <signal.h>
#include <sodium.h>

#include <cstring>
#include <memory>

#include "http_receiver.h"
#include "jwt.h"
#include "protocol.h"

namespace rt {
namespace {

using rdv::jwt::base64url_encode;

class OutboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    server.extra_args = {"-allow-private-endpoints", "127.0.0.0/8"};
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
  }
  void TearDown() override {
    if (HasFailure()) dump_log(server);
  }

  // The local operator's socket: error texts arrive unsanitised.
  Conn local() {
    int e = 0;
    Conn c = Conn::open_unix(server.run_dir + "/registry.sock", &e);
    EXPECT_TRUE(c.ok()) << "connect registry.sock: " << std::strerror(e);
    return c;
  }
  rdv::JsonPtr admin_call(Conn& c, json_t* req) {
    json_object_set_new(req, "admin_token", json_string(server.admin_token.c_str()));
    return call(c, req);
  }
  void set_identity_webhook(const std::string& url) {
    Conn c = server.connect();
    EXPECT_TRUE(is_ok(admin_call(c, json_pack("{s:s,s:s}", "type", "set_identity_webhook", "url", url.c_str())),
                      "set_identity_webhook_ok"));
  }
  void set_idp(const std::string& url, const std::string& issuer = "https://issuer.example",
               const std::string& client_id = "my-app") {
    Conn c = server.connect();
    EXPECT_TRUE(is_ok(admin_call(c, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "set_idp_config", "idp_type", "oidc",
                                              "url", url.c_str(), "issuer", issuer.c_str(), "client_id",
                                              client_id.c_str())),
                      "set_idp_config_ok"));
  }
  // register with an identity_token, on `c`.
  rdv::JsonPtr register_with_token(Conn& c, const Key& k, const std::string& token) {
    rdv::JsonPtr extra(json_pack("{s:s}", "identity_token", token.c_str()));
    return do_register(c, k, kPublicAddr, extra.get());
  }
  rdv::JsonPtr validate(Conn& c, const std::string& token) {
    return admin_call(c, json_pack("{s:s,s:s}", "type", "validate_token", "token", token.c_str()));
  }

  Server server;
};

// A signed register request with an identity_token, as JSON text (for pipelining).
std::string register_body(const Key& k, const std::string& token) {
  std::string pub = k.pub_b64();
  rdv::JsonPtr reg(json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", "register", "public_key", pub.c_str(), "listen_addr",
                             kPublicAddr, "signature", k.sign_b64(std::string("register:") + kPublicAddr + ":" + pub).c_str(),
                             "identity_token", token.c_str()));
  return dump(reg.get());
}

HttpReply json_reply(int status, const std::string& body) {
  HttpReply r;
  r.status = status;
  r.body = body;
  return r;
}

// ---- tokens ----

int64_t now_s() { return int64_t(time(nullptr)); }

std::string claims_json(int64_t exp, const std::string& iss = "https://issuer.example", const std::string& aud = "my-app") {
  return "{\"iss\":\"" + iss + "\",\"sub\":\"user-1\",\"aud\":\"" + aud + "\",\"exp\":" + std::to_string(exp) +
         ",\"nbf\":" + std::to_string(now_s() - 3600) + "}";
}

std::string hs256_token(const std::string& secret, const std::string& kid, const std::string& claims) {
  std::string header = kid.empty() ? R"({"alg":"HS256","typ":"JWT"})" : R"({"alg":"HS256","typ":"JWT","kid":")" + kid + "\"}";
  std::string input = base64url_encode(header) + "." + base64url_encode(claims);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()), secret.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), sizeof mac));
}

std::string oct_jwks(const std::string& kid, const std::string& secret) {
  return R"({"keys":[{"kty":"oct","kid":")" + kid + R"(","alg":"HS256","k":")" + base64url_encode(secret) + "\"}]}";
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// An RSA identity provider key, made by the test.
struct RsaKey {
  std::unique_ptr<EVP_PKEY, PkeyFree> key{EVP_RSA_gen(2048)};

  std::string param(const char* name) const {
    BIGNUM* bn = nullptr;
    if (!key || EVP_PKEY_get_bn_param(key.get(), name, &bn) != 1) return "";
    std::string out(size_t(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }
  std::string jwks(const std::string& kid) const {
    return R"({"keys":[{"kty":"RSA","kid":")" + kid + R"(","alg":"RS256","use":"sig","n":")" +
           base64url_encode(param(OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" + base64url_encode(param(OSSL_PKEY_PARAM_RSA_E)) +
           "\"}]}";
  }
  std::string token(const std::string& kid, const std::string& claims) const {
    std::string input = base64url_encode(R"({"alg":"RS256","typ":"JWT","kid":")" + kid + "\"}") + "." + base64url_encode(claims);
    std::unique_ptr<EVP_MD_CTX, MdFree> md(EVP_MD_CTX_new());
    size_t len = 0;
    auto* in = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &len, in, input.size()) != 1)
      return "";
    std::string sig(len, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) != 1) return "";
    sig.resize(len);
    return input + "." + base64url_encode(sig);
  }
};

// 169.254.169.254 and 10.0.0.1 written as one decimal number: not an address literal to the
// configuration-time check (so the URL is accepted), an address to the resolver — which the
// per-connection guard then refuses.
const char* kMetadataHost = "2852039166";
const char* kPrivateHost = "167772161";

// ---- the identity webhook (register) ----

TEST_F(OutboundTest, WebhookVerifyingTheTokenGivesTheNodeItsExternalId) {
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(200, R"({"verified":true,"external_id":"ext-42"})"); });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr r = register_with_token(c, k, "tok-1");
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_EQ(str(r.get(), "external_id"), "ext-42");

  std::vector<ReceivedRequest> got = hook.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/verify");
  EXPECT_EQ(got[0].body, R"({"token":"tok-1"})");
  EXPECT_NE(got[0].headers.find("application/json"), std::string::npos) << got[0].headers;

  // Without a token nothing is asked, and the reply carries no external_id.
  rdv::JsonPtr again = do_register(c, k);
  ASSERT_TRUE(is_ok(again, "register_ok"));
  EXPECT_FALSE(has(again.get(), "external_id"));
  EXPECT_EQ(num(again.get(), "node_id"), num(r.get(), "node_id"));
  EXPECT_EQ(hook.count(), 1u);
}

TEST_F(OutboundTest, WebhookRejectingTheTokenFailsTheRegistration) {
  HttpReceiver hook([](const ReceivedRequest& q) {
    if (q.body.find("no-reason") != std::string::npos) return json_reply(200, R"({"verified":false})");
    if (q.body.find("no-id") != std::string::npos) return json_reply(200, R"({"verified":true,"external_id":""})");
    if (q.body.find("garbage") != std::string::npos) return json_reply(200, "<html>hello</html>");
    return json_reply(200, R"({"verified":false,"error":"token revoked"})");
  });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));

  Conn c = server.connect();
  EXPECT_TRUE(is_error(register_with_token(c, Key::generate(), "bad"), "request failed"));  // sanitised (§2.8)
  Conn op = local();
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "bad"), "identity verification rejected: token revoked"));
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "no-reason"),
                       "identity verification rejected: token not verified"));
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "no-id"), "identity webhook returned empty external_id"));
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "garbage"),
                       "identity verification failed: unparsable webhook reply"));
  EXPECT_EQ(hook.count(), 5u);

  // Nothing was registered: the first node that does register gets id 1.
  Daemon d = register_daemon(c);
  EXPECT_EQ(d.id, 1u);
}

TEST_F(OutboundTest, WebhookErrorStatusFailsTheRegistration) {
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(500, R"({"verified":true,"external_id":"x"})"); });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  Conn c = server.connect();
  EXPECT_TRUE(is_error(register_with_token(c, Key::generate(), "t"), "request failed"));
  Conn op = local();
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "t"), "identity webhook returned status 500"));
}

TEST_F(OutboundTest, RedirectsAreNotFollowed) {
  HttpReceiver target([](const ReceivedRequest&) { return json_reply(200, R"({"verified":true,"external_id":"x"})"); });
  HttpReceiver hook([&](const ReceivedRequest&) {
    HttpReply r = json_reply(302, "");
    r.headers = {"Location: " + target.url("/verify")};
    return r;
  });
  ASSERT_TRUE(hook.ok() && target.ok());
  set_identity_webhook(hook.url("/verify"));
  Conn op = local();
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "t"), "identity webhook returned status 302"));
  EXPECT_EQ(hook.count(), 1u);
  EXPECT_EQ(target.count(), 0u);
}

TEST_F(OutboundTest, AnOversizeReplyBodyIsCutOff) {
  HttpReceiver hook([](const ReceivedRequest&) {
    return json_reply(200, R"({"verified":true,"external_id":"x","pad":")" + std::string(70000, 'a') + "\"}");
  });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  Conn op = local();
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "t"),
                       "identity verification failed: response body over 65536 bytes"));
}

TEST_F(OutboundTest, WithoutAWebhookTheTokenIsIgnored) {
  Conn c = server.connect();
  rdv::JsonPtr r = register_with_token(c, Key::generate(), "tok");
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_FALSE(has(r.get(), "external_id"));

  // A webhook switched off again is not called either.
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(200, R"({"verified":false})"); });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  set_identity_webhook("");
  EXPECT_TRUE(is_ok(register_with_token(c, Key::generate(), "tok"), "register_ok"));
  EXPECT_EQ(hook.count(), 0u);
}

TEST_F(OutboundTest, RegisterPipelinedBehindItsOwnSettingSeesIt) {
  // One connection sends the setting and the registration in one write: the registration's
  // outbound step is decided only once the setting has committed.
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(200, R"({"verified":true,"external_id":"seen"})"); });
  ASSERT_TRUE(hook.ok());
  Conn c = server.connect();
  Key k = Key::generate();
  rdv::JsonPtr set(json_pack("{s:s,s:s,s:s}", "type", "set_identity_webhook", "url", hook.url("/v").c_str(),
                             "admin_token", server.admin_token.c_str()));
  ASSERT_TRUE(c.send_all(json_frame(dump(set.get())) + json_frame(register_body(k, "tok"))));
  std::string a, b;
  ASSERT_EQ(c.recv_json(&a), Io::Ok);
  ASSERT_EQ(c.recv_json(&b), Io::Ok);
  EXPECT_TRUE(is_ok(parse_json(a), "set_identity_webhook_ok"));
  rdv::JsonPtr r = parse_json(b);
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_EQ(str(r.get(), "external_id"), "seen");
}

TEST_F(OutboundTest, ASlowWebhookHoldsUpOnlyItsOwnConnection) {
  HttpReceiver hook([](const ReceivedRequest&) {
    HttpReply r = json_reply(200, R"({"verified":true,"external_id":"late"})");
    r.hold = true;  // longer than the 5 s timeout: released only when the test ends
    return r;
  });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));

  // A: a registration waiting for the webhook, and a lookup pipelined behind it.
  Conn a = local();
  Key k = Key::generate();
  ASSERT_TRUE(a.send_all(json_frame(register_body(k, "slow")) + json_frame(R"({"type":"lookup","node_id":1})")));
  ASSERT_TRUE(hook.wait_for(1, 10000));
  ASSERT_EQ(hook.held(), 1u);

  // B: meanwhile, another connection registers and looks up, and is answered — all while A's
  // call is still held at the receiver and A has had no reply.
  Conn b = server.connect();
  Daemon d = register_daemon(b);
  ASSERT_NE(d.id, 0u);
  for (int i = 0; i < 5; i++) EXPECT_TRUE(is_ok(do_lookup(b, d.id), "lookup_ok"));
  EXPECT_EQ(hook.held(), 1u);
  std::string early;
  EXPECT_EQ(a.recv_json(&early, 1), Io::Timeout) << early;

  // A's registration times out, then its lookup is answered: its order is kept.
  std::string first, second;
  ASSERT_EQ(a.recv_json(&first, 20000), Io::Ok);
  EXPECT_TRUE(is_error(parse_json(first), "identity verification failed: timed out after 5000 ms"));
  ASSERT_EQ(a.recv_json(&second, 5000), Io::Ok);
  rdv::JsonPtr l = parse_json(second);
  EXPECT_TRUE(is_ok(l, "lookup_ok")) << second;
  EXPECT_EQ(num(l.get(), "node_id"), d.id);
}

TEST_F(OutboundTest, InnerAddressesAreRefusedOnEveryConnection) {
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(200, R"({"verified":true,"external_id":"x"})"); });
  ASSERT_TRUE(hook.ok());
  Conn op = local();
  // The cloud metadata address, then a private one: the URLs pass the configuration check
  // (no address literal), the addresses they resolve to are refused before a packet is sent.
  set_identity_webhook("http://" + std::string(kMetadataHost) + ":" + std::to_string(hook.port()) + "/verify");
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "t"),
                       "identity verification failed: link-local address 169.254.169.254 not allowed"));
  set_identity_webhook("http://" + std::string(kPrivateHost) + ":" + std::to_string(hook.port()) + "/verify");
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "t"),
                       "identity verification failed: private address 10.0.0.1 not allowed"));
  // The same for the identity provider's keys.
  set_idp("http://" + std::string(kPrivateHost) + "/jwks");
  EXPECT_TRUE(is_error(validate(op, hs256_token("s", "k1", claims_json(now_s() + 3600))),
                       "JWKS: fetch JWKS: private address 10.0.0.1 not allowed"));
  EXPECT_EQ(hook.count(), 0u);
}

TEST_F(OutboundTest, ANarrowerAllowListAfterARestartRefusesTheStoredUrl) {
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(200, R"({"verified":true,"external_id":"x"})"); });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  {
    Conn c = server.connect();
    EXPECT_TRUE(is_ok(register_with_token(c, Key::generate(), "t"), "register_ok"));
  }
  ASSERT_EQ(hook.count(), 1u);

  // The operator drops -allow-private-endpoints: the stored loopback URL is refused by the
  // check made before every call (the setting itself survived the restart).
  ASSERT_EQ(server.stop(), 0);
  server.extra_args.clear();
  server.new_ports();
  std::string err;
  ASSERT_TRUE(server.start(&err)) << err;
  Conn op = local();
  EXPECT_TRUE(is_error(register_with_token(op, Key::generate(), "t"),
                       "identity verification failed: loopback address 127.0.0.1 not allowed"));
  EXPECT_EQ(hook.count(), 1u);
}

TEST_F(OutboundTest, AKilledWorkerLeavesNoHalfRegisteredNode) {
  HttpReceiver hook([](const ReceivedRequest& q) {
    HttpReply r = json_reply(200, R"({"verified":true,"external_id":"ext-7"})");
    r.hold = q.body.find("first") != std::string::npos;
    return r;
  });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  Key k = Key::generate();
  {
    Conn c = server.connect();
    ASSERT_TRUE(c.send_json(register_body(k, "first")));
    ASSERT_TRUE(hook.wait_for(1, 10000));
    pid_t worker = server.worker("rendezvous-registry");
    ASSERT_GT(worker, 0);
    ASSERT_EQ(kill(worker, SIGKILL), 0);
    ASSERT_GT(server.wait_worker("rendezvous-registry", worker, 15000), 0);
    EXPECT_TRUE(c.expect_closed(10000));
  }
  // The setting survived; the registration never happened, so it starts from node 1.
  std::string err;
  ASSERT_TRUE(server.wait_ready(15000, &err)) << err;
  Conn c = server.connect();
  rdv::JsonPtr r = register_with_token(c, k, "second");
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_EQ(num(r.get(), "node_id"), 1);
  EXPECT_EQ(str(r.get(), "external_id"), "ext-7");
  EXPECT_EQ(hook.count(), 2u);
}

TEST_F(OutboundTest, StoppingAnswersARequestWaitingForItsCall) {
  HttpReceiver hook([](const ReceivedRequest&) {
    HttpReply r = json_reply(200, "{}");
    r.hold = true;
    return r;
  });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  Conn c = server.connect();
  Key k = Key::generate();
  ASSERT_TRUE(c.send_json(register_body(k, "t")));
  ASSERT_TRUE(hook.wait_for(1, 10000));
  ASSERT_EQ(kill(server.pid, SIGTERM), 0);
  std::string reply;
  ASSERT_EQ(c.recv_json(&reply, 10000), Io::Ok);
  EXPECT_TRUE(is_error(parse_json(reply), "request failed")) << reply;  // "…: registry shutting down"
  EXPECT_EQ(server.wait_exit(15000), 0);
}

TEST_F(OutboundTest, RegisterIdentityTokenBadInput) {
  HttpReceiver hook([](const ReceivedRequest&) { return json_reply(200, R"({"verified":true,"external_id":"x"})"); });
  ASSERT_TRUE(hook.ok());
  set_identity_webhook(hook.url("/verify"));
  Conn c = server.connect();
  EXPECT_TRUE(is_error(register_with_token(c, Key::generate(), std::string(16385, 't')),
                       "identity_token too long (max 16384 bytes)"));
  // A token that is not a string is no token.
  rdv::JsonPtr extra(json_pack("{s:i}", "identity_token", 5));
  rdv::JsonPtr r = do_register(c, Key::generate(), kPublicAddr, extra.get());
  ASSERT_TRUE(is_ok(r, "register_ok"));
  EXPECT_FALSE(has(r.get(), "external_id"));
  EXPECT_EQ(hook.count(), 0u);
}

// ---- validate_token and the JWKS ----

TEST_F(OutboundTest, ValidateTokenHs256AgainstTheProvidersJwksWhichIsCached) {
  HttpReceiver idp([](const ReceivedRequest&) { return json_reply(200, oct_jwks("k1", "supersecret")); });
  ASSERT_TRUE(idp.ok());
  set_idp(idp.url("/jwks"));
  Conn c = server.connect();
  rdv::JsonPtr r = validate(c, hs256_token("supersecret", "k1", claims_json(now_s() + 3600)));
  ASSERT_TRUE(is_ok(r, "validate_token_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "verified")));
  EXPECT_EQ(str(r.get(), "subject"), "user-1");
  EXPECT_EQ(str(r.get(), "issuer"), "https://issuer.example");
  ASSERT_EQ(idp.count("/jwks"), 1u);
  EXPECT_EQ(idp.received()[0].method, "GET");

  // Again, and with a bad signature: the cached keys answer, nothing is fetched.
  EXPECT_TRUE(is_ok(validate(c, hs256_token("supersecret", "k1", claims_json(now_s() + 3600))), "validate_token_ok"));
  rdv::JsonPtr bad = validate(c, hs256_token("wrong", "k1", claims_json(now_s() + 3600)));
  ASSERT_TRUE(is_ok(bad, "validate_token_ok"));  // no "error" member (client-expectations D3)
  EXPECT_TRUE(json_is_false(json_object_get(bad.get(), "verified")));
  EXPECT_EQ(str(bad.get(), "reason"), "invalid HMAC signature");
  EXPECT_EQ(idp.count("/jwks"), 1u);
}

TEST_F(OutboundTest, ValidateTokenRs256) {
  RsaKey key;
  ASSERT_TRUE(key.key);
  HttpReceiver idp([&](const ReceivedRequest&) { return json_reply(200, key.jwks("r1")); });
  ASSERT_TRUE(idp.ok());
  set_idp(idp.url("/keys"));
  Conn c = server.connect();
  std::string tok = key.token("r1", claims_json(now_s() + 3600));
  rdv::JsonPtr r = validate(c, tok);
  ASSERT_TRUE(is_ok(r, "validate_token_ok"));
  EXPECT_TRUE(json_is_true(json_object_get(r.get(), "verified"))) << dump(r.get());
  EXPECT_EQ(str(r.get(), "subject"), "user-1");

  RsaKey other;
  rdv::JsonPtr forged = validate(c, other.token("r1", claims_json(now_s() + 3600)));
  ASSERT_TRUE(is_ok(forged, "validate_token_ok"));
  EXPECT_TRUE(json_is_false(json_object_get(forged.get(), "verified")));
  EXPECT_EQ(str(forged.get(), "reason"), "invalid RSA signature");
  EXPECT_EQ(idp.count(), 1u);
}

TEST_F(OutboundTest, ValidateTokenClaimFailuresAreUnverifiedWithoutFetching) {
  HttpReceiver idp([](const ReceivedRequest&) { return json_reply(200, oct_jwks("k1", "s")); });
  ASSERT_TRUE(idp.ok());
  set_idp(idp.url("/jwks"));
  Conn c = server.connect();
  auto reason = [&](const std::string& tok) {
    rdv::JsonPtr r = validate(c, tok);
    EXPECT_TRUE(is_ok(r, "validate_token_ok"));
    EXPECT_TRUE(r && json_is_false(json_object_get(r.get(), "verified")));
    return r ? str(r.get(), "reason") : "";
  };
  EXPECT_EQ(reason(hs256_token("s", "k1", claims_json(now_s() - 120))).substr(0, 16), "token expired at");
  EXPECT_EQ(reason(hs256_token("s", "k1", claims_json(now_s() + 3600, "https://evil"))),
            "issuer mismatch: got \"https://evil\", want \"https://issuer.example\"");
  EXPECT_EQ(reason(hs256_token("s", "k1", claims_json(now_s() + 3600, "https://issuer.example", "other"))),
            "audience mismatch: got [other], want \"my-app\"");
  std::string future = "{\"iss\":\"https://issuer.example\",\"aud\":\"my-app\",\"nbf\":" + std::to_string(now_s() + 600) + "}";
  EXPECT_EQ(reason(hs256_token("s", "k1", future)).substr(0, 19), "token not yet valid");
  EXPECT_EQ(idp.count(), 0u);
}

TEST_F(OutboundTest, ValidateTokenErrors) {
  Conn c = server.connect();
  Conn op = local();
  std::string good = hs256_token("s", "k1", claims_json(now_s() + 3600));
  EXPECT_TRUE(is_error(call(c, json_pack("{s:s,s:s}", "type", "validate_token", "token", good.c_str())),
                       "invalid admin token"));
  EXPECT_TRUE(is_error(validate(c, ""), "token is required"));
  EXPECT_TRUE(is_error(admin_call(c, json_pack("{s:s,s:i}", "type", "validate_token", "token", 7)), "token is required"));
  EXPECT_TRUE(is_error(validate(c, std::string(16385, 'a')), "token too long (max 16384 bytes)"));
  EXPECT_TRUE(is_error(validate(c, good), "request failed"));  // no identity provider configured
  EXPECT_TRUE(is_error(validate(op, good), "no identity provider configured"));

  HttpReceiver idp([](const ReceivedRequest& q) {
    if (q.path == "/broken") return json_reply(500, "oops");
    if (q.path == "/junk") return json_reply(200, "not json");
    return json_reply(200, R"({"keys":[{"kty":"oct","kid":"a","k":"YQ"},{"kty":"oct","kid":"b","k":"Yg"}]})");
  });
  ASSERT_TRUE(idp.ok());
  set_idp(idp.url("/jwks"));
  EXPECT_TRUE(is_error(validate(c, "not.a.jwt!"), "invalid token: decode JWT header: illegal base64url data"));
  EXPECT_TRUE(is_error(validate(c, "abc"), "invalid token: expected 3 parts, got 1"));
  std::string none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims_json(now_s() + 3600)) + ".";
  EXPECT_TRUE(is_error(validate(op, none), "unsupported JWT algorithm: none"));
  EXPECT_TRUE(is_error(validate(op, hs256_token("s", "", claims_json(now_s() + 3600))),
                       "JWKS: JWT missing required 'kid' header; JWKS has 2 keys"));
  EXPECT_TRUE(is_error(validate(op, hs256_token("s", "zz", claims_json(now_s() + 3600))), "JWKS: JWKS key \"zz\" not found"));
  EXPECT_TRUE(is_error(validate(c, hs256_token("s", "zz", claims_json(now_s() + 3600))), "JWKS: JWKS key \"zz\" not found"));
  EXPECT_EQ(idp.count(), 1u);  // fetched once, then cached

  set_idp(idp.url("/broken"));
  EXPECT_TRUE(is_error(validate(op, good), "JWKS: JWKS endpoint returned status 500"));
  set_idp(idp.url("/junk"));
  rdv::JsonPtr junk = validate(op, good);
  EXPECT_TRUE(is_error_containing(junk, "JWKS: parse JWKS: "));
  // Failures are not cached: each request asks again.
  EXPECT_TRUE(is_error_containing(validate(op, good), "JWKS: parse JWKS: "));
  EXPECT_EQ(idp.count("/junk"), 2u);
}

TEST_F(OutboundTest, ConcurrentValidationsShareOneFetch) {
  HttpReceiver idp([](const ReceivedRequest&) {
    HttpReply r = json_reply(200, oct_jwks("k1", "s"));
    r.hold = true;
    return r;
  });
  ASSERT_TRUE(idp.ok());
  set_idp(idp.url("/jwks"));
  std::string tok = hs256_token("s", "k1", claims_json(now_s() + 3600));
  std::vector<Conn> conns;
  for (int i = 0; i < 3; i++) {
    conns.push_back(server.connect());
    rdv::JsonPtr req(json_pack("{s:s,s:s,s:s}", "type", "validate_token", "token", tok.c_str(), "admin_token",
                               server.admin_token.c_str()));
    ASSERT_TRUE(conns.back().send_json(dump(req.get())));
  }
  ASSERT_TRUE(idp.wait_for(1, 10000));
  // The other two were decided too (their lookups of other connections are answered first).
  Conn probe = server.connect();
  Daemon d = register_daemon(probe);
  EXPECT_TRUE(is_ok(do_lookup(probe, d.id), "lookup_ok"));
  idp.release_held();
  for (Conn& c : conns) {
    std::string reply;
    ASSERT_EQ(c.recv_json(&reply, 10000), Io::Ok);
    rdv::JsonPtr r = parse_json(reply);
    ASSERT_TRUE(is_ok(r, "validate_token_ok"));
    EXPECT_TRUE(json_is_true(json_object_get(r.get(), "verified"))) << reply;
  }
  EXPECT_EQ(idp.count(), 1u);
}

}  // namespace
}  // namespace rt
