// Configuration (shared/config.h): defaults, precedence flag > file > default, flag syntax,
// error messages that name the key, to_json/from_json; and the time helpers of shared/util.h
// that configuration and the protocol depend on (durations, RFC 3339).
#include "config.h"

#include <gtest/gtest.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "json.h"
#include "util.h"

namespace {

constexpr int64_t kSec = 1000000000LL;

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/rdv-config-XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    if (fd >= 0) {
      (void)!write(fd, content.data(), content.size());
      close(fd);
    }
  }
  ~TempFile() { unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

bool parse(rdv::Config& c, const std::vector<std::string>& args, std::string* err) {
  return c.parse(args, err);
}

TEST(Config, Defaults) {
  rdv::Config c;
  std::string err;
  ASSERT_TRUE(parse(c, {}, &err)) << err;
  EXPECT_EQ(c.registry_addr, ":9000");
  EXPECT_EQ(c.beacon_addr, ":9001");
  EXPECT_EQ(c.http, "");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_format, "text");
  EXPECT_EQ(c.admin_token, "");
  EXPECT_EQ(c.standby, "");
  EXPECT_FALSE(c.tls);
  EXPECT_EQ(c.stale_threshold_ns, 30 * 60 * kSec);
  EXPECT_EQ(c.max_message_bytes, 64LL << 20);
  EXPECT_EQ(c.max_nodes, 1000000);
  EXPECT_FALSE(c.check_config);
}

TEST(Config, OneAndTwoDashFlags) {
  rdv::Config c;
  std::string err;
  ASSERT_TRUE(parse(c, {"-registry-addr", "127.0.0.1:9100", "--http", "127.0.0.1:3100",
                        "-admin-token=abc", "--log-level=debug", "--stale-threshold", "90s"},
                    &err))
      << err;
  EXPECT_EQ(c.registry_addr, "127.0.0.1:9100");
  EXPECT_EQ(c.http, "127.0.0.1:3100");
  EXPECT_EQ(c.admin_token, "abc");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.stale_threshold_ns, 90 * kSec);
}

TEST(Config, ValueWithEqualsSign) {
  rdv::Config c;
  std::string err;
  ASSERT_TRUE(parse(c, {"-admin-token=a=b=c"}, &err)) << err;
  EXPECT_EQ(c.admin_token, "a=b=c");
}

TEST(Config, BoolFlagWithoutValue) {
  rdv::Config c;
  std::string err;
  ASSERT_TRUE(parse(c, {"-check-config", "-registry-addr", "127.0.0.1:1"}, &err)) << err;
  EXPECT_TRUE(c.check_config);
  EXPECT_EQ(c.registry_addr, "127.0.0.1:1");

  rdv::Config d;
  ASSERT_TRUE(parse(d, {"--tls=false"}, &err)) << err;
  EXPECT_FALSE(d.tls);
}

TEST(Config, BoolFlagTlsWithoutValueIsTrue) {
  rdv::Config c;
  std::string err;
  EXPECT_TRUE(parse(c, {"-tls"}, &err)) << err;
  EXPECT_TRUE(c.tls);
}

// The TLS and PROXY settings are checked together, each error naming its flag.
TEST(Config, TlsAndProxySettingsAreChecked) {
  struct Case {
    std::vector<std::string> args;
    const char* names;
  } cases[] = {
      {{"-tls", "-tls-cert", "/c.pem"}, "tls-cert: given without -tls-key"},
      {{"-tls", "-tls-key", "/k.pem"}, "tls-key: given without -tls-cert"},
      {{"-tls-cert", "/c.pem", "-tls-key", "/k.pem"}, "without -tls"},
      {{"-standby-tls-pin", std::string(64, 'a')}, "standby-tls-pin: given without -standby-tls"},
      {{"-standby-tls", "-standby-tls-pin", "abc"}, "standby-tls-pin"},
      {{"-standby-tls", "-standby-tls-pin", std::string(64, 'g')}, "standby-tls-pin"},
      {{"-proxy-protocol-from", "10.0.0.0/33"}, "proxy-protocol-from"},
  };
  for (auto& k : cases) {
    rdv::Config c;
    std::string err;
    EXPECT_FALSE(parse(c, k.args, &err)) << k.args[0];
    EXPECT_NE(err.find(k.names), std::string::npos) << err;
  }
  rdv::Config ok;
  std::string err;
  EXPECT_TRUE(parse(ok, {"-tls", "-tls-cert", "/c.pem", "-tls-key", "/k.pem", "-standby-tls", "-standby-tls-pin",
                         std::string(64, 'A'), "-proxy-protocol-from", "127.0.0.1, 10.0.0.0/8"},
                    &err))
      << err;
}

