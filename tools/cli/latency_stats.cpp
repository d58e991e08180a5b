#include "cli/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

namespace autoglm::cli {
namespace {

double ratio(double num, double den) {
  return den > 0 ? num / den : 0.0;
}

nlohmann::json distribution_json(const Distribution& d) {
  return {{"count", d.count}, {"mean", d.mean}, {"min", d.min}, {"p50", d.p50},
          {"p90", d.p90},     {"p99", d.p99},   {"max", d.max}};
}

void append_line(std::string* out, const char* format, ...) __attribute__((format(printf, 2, 3)));

void append_line(std::string* out, const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  *out += buffer;
  *out += '\n';
}

void append_distribution(std::string* out, const char* name, const Distribution& d) {
  append_line(out, "| %-22s | %9.2f | %9.2f | %9.2f | %9.2f | %9.2f | %7lld |", name, d.mean, d.p50, d.p90,
              d.p99, d.max, static_cast<long long>(d.count));
}

// The drain's start, tokens and rates (ServeReport::drain_*), r's wall time and output tokens already set.
void add_drain(const std::vector<RequestRecord>& records, const std::vector<StatsSample>& samples,
               ServeReport* r) {
  for (size_t i = samples.size(); i-- > 0;) {
    if (samples[i].n_waiting > 0) {
      r->drain_start_ms = i + 1 < samples.size() ? samples[i + 1].t_ms : r->wall_ms;
      break;
    }
  }
  for (const RequestRecord& q : records) {
    if (q.failed || q.cancelled || !q.finished) continue;
    for (const double t : q.token_ms)
      r->drain_output_tokens += t >= r->drain_start_ms ? 1 : 0;
  }
  r->drain_output_tok_per_s =
      ratio(static_cast<double>(r->drain_output_tokens), (r->wall_ms - r->drain_start_ms) / 1000.0);
  r->before_drain_output_tok_per_s =
      ratio(static_cast<double>(r->output_tokens - r->drain_output_tokens), r->drain_start_ms / 1000.0);
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double frac = rank - static_cast<double>(below);
  return values[below] + frac * (values[above] - values[below]);
}

Distribution summarize(std::vector<double> values) {
  Distribution d;
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  d.count = static_cast<int64_t>(values.size());
  d.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  d.min = values.front();
  d.max = values.back();
  d.p50 = percentile(values, 50);
  d.p90 = percentile(values, 90);
  d.p99 = percentile(values, 99);
  return d;
}

ServeReport compute_report(const std::vector<RequestRecord>& records, const EngineStats& before,
                           const EngineStats& after, const std::vector<StatsSample>& samples,
                           double wall_ms) {
  ServeReport r;
  r.n_requests = static_cast<int64_t>(records.size());
  r.wall_ms = wall_ms;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestRecord& q : records) {
    r.request_preemptions += q.n_preemptions;
    if (q.failed) {
      ++r.n_failed;
      continue;
    }
    if (q.cancelled || !q.finished) {
      ++r.n_cancelled;
      continue;
    }
    ++r.n_completed;
    r.prompt_tokens += q.prompt_tokens;
    r.output_tokens += static_cast<int64_t>(q.token_ms.size());
    r.cached_prompt_tokens += q.cached_prompt_tokens;
    r.event_prompt_tokens += q.event_prompt_tokens;
    e2e.push_back(q.finish_ms - q.submit_ms);
    if (q.first_token_ms >= 0) ttft.push_back(q.first_token_ms - q.submit_ms);
    const size_t n = q.token_ms.size();
    if (n >= 2) tpot.push_back((q.token_ms.back() - q.token_ms.front()) / static_cast<double>(n - 1));
    for (size_t i = 1; i < n; ++i)
      itl.push_back(q.token_ms[i] - q.token_ms[i - 1]);
  }
  r.ttft_ms = summarize(std::move(ttft));
  r.tpot_ms = summarize(std::move(tpot));
  r.itl_ms = summarize(std::move(itl));
  r.e2e_ms = summarize(std::move(e2e));
  const double seconds = wall_ms / 1000.0;
  r.requests_per_s = ratio(static_cast<double>(r.n_completed), seconds);
  r.output_tok_per_s = ratio(static_cast<double>(r.output_tokens), seconds);
  r.total_tok_per_s = ratio(static_cast<double>(r.prompt_tokens + r.output_tokens), seconds);
  r.prefix_token_hit_rate =
      ratio(static_cast<double>(r.cached_prompt_tokens), static_cast<double>(r.event_prompt_tokens));

