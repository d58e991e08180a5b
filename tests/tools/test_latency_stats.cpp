// Numbers of `autoglm bench-serve` on hand-made records: percentile interpolation, the latency definitions
// (TTFT, TPOT, ITL, E2E), throughput, and the engine counters taken as after - before.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/latency_stats.h"

namespace autoglm::cli {
namespace {

TEST(Percentile, InterpolatesLinearlyBetweenClosestRanks) {
  const std::vector<double> v{4, 1, 3, 2};  // unsorted on purpose
  EXPECT_DOUBLE_EQ(percentile(v, 0), 1.0);
  EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);  // rank 0.9 * 3 = 2.7
  EXPECT_DOUBLE_EQ(percentile(v, 100), 4.0);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0.0);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7.0);
}

TEST(Percentile, MatchesNumpyOnOneToHundred) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i)
    v.push_back(i);
  // numpy.percentile(range(1, 101), [50, 90, 99]) = 50.5, 90.1, 99.01
  EXPECT_DOUBLE_EQ(percentile(v, 50), 50.5);
  EXPECT_NEAR(percentile(v, 90), 90.1, 1e-9);
  EXPECT_NEAR(percentile(v, 99), 99.01, 1e-9);
}

TEST(Summarize, MeanExtremesAndPercentiles) {
  const Distribution d = summarize({50, 10, 40, 20, 30});
  EXPECT_EQ(d.count, 5);
  EXPECT_DOUBLE_EQ(d.mean, 30);
  EXPECT_DOUBLE_EQ(d.min, 10);
  EXPECT_DOUBLE_EQ(d.max, 50);
  EXPECT_DOUBLE_EQ(d.p50, 30);
  EXPECT_DOUBLE_EQ(d.p90, 46);
  EXPECT_NEAR(d.p99, 49.6, 1e-9);
  EXPECT_EQ(summarize({}).count, 0);
}

std::vector<RequestRecord> records() {
  std::vector<RequestRecord> r(4);
  // Three tokens at 10, 20, 40 ms after a submit at 0.
  r[0].submit_ms = 0;
  r[0].first_token_ms = 10;
  r[0].token_ms = {10, 20, 40};
  r[0].finish_ms = 40;
  r[0].finished = true;
  r[0].prompt_tokens = 100;
  r[0].event_prompt_tokens = 100;
  r[0].cached_prompt_tokens = 64;
  r[0].n_preemptions = 1;
  // One token: a TTFT and an E2E, no TPOT or ITL.
  r[1].submit_ms = 5;
  r[1].first_token_ms = 15;
  r[1].token_ms = {15};
  r[1].finish_ms = 15;
  r[1].finished = true;
  r[1].prompt_tokens = 50;
  r[1].event_prompt_tokens = 50;
  // Refused at submit; cancelled after one token: neither counts.
  r[2].failed = true;
  r[3].submit_ms = 1;
  r[3].first_token_ms = 2;
  r[3].token_ms = {2};
  r[3].finish_ms = 3;
  r[3].finished = true;
  r[3].cancelled = true;
  r[3].prompt_tokens = 1000;
  return r;
}

TEST(ComputeReport, LatenciesAndThroughput) {
  const ServeReport r = compute_report(records(), EngineStats{}, EngineStats{}, {}, 100.0);
  EXPECT_EQ(r.n_requests, 4);
  EXPECT_EQ(r.n_completed, 2);
  EXPECT_EQ(r.n_failed, 1);
  EXPECT_EQ(r.n_cancelled, 1);
  EXPECT_EQ(r.prompt_tokens, 150);
  EXPECT_EQ(r.output_tokens, 4);
  EXPECT_DOUBLE_EQ(r.requests_per_s, 20.0);
  EXPECT_DOUBLE_EQ(r.output_tok_per_s, 40.0);
  EXPECT_DOUBLE_EQ(r.total_tok_per_s, 1540.0);
  EXPECT_EQ(r.ttft_ms.count, 2);
  EXPECT_DOUBLE_EQ(r.ttft_ms.mean, 10.0);
  EXPECT_EQ(r.tpot_ms.count, 1);
  EXPECT_DOUBLE_EQ(r.tpot_ms.p50, 15.0);  // (40 - 10) / 2
  EXPECT_EQ(r.itl_ms.count, 2);
  EXPECT_DOUBLE_EQ(r.itl_ms.min, 10.0);
  EXPECT_DOUBLE_EQ(r.itl_ms.max, 20.0);
  EXPECT_EQ(r.e2e_ms.count, 2);
  EXPECT_DOUBLE_EQ(r.e2e_ms.max, 40.0);
  EXPECT_DOUBLE_EQ(r.e2e_ms.min, 10.0);
  EXPECT_EQ(r.cached_prompt_tokens, 64);
  EXPECT_DOUBLE_EQ(r.prefix_token_hit_rate, 64.0 / 150.0);
  EXPECT_EQ(r.request_preemptions, 1);
}