TEST(Config, BadBoolNamesFlag) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-tls=maybe"}, &err));
  EXPECT_NE(err.find("tls"), std::string::npos) << err;
}

TEST(Config, BadDurationNamesKey) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-stale-threshold", "soon"}, &err));
  EXPECT_NE(err.find("stale-threshold"), std::string::npos) << err;
}

TEST(Config, BadLogLevelNamesKey) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-log-level", "loud"}, &err));
  EXPECT_NE(err.find("log-level"), std::string::npos) << err;
}

TEST(Config, BadIntegerNamesKey) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-max-nodes", "many"}, &err));
  EXPECT_NE(err.find("max-nodes"), std::string::npos) << err;
}

TEST(Config, UnknownFlagNamed) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-bogus-flag", "1"}, &err));
  EXPECT_NE(err.find("bogus-flag"), std::string::npos) << err;
}

TEST(Config, MissingValueNamed) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-admin-token"}, &err));
  EXPECT_NE(err.find("admin-token"), std::string::npos) << err;
}

TEST(Config, BadRegistryAddrNamed) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-registry-addr", "no-port"}, &err));
  EXPECT_NE(err.find("registry-addr"), std::string::npos) << err;
}

TEST(Config, FileWithHyphenAndUnderscoreKeys) {
  TempFile f(R"({"registry-addr":"127.0.0.1:9200","log_level":"debug","stale_threshold":"10m",)"
             R"("admin-token":"file-token","max_nodes":42,"http":"127.0.0.1:3200"})");
  rdv::Config c;
  std::string err;
  ASSERT_TRUE(parse(c, {"-config", f.path()}, &err)) << err;
  EXPECT_EQ(c.registry_addr, "127.0.0.1:9200");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.stale_threshold_ns, 10 * 60 * kSec);
  EXPECT_EQ(c.admin_token, "file-token");
  EXPECT_EQ(c.max_nodes, 42);
  EXPECT_EQ(c.http, "127.0.0.1:3200");
  EXPECT_EQ(c.beacon_addr, ":9001");  // not in file: default
}

TEST(Config, FlagBeatsFileBeatsDefault) {
  TempFile f(R"({"registry_addr":"127.0.0.1:9200","admin-token":"file-token","log-level":"warn"})");
  rdv::Config c;
  std::string err;
  // The flag comes before -config on the command line and still wins.
  ASSERT_TRUE(parse(c, {"--registry-addr=127.0.0.1:9300", "-config=" + f.path(), "-log-level", "error"},
                    &err))
      << err;
  EXPECT_EQ(c.registry_addr, "127.0.0.1:9300");  // flag
  EXPECT_EQ(c.log_level, "error");               // flag
  EXPECT_EQ(c.admin_token, "file-token");        // file
  EXPECT_EQ(c.beacon_addr, ":9001");             // default
}

TEST(Config, BadValueInFileNamesKey) {
  TempFile f(R"({"stale-threshold":"soon"})");
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", f.path()}, &err));
  EXPECT_NE(err.find("stale-threshold"), std::string::npos) << err;
}

TEST(Config, BadUnderscoreValueInFileNamesKey) {
  TempFile f(R"({"max_nodes":"lots"})");
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", f.path()}, &err));
  EXPECT_NE(err.find("max_nodes"), std::string::npos) << err;
}

TEST(Config, BadLogLevelInFileNamesKey) {
  TempFile f(R"({"log_level":"loud"})");
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", f.path()}, &err));
  EXPECT_NE(err.find("log"), std::string::npos) << err;
  EXPECT_NE(err.find("level"), std::string::npos) << err;
}

TEST(Config, NonJsonFileFailsNamingFile) {
  TempFile f("registry-addr = 127.0.0.1:9000\n");
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", f.path()}, &err));
  EXPECT_NE(err.find(f.path()), std::string::npos) << err;
}

TEST(Config, TopLevelArrayFails) {
  TempFile f(R"([{"registry-addr":"127.0.0.1:9000"}])");
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", f.path()}, &err));
  EXPECT_NE(err.find(f.path()), std::string::npos) << err;
  EXPECT_NE(err.find("object"), std::string::npos) << err;
}

TEST(Config, MissingFileFails) {
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", "/nonexistent/rdv-config.json"}, &err));
  EXPECT_NE(err.find("/nonexistent/rdv-config.json"), std::string::npos) << err;
}

TEST(Config, ObjectValueInFileFails) {
  TempFile f(R"({"admin-token":{"nested":true}})");
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(parse(c, {"-config", f.path()}, &err));
  EXPECT_NE(err.find("admin-token"), std::string::npos) << err;
}

