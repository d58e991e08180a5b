// Request workloads for `autoglm bench-serve`: what to submit, when, with which prompt. Pure (no engine), so
// the token layout that the prefix cache sees can be tested on its own.
//
// Two sources:
//  - synthetic: N requests, input and output lengths drawn uniformly from integer ranges, all submitted at
//    once; an optional shared prefix of L tokens is put in front of every prompt (prompt length = L + the
//    drawn input length, as vLLM's random dataset does with its prefix length).
//  - trace replay: JSONL lines {"ts": ms, "il": input len, "ol": output len, "bh": [block hashes],
//    "priority": n} (the RTP-LLM trace format of ../shared/data/traces). "bh" holds one decimal-string hash
//    per full prompt block, block i's hash covering the prefix up to it; the block size is fixed per file
//    and is inferred as the power of two B with len(bh) == floor(il / B) on every line (1024 for
//    trace_30min.jsonl). Block i of hash h becomes a pseudo-random run of B ids seeded from (h, i), so two
//    requests whose hash lists agree on a leading run share exactly those blocks' tokens; the rest of each
//    prompt is random ids of its own.
//
// Token ids are drawn from [kMinTokenId, vocab_size), clear of the low ids where models keep special tokens.
// The generator is our own splitmix64, so workloads are identical across standard libraries.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "autoglm/status.h"

namespace autoglm::cli {

constexpr int32_t kMinTokenId = 16;

struct WorkloadRequest {
  double arrival_ms = 0;  // after the benchmark's start; 0 for every request = all at once
  std::vector<int32_t> prompt;
  int32_t max_tokens = 1;
  int32_t priority = 0;  // the engine's convention: lower is served first
};

// An inclusive integer range, "A" (lo == hi) or "A:B" on the command line.
struct LengthRange {
  int32_t lo = 0;
  int32_t hi = 0;
};
Expected<LengthRange> parse_length_range(const std::string& text);

struct SyntheticOptions {
  int32_t num_prompts = 16;
  LengthRange input_len{128, 128};   // the drawn part of the prompt, after the shared prefix
  LengthRange output_len{128, 128};  // max_tokens
  int32_t shared_prefix = 0;         // tokens every prompt starts with
  uint64_t seed = 0;
  int64_t vocab_size = 0;
};
Expected<std::vector<WorkloadRequest>> make_synthetic_workload(const SyntheticOptions& options);

// One line of a trace.
struct TraceRecord {
  double ts_ms = 0;
  int32_t input_len = 0;
  int32_t output_len = 0;
  std::vector<uint64_t> block_hashes;
  int32_t priority = 0;
};

// Reads up to max_records lines (0: all); blank lines are skipped. Errors name source:line and the problem
// (bad JSON, a missing or mistyped field, a negative length, a hash that is not a decimal uint64).
Expected<std::vector<TraceRecord>> parse_trace(std::istream& in, const std::string& source_name,
                                               size_t max_records = 0);
Expected<std::vector<TraceRecord>> load_trace(const std::string& path, size_t max_records = 0);

// The smallest power of two consistent with every record (see above); when none is, the smallest integer
// that is; an error when the records contradict each other. Records without hashes only bound it from below,
// so a trace with no hashes at all gets the smallest power of two above its longest input.
Expected<int32_t> infer_trace_block_size(const std::vector<TraceRecord>& records);

// How trace priorities become engine priorities. The trace file does not say which way its values order
// (trace_30min.jsonl has 30, 50 and 70, with identical latency distributions), so the default passes them
// through unchanged: lower is served first, the engine's (and vLLM's) convention.
enum class TracePriorityMap {
  kAscending,   // engine priority = trace priority (lower served first)
  kDescending,  // engine priority = -trace priority (higher served first)
  kIgnore,      // every request 0: arrival order only
};
Expected<TracePriorityMap> parse_trace_priority_map(const std::string& text);  // "asc", "desc", "ignore"

struct TraceOptions {
  int64_t vocab_size = 0;
  int32_t block_size = 0;   // 0: infer_trace_block_size
  int32_t min_output = 1;   // max_tokens for records with ol < min_output (ol == 0 in the trace)
  int32_t max_input = 0;    // prompts longer than this are cut to it, keeping their leading blocks; 0: no cut
  double time_scale = 1.0;  // arrival = (ts - first ts) * time_scale; 0.1 replays ten times faster
  bool no_arrivals = false;  // every arrival 0: all submitted at once
  uint64_t seed = 0;         // of the unhashed prompt tails
  TracePriorityMap priority_map = TracePriorityMap::kAscending;
};

struct TraceWorkload {
  std::vector<WorkloadRequest> requests;  // in trace order
  int32_t block_size = 0;
  int32_t n_clamped = 0;          // prompts cut to max_input
  int32_t n_output_raised = 0;    // outputs raised to min_output
  int64_t n_distinct_blocks = 0;  // distinct (hash, position) pairs
};
Expected<TraceWorkload> make_trace_workload(const std::vector<TraceRecord>& records,
                                            const TraceOptions& options);

}  // namespace autoglm::cli
