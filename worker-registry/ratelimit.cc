#include "ratelimit.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "json.h"
#include "util.h"

namespace rdv::registry {

namespace {

// GCRA's emission interval: the time one token stands for.
int64_t interval_ns(int64_t rate) { return kRateWindowNs / std::clamp<int64_t>(rate, 1, kMaxRate); }

}  // namespace

// ---- TokenBucket ----
//
// GCRA: a request conforms while the theoretical arrival time (tat) is at most `tolerance`
// ahead of now, tolerance = one window less one interval, so a full bucket admits `rate`
// requests at once and then one per interval. Each admitted request moves tat one interval on
// from max(tat, now).

int64_t TokenBucket::wait_ns(int64_t rate, int64_t now_ns) const {
  int64_t t = interval_ns(rate);
  int64_t wait = tat_ns_ - (kRateWindowNs - t) - now_ns;
  return wait > 0 ? wait : 0;
}

void TokenBucket::take(int64_t rate, int64_t now_ns) { tat_ns_ = std::max(tat_ns_, now_ns) + interval_ns(rate); }

// ---- whitelist ----

bool parse_whitelist(std::string_view text, Whitelist* out, std::string* error) {
  json_error_t jerr;
  JsonPtr doc(json_loadb(text.data(), text.size(), 0, &jerr));
  if (!doc) {
    *error = std::string("not valid JSON: ") + jerr.text;
    return false;
  }
  const json_t* list = doc.get();
  if (json_is_object(list)) list = json_object_get(list, "entries");
  if (!json_is_array(list)) {
    *error = "expected an array of {\"cidr\",\"rate\"} entries (or {\"entries\":[…]})";
    return false;
  }
  Whitelist parsed;
  parsed.reserve(json_array_size(list));
  for (size_t i = 0; i < json_array_size(list); i++) {
    const json_t* e = json_array_get(list, i);
    std::string where = "entry " + std::to_string(i);
    if (!json_is_object(e)) {
      *error = where + ": not an object";
      return false;
    }
    const json_t* cidr = json_object_get(e, "cidr");
    if (!json_is_string(cidr) || json_string_length(cidr) == 0) {
      *error = where + ": cidr missing or empty";
      return false;
    }
    std::string_view text_cidr(json_string_value(cidr), json_string_length(cidr));
    WhitelistEntry w;
    if (!parse_cidr(text_cidr, &w.cidr)) {
      *error = where + ": \"" + std::string(text_cidr.substr(0, 64)) + "\" is not an IP address or CIDR";
      return false;
    }
    const json_t* rate = json_object_get(e, "rate");
    double r = json_is_number(rate) ? json_number_value(rate) : 0;
    if (!(r >= 1)) {  // also refuses NaN
      *error = where + ": rate must be a number >= 1";
      return false;
    }
    w.rate = r >= double(kMaxRate) ? kMaxRate : int64_t(r);
    parsed.push_back(w);
  }
  *out = std::move(parsed);
  return true;
}

int64_t whitelist_rate(const Whitelist& list, const IpAddr& ip) {
  for (const WhitelistEntry& e : list)
    if (cidr_contains(e.cidr, ip)) return e.rate;
  return 0;
}

// ---- IpBucketTable ----

namespace {
constexpr size_t kNpos = size_t(-1);
constexpr size_t kInitialSlots = 64;
// A full table is scanned for idle buckets at most this often: a flood of new IPs then costs
// one probe each, not a scan each.
constexpr int64_t kFullRescanNs = kRateWindowNs / 10;
}  // namespace

IpBucketTable::IpBucketTable(size_t max_entries, uint64_t seed) : slots_(kInitialSlots), max_entries_(max_entries) {
  if (seed == 0) {
    // Keyed by a secret so that no client can pick addresses that all land in one probe run.
    if (sodium_init() < 0) assert_fail("sodium_init() failed", __FILE__, __LINE__);
    randombytes_buf(&seed, sizeof seed);
  }
  seed_ = seed;
}

size_t IpBucketTable::home(const uint8_t* key, uint8_t family) const {
  // SipHash-2-4 (crypto_shorthash) over the address, keyed by the seed.
  unsigned char k[crypto_shorthash_KEYBYTES] = {};
  std::memcpy(k, &seed_, sizeof seed_);
  unsigned char in[17];
  std::memcpy(in, key, 16);
  in[16] = family;
  unsigned char h[crypto_shorthash_BYTES];
  crypto_shorthash(h, in, sizeof in, k);
  uint64_t v;
  std::memcpy(&v, h, sizeof v);
  return size_t(v) & (slots_.size() - 1);
}

size_t IpBucketTable::find(const uint8_t* key, uint8_t family) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = home(key, family);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.family == 0) return kNpos;
    if (s.family == family && std::memcmp(s.key, key, 16) == 0) return i;
  }
}

