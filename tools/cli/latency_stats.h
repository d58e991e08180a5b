// Numbers of a serving benchmark (`autoglm bench-serve`): per-request latencies, throughput and the engine's
// own counters, as a table and as JSON. Pure (the driver fills plain records), so the math is testable
// without an engine.
//
// Definitions (times in ms from the benchmark's start, all per completed request):
//   TTFT = first token - submit;  E2E = finish - submit;
//   TPOT = (last token - first token) / (tokens - 1), requests with at least 2 tokens;
//   ITL  = gaps between successive tokens of a request, pooled over requests (tokens delivered in one event
//          share its time, so a burst shows as zero gaps);
// Percentiles interpolate linearly between closest ranks (numpy's default, Hyndman-Fan type 7):
// x = sorted[(n-1) p/100], interpolated between its neighbours.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "autoglm/async_engine.h"

namespace autoglm::cli {

// p in [0, 100]; 0 for an empty vector.
double percentile(std::vector<double> values, double p);

struct Distribution {
  int64_t count = 0;
  double mean = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};
Distribution summarize(std::vector<double> values);

// One request as the driver saw it, in ms since the benchmark's start.
struct RequestRecord {
  double submit_ms = 0;
  double first_token_ms = -1;        // < 0: no token came
  double finish_ms = -1;             // < 0: not finished
  std::vector<double> token_ms;      // one per generated token
  int32_t prompt_tokens = 0;         // submitted prompt length
  int32_t cached_prompt_tokens = 0;  // from the first event: prompt tokens served by the prefix cache
  int32_t event_prompt_tokens = 0;   // from the first event: the prompt length the engine counted
  int32_t n_preemptions = 0;         // from the finishing event
  bool finished = false;
  bool failed = false;     // refused by submit, or finished with an error
  bool cancelled = false;  // finished as cancelled (the driver's timeout)
  std::string error;
};

// The engine's state at one moment, polled by the driver while the benchmark runs.
struct StatsSample {
  double t_ms = 0;
  int64_t n_running = 0;
  int64_t n_waiting = 0;
  int32_t kv_blocks_used = 0;
};

struct ServeReport {
  int64_t n_requests = 0;
  int64_t n_completed = 0;  // finished without error or cancellation
  int64_t n_failed = 0;
  int64_t n_cancelled = 0;
  double wall_ms = 0;
  int64_t prompt_tokens = 0;  // of completed requests
  int64_t output_tokens = 0;  // of completed requests
  double requests_per_s = 0;
  double output_tok_per_s = 0;
  double total_tok_per_s = 0;  // prompt + output
  Distribution ttft_ms, tpot_ms, itl_ms, e2e_ms;
  // Prefix cache: blocks looked up and found (engine counters), and prompt tokens served from it (events).
  int64_t prefix_queries = 0;
  int64_t prefix_hits = 0;
  double prefix_lookup_hit_rate = 0;
  int64_t cached_prompt_tokens = 0;
  int64_t event_prompt_tokens = 0;
  double prefix_token_hit_rate = 0;    // cached_prompt_tokens / event_prompt_tokens
  int64_t computed_prompt_tokens = 0;  // prompt tokens the model actually ran
  int64_t preemptions = 0;             // engine counter
  int64_t split_steps = 0;             // steps run as two overlapping halves
  int64_t request_preemptions = 0;     // summed over finishing events
  int64_t n_steps = 0;
  double mean_running_batch = 0;  // mean n_running over the samples with something running
  double generated_per_step = 0;  // engine generated tokens / steps
  double step_ms_mean = 0;
  double host_ms_per_step = 0;
  double host_share = 0;        // host_ms / step_ms
  double wait_ms_per_step = 0;  // the host waiting for the device's results
  int64_t steps_ahead = 0;      // steps queued before the tokens of the step before reached the host
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_used_peak = 0;
  // Unfilled slots of the referenced blocks / their slots, over the steps of the run (EngineStats).
  double kv_fragmentation = 0;
  int64_t n_samples = 0;
  // The drain: from the first sample after the last one that saw a request waiting for admission (0 where
  // none did) to the end, the running batch only shrinks as requests finish; an offline run of more
  // requests than max_num_seqs spends this stretch below its full batch. Output tokens of completed
  // requests in it (by their timestamps) and the output rates in and before it.
  double drain_start_ms = 0;
  int64_t drain_output_tokens = 0;
  double drain_output_tok_per_s = 0;
  double before_drain_output_tok_per_s = 0;  // 0 where the drain is the whole run
  // The samples at least kTimelineMs apart (and the last one): the batch and the queue over the run.
  std::vector<StatsSample> timeline;
};

constexpr double kTimelineMs = 100;

// `before` is the engine's stats after warm-up; counters are reported as after - before.
ServeReport compute_report(const std::vector<RequestRecord>& records, const EngineStats& before,
                           const EngineStats& after, const std::vector<StatsSample>& samples, double wall_ms);

nlohmann::json report_to_json(const ServeReport& report);
// The human-readable table, lines ending in '\n'.
std::string format_report(const ServeReport& report);

}  // namespace autoglm::cli