  r.prefix_queries = after.prefix_queries - before.prefix_queries;
  r.prefix_hits = after.prefix_hits - before.prefix_hits;
  r.prefix_lookup_hit_rate = ratio(static_cast<double>(r.prefix_hits), static_cast<double>(r.prefix_queries));
  r.computed_prompt_tokens = after.computed_prompt_tokens - before.computed_prompt_tokens;
  r.preemptions = after.n_preemptions - before.n_preemptions;
  r.n_steps = after.n_steps - before.n_steps;
  r.split_steps = after.n_split_steps - before.n_split_steps;
  const double step_ms = after.step_ms - before.step_ms;
  const double host_ms = after.host_ms - before.host_ms;
  r.step_ms_mean = ratio(step_ms, static_cast<double>(r.n_steps));
  r.host_ms_per_step = ratio(host_ms, static_cast<double>(r.n_steps));
  r.host_share = ratio(host_ms, step_ms);
  r.wait_ms_per_step = ratio(after.wait_ms - before.wait_ms, static_cast<double>(r.n_steps));
  r.steps_ahead = after.n_steps_ahead - before.n_steps_ahead;
  r.generated_per_step = ratio(static_cast<double>(after.generated_tokens - before.generated_tokens),
                               static_cast<double>(r.n_steps));
  r.kv_blocks_total = after.kv_blocks_total;
  r.kv_blocks_used_peak = after.kv_blocks_used;
  r.kv_fragmentation = ratio(static_cast<double>(after.kv_slots_unfilled - before.kv_slots_unfilled),
                             static_cast<double>(after.kv_slots_held - before.kv_slots_held));
  double running_sum = 0;
  int64_t running_samples = 0;
  for (const StatsSample& s : samples) {
    r.kv_blocks_used_peak = std::max(r.kv_blocks_used_peak, s.kv_blocks_used);
    if (s.n_running > 0) {
      running_sum += static_cast<double>(s.n_running);
      ++running_samples;
    }
  }
  r.mean_running_batch = ratio(running_sum, static_cast<double>(running_samples));
  r.n_samples = static_cast<int64_t>(samples.size());
  add_drain(records, samples, &r);
  for (size_t i = 0; i < samples.size(); ++i) {
    if (r.timeline.empty() || samples[i].t_ms >= r.timeline.back().t_ms + kTimelineMs ||
        i + 1 == samples.size())
      r.timeline.push_back(samples[i]);
  }
  return r;
}

nlohmann::json report_to_json(const ServeReport& r) {
  nlohmann::json j;
  j["requests"] = {{"total", r.n_requests},
                   {"completed", r.n_completed},
                   {"failed", r.n_failed},
                   {"cancelled", r.n_cancelled}};
  j["wall_ms"] = r.wall_ms;
  j["prompt_tokens"] = r.prompt_tokens;
  j["output_tokens"] = r.output_tokens;
  j["requests_per_s"] = r.requests_per_s;
  j["output_tok_per_s"] = r.output_tok_per_s;
  j["total_tok_per_s"] = r.total_tok_per_s;
  j["ttft_ms"] = distribution_json(r.ttft_ms);
  j["tpot_ms"] = distribution_json(r.tpot_ms);
  j["itl_ms"] = distribution_json(r.itl_ms);
  j["e2e_ms"] = distribution_json(r.e2e_ms);
  j["prefix_cache"] = {{"lookup_tokens", r.prefix_queries},
                       {"hit_tokens", r.prefix_hits},
                       {"lookup_hit_rate", r.prefix_lookup_hit_rate},
                       {"cached_prompt_tokens", r.cached_prompt_tokens},
                       {"prompt_tokens", r.event_prompt_tokens},
                       {"token_hit_rate", r.prefix_token_hit_rate},
                       {"computed_prompt_tokens", r.computed_prompt_tokens}};
  j["preemptions"] = r.preemptions;
  j["split_steps"] = r.split_steps;
  j["request_preemptions"] = r.request_preemptions;
  j["steps"] = {{"count", r.n_steps},
                {"mean_ms", r.step_ms_mean},
                {"host_ms_per_step", r.host_ms_per_step},
                {"host_share", r.host_share},
                {"wait_ms_per_step", r.wait_ms_per_step},
                {"queued_ahead", r.steps_ahead},
                {"generated_per_step", r.generated_per_step},
                {"mean_running_batch", r.mean_running_batch},
                {"stats_samples", r.n_samples}};
  j["kv_blocks"] = {{"total", r.kv_blocks_total},
                    {"used_peak", r.kv_blocks_used_peak},
                    {"fragmentation", r.kv_fragmentation}};
  j["drain"] = {{"start_ms", r.drain_start_ms},
                {"output_tokens", r.drain_output_tokens},
                {"output_tok_per_s", r.drain_output_tok_per_s},
                {"before_output_tok_per_s", r.before_drain_output_tok_per_s}};
  nlohmann::json timeline = nlohmann::json::array();
  for (const StatsSample& s : r.timeline)
    timeline.push_back({s.t_ms, s.n_running, s.n_waiting, s.kv_blocks_used});
  j["timeline"] = {{"columns", {"t_ms", "running", "waiting", "kv_blocks_used"}}, {"rows", timeline}};
  return j;
}

std::string format_report(const ServeReport& r) {
  std::string s;
  append_line(&s, "requests: %lld completed, %lld failed, %lld cancelled, of %lld",
              static_cast<long long>(r.n_completed), static_cast<long long>(r.n_failed),
              static_cast<long long>(r.n_cancelled), static_cast<long long>(r.n_requests));
  append_line(&s, "wall time: %.3f s; tokens: %lld prompt, %lld output", r.wall_ms / 1000.0,
              static_cast<long long>(r.prompt_tokens), static_cast<long long>(r.output_tokens));
  append_line(&s, "throughput: %.3f req/s, %.2f output tok/s, %.2f total tok/s", r.requests_per_s,
              r.output_tok_per_s, r.total_tok_per_s);
  s += '\n';
  append_line(&s, "| %-22s | %9s | %9s | %9s | %9s | %9s | %7s |", "latency (ms)", "mean", "p50", "p90",
              "p99", "max", "n");
  append_line(
      &s, "|------------------------|-----------|-----------|-----------|-----------|-----------|---------|");
  append_distribution(&s, "TTFT", r.ttft_ms);
  append_distribution(&s, "TPOT", r.tpot_ms);
  append_distribution(&s, "inter-token latency", r.itl_ms);
  append_distribution(&s, "end-to-end", r.e2e_ms);
  s += '\n';
  append_line(&s,
              "prefix cache: %.1f%% of %lld looked-up prompt tokens hit; %.1f%% of prompt tokens cached "
              "(%lld of %lld); "
              "%lld prompt tokens computed",
              100.0 * r.prefix_lookup_hit_rate, static_cast<long long>(r.prefix_queries),
              100.0 * r.prefix_token_hit_rate, static_cast<long long>(r.cached_prompt_tokens),
              static_cast<long long>(r.event_prompt_tokens),
              static_cast<long long>(r.computed_prompt_tokens));
  append_line(&s, "preemptions: %lld (engine), %lld (summed over requests)",
              static_cast<long long>(r.preemptions), static_cast<long long>(r.request_preemptions));
  append_line(
      &s,
      "steps: %lld (%lld queued ahead of the tokens before, %lld split), %.3f ms each; host %.3f ms/step "
      "(%.1f%% of step time), waiting for the device %.3f ms/step; %.2f tokens/step; mean running batch %.2f",
      static_cast<long long>(r.n_steps), static_cast<long long>(r.steps_ahead),
      static_cast<long long>(r.split_steps), r.step_ms_mean, r.host_ms_per_step, 100.0 * r.host_share,
      r.wait_ms_per_step, r.generated_per_step, r.mean_running_batch);
  append_line(
      &s,
      "KV blocks: %d total, %d used at peak (%.1f%%); fragmentation %.2f%% (unfilled slots of the used "
      "blocks, over all steps)",
      r.kv_blocks_total, r.kv_blocks_used_peak, 100.0 * ratio(r.kv_blocks_used_peak, r.kv_blocks_total),
      100.0 * r.kv_fragmentation);
  append_line(
      &s,
      "drain (nothing waiting from %.2f s): %.2f s, %.1f%% of the run; %lld output tokens (%.1f%%) at "
      "%.0f tok/s, %.0f output tok/s before it",
      r.drain_start_ms / 1000.0, (r.wall_ms - r.drain_start_ms) / 1000.0,
      100.0 * ratio(r.wall_ms - r.drain_start_ms, r.wall_ms), static_cast<long long>(r.drain_output_tokens),
      100.0 * ratio(static_cast<double>(r.drain_output_tokens), static_cast<double>(r.output_tokens)),
      r.drain_output_tok_per_s, r.before_drain_output_tok_per_s);
  return s;
}

}  // namespace autoglm::cli
