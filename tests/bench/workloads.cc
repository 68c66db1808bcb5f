#include "tests/bench/workloads.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>

#include "shared/crypto.h"
#include "shared/util.h"
#include "shared/wire.h"

namespace rdv::bench {

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<size_t> next{0};
  auto body = [&] {
    constexpr size_t kChunk = 256;
    while (true) {
      size_t begin = next.fetch_add(kChunk);
      if (begin >= n) return;
      for (size_t i = begin; i < std::min(n, begin + kChunk); i++) fn(i);
    }
  };
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < cores; i++) threads.emplace_back(body);
  body();
  for (auto& t : threads) t.join();
}

namespace {

// splitmix64: a tiny per-thread generator for picking nodes (quality is plenty for that).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return size_t(next() % n); }
};

uint64_t random_seed() {
  uint64_t s;
  randombytes_buf(&s, sizeof s);
  return s;
}

std::string sign_b64(const std::array<uint8_t, 64>& sk, std::string_view message) {
  uint8_t sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), sk.data());
  return base64_encode(sig, sizeof sig);
}

std::string frame_of(std::string_view body) {
  std::string f;
  wire::append_json_frame(f, body);
  return f;
}

// A new key pair and its signed register frame (hostname optional).
void make_registration(std::array<uint8_t, 64>* sk, std::string* pub_b64, std::string* frame,
                       std::string_view hostname) {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, sk->data());
  *pub_b64 = base64_encode(pk, sizeof pk);
  std::string sig = sign_b64(*sk, challenge_register(kListenAddr, *pub_b64));
  std::string body = R"({"type":"register","public_key":")" + *pub_b64 +
                     R"(","listen_addr":")" + kListenAddr + R"(","signature":")" + sig + '"';
  if (!hostname.empty()) body += R"(,"hostname":")" + std::string(hostname) + '"';
  body += '}';
  *frame = frame_of(body);
}

std::string heartbeat_frame(const std::array<uint8_t, 64>& sk, uint32_t id) {
  std::string sig = sign_b64(sk, challenge_node("heartbeat", id));
  return frame_of(R"({"type":"heartbeat","node_id":)" + std::to_string(id) +
                  R"(,"signature":")" + sig + R"("})");
}

// Per-thread slices of a list of indices: thread t gets items t, t+T, t+2T, …
std::vector<uint32_t> slice(const std::vector<uint32_t>& all, int t, int count) {
  std::vector<uint32_t> out;
  for (size_t i = size_t(t); i < all.size(); i += size_t(count)) out.push_back(all[i]);
  return out;
}

// Drain-mode source over a fixed list of items.
SourceFactory list_source(std::shared_ptr<const std::vector<uint32_t>> items,
                          std::function<const std::string&(uint32_t)> frame, OpKind kind,
                          std::string_view expect, LambdaSource::Success on_success) {
  return [=](int t, int count) {
    auto mine = std::make_shared<std::vector<uint32_t>>(slice(*items, t, count));
    auto pos = std::make_shared<size_t>(0);
    return std::make_unique<LambdaSource>(
        [=](std::string* out, Op* op) {
          if (*pos >= mine->size()) return false;
          uint32_t item = (*mine)[(*pos)++];
          out->append(frame(item));
          *op = Op{kind, expect, item};
          return true;
        },
        on_success);
  };
}

uint32_t reply_node_id(std::string_view body) {
  uint64_t id = 0;
  if (!json_uint_field(body, "node_id", &id) || id > UINT32_MAX) return 0;
  return uint32_t(id);
}

// One step of a chain workload: what it is and the reply that means success.
struct ChainStep {
  OpKind kind;
  std::string_view expect;
};

// A thread's share of a ChainSet, its chains' steps sent in order (step_scheduler.h). The
// scheduler retires the chains still in flight when the source is destroyed at the end of the
// run, on the thread that ran it.
class ChainSource final : public RequestSource {
 public:
  ChainSource(ChainSet* set, std::vector<uint32_t> mine, std::vector<ChainStep> steps)
      : set_(set), steps_(std::move(steps)),
        sched_(std::move(mine), &set->states, uint8_t(steps_.size())) {}