TEST(ComputeReport, EngineCountersAreDeltasAndSamplesGivePeaks) {
  EngineStats before, after;
  before.n_steps = 10;
  before.prefix_queries = 5;
  before.prefix_hits = 1;
  before.host_ms = 2;
  before.step_ms = 20;
  before.n_preemptions = 1;
  before.generated_tokens = 8;
  after.n_steps = 30;
  after.prefix_queries = 25;
  after.prefix_hits = 16;
  after.host_ms = 6;
  after.step_ms = 60;
  after.n_preemptions = 4;
  after.generated_tokens = 68;
  after.kv_blocks_total = 100;
  after.kv_blocks_used = 3;
  before.kv_slots_held = 1000;
  before.kv_slots_unfilled = 500;  // steps before the run do not count
  after.kv_slots_held = 5000;
  after.kv_slots_unfilled = 620;
  const std::vector<StatsSample> samples{{0, 0, 4, 0}, {10, 2, 2, 40}, {20, 4, 0, 70}, {30, 0, 0, 10}};
  const ServeReport r = compute_report(records(), before, after, samples, 100.0);
  EXPECT_EQ(r.n_steps, 20);
  EXPECT_EQ(r.prefix_queries, 20);
  EXPECT_EQ(r.prefix_hits, 15);
  EXPECT_DOUBLE_EQ(r.prefix_lookup_hit_rate, 0.75);
  EXPECT_EQ(r.preemptions, 3);
  EXPECT_DOUBLE_EQ(r.step_ms_mean, 2.0);
  EXPECT_DOUBLE_EQ(r.host_ms_per_step, 0.2);
  EXPECT_DOUBLE_EQ(r.host_share, 0.1);
  EXPECT_DOUBLE_EQ(r.generated_per_step, 3.0);
  EXPECT_DOUBLE_EQ(r.mean_running_batch, 3.0);  // samples with something running: 2 and 4
  EXPECT_EQ(r.kv_blocks_total, 100);
  EXPECT_EQ(r.kv_blocks_used_peak, 70);
  EXPECT_DOUBLE_EQ(r.kv_fragmentation, 120.0 / 4000.0);
  EXPECT_EQ(r.n_samples, 4);
  // Requests waited up to the sample at 10 ms: the drain starts at the next, 20 ms; of the completed
  // requests' tokens (10, 20, 40 and 15 ms) two fall in it.
  EXPECT_DOUBLE_EQ(r.drain_start_ms, 20.0);
  EXPECT_EQ(r.drain_output_tokens, 2);
  EXPECT_DOUBLE_EQ(r.drain_output_tok_per_s, 2 / 0.08);
  EXPECT_DOUBLE_EQ(r.before_drain_output_tok_per_s, 2 / 0.02);
  // Samples 100 ms apart, and the last: 0 and 30 ms.
  ASSERT_EQ(r.timeline.size(), 2u);
  EXPECT_DOUBLE_EQ(r.timeline[0].t_ms, 0.0);
  EXPECT_DOUBLE_EQ(r.timeline[1].t_ms, 30.0);
  EXPECT_EQ(r.timeline[1].kv_blocks_used, 10);
}

TEST(ComputeReport, DrainWithoutAWaitingSampleIsTheWholeRunAndEndsAtAQueueSeenLast) {
  // Nothing ever waited: the whole run is the drain.
  const std::vector<StatsSample> running_only{{0, 2, 0, 5}, {50, 1, 0, 3}};
  const ServeReport all = compute_report(records(), EngineStats{}, EngineStats{}, running_only, 100.0);
  EXPECT_DOUBLE_EQ(all.drain_start_ms, 0.0);
  EXPECT_EQ(all.drain_output_tokens, all.output_tokens);
  EXPECT_DOUBLE_EQ(all.before_drain_output_tok_per_s, 0.0);
  // A request still waiting at the last sample: no drain.
  const std::vector<StatsSample> waiting_last{{0, 2, 1, 5}, {50, 1, 1, 3}};
  const ServeReport none = compute_report(records(), EngineStats{}, EngineStats{}, waiting_last, 100.0);
  EXPECT_DOUBLE_EQ(none.drain_start_ms, 100.0);
  EXPECT_EQ(none.drain_output_tokens, 0);
  EXPECT_DOUBLE_EQ(none.drain_output_tok_per_s, 0.0);
  EXPECT_DOUBLE_EQ(none.before_drain_output_tok_per_s, 4 / 0.1);
}

TEST(ComputeReport, EmptyRunHasNoDivisionByZero) {
  const ServeReport r = compute_report({}, EngineStats{}, EngineStats{}, {}, 0.0);
  EXPECT_EQ(r.n_completed, 0);
  EXPECT_EQ(r.requests_per_s, 0.0);
  EXPECT_EQ(r.host_share, 0.0);
  EXPECT_EQ(r.prefix_lookup_hit_rate, 0.0);
}

TEST(ReportOutput, JsonHoldsEveryNumberAndTheTableNamesThem) {
  const ServeReport r = compute_report(records(), EngineStats{}, EngineStats{}, {}, 100.0);
  const nlohmann::json j = report_to_json(r);
  EXPECT_EQ(j["requests"]["completed"], 2);
  EXPECT_DOUBLE_EQ(j["output_tok_per_s"].get<double>(), 40.0);
  EXPECT_DOUBLE_EQ(j["tpot_ms"]["p50"].get<double>(), 15.0);
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "prefix_cache", "steps", "kv_blocks",
                          "preemptions", "total_tok_per_s", "requests_per_s", "wall_ms", "drain", "timeline"})
    EXPECT_TRUE(j.contains(key)) << key;
  const std::string table = format_report(r);
  EXPECT_TRUE(j["kv_blocks"].contains("fragmentation"));
  for (const char* name : {"TTFT", "TPOT", "inter-token", "end-to-end", "prefix cache", "KV blocks",
                           "fragmentation", "host", "drain"})
    EXPECT_NE(table.find(name), std::string::npos) << name;
}

}  // namespace
}  // namespace autoglm::cli
