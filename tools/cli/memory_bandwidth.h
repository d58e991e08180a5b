// Measures the host's memory read bandwidth, the denominator of every CPU decode floor.
#pragma once

#include <cstddef>

namespace autoglm::cli {

// Best of `repeats` passes summing a `bytes` buffer (well above the last-level cache) with n_threads threads;
// returns bytes per second.
double measure_read_bandwidth(size_t bytes, int n_threads, int repeats = 5);

}  // namespace autoglm::cli
