// The bench's nodes and the request streams of every workload.
//
// All key material and signatures are made before a timed phase (in parallel on every core, while
// the server is idle), so during timing the client only copies prepared frames:
//
//   base nodes   K nodes (default 20 000) registered during setup, signed, each with a hostname
//                b<run>-<i>; the first min(K, 10 000) are set public (set_visibility, signed).
//                lookup: random base node id; resolve_hostname: random public hostname;
//                heartbeat (steady): base nodes in turn, each already verified once in the
//                last 60 s (a warm-up pass), so the server's 120 s verify cache (§4.5) hits.
//   chains       requests that depend on each other, sent in order per chain (step_scheduler.h):
//                handshake: pairs of base nodes (A, B) running trust-handshake rounds —
//                request_handshake A→B, poll_handshakes B, respond_handshake B accepts A;
//                join: base nodes joining and leaving one open network in turn.
//   fresh pool   brand-new key pairs with a signed register frame each; every pool entry is
//                registered at most once (register and mixed). Nodes registered by the pool get
//                a precomputed heartbeat and serve "heartbeat_first": every request is the first
//                heartbeat of that node, so the server must verify its signature.
//
// Thread rules: build factories on the main thread; a factory's sources touch only their own
// slice of the pool, so worker threads never share a mutable entry.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/bench/loadgen.h"
#include "tests/bench/step_scheduler.h"

namespace rdv::bench {

inline constexpr const char* kListenAddr = "203.0.113.7:4000";  // TEST-NET-3, kept verbatim

struct BaseNode {
  std::array<uint8_t, 64> sk{};
  std::string pub_b64;
  std::string hostname;
  std::string register_frame;
  uint32_t id = 0;  // from register_ok; 0 = registration failed
  bool is_public = false;
  std::string lookup_frame, heartbeat_frame, visibility_frame, resolve_frame;
};

struct FreshKey {
  std::array<uint8_t, 64> sk{};
  std::string register_frame;
  bool used = false;         // register sent (whatever the outcome)
  uint32_t id = 0;           // set when register_ok arrived
  std::string heartbeat_frame;
  bool heartbeat_used = false;
};

// Requests that must go in order (one chain: a handshake pair, or a node joining and leaving),
// precomputed: frames[step].
struct Chain {
  std::array<std::string, 3> frames;
};

// Where the chains of one workload on one server stand, and how many of them are still usable.
struct ChainSet {
  std::vector<Chain> chains;
  std::vector<ChainState> states;
  size_t live() const {
    size_t n = 0;
    for (auto& s : states) n += !s.retired;
    return n;
  }
};

// Runs fn(i) for i in [0, n) on every core.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

class Fixture {
 public:
  // `fake_ids`: the target is the noop server, whose replies carry no real ids; nodes get ids
  // 1..K instead so every code path still runs.
  Fixture(std::string run_tag, bool fake_ids) : tag_(std::move(run_tag)), fake_ids_(fake_ids) {}

  // Generates and registers `k` base nodes, sets the first `k_public` public. Prints progress.
  // Returns false (with *error) if too many registrations failed to make the workloads valid.
  bool prepare_base(const RunSpec& spec, size_t k, size_t k_public, std::string* error);
  // One heartbeat for every base node (drain mode), so the server's verify cache is warm.
  // Skipped if the last pass was less than 60 s ago.
  bool warm_heartbeats(const RunSpec& spec, std::string* error);
  // Makes sure at least `n` unused fresh keys exist (generating more if needed).
  void ensure_fresh(size_t n);
  size_t fresh_unused() const;
  // Makes sure at least `n` fresh nodes are registered and never heartbeated, registering
  // more from the pool (drain mode) if needed; then signs their heartbeats.
  bool ensure_first_heartbeat_nodes(const RunSpec& spec, size_t n, std::string* error);
  size_t first_heartbeat_nodes() const;

  // Probes of the verify cache, run once each: a heartbeat with a bad signature for a base
  // node. Returns "rejected" / "accepted" / an error text.
  std::string probe_bad_heartbeat(const RunSpec& spec, size_t base_index);

  // Trust-handshake pairs (registered base nodes 2i and 2i+1, for i < `pairs`): the three
  // signed frames of a round, made on every core. Returns the number of pairs (fewer if not
  // enough base nodes are registered).
  size_t prepare_handshakes(size_t pairs);
  // create_network (open, name bench-<tag>, admin token `admin_token`, creator: the last
  // registered base node), then signed join_network/leave_network frames for the first
  // `nodes` registered base nodes (never the creator). Blocking; false with *error on failure.
  bool prepare_join(const RunSpec& spec, size_t nodes, const std::string& admin_token,
                    std::string* error);
  uint32_t join_network_id() const { return join_net_; }
  const ChainSet& handshake_chains() const { return handshakes_; }
  const ChainSet& join_chains() const { return joins_; }

  size_t base_registered() const { return registered_.size(); }
  size_t base_public() const { return public_.size(); }

  SourceFactory lookup() const;
  SourceFactory resolve_hostname() const;
  SourceFactory heartbeat_steady() const;
  SourceFactory register_fresh();   // marks pool entries used; records ids
  SourceFactory heartbeat_first();  // consumes first-heartbeat nodes
  // 70 % lookup, 25 % heartbeat (steady), 5 % register (fresh).
  SourceFactory mixed();
  // Handshake rounds over the prepared pairs, each pair's steps in order; thread t of T runs
  // pairs t, t+T, … (so give it many more pairs than connections).
  SourceFactory handshake();
  // join_network / leave_network of the prepared nodes in turn, in order per node.
  SourceFactory join();

 private:
  std::vector<uint32_t> unused_fresh_indices() const;

  std::string tag_;
  bool fake_ids_;
  std::vector<BaseNode> base_;
  std::vector<const BaseNode*> registered_;  // base nodes with an id
  std::vector<const BaseNode*> public_;      // ... that are public with a hostname
  std::vector<FreshKey> pool_;
  int64_t last_warm_ns_ = 0;
  ChainSet handshakes_, joins_;
  uint32_t join_net_ = 0;
};

}  // namespace rdv::bench
