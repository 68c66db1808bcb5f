#include "tests/bench/parser.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "shared/crypto.h"
#include "shared/message.h"
#include "tests/bench/text.h"

namespace rdv::bench {

namespace {

// Request bodies as daemons send them (wire-protocol §5–§6): base64 keys and signatures of
// the real lengths, addresses, tags.
struct Body {
  const char* name;
  std::string text;
};

std::vector<Body> bodies() {
  const std::string key = "MCowBQYDK2VwAyEAq3m9Jx0Yd1Qv8oZ2cU5WkT7nR4pL6sE1bH0aG9fI3=";  // 44+ chars
  const std::string sig(88, 'A');
  return {
      {"heartbeat", R"({"type":"heartbeat","node_id":48213,"signature":")" + sig + R"("})"},
      {"lookup", R"({"type":"lookup","node_id":48213})"},
      {"resolve", R"({"type":"resolve","node_id":48213,"requester_id":1177,"signature":")" + sig + R"("})"},
      {"register", R"({"type":"register","listen_addr":"203.0.113.7:37736","public_key":")" + key +
                       R"(","signature":")" + sig +
                       R"(","hostname":"build-runner-07","version":"v1.9.2","tags":["ci","linux","eu-west"],)"
                       R"("lan_addrs":["192.168.1.20:37736","10.8.0.3:37736"],"public":false,"task_exec":true})"},
      {"list_nodes", R"({"type":"list_nodes","network_id":12,"requester_id":1177,"signature":")" + sig + R"("})"},
      {"set_tags", R"({"type":"set_tags","node_id":48213,"tags":["web","eu","gpu","spot"],"signature":")" + sig + R"("})"},
      {"request_handshake", R"({"type":"request_handshake","node_id":48213,"target_id":1177,)"
                            R"("justification":"deploy pipeline needs the artifact cache \u2014 ticket #4411","signature":")" +
                                sig + R"("})"},
  };
}

// What a handler reads, so both parsers do the work the registry needs (the checksum keeps
// the reads from being optimised away).
uint64_t read_ours(const Message& m) {
  uint64_t sum = m.type().size() + m.u32("node_id") + m.u32("requester_id") + m.u32("target_id") + m.u16("network_id") +
                 m.str("signature").size() + m.str("public_key").size() + m.str("listen_addr").size() +
                 m.str("hostname").size() + m.str("justification").size();
  if (m.has("tags")) sum += m.string_list("tags").size();
  if (m.has("lan_addrs")) sum += m.string_list("lan_addrs").size();
  return sum;
}

bool parse_ours(const std::string& body, uint64_t* sum) {
  Message m;
  std::string err;
  if (!m.parse(body, &err)) return false;
  *sum += read_ours(m);
  return true;
}

// No bytes after the document (simdjson 3.0 has no document::at_end): the iterator's location
// is past the end once the whole input is consumed.
bool at_end(simdjson::ondemand::document& doc) {
  const char* loc = nullptr;
  return doc.current_location().get(loc) == simdjson::OUT_OF_BOUNDS;
}

// On-Demand, reading the same fields (lazily: the parts not read are not validated).
bool parse_simdjson_fields(simdjson::ondemand::parser& p, const simdjson::padded_string& body, uint64_t* sum) {
  using namespace simdjson;
  ondemand::document doc;
  if (p.iterate(body).get(doc)) return false;
  ondemand::object obj;
  if (doc.get_object().get(obj)) return false;
  // One pass over the members, as the fields come in any order.
  for (auto field : obj) {
    std::string_view k;
    if (field.unescaped_key().get(k)) return false;
    ondemand::value v = field.value();
    if (k == "type" || k == "signature" || k == "public_key" || k == "listen_addr" || k == "hostname" ||
        k == "justification") {
      std::string_view s;
      if (!v.get_string().get(s)) *sum += s.size();
    } else if (k == "node_id" || k == "requester_id" || k == "target_id" || k == "network_id") {
      double d;
      if (!v.get_double().get(d) && d >= 0 && d <= 4294967295.0) *sum += uint64_t(d);
    } else if (k == "tags" || k == "lan_addrs") {
      ondemand::array a;
      if (!v.get_array().get(a))
        for (auto el : a) {
          std::string_view s;
          if (!el.get_string().get(s)) *sum += 1;
        }
    }
  }
  return at_end(doc);
}

// On-Demand walking every value: the whole body validated and every string unescaped.
bool walk(simdjson::ondemand::value v, int depth, uint64_t* sum) {
  using namespace simdjson;
  (void)depth;  // simdjson's own depth limit (1024 by default) applies
  ondemand::json_type t;
  if (v.type().get(t)) return false;
  switch (t) {
    case ondemand::json_type::object: {
      ondemand::object o;
      if (v.get_object().get(o)) return false;
      for (auto f : o) {
        std::string_view k;
        if (f.unescaped_key().get(k)) return false;
        ondemand::value fv;
        if (f.value().get(fv) || !walk(fv, depth + 1, sum)) return false;
      }
      return true;
    }
    case ondemand::json_type::array: {
      ondemand::array a;
      if (v.get_array().get(a)) return false;
      for (auto el : a) {
        ondemand::value ev;
        if (el.get(ev) || !walk(ev, depth + 1, sum)) return false;
      }
      return true;
    }
    case ondemand::json_type::string: {
      std::string_view s;
      if (v.get_string().get(s)) return false;
      *sum += s.size();
      return true;
    }
    case ondemand::json_type::number: {
      double d;
      if (v.get_double().get(d)) return false;
      *sum += uint64_t(d > 0 && d < 1e18 ? d : 0);
      return true;
    }
    case ondemand::json_type::boolean: {
      bool b;
      return !v.get_bool().get(b);
    }
    case ondemand::json_type::null: {
      bool null = false;
      return !v.is_null().get(null) && null;
    }
  }
  return false;
}

