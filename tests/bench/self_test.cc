// `rendezvous-bench --self-test`: checks of the bench's pure parts (reply classification, JSON
// field scanning, histogram buckets and quantiles), so a wrong figure cannot come from a wrong
// checker. Prints failures and returns the process exit code.

#include <cmath>
#include <cstdio>
#include <string>

#include "tests/bench/histogram.h"
#include "tests/bench/loadgen.h"
#include "tests/bench/self_test.h"

namespace rdv::bench {

int run_self_test() {
  int failures = 0;
  auto check = [&](bool ok, const std::string& what) {
    if (!ok) {
      failures++;
      printf("FAIL: %s\n", what.c_str());
    }
  };

  // Reply classification.
  struct Case {
    const char* body;
    const char* expect;
    ReplyClass want;
  };
  const Case cases[] = {
      {R"({"type":"lookup_ok","node_id":7})", "lookup_ok", ReplyClass::Ok},
      {R"({"time":1,"type":"heartbeat_ok"})", "heartbeat_ok", ReplyClass::Ok},
      {R"({ "type" : "lookup_ok" })", "lookup_ok", ReplyClass::Ok},
      {R"({"type":"error","error":"node 9: node not found"})", "lookup_ok", ReplyClass::ErrorReply},
      {R"({"error":"x","type":"lookup_ok"})", "lookup_ok", ReplyClass::ErrorReply},
      {R"({"type":"error"})", "lookup_ok", ReplyClass::ErrorReply},
      {R"({"type":"lookup_okay"})", "lookup_ok", ReplyClass::WrongType},
      {R"({"type":"register_ok"})", "lookup_ok", ReplyClass::WrongType},
      {R"({"node_id":7})", "lookup_ok", ReplyClass::WrongType},
      {R"({})", "lookup_ok", ReplyClass::WrongType},
      {R"()", "lookup_ok", ReplyClass::WrongType},
      // "error" as a value, and an escaped "error": inside a string, are not an error key.
      {R"({"type":"lookup_ok","hostname":"error","tags":["error"]})", "lookup_ok", ReplyClass::Ok},
      {R"({"type":"lookup_ok","version":"\"error\": no"})", "lookup_ok", ReplyClass::Ok},
      // hostname_error is a different key: a register with a refused hostname still succeeded.
      {R"({"type":"register_ok","node_id":3,"hostname_error":"hostname too long"})", "register_ok",
       ReplyClass::Ok},
      // A key named "mytype" is not "type".
      {R"({"mytype":"lookup_ok"})", "lookup_ok", ReplyClass::WrongType},
  };
  for (const auto& c : cases)
    check(classify_reply(c.body, c.expect) == c.want,
          std::string("classify_reply(") + c.body + ", " + c.expect + ")");

  uint64_t v = 0;
  check(json_uint_field(R"({"type":"register_ok","node_id":4294967295})", "node_id", &v) &&
            v == 4294967295u,
        "json_uint_field max u32");
  check(json_uint_field(R"({"network_id":0,"node_id" : 12})", "node_id", &v) && v == 12,
        "json_uint_field spaces");
  check(!json_uint_field(R"({"node_id":"12"})", "node_id", &v), "json_uint_field string");
  check(!json_uint_field(R"({"x_node_id":12})", "node_id", &v), "json_uint_field other key");

  // Histogram: indexes are monotonic, a value lands in a bucket whose midpoint is within 1/64.
  uint64_t prev_idx = 0;
  for (uint64_t x = 0; x < (uint64_t(1) << 22); x += 1 + x / 97) {
    size_t idx = Histogram::index_of(x);
    check(idx >= prev_idx, "index_of monotonic at " + std::to_string(x));
    prev_idx = idx;
    uint64_t mid = Histogram::midpoint_of(idx);
    double err = x ? std::fabs(double(mid) - double(x)) / double(x) : double(mid);
    if (err > 1.0 / 64 + 1e-9) {
      check(false, "bucket error " + std::to_string(err) + " at " + std::to_string(x));
      break;
    }
  }
  check(Histogram::index_of((uint64_t(1) << Histogram::kMaxExp) - 1) < Histogram::kBuckets,
        "largest value fits");
  Histogram h;
  for (int i = 1; i <= 1000000; i++) h.record(i * 1000);  // 1 µs … 1 s, uniform
  auto near = [](uint64_t got, double want) { return std::fabs(double(got) - want) <= want / 50; };
  check(near(h.quantile_ns(0.5), 500e6), "p50 " + std::to_string(h.quantile_ns(0.5)));
  check(near(h.quantile_ns(0.99), 990e6), "p99 " + std::to_string(h.quantile_ns(0.99)));
  check(near(h.quantile_ns(0.999), 999e6), "p999 " + std::to_string(h.quantile_ns(0.999)));
  check(h.quantile_ns(1.0) == 1000000000, "p100 is the max");
  Histogram a, b;
  a.record(100);
  b.record(300);
  a.merge(b);
  check(a.count() == 2 && a.min_ns() == 100 && a.max_ns() == 300, "merge");
  check(Histogram().quantile_ns(0.5) == 0, "empty histogram");

  printf("self-test: %s (%d failure%s)\n", failures ? "FAILED" : "ok", failures,
         failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}

}  // namespace rdv::bench