  bool next(std::string* frame, Op* op) override {
    uint32_t chain;
    uint8_t step;
    if (!sched_.next(&chain, &step)) return false;
    frame->append(set_->chains[chain].frames[step]);
    *op = Op{steps_[step].kind, steps_[step].expect, chain};
    return true;
  }
  void on_success(const Op& op, std::string_view) override { sched_.succeeded(op.tag); }
  void on_failure(const Op& op) override { sched_.failed(op.tag); }

 private:
  ChainSet* set_;
  std::vector<ChainStep> steps_;
  StepScheduler sched_;
};

SourceFactory chain_factory(ChainSet* set, std::vector<ChainStep> steps) {
  std::vector<uint32_t> all(set->chains.size());
  for (size_t i = 0; i < all.size(); i++) all[i] = uint32_t(i);
  auto items = std::make_shared<const std::vector<uint32_t>>(std::move(all));
  return [set, items, steps](int t, int count) -> std::unique_ptr<RequestSource> {
    return std::make_unique<ChainSource>(set, slice(*items, t, count), steps);
  };
}

std::string rate_text(double n, double s) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.0f/s", s > 0 ? n / s : 0.0);
  return buf;
}

}  // namespace

bool Fixture::prepare_base(const RunSpec& spec_in, size_t k, size_t k_public,
                           std::string* error) {
  RunSpec spec = spec_in;
  spec.duration_s = 0;
  int64_t t0 = mono_now_ns();
  base_.assign(k, BaseNode{});
  parallel_for(k, [&](size_t i) {
    BaseNode& n = base_[i];
    n.hostname = "b" + tag_ + "-" + std::to_string(i);
    make_registration(&n.sk, &n.pub_b64, &n.register_frame, n.hostname);
  });
  double gen_s = double(mono_now_ns() - t0) / 1e9;

  // 1. Register every base node.
  auto all = std::make_shared<std::vector<uint32_t>>(k);
  for (size_t i = 0; i < k; i++) (*all)[i] = uint32_t(i);
  int64_t t1 = mono_now_ns();
  RunResult r = run_closed_loop(
      spec, list_source(
                all, [this](uint32_t i) -> const std::string& { return base_[i].register_frame; },
                OpKind::Register, "register_ok", [this](const Op& op, std::string_view body) {
                  BaseNode& n = base_[op.tag];
                  n.id = fake_ids_ ? op.tag + 1 : reply_node_id(body);
                  if (!fake_ids_ && json_has_key(body, "hostname_error")) n.hostname.clear();
                }));
  double reg_s = double(mono_now_ns() - t1) / 1e9;
  if (!r.setup_error.empty() || r.interrupted) {
    *error = "registering base nodes: " + (r.interrupted ? "interrupted" : r.setup_error);
    return false;
  }
  size_t ok = 0;
  for (auto& n : base_) ok += n.id != 0;
  printf("  base nodes: %zu key pairs + signatures in %.2f s; registered %zu/%zu in %.2f s (%s)",
         k, gen_s, ok, k, reg_s, rate_text(double(ok), reg_s).c_str());
  printf("%s\n", r.errors() ? (", " + std::to_string(r.errors()) + " errors").c_str() : "");
  for (auto& s : r.error_samples) printf("    error sample: %s\n", s.c_str());
  if (ok == 0 || ok < k * 9 / 10) {
    *error = "only " + std::to_string(ok) + " of " + std::to_string(k) + " base nodes registered";
    return false;
  }

  // 2. Frames that need the id, signed in parallel.
  parallel_for(k, [&](size_t i) {
    BaseNode& n = base_[i];
    if (n.id == 0) return;
    n.lookup_frame = frame_of(R"({"type":"lookup","node_id":)" + std::to_string(n.id) + "}");
    n.heartbeat_frame = heartbeat_frame(n.sk, n.id);
    if (!n.hostname.empty()) {
      n.resolve_frame =
          frame_of(R"({"type":"resolve_hostname","hostname":")" + n.hostname + R"("})");
      n.visibility_frame = frame_of(
          R"({"type":"set_visibility","node_id":)" + std::to_string(n.id) +
          R"(,"public":true,"signature":")" +
          sign_b64(n.sk, challenge_node("set_visibility", n.id)) + R"("})");
    }
  });

  // 3. Make the first k_public nodes with a hostname public.
  auto vis = std::make_shared<std::vector<uint32_t>>();
  for (size_t i = 0; i < k && vis->size() < k_public; i++)
    if (base_[i].id && !base_[i].visibility_frame.empty()) vis->push_back(uint32_t(i));
  int64_t t2 = mono_now_ns();
  r = run_closed_loop(
      spec,
      list_source(
          vis, [this](uint32_t i) -> const std::string& { return base_[i].visibility_frame; },
          OpKind::SetVisibility, "set_visibility_ok",
          [this](const Op& op, std::string_view) { base_[op.tag].is_public = true; }));
  double vis_s = double(mono_now_ns() - t2) / 1e9;
  if (r.interrupted) {
    *error = "interrupted";
    return false;
  }

  registered_.clear();
  public_.clear();
  for (auto& n : base_) {
    if (n.id == 0) continue;
    registered_.push_back(&n);
    if (n.is_public && !n.resolve_frame.empty()) public_.push_back(&n);
  }
  printf("  set %zu/%zu base nodes public (hostname b%s-<i>) in %.2f s (%s)%s\n", public_.size(),
         vis->size(), tag_.c_str(), vis_s, rate_text(double(public_.size()), vis_s).c_str(),
         r.errors() ? (", " + std::to_string(r.errors()) + " errors").c_str() : "");
  for (auto& s : r.error_samples) printf("    error sample: %s\n", s.c_str());
  return true;
}