bool parse_simdjson_walk(simdjson::ondemand::parser& p, const simdjson::padded_string& body, uint64_t* sum) {
  using namespace simdjson;
  ondemand::document doc;
  if (p.iterate(body).get(doc)) return false;
  ondemand::json_type t;
  if (doc.type().get(t)) return false;
  if (t == ondemand::json_type::null) {
    bool null = false;
    return !doc.is_null().get(null) && null && at_end(doc);
  }
  if (t != ondemand::json_type::object) return false;
  ondemand::object obj;
  if (doc.get_object().get(obj)) return false;
  for (auto f : obj) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return false;
    ondemand::value fv;
    if (f.value().get(fv) || !walk(fv, 1, sum)) return false;
  }
  return at_end(doc);
}

template <typename F>
double rate(double seconds, F&& parse_once) {
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  uint64_t n = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 1000; i++) parse_once();
    n += 1000;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  } while (elapsed < seconds);
  return double(n) / elapsed;
}

}  // namespace

int run_parser_bench(double seconds) {
  simdjson::ondemand::parser sj;
  std::vector<Body> list = bodies();
  printf("request parser: shared/message.h vs simdjson %s On-Demand (%s), %.1f s per cell (best of 5 interleaved rounds), one thread\n",
         SIMDJSON_STRINGIFY(SIMDJSON_VERSION), SIMDJSON_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION), seconds);
  printf("  %-18s %6s %14s %14s %16s %16s %10s %10s\n", "body", "bytes", "ours parse/s", "ours/s", "simdjson read/s",
         "simdjson walk/s", "vs read", "vs walk");
  double total_ours = 0, total_read = 0, total_walk = 0;
  uint64_t sink = 0;
  bool all_ok = true;
  for (const Body& b : list) {
    simdjson::padded_string padded(b.text);
    uint64_t s = 0;
    bool ok = parse_ours(b.text, &s) && parse_simdjson_fields(sj, padded, &s) && parse_simdjson_walk(sj, padded, &s);
    if (!ok) {
      printf("  %-18s a parser refused the body\n", b.name);
      all_ok = false;
      continue;
    }
    // Five rounds, the four measurements interleaved in each, the best rate of each kept: on
    // a shared machine the load of others then weighs on all four alike.
    double parse_only = 0, ours = 0, read = 0, walk_rate = 0;
    const double slice = seconds / 5;
    for (int round = 0; round < 5; round++) {
      parse_only = std::max(parse_only, rate(slice, [&] {
                              Message m;
                              std::string err;
                              sink += m.parse(b.text, &err);
                            }));
      ours = std::max(ours, rate(slice, [&] { parse_ours(b.text, &sink); }));
      read = std::max(read, rate(slice, [&] { parse_simdjson_fields(sj, padded, &sink); }));
      walk_rate = std::max(walk_rate, rate(slice, [&] { parse_simdjson_walk(sj, padded, &sink); }));
    }
    // Harmonic totals: the rate of a mix with one of each body.
    total_ours += 1 / ours, total_read += 1 / read, total_walk += 1 / walk_rate;
    printf("  %-18s %6zu %14s %14s %16s %16s %10s %10s\n", b.name, b.text.size(), thousands(parse_only).c_str(),
           thousands(ours).c_str(),
           thousands(read).c_str(), thousands(walk_rate).c_str(), ratio_text(ours / read).c_str(),
           ratio_text(ours / walk_rate).c_str());
  }
  double n = double(list.size());
  printf("  %-18s %6s %14s %14s %16s %16s %10s %10s\n", "mix (one of each)", "", "", thousands(n / total_ours).c_str(),
         thousands(n / total_read).c_str(), thousands(n / total_walk).c_str(),
         ratio_text(total_read / total_ours).c_str(), ratio_text(total_walk / total_ours).c_str());
  printf("  (ours parse = Message::parse alone; ours, read and walk also read the fields a handler reads; ratio =\n"
         "   ours / simdjson; simdjson's bodies are pre-padded: a server would pad its read buffer; checksum %llu)\n\n",
         static_cast<unsigned long long>(sink % 10));

  printf("strictness: verdicts on malformed bodies (simdjson walking every value, as above)\n");
  printf("  %-44s %-8s %-8s %-9s\n", "case", "ours", "simdjson", "");
  int stricter_ours = 0, stricter_sj = 0;
  for (const StrictnessCase& c : kStrictnessCases) {
    std::string body(c.body);
    if (std::string_view(c.name) == "nesting 512 deep") body = deep_body(512);
    if (std::string_view(c.name) == "nesting 513 deep") body = deep_body(513);
    Message m;
    std::string err;
    bool ours = m.parse(body, &err);
    simdjson::padded_string padded(body);
    uint64_t s = 0;
    bool theirs = parse_simdjson_walk(sj, padded, &s);
    const char* note = ours == theirs ? "" : ours ? "simdjson stricter" : "ours stricter";
    stricter_ours += !ours && theirs;
    stricter_sj += ours && !theirs;
    printf("  %-44s %-8s %-8s %s\n", c.name, ours ? "accept" : "refuse", theirs ? "accept" : "refuse", note);
  }
  printf("  cases where only ours refuses: %d; only simdjson refuses: %d\n", stricter_ours, stricter_sj);
  return all_ok ? 0 : 1;
}

}  // namespace rdv::bench