TEST(Config, ToJsonFromJsonRoundTrip) {
  rdv::Config a;
  std::string err;
  ASSERT_TRUE(parse(a, {"-registry-addr", "127.0.0.1:9400", "-http", "127.0.0.1:3400", "-admin-token",
                        "tok", "-log-level", "warn", "-log-format", "json", "-stale-threshold", "45s",
                        "-data-dir", "/tmp/d", "-run-dir", "/tmp/r", "-max-nodes", "77",
                        "-repl-token", "rt", "-beacon-addr", "beacon.example:9001"},
                    &err))
      << err;
  rdv::JsonPtr j(a.to_json());
  ASSERT_TRUE(json_is_object(j.get()));
  EXPECT_STREQ(json_string_value(json_object_get(j.get(), "registry-addr")), "127.0.0.1:9400");

  rdv::Config b;
  ASSERT_TRUE(b.from_json(j.get(), &err)) << err;
  EXPECT_EQ(b.registry_addr, a.registry_addr);
  EXPECT_EQ(b.http, a.http);
  EXPECT_EQ(b.admin_token, a.admin_token);
  EXPECT_EQ(b.log_level, a.log_level);
  EXPECT_EQ(b.log_format, a.log_format);
  EXPECT_EQ(b.stale_threshold_ns, a.stale_threshold_ns);
  EXPECT_EQ(b.data_dir, a.data_dir);
  EXPECT_EQ(b.run_dir, a.run_dir);
  EXPECT_EQ(b.max_nodes, a.max_nodes);
  EXPECT_EQ(b.repl_token, a.repl_token);
  EXPECT_EQ(b.beacon_addr, a.beacon_addr);
  EXPECT_EQ(b.max_message_bytes, a.max_message_bytes);
  EXPECT_EQ(b.tls, a.tls);
}

TEST(Config, FromJsonRejectsNonObject) {
  rdv::JsonPtr arr(json_array());
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(c.from_json(arr.get(), &err));
  EXPECT_FALSE(err.empty());
}

TEST(Config, FromJsonBadDurationNamesKey) {
  rdv::JsonPtr o(json_pack("{s:s}", "stale-threshold", "forever"));
  rdv::Config c;
  std::string err;
  EXPECT_FALSE(c.from_json(o.get(), &err));
  EXPECT_NE(err.find("stale-threshold"), std::string::npos) << err;
}


TEST(Config, ReloadRereadsFileButKeepsFlags) {
  TempFile f(R"({"admin-token":"one","log-level":"warn","stale-threshold":"10m"})");
  rdv::Config c;
  std::string err;
  ASSERT_TRUE(parse(c, {"-config", f.path(), "-log-level", "debug"}, &err)) << err;
  EXPECT_EQ(c.admin_token, "one");
  EXPECT_EQ(c.log_level, "debug");
  {
    std::ofstream out(f.path(), std::ios::trunc);
    out << R"({"admin-token":"two","log-level":"error","stale-threshold":"20m"})";
  }
  rdv::Config fresh;
  ASSERT_TRUE(c.reload(&fresh, &err)) << err;
  EXPECT_EQ(fresh.admin_token, "two");
  EXPECT_EQ(fresh.log_level, "debug");  // the flag still wins
  EXPECT_EQ(fresh.stale_threshold_ns, 20 * 60 * kSec);
  EXPECT_EQ(c.admin_token, "one");  // the running config is untouched
  {
    std::ofstream out(f.path(), std::ios::trunc);
    out << "{broken";
  }
  rdv::Config bad;
  EXPECT_FALSE(c.reload(&bad, &err));
  EXPECT_NE(err.find(f.path()), std::string::npos) << err;
}

TEST(Duration, Parse) {
  int64_t ns = -1;
  ASSERT_TRUE(rdv::parse_duration("30m", &ns));
  EXPECT_EQ(ns, 30 * 60 * kSec);
  ASSERT_TRUE(rdv::parse_duration("1h30m", &ns));
  EXPECT_EQ(ns, 90 * 60 * kSec);
  ASSERT_TRUE(rdv::parse_duration("10s", &ns));
  EXPECT_EQ(ns, 10 * kSec);
  ASSERT_TRUE(rdv::parse_duration("250ms", &ns));
  EXPECT_EQ(ns, 250000000);
  ASSERT_TRUE(rdv::parse_duration("1.5h", &ns));
  EXPECT_EQ(ns, 90 * 60 * kSec);
  ASSERT_TRUE(rdv::parse_duration("0", &ns));
  EXPECT_EQ(ns, 0);
  ASSERT_TRUE(rdv::parse_duration("5us", &ns));
  EXPECT_EQ(ns, 5000);
  ASSERT_TRUE(rdv::parse_duration("7ns", &ns));
  EXPECT_EQ(ns, 7);
  ASSERT_TRUE(rdv::parse_duration("-1s", &ns));
  EXPECT_EQ(ns, -kSec);
}