bool Fixture::warm_heartbeats(const RunSpec& spec_in, std::string* error) {
  if (last_warm_ns_ != 0 && mono_now_ns() - last_warm_ns_ < 60LL * 1000000000) return true;
  RunSpec spec = spec_in;
  spec.duration_s = 0;
  auto all = std::make_shared<std::vector<uint32_t>>(registered_.size());
  for (size_t i = 0; i < registered_.size(); i++) (*all)[i] = uint32_t(i);
  int64_t t0 = mono_now_ns();
  RunResult r = run_closed_loop(
      spec, list_source(
                all,
                [this](uint32_t i) -> const std::string& {
                  return registered_[i]->heartbeat_frame;
                },
                OpKind::Heartbeat, "heartbeat_ok", nullptr));
  double s = double(mono_now_ns() - t0) / 1e9;
  printf("  heartbeat warm-up: %llu/%zu base nodes in %.2f s (%s)%s\n",
         static_cast<unsigned long long>(r.ok), registered_.size(), s,
         rate_text(double(r.ok), s).c_str(),
         r.errors() ? (", " + std::to_string(r.errors()) + " errors").c_str() : "");
  for (auto& e : r.error_samples) printf("    error sample: %s\n", e.c_str());
  if (r.interrupted || !r.setup_error.empty()) {
    *error = r.interrupted ? "interrupted" : r.setup_error;
    return false;
  }
  last_warm_ns_ = mono_now_ns();
  return true;
}

std::vector<uint32_t> Fixture::unused_fresh_indices() const {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < pool_.size(); i++)
    if (!pool_[i].used) out.push_back(uint32_t(i));
  return out;
}

size_t Fixture::fresh_unused() const {
  size_t n = 0;
  for (auto& f : pool_) n += !f.used;
  return n;
}

void Fixture::ensure_fresh(size_t n) {
  size_t have = fresh_unused();
  if (have >= n) return;
  size_t add = n - have, start = pool_.size();
  int64_t t0 = mono_now_ns();
  pool_.resize(start + add);
  parallel_for(add, [&](size_t i) {
    FreshKey& f = pool_[start + i];
    std::string pub;
    make_registration(&f.sk, &pub, &f.register_frame, "");
  });
  printf("  fresh keys: generated %zu key pairs + register signatures in %.2f s (pool %zu)\n",
         add, double(mono_now_ns() - t0) / 1e9, pool_.size());
}

size_t Fixture::first_heartbeat_nodes() const {
  size_t n = 0;
  for (auto& f : pool_) n += f.id != 0 && !f.heartbeat_used;
  return n;
}

