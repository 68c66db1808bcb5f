// Latency histogram for the load generator: log-linear buckets in the style of HdrHistogram.
//
// Values are nanoseconds. Below 64 ns every value has its own bucket; above, each power-of-two
// range [2^e, 2^(e+1)) is split into 64 equal sub-buckets, so a bucket is never wider than 1/64
// (1.6 %) of the values it holds. Fixed memory (~18 KiB), O(1) record, merge by addition: each
// load-generator thread records into its own histogram and the results are added at the end.
//
// Thread rules: none; one histogram per thread.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace rdv::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr uint64_t kSub = uint64_t(1) << kSubBits;
  static constexpr int kMaxExp = 40;  // 2^40 ns ≈ 18 min; larger values are clamped
  static constexpr size_t kBuckets = size_t(kMaxExp - kSubBits + 1) * kSub;

  void record(int64_t ns) {
    uint64_t v = ns < 0 ? 0 : uint64_t(ns);
    v = std::min(v, (uint64_t(1) << kMaxExp) - 1);
    counts_[index_of(v)]++;
    total_++;
    sum_ += v;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
  }

  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; i++) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }

  uint64_t count() const { return total_; }
  double mean_ns() const { return total_ ? double(sum_) / double(total_) : 0; }
  uint64_t max_ns() const { return total_ ? max_ : 0; }
  uint64_t min_ns() const { return total_ ? min_ : 0; }

  // The value at quantile q (0 < q ≤ 1): the midpoint of the bucket holding the ceil(q·n)-th
  // smallest sample, clamped to the exact min and max. 0 when empty.
  uint64_t quantile_ns(double q) const {
    if (total_ == 0) return 0;
    uint64_t rank = uint64_t(std::ceil(q * double(total_)));
    rank = std::clamp<uint64_t>(rank, 1, total_);
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; i++) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(midpoint_of(i), min_, max_);
    }
    return max_;
  }

  // Pure helpers, public for tests.
  static size_t index_of(uint64_t v) {
    if (v < kSub) return size_t(v);
    int e = 63 - std::countl_zero(v);  // e >= kSubBits
    int shift = e - kSubBits;
    return size_t(shift + 1) * kSub + size_t((v >> shift) - kSub);
  }
  static uint64_t midpoint_of(size_t idx) {
    if (idx < kSub) return idx;
    int shift = int(idx / kSub) - 1;
    uint64_t low = (idx % kSub + kSub) << shift;
    return low + ((uint64_t(1) << shift) >> 1);
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
};

}  // namespace rdv::bench