TEST(Duration, ParseRejectsGarbage) {
  int64_t ns;
  for (const char* bad : {"", "10", "abc", "5x", "m", "1.2.3s", "-", "10 s", "1h-5m"})
    EXPECT_FALSE(rdv::parse_duration(bad, &ns)) << bad;
}

TEST(Duration, FormatRoundTrip) {
  EXPECT_EQ(rdv::format_duration(30 * 60 * kSec), "30m");
  EXPECT_EQ(rdv::format_duration(kSec), "1s");
  EXPECT_EQ(rdv::format_duration(2 * 3600 * kSec), "2h");
  for (int64_t v : {int64_t(0), int64_t(1), int64_t(250000000), kSec, 90 * kSec, 90 * 60 * kSec,
                    30 * 60 * kSec + 1, 36 * 3600 * kSec}) {
    int64_t back = -1;
    ASSERT_TRUE(rdv::parse_duration(rdv::format_duration(v), &back)) << rdv::format_duration(v);
    EXPECT_EQ(back, v) << rdv::format_duration(v);
  }
}

TEST(Rfc3339, ParseZulu) {
  int64_t t = 0;
  ASSERT_TRUE(rdv::parse_rfc3339("2024-01-02T03:04:05Z", &t));
  EXPECT_EQ(t, 1704164645);
  ASSERT_TRUE(rdv::parse_rfc3339("1970-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, 0);
}

TEST(Rfc3339, ParseOffsets) {
  int64_t t = 0;
  ASSERT_TRUE(rdv::parse_rfc3339("2024-01-02T05:04:05+02:00", &t));
  EXPECT_EQ(t, 1704164645);
  ASSERT_TRUE(rdv::parse_rfc3339("2024-01-01T22:34:05-04:30", &t));
  EXPECT_EQ(t, 1704164645);
}

TEST(Rfc3339, ParseFractionDropped) {
  int64_t t = 0;
  ASSERT_TRUE(rdv::parse_rfc3339("2024-01-02T03:04:05.123456789Z", &t));
  EXPECT_EQ(t, 1704164645);
  ASSERT_TRUE(rdv::parse_rfc3339("2024-01-02T05:04:05.5+02:00", &t));
  EXPECT_EQ(t, 1704164645);
}

TEST(Rfc3339, ParseRejectsGarbage) {
  int64_t t;
  for (const char* bad : {"", "not-a-date", "2024-01-02", "2024-01-02T03:04:05", "2024-13-02T03:04:05Z",
                          "2024-01-02 03:04:05Z", "2024-01-02T03:04:05.Z", "2024-01-02T03:04:05+0200",
                          "2024-01-02T03:04:05Zjunk", "24-01-02T03:04:05Z", "2024-01-02T25:04:05Z"})
    EXPECT_FALSE(rdv::parse_rfc3339(bad, &t)) << bad;
}

TEST(Rfc3339, FormatUtc) {
  EXPECT_EQ(rdv::rfc3339_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rdv::rfc3339_utc(1704164645), "2024-01-02T03:04:05Z");
  int64_t back = 0;
  ASSERT_TRUE(rdv::parse_rfc3339(rdv::rfc3339_utc(1893456000), &back));
  EXPECT_EQ(back, 1893456000);
}

// -read-timeout (wire §2.5's read deadline): 5 min by default, a duration from the command
// line or the file, refused outside 1 s .. 24 h with a message naming the flag.
TEST(Config, ReadTimeout) {
  rdv::Config d;
  std::string err;
  ASSERT_TRUE(parse(d, {}, &err)) << err;
  EXPECT_EQ(d.read_timeout_ns, 300 * kSec);

  rdv::Config c;
  ASSERT_TRUE(parse(c, {"-read-timeout", "2s"}, &err)) << err;
  EXPECT_EQ(c.read_timeout_ns, 2 * kSec);
  EXPECT_TRUE(c.validate(&err)) << err;

  TempFile f(R"({"read-timeout":"90s"})");
  rdv::Config fromfile;
  ASSERT_TRUE(parse(fromfile, {"-config", f.path()}, &err)) << err;
  EXPECT_EQ(fromfile.read_timeout_ns, 90 * kSec);

  for (const char* bad : {"500ms", "25h"}) {
    rdv::Config b;
    std::string why;
    if (!parse(b, {"-read-timeout", bad}, &why)) {
      EXPECT_NE(why.find("read-timeout"), std::string::npos) << bad << ": " << why;
      continue;
    }
    EXPECT_FALSE(b.validate(&why)) << bad << " was accepted";
    EXPECT_NE(why.find("read-timeout"), std::string::npos) << bad << ": " << why;
  }
}

}  // namespace