bool Fixture::ensure_first_heartbeat_nodes(const RunSpec& spec_in, size_t n,
                                           std::string* error) {
  size_t have = first_heartbeat_nodes();
  if (have < n) {
    size_t need = n - have;
    ensure_fresh(need);
    auto unused = unused_fresh_indices();
    unused.resize(std::min(unused.size(), need));
    auto items = std::make_shared<std::vector<uint32_t>>(std::move(unused));
    RunSpec spec = spec_in;
    spec.duration_s = 0;
    int64_t t0 = mono_now_ns();
    RunResult r = run_closed_loop(
        spec, list_source(
                  items,
                  [this](uint32_t i) -> const std::string& {
                    pool_[i].used = true;
                    return pool_[i].register_frame;
                  },
                  OpKind::Register, "register_ok", [this](const Op& op, std::string_view body) {
                    pool_[op.tag].id = fake_ids_ ? 1000000 + op.tag : reply_node_id(body);
                  }));
    double s = double(mono_now_ns() - t0) / 1e9;
    printf("  registered %llu more fresh nodes for first-heartbeat in %.2f s (%s)%s\n",
           static_cast<unsigned long long>(r.ok), s, rate_text(double(r.ok), s).c_str(),
           r.errors() ? (", " + std::to_string(r.errors()) + " errors").c_str() : "");
    for (auto& e : r.error_samples) printf("    error sample: %s\n", e.c_str());
    if (r.interrupted || !r.setup_error.empty()) {
      *error = r.interrupted ? "interrupted" : r.setup_error;
      return false;
    }
  }
  int64_t t0 = mono_now_ns();
  std::vector<uint32_t> todo;
  for (size_t i = 0; i < pool_.size(); i++)
    if (pool_[i].id && !pool_[i].heartbeat_used && pool_[i].heartbeat_frame.empty())
      todo.push_back(uint32_t(i));
  parallel_for(todo.size(), [&](size_t j) {
    FreshKey& f = pool_[todo[j]];
    f.heartbeat_frame = heartbeat_frame(f.sk, f.id);
  });
  if (!todo.empty())
    printf("  signed %zu first-heartbeat frames in %.2f s\n", todo.size(),
           double(mono_now_ns() - t0) / 1e9);
  return true;
}

std::string Fixture::probe_bad_heartbeat(const RunSpec& spec, size_t base_index) {
  if (base_index >= registered_.size()) return "no node";
  const BaseNode* n = registered_[base_index];
  // A well-formed signature by the right key over the wrong challenge.
  std::string body = R"({"type":"heartbeat","node_id":)" + std::to_string(n->id) +
                     R"(,"signature":")" + sign_b64(n->sk, "heartbeat:bogus") + R"("})";
  std::string err, reply;
  int fd = connect_loopback(spec.host, spec.port, &err);
  if (fd < 0) return "probe failed: " + err;
  bool ok = blocking_rpc(fd, body, &reply, 5000, &err);
  ::close(fd);
  if (!ok) return "probe failed: " + err;
  if (spec.accept_any) return "n/a (noop server)";
  switch (classify_reply(reply, "heartbeat_ok")) {
    case ReplyClass::Ok: return "accepted";
    case ReplyClass::ErrorReply: return "rejected (" + reply + ")";
    case ReplyClass::WrongType: break;
  }
  return "unexpected reply " + reply;
}

SourceFactory Fixture::lookup() const {
  auto nodes = std::make_shared<std::vector<const BaseNode*>>(registered_);
  return [nodes](int, int) {
    auto rng = std::make_shared<Rng>(random_seed());
    return std::make_unique<LambdaSource>([nodes, rng](std::string* out, Op* op) {
      if (nodes->empty()) return false;
      out->append((*nodes)[rng->below(nodes->size())]->lookup_frame);
      *op = Op{OpKind::Lookup, "lookup_ok", 0};
      return true;
    });
  };
}

SourceFactory Fixture::resolve_hostname() const {
  auto nodes = std::make_shared<std::vector<const BaseNode*>>(public_);
  return [nodes](int, int) {
    auto rng = std::make_shared<Rng>(random_seed());
    return std::make_unique<LambdaSource>([nodes, rng](std::string* out, Op* op) {
      if (nodes->empty()) return false;
      out->append((*nodes)[rng->below(nodes->size())]->resolve_frame);
      *op = Op{OpKind::ResolveHostname, "resolve_hostname_ok", 0};
      return true;
    });
  };
}