IpBucket* IpBucketTable::get(const IpAddr& ip, int64_t now_ns, bool privileged, BucketHint* hint) {
  const uint8_t family = ip.family ? uint8_t(ip.family) : 255;  // 0 marks an empty slot
  if (hint && hint->version == version_ && hint->index < slots_.size()) {
    Slot& s = slots_[hint->index];
    if (s.family == family && std::memcmp(s.key, ip.bytes, 16) == 0) {
      s.value.last_used_ns = now_ns;
      return &s.value;
    }
  }
  auto found = [&](size_t i) {
    if (hint) *hint = {i, version_};
    slots_[i].value.last_used_ns = now_ns;
    return &slots_[i].value;
  };
  if (size_t i = find(ip.bytes, family); i != kNpos) return found(i);
  if (size_ >= max_entries_ && !privileged) {
    if (now_ns >= next_idle_ns_) evict_idle(now_ns);
    if (size_ >= max_entries_) return nullptr;
  }
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const size_t mask = slots_.size() - 1;
  size_t i = home(ip.bytes, family);
  while (slots_[i].family != 0) i = (i + 1) & mask;
  Slot& s = slots_[i];
  std::memcpy(s.key, ip.bytes, 16);
  s.family = family;
  s.value = IpBucket{};
  size_++;
  return found(i);
}

void IpBucketTable::erase_at(size_t i) {
  // Backward shift: pull each later member of the probe run into the hole unless its home lies
  // cyclically in (hole, j] (then it must stay where a probe from its home finds it).
  const size_t mask = slots_.size() - 1;
  size_t hole = i;
  for (size_t j = (i + 1) & mask; slots_[j].family != 0; j = (j + 1) & mask) {
    size_t h = home(slots_[j].key, slots_[j].family);
    bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole].family = 0;
  size_--;
  version_++;
}

size_t IpBucketTable::evict_idle(int64_t now_ns) {
  size_t evicted = 0;
  int64_t oldest = now_ns;
  // Not advancing after an erase: the shift may have moved another bucket into slot i. A
  // bucket moved back across the table's end is one already visited; seeing it twice is harmless.
  for (size_t i = 0; i < slots_.size();) {
    Slot& s = slots_[i];
    if (s.family != 0 && now_ns - s.value.last_used_ns >= kRateIdleNs) {
      erase_at(i);
      evicted++;
      continue;
    }
    if (s.family != 0) oldest = std::min(oldest, s.value.last_used_ns);
    i++;
  }
  next_idle_ns_ = std::max(oldest + kRateIdleNs, now_ns + kFullRescanNs);
  return evicted;
}

int64_t IpBucketTable::full_wait_ns(int64_t now_ns) const {
  return std::max<int64_t>(next_idle_ns_ - now_ns, 0);
}

void IpBucketTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  version_++;
  const size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.family == 0) continue;
    size_t i = home(s.key, s.family);
    while (slots_[i].family != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

// ---- RateLimiter ----

const char* deny_kind_name(DenyKind k) {
  switch (k) {
    case DenyKind::None: return "none";
    case DenyKind::Ip: return "ip";
    case DenyKind::BucketTable: return "bucket_table";
    case DenyKind::Global: return "global";
    case DenyKind::Connection: return "connection";
  }
  return "none";
}

RateLimiter::RateLimiter(size_t max_ips, uint64_t seed) : ips_(max_ips, seed) {}

void RateLimiter::set_limits(const RateLimits& limits) {
  limits_ = limits;
  limits_.global = std::clamp<int64_t>(limits_.global, 0, kMaxRate);
  limits_.per_ip = std::clamp<int64_t>(limits_.per_ip, 0, kMaxRate);
  limits_.per_conn = std::clamp<int64_t>(limits_.per_conn, 0, kMaxRate);
  generation_++;
}

void RateLimiter::set_whitelist(Whitelist list) {
  whitelist_ = std::move(list);
  generation_++;
}

Verdict RateLimiter::admit(ConnRate& c, const IpAddr& ip, int64_t now_ns) {
  if (now_ns - c.start_ns < kRateGraceNs) return {};
  if (c.generation != generation_) {
    c.listed_rate = whitelist_.empty() ? 0 : whitelist_rate(whitelist_, ip);
    c.generation = generation_;
  }
  const bool listed = c.listed_rate > 0;
  Verdict v;
  auto refuse = [&](DenyKind kind, int64_t wait) {
    if (v.kind == DenyKind::None) v.kind = kind;
    v.retry_ns = std::max(v.retry_ns, wait);
  };

  const bool conn_on = !listed && limits_.per_conn > 0;
  if (conn_on)
    if (int64_t w = c.bucket.wait_ns(limits_.per_conn, now_ns)) refuse(DenyKind::Connection, w);

  IpBucket* b = nullptr;
  if (limits_.per_ip_enabled && limits_.per_ip > 0) {
    // An IPv6 /64 is one subscriber (one host or one home network): keyed whole, or a client
    // with a /64 would have 2^64 buckets and fill the table. A whitelisted source is keyed by
    // its full address, so its elevated bucket is its own.
    IpAddr key = ip;
    if (key.family == AF_INET6 && !listed) std::memset(key.bytes + 8, 0, 8);
    b = ips_.get(key, now_ns, listed, &c.ip_bucket);
    if (!b) {
      refuse(DenyKind::BucketTable, std::max<int64_t>(ips_.full_wait_ns(now_ns), 1));
    } else {
      if (b->generation != generation_) {
        b->rate = listed ? c.listed_rate : limits_.per_ip;
        b->generation = generation_;
      }
      if (int64_t w = b->bucket.wait_ns(b->rate, now_ns)) refuse(DenyKind::Ip, w);
    }
  }

  const bool global_on = !listed && limits_.global > 0;
  if (global_on)
    if (int64_t w = global_.wait_ns(limits_.global, now_ns)) refuse(DenyKind::Global, w);

  if (v.kind != DenyKind::None) return v;
  // Admitted: every limit that applies gives its token (none is spent on a refused request).
  if (conn_on) c.bucket.take(limits_.per_conn, now_ns);
  if (b) b->bucket.take(b->rate, now_ns);
  if (global_on) global_.take(limits_.global, now_ns);
  return v;
}

// ---- WhitelistFile ----

WhitelistFile::Change WhitelistFile::poll(const std::string& path, Whitelist* list, std::string* error) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      bool was = present_;
      present_ = false;
      stat_errno_ = 0;
      mtime_ns_ = size_ = -1;
      inode_ = 0;
      return was ? Change::Cleared : Change::None;
    }
    // Unreadable directory and the like: keep what we have, say so once per change.
    if (stat_errno_ == err) return Change::None;
    stat_errno_ = err;
    *error = call_failed("stat", path, err);
    return Change::Failed;
  }
  stat_errno_ = 0;
  int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (present_ && mtime == mtime_ns_ && int64_t(st.st_size) == size_ && uint64_t(st.st_ino) == inode_)
    return Change::None;
  present_ = true;
  mtime_ns_ = mtime;
  size_ = int64_t(st.st_size);
  inode_ = uint64_t(st.st_ino);

  // O_NOFOLLOW: a symlink planted at the path must not make us read a file of someone's
  // choosing; O_NONBLOCK: a FIFO there must not stall the event loop.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    *error = call_failed("open", path, errno);
    return Change::Failed;
  }
  struct stat fst;
  if (::fstat(fd.get(), &fst) != 0) {
    *error = call_failed("fstat", path, errno);
    return Change::Failed;
  }
  if (!S_ISREG(fst.st_mode)) {
    *error = path + " is not a regular file";
    return Change::Failed;
  }
  if (size_t(fst.st_size) > kMaxBytes) {
    *error = path + " is larger than 1 MiB";
    return Change::Failed;
  }
  std::string text;
  text.resize(size_t(fst.st_size) + 1);
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = call_failed("read", path, errno);
      return Change::Failed;
    }
    if (n == 0) break;
    got += size_t(n);
  }
  if (got > kMaxBytes) {  // grew while we read it
    *error = path + " is larger than 1 MiB";
    return Change::Failed;
  }
  text.resize(got);
  std::string why;
  if (!parse_whitelist(text, list, &why)) {
    *error = path + ": " + why;
    return Change::Failed;
  }
  return Change::Loaded;
}

}  // namespace rdv::registry
