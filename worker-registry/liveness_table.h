// The registry's in-memory liveness, by node id: last-seen and last-verified times and the
// node-events state (registry.h says what each field is for).
//
// Node ids are allocated from 1 and never reused, so a table dense by id grows with every id
// ever issued: under registration churn (nodes that register, go silent, are reaped and never
// return) it grew by 24 bytes per id forever. Here ids live in pages of kPageIds. A page is
// allocated when one of its ids is first touched, and freed when the reaper's sweep finds every
// entry on it dead (release_if_dead): a forgotten id reads exactly like a dead entry, so a
// freed page needs no storage at all. The directory keeps one pointer and one state per page.
//
// Threading: the event-loop thread only (like the Registry that owns it).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace rdv::registry {

struct Liveness {
  int64_t last_seen_ns = 0;
  int64_t last_verified_ns = 0;  // last successful heartbeat signature check (§4.5)
  bool dirty = false;            // last_seen not yet written to LMDB
  bool loaded = false;           // last_seen reflects the liveness database
  // node_events: whether the node is online as far as its events said; unknown after a
  // start until it is seen, so a restart does not announce every node again.
  bool online = false;
  bool online_known = false;

  // What a forgotten id reads as (deregistered, reaped, or a new id before its first touch):
  // nothing seen or verified, nothing to flush, nothing to load, not known online.
  static Liveness forgotten() {
    Liveness l;
    l.loaded = true;
    return l;
  }
  // Indistinguishable from forgotten() to every reader: "known offline" and "unknown" lead to
  // the same online event when a forgotten id is seen again (Registry::seen).
  bool dead() const {
    return last_seen_ns == 0 && last_verified_ns == 0 && !dirty && loaded && !(online_known && online);
  }
};

class LivenessTable {
 public:
  static constexpr uint32_t kPageBits = 12;
  static constexpr uint32_t kPageIds = 1u << kPageBits;  // 4 096 ids, 96 KiB a page

  // Ids 0..ids-1 are covered (id 0 is no node): reads past the end are "never loaded".
  size_t ids() const { return ids_; }
  void cover(size_t ids) {
    if (ids <= ids_) return;
    ids_ = ids;
    pages_.resize((ids + kPageIds - 1) >> kPageBits);
  }

  // The entry of `id`, allocating its page (and covering the id) if needed.
  Liveness& at(uint32_t id) {
    if (size_t(id) >= ids_) cover(std::max<size_t>(size_t(id) + 1, ids_ + ids_ / 2));
    Page& p = pages_[id >> kPageBits];
    if (!p.entries) {
      p.entries = std::make_unique<Entries>();
      if (p.freed) p.entries->fill(Liveness::forgotten());
      p.freed = false;
      allocated_++;
    }
    return (*p.entries)[id & (kPageIds - 1)];
  }

  // The entry of `id` for reading: never allocates.
  Liveness get(uint32_t id) const {
    if (size_t(id) >= ids_) return Liveness{};
    const Page& p = pages_[id >> kPageBits];
    if (p.entries) return (*p.entries)[id & (kPageIds - 1)];
    return p.freed ? Liveness::forgotten() : Liveness{};
  }
  // Whether the page holding `id` has storage (the reaper skips the others whole).
  bool page_allocated(uint32_t id) const { return size_t(id) < ids_ && pages_[id >> kPageBits].entries != nullptr; }

  // Frees the page holding `id` if every entry on it is dead. With `all_loaded` (the liveness
  // database has been read in full), an entry never loaded has no row there, so it reads as
  // forgotten too. Returns whether the page was freed.
  bool release_if_dead(uint32_t id, bool all_loaded) {
    if (size_t(id) >= ids_) return false;
    Page& p = pages_[id >> kPageBits];
    if (!p.entries) return false;
    for (Liveness l : *p.entries) {
      l.loaded = l.loaded || all_loaded;
      if (!l.dead()) return false;
    }
    p.entries.reset();
    p.freed = true;
    allocated_--;
    return true;
  }

  // Every allocated entry, for sweeps (ids of unallocated pages read as never seen).
  template <typename F>
  void for_each(F&& f) const {
    for (const Page& p : pages_)
      if (p.entries)
        for (const Liveness& l : *p.entries) f(l);
  }

  // After a promotion every time is read again from LMDB: every entry back to "not loaded",
  // keeping the verify cache (it is about keys, still valid). Freed pages hold no verified
  // times, so they become plain unloaded pages.
  void reset_keeping_verified() {
    for (Page& p : pages_) {
      p.freed = false;
      if (!p.entries) continue;
      for (Liveness& l : *p.entries) {
        const int64_t verified = l.last_verified_ns;
        l = Liveness{};
        l.last_verified_ns = verified;
      }
    }
  }

  size_t pages_allocated() const { return allocated_; }

 private:
  using Entries = std::array<Liveness, kPageIds>;
  struct Page {
    std::unique_ptr<Entries> entries;
    bool freed = false;  // was allocated, all dead when released: entries read as forgotten()
  };
  std::vector<Page> pages_;
  size_t ids_ = 0;
  size_t allocated_ = 0;
};

}  // namespace rdv::registry