SourceFactory Fixture::heartbeat_steady() const {
  auto nodes = std::make_shared<std::vector<const BaseNode*>>(registered_);
  return [nodes](int t, int count) {
    // Each thread walks the whole set from its own offset.
    size_t start = nodes->empty() ? 0 : nodes->size() * size_t(t) / size_t(count);
    auto pos = std::make_shared<size_t>(start);
    return std::make_unique<LambdaSource>([nodes, pos](std::string* out, Op* op) {
      if (nodes->empty()) return false;
      out->append((*nodes)[*pos]->heartbeat_frame);
      if (++*pos == nodes->size()) *pos = 0;
      *op = Op{OpKind::Heartbeat, "heartbeat_ok", 0};
      return true;
    });
  };
}

SourceFactory Fixture::register_fresh() {
  auto items = std::make_shared<std::vector<uint32_t>>(unused_fresh_indices());
  return [this, items](int t, int count) {
    auto mine = std::make_shared<std::vector<uint32_t>>(slice(*items, t, count));
    auto pos = std::make_shared<size_t>(0);
    return std::make_unique<LambdaSource>(
        [this, mine, pos](std::string* out, Op* op) {
          if (*pos >= mine->size()) return false;
          uint32_t i = (*mine)[(*pos)++];
          pool_[i].used = true;
          out->append(pool_[i].register_frame);
          *op = Op{OpKind::Register, "register_ok", i};
          return true;
        },
        [this](const Op& op, std::string_view body) {
          pool_[op.tag].id = fake_ids_ ? 1000000 + op.tag : reply_node_id(body);
        });
  };
}

SourceFactory Fixture::heartbeat_first() {
  auto items = std::make_shared<std::vector<uint32_t>>();
  for (size_t i = 0; i < pool_.size(); i++)
    if (pool_[i].id && !pool_[i].heartbeat_used && !pool_[i].heartbeat_frame.empty())
      items->push_back(uint32_t(i));
  return [this, items](int t, int count) {
    auto mine = std::make_shared<std::vector<uint32_t>>(slice(*items, t, count));
    auto pos = std::make_shared<size_t>(0);
    return std::make_unique<LambdaSource>([this, mine, pos](std::string* out, Op* op) {
      if (*pos >= mine->size()) return false;
      uint32_t i = (*mine)[(*pos)++];
      pool_[i].heartbeat_used = true;
      out->append(pool_[i].heartbeat_frame);
      *op = Op{OpKind::Heartbeat, "heartbeat_ok", i};
      return true;
    });
  };
}

SourceFactory Fixture::mixed() {
  auto nodes = std::make_shared<std::vector<const BaseNode*>>(registered_);
  auto items = std::make_shared<std::vector<uint32_t>>(unused_fresh_indices());
  return [this, nodes, items](int t, int count) {
    auto mine = std::make_shared<std::vector<uint32_t>>(slice(*items, t, count));
    auto pos = std::make_shared<size_t>(0);
    auto rng = std::make_shared<Rng>(random_seed());
    return std::make_unique<LambdaSource>(
        [this, nodes, mine, pos, rng](std::string* out, Op* op) {
          if (nodes->empty()) return false;
          uint64_t dice = rng->next() % 100;
          if (dice < 70) {
            out->append((*nodes)[rng->below(nodes->size())]->lookup_frame);
            *op = Op{OpKind::Lookup, "lookup_ok", 0};
          } else if (dice < 95) {
            out->append((*nodes)[rng->below(nodes->size())]->heartbeat_frame);
            *op = Op{OpKind::Heartbeat, "heartbeat_ok", 0};
          } else {
            if (*pos >= mine->size()) return false;
            uint32_t i = (*mine)[(*pos)++];
            pool_[i].used = true;
            out->append(pool_[i].register_frame);
            *op = Op{OpKind::Register, "register_ok", i};
          }
          return true;
        },
        [this](const Op& op, std::string_view body) {
          if (op.kind == OpKind::Register)
            pool_[op.tag].id = fake_ids_ ? 1000000 + op.tag : reply_node_id(body);
        });
  };
}

