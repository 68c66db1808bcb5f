// Pure pieces of the runtime routes (ops-spec §5.3 rows 11, 12, 18–21; runtime.cc): quantiles
// from the registry page's pipeline histograms and the profile-rates body.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shared/json.h"
#include "shared/metrics.h"

namespace rdv::admin {

// The q-quantile (0 < q ≤ 1) of a histogram with non-cumulative buckets `counts` (upper bounds
// `bounds`) and `total` observations (those above the last bound are total − Σcounts), by
// linear interpolation inside the bucket that holds it, as Prometheus' histogram_quantile
// does. Observations above the last bound report the last bound. nullopt when total is 0.
std::optional<double> histogram_quantile(const double (&bounds)[metrics::kPipelineBucketCount],
                                         const uint64_t (&counts)[metrics::kPipelineBucketCount], uint64_t total,
                                         double q);
// The upper bound of the highest non-empty bucket (the last bound when some observation is
// above it): the largest observation is at most this. nullopt when total is 0.
std::optional<double> histogram_max_bound(const double (&bounds)[metrics::kPipelineBucketCount],
                                          const uint64_t (&counts)[metrics::kPipelineBucketCount], uint64_t total);

// The body of PUT|POST /api/admin/runtime/profile-rates: {"mutex_fraction":int?,
// "block_rate_ns":int?}, each a non-negative integer when present (at most 2^31−1). False
// with *error (the 400 text) otherwise.
struct ProfileRates {
  std::optional<int64_t> mutex_fraction;
  std::optional<int64_t> block_rate_ns;
};
bool parse_profile_rates(std::string_view body, ProfileRates* out, std::string* error);

}  // namespace rdv::admin