size_t Fixture::prepare_handshakes(size_t pairs) {
  size_t want = std::min(pairs, registered_.size() / 2);
  size_t have = handshakes_.chains.size();
  if (want <= have) return have;
  int64_t t0 = mono_now_ns();
  handshakes_.chains.resize(want);
  handshakes_.states.resize(want);
  parallel_for(want - have, [&](size_t j) {
    size_t i = have + j;
    const BaseNode& a = *registered_[2 * i];
    const BaseNode& b = *registered_[2 * i + 1];
    std::string ida = std::to_string(a.id), idb = std::to_string(b.id);
    Chain& c = handshakes_.chains[i];
    c.frames[0] = frame_of(R"({"type":"request_handshake","from_node_id":)" + ida +
                           R"(,"to_node_id":)" + idb + R"(,"justification":"bench","signature":")" +
                           sign_b64(a.sk, challenge_pair("handshake", a.id, b.id)) + R"("})");
    c.frames[1] = frame_of(R"({"type":"poll_handshakes","node_id":)" + idb + R"(,"signature":")" +
                           sign_b64(b.sk, challenge_node("poll_handshakes", b.id)) + R"("})");
    c.frames[2] = frame_of(R"({"type":"respond_handshake","node_id":)" + idb + R"(,"peer_id":)" +
                           ida + R"(,"accept":true,"signature":")" +
                           sign_b64(b.sk, challenge_pair("respond", b.id, a.id)) + R"("})");
  });
  printf("  handshake pairs: %zu (base nodes 2i, 2i+1), 3 signed frames each in %.2f s\n", want,
         double(mono_now_ns() - t0) / 1e9);
  return want;
}

bool Fixture::prepare_join(const RunSpec& spec, size_t nodes, const std::string& admin_token,
                           std::string* error) {
  if (registered_.size() < 2) {
    *error = "join needs at least 2 registered base nodes";
    return false;
  }
  if (join_net_ == 0) {
    const BaseNode& creator = *registered_.back();
    std::string name = "bench-" + tag_;
    std::string body = R"({"type":"create_network","admin_token":")" + admin_token +
                       R"(","node_id":)" + std::to_string(creator.id) + R"(,"name":")" + name +
                       R"(","join_rule":"open"})";
    std::string reply;
    int fd = connect_loopback(spec.host, spec.port, error);
    if (fd < 0) return false;
    bool ok = blocking_rpc(fd, body, &reply, 10000, error);
    ::close(fd);
    if (!ok) {
      *error = "create_network: " + *error;
      return false;
    }
    uint64_t net = 0;
    if (classify_reply(reply, "create_network_ok") != ReplyClass::Ok ||
        !json_uint_field(reply, "network_id", &net) || net == 0 || net > UINT32_MAX) {
      *error = "create_network: unexpected reply " + reply;
      return false;
    }
    join_net_ = uint32_t(net);
    printf("  network %s: id %u, join rule open, created by node %u\n", name.c_str(), join_net_,
           creator.id);
  }
  size_t want = std::min(nodes, registered_.size() - 1);  // the creator is a member already
  size_t have = joins_.chains.size();
  if (want <= have) return true;
  int64_t t0 = mono_now_ns();
  joins_.chains.resize(want);
  joins_.states.resize(want);
  const std::string net = std::to_string(join_net_);
  parallel_for(want - have, [&](size_t j) {
    size_t i = have + j;
    const BaseNode& n = *registered_[i];
    std::string id = std::to_string(n.id);
    Chain& c = joins_.chains[i];
    c.frames[0] = frame_of(R"({"type":"join_network","node_id":)" + id + R"(,"network_id":)" +
                           net + R"(,"signature":")" +
                           sign_b64(n.sk, challenge_pair("join_network", n.id, join_net_)) +
                           R"("})");
    c.frames[1] = frame_of(R"({"type":"leave_network","node_id":)" + id + R"(,"network_id":)" +
                           net + R"(,"signature":")" +
                           sign_b64(n.sk, challenge_pair("leave_network", n.id, join_net_)) +
                           R"("})");
  });
  printf("  join nodes: %zu, signed join/leave frames in %.2f s\n", want,
         double(mono_now_ns() - t0) / 1e9);
  return true;
}

SourceFactory Fixture::handshake() {
  return chain_factory(&handshakes_, {{OpKind::RequestHandshake, "request_handshake_ok"},
                                      {OpKind::PollHandshakes, "poll_handshakes_ok"},
                                      {OpKind::RespondHandshake, "respond_handshake_ok"}});
}

SourceFactory Fixture::join() {
  return chain_factory(&joins_, {{OpKind::JoinNetwork, "join_network_ok"},
                                 {OpKind::LeaveNetwork, "leave_network_ok"}});
}

}  // namespace rdv::bench
