// Workloads of `autoglm bench-serve`: exact and reproducible lengths, synthetic shared prefixes, and trace
// replay whose prompts share exactly the blocks whose hashes agree (what the prefix cache benchmark relies
// on); malformed traces fail with the line and the problem named.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "cli/serve_workload.h"
#include "support/test_data.h"

namespace autoglm::cli {
namespace {

std::vector<int32_t> slice(const std::vector<int32_t>& v, size_t begin, size_t end) {
  return {v.begin() + static_cast<ptrdiff_t>(begin), v.begin() + static_cast<ptrdiff_t>(end)};
}

SyntheticOptions synthetic(uint64_t seed = 7) {
  SyntheticOptions o;
  o.num_prompts = 200;
  o.input_len = {10, 20};
  o.output_len = {1, 5};
  o.seed = seed;
  o.vocab_size = 1000;
  return o;
}

TEST(LengthRange, ParsesSingleAndRange) {
  auto one = parse_length_range("5");
  ASSERT_TRUE(one) << one.status().to_string();
  EXPECT_EQ(one->lo, 5);
  EXPECT_EQ(one->hi, 5);
  auto range = parse_length_range("3:9");
  ASSERT_TRUE(range);
  EXPECT_EQ(range->lo, 3);
  EXPECT_EQ(range->hi, 9);
  EXPECT_FALSE(parse_length_range("9:3"));
  EXPECT_FALSE(parse_length_range("-1"));
  EXPECT_FALSE(parse_length_range("x"));
  EXPECT_FALSE(parse_length_range("4:"));
}

TEST(SyntheticWorkload, LengthsStayInTheirUniformBoundsAndReachBothEnds) {
  auto w = make_synthetic_workload(synthetic());
  ASSERT_TRUE(w) << w.status().to_string();
  ASSERT_EQ(w->size(), 200u);
  std::vector<int> input_seen(21, 0), output_seen(6, 0);
  for (const WorkloadRequest& r : *w) {
    ASSERT_GE(r.prompt.size(), 10u);
    ASSERT_LE(r.prompt.size(), 20u);
    ASSERT_GE(r.max_tokens, 1);
    ASSERT_LE(r.max_tokens, 5);
    EXPECT_EQ(r.arrival_ms, 0.0);
    ++input_seen[r.prompt.size()];
    ++output_seen[static_cast<size_t>(r.max_tokens)];
    for (int32_t id : r.prompt) {
      ASSERT_GE(id, kMinTokenId);
      ASSERT_LT(id, 1000);
    }
  }
  for (int len = 10; len <= 20; ++len)
    EXPECT_GT(input_seen[static_cast<size_t>(len)], 0) << "input length " << len << " never drawn";
  for (int len = 1; len <= 5; ++len)
    EXPECT_GT(output_seen[static_cast<size_t>(len)], 0) << "output length " << len << " never drawn";
}

TEST(SyntheticWorkload, FixedLengthsAreExact) {
  SyntheticOptions o = synthetic();
  o.num_prompts = 3;
  o.input_len = {7, 7};
  o.output_len = {4, 4};
  auto w = make_synthetic_workload(o);
  ASSERT_TRUE(w);
  for (const WorkloadRequest& r : *w) {
    EXPECT_EQ(r.prompt.size(), 7u);
    EXPECT_EQ(r.max_tokens, 4);
  }
}

TEST(SyntheticWorkload, SameSeedSameWorkloadOtherSeedOther) {
  auto a = make_synthetic_workload(synthetic(7));
  auto b = make_synthetic_workload(synthetic(7));
  auto c = make_synthetic_workload(synthetic(8));
  ASSERT_TRUE(a && b && c);
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].prompt, (*b)[i].prompt);
    EXPECT_EQ((*a)[i].max_tokens, (*b)[i].max_tokens);
  }
  EXPECT_NE((*a)[0].prompt, (*c)[0].prompt);
}

TEST(SyntheticWorkload, SharedPrefixLeadsEveryPromptAndTheRestDiffers) {
  SyntheticOptions o = synthetic();
  o.num_prompts = 16;
  o.shared_prefix = 64;
  o.input_len = {8, 8};
  auto w = make_synthetic_workload(o);
  ASSERT_TRUE(w);
  const auto prefix = slice((*w)[0].prompt, 0, 64);
  for (size_t i = 0; i < w->size(); ++i) {
    ASSERT_EQ((*w)[i].prompt.size(), 72u);
    EXPECT_EQ(slice((*w)[i].prompt, 0, 64), prefix);
    if (i > 0) {
      EXPECT_NE(slice((*w)[i].prompt, 64, 72), slice((*w)[0].prompt, 64, 72));
    }
  }
}

TEST(SyntheticWorkload, RejectsBadOptions) {
  SyntheticOptions o = synthetic();
  o.vocab_size = kMinTokenId;
  EXPECT_FALSE(make_synthetic_workload(o));
  o = synthetic();
  o.input_len = {0, 4};  // an empty prompt is possible without a shared prefix
  EXPECT_FALSE(make_synthetic_workload(o));
  o.shared_prefix = 4;
  EXPECT_TRUE(make_synthetic_workload(o));
  o = synthetic();
  o.output_len = {0, 0};
  EXPECT_FALSE(make_synthetic_workload(o));
}

// Block size 4: requests 0 and 1 share blocks (1, 2), request 2 shares only block 1, request 3 has no block.
constexpr const char* kTrace =
    R"({"ts": 100, "il": 10, "ol": 3, "bh": ["1", "2"], "priority": 30}
{"ts": 105, "il": 13, "ol": 0, "bh": ["1", "2", "3"], "priority": 70}

{"ts": 109, "il": 9, "ol": 2, "bh": ["1", "4"], "priority": 50}
{"ts": 112, "il": 3, "ol": 1, "bh": []}
)";

std::vector<TraceRecord> inline_trace() {
  std::istringstream in(kTrace);
  auto records = parse_trace(in, "inline");
  EXPECT_TRUE(records) << records.status().to_string();
  return records ? *records : std::vector<TraceRecord>{};
}

TraceOptions trace_options() {
  TraceOptions o;
  o.vocab_size = 1000;
  o.min_output = 2;
  return o;
}

TEST(TraceParse, ReadsFields) {
  const auto records = inline_trace();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].ts_ms, 100.0);
  EXPECT_EQ(records[1].input_len, 13);
  EXPECT_EQ(records[1].output_len, 0);
  EXPECT_EQ(records[1].block_hashes, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(records[1].priority, 70);
  EXPECT_EQ(records[3].priority, 0);  // absent: 0
}

TEST(TraceParse, StopsAfterMaxRecords) {
  std::istringstream in(std::string(kTrace) + "not json\n");
  auto records = parse_trace(in, "inline", 2);
  ASSERT_TRUE(records) << records.status().to_string();
  EXPECT_EQ(records->size(), 2u);
}

void expect_error(const std::string& text, const std::string& where, const std::string& what) {
  std::istringstream in(text);
  auto records = parse_trace(in, "t.jsonl");
  ASSERT_FALSE(records) << "accepted: " << text;
  const std::string message = records.status().to_string();
  EXPECT_NE(message.find(where), std::string::npos) << message;
  EXPECT_NE(message.find(what), std::string::npos) << message;
}

TEST(TraceParse, ErrorsNameTheLineAndTheProblem) {
  const std::string good = R"({"ts": 0, "il": 8, "ol": 1, "bh": []})"
                           "\n";
  expect_error(good + "{\"ts\": 1, \"il\": 8,\n", "t.jsonl:2", "not valid JSON");
  expect_error(good + "[1, 2]\n", "t.jsonl:2", "not a JSON object");
  expect_error(R"({"ts": 0, "ol": 1, "bh": []})", "t.jsonl:1", "missing field \"il\"");
  expect_error(R"({"ts": 0, "il": 8, "bh": []})", "t.jsonl:1", "missing field \"ol\"");
  expect_error(R"({"il": 8, "ol": 1, "bh": []})", "t.jsonl:1", "missing field \"ts\"");
  expect_error(R"({"ts": 0, "il": 8, "ol": 1})", "t.jsonl:1", "missing field \"bh\"");
  expect_error(R"({"ts": 0, "il": 8, "ol": -3, "bh": []})", "t.jsonl:1", "must not be negative");
  expect_error(R"({"ts": 0, "il": -8, "ol": 1, "bh": []})", "t.jsonl:1", "must be at least 1");
  expect_error(R"({"ts": 0, "il": 8, "ol": "x", "bh": []})", "t.jsonl:1", "\"ol\" is not an integer");
  expect_error(R"({"ts": 0, "il": 8, "ol": 1, "bh": "1"})", "t.jsonl:1", "\"bh\" is not an array");
  expect_error(R"({"ts": 0, "il": 8, "ol": 1, "bh": ["12a"]})", "t.jsonl:1", "not a decimal uint64");
  expect_error(R"({"ts": 0, "il": 8, "ol": 1, "bh": ["99999999999999999999"]})", "t.jsonl:1",
               "not a decimal uint64");
  expect_error("\n\n", "t.jsonl", "no trace records");
}

TEST(TraceParse, MissingFileIsNotFound) {
  auto records = load_trace("/nonexistent/trace.jsonl");
  ASSERT_FALSE(records);
  EXPECT_EQ(records.status().code(), StatusCode::kNotFound);
}

TEST(TraceBlockSize, InferredFromInputLengthsAndHashCounts) {
  auto block = infer_trace_block_size(inline_trace());
  ASSERT_TRUE(block) << block.status().to_string();
  EXPECT_EQ(*block, 4);
  // 10 tokens in 2 blocks needs B <= 5; 10 tokens in 1 block needs B > 5.
  std::vector<TraceRecord> contradictory(2);
  contradictory[0].input_len = 10;
  contradictory[0].block_hashes = {1, 2};
  contradictory[1].input_len = 10;
  contradictory[1].block_hashes = {1};
  EXPECT_FALSE(infer_trace_block_size(contradictory));
}

TEST(TraceWorkload, SharedHashesShareExactlyTheirBlocks) {
  auto w = make_trace_workload(inline_trace(), trace_options());
  ASSERT_TRUE(w) << w.status().to_string();
  ASSERT_EQ(w->requests.size(), 4u);
  EXPECT_EQ(w->block_size, 4);
  EXPECT_EQ(w->n_distinct_blocks, 4);  // (1,0) (2,1) (3,2) (4,1)
  const auto& r = w->requests;
  // Lengths are the trace's.
  EXPECT_EQ(r[0].prompt.size(), 10u);
  EXPECT_EQ(r[1].prompt.size(), 13u);
  EXPECT_EQ(r[2].prompt.size(), 9u);
  EXPECT_EQ(r[3].prompt.size(), 3u);
  // Hashes 1, 2 agree: 8 tokens in common; then block 3 against request 0's own tail.
  EXPECT_EQ(slice(r[0].prompt, 0, 8), slice(r[1].prompt, 0, 8));
  EXPECT_NE(slice(r[0].prompt, 8, 10), slice(r[1].prompt, 8, 10));
  // Hash 1 agrees, hash 4 differs from 2: one block in common, then different blocks.
  EXPECT_EQ(slice(r[2].prompt, 0, 4), slice(r[0].prompt, 0, 4));
  EXPECT_NE(slice(r[2].prompt, 4, 8), slice(r[0].prompt, 4, 8));
  // Unhashed prompts share nothing.
  EXPECT_NE(slice(r[3].prompt, 0, 3), slice(r[0].prompt, 0, 3));
  for (const auto& q : r) {
    for (int32_t id : q.prompt) {
      ASSERT_GE(id, kMinTokenId);
      ASSERT_LT(id, 1000);
    }
  }
}

TEST(TraceWorkload, OutputsArrivalsAndPriorities) {
  TraceOptions o = trace_options();
  o.time_scale = 0.5;
  auto w = make_trace_workload(inline_trace(), o);
  ASSERT_TRUE(w);
  const auto& r = w->requests;
  EXPECT_EQ(r[0].max_tokens, 3);
  EXPECT_EQ(r[1].max_tokens, 2);  // ol 0 -> min_output
  EXPECT_EQ(r[2].max_tokens, 2);
  EXPECT_EQ(r[3].max_tokens, 2);  // ol 1 < min_output
  EXPECT_EQ(w->n_output_raised, 2);
  EXPECT_DOUBLE_EQ(r[0].arrival_ms, 0.0);  // relative to the first timestamp
  EXPECT_DOUBLE_EQ(r[1].arrival_ms, 2.5);
  EXPECT_DOUBLE_EQ(r[3].arrival_ms, 6.0);
  EXPECT_EQ(r[0].priority, 30);
  EXPECT_EQ(r[1].priority, 70);

  o.no_arrivals = true;
  o.priority_map = TracePriorityMap::kDescending;
  auto all_at_once = make_trace_workload(inline_trace(), o);
  ASSERT_TRUE(all_at_once);
  for (const auto& q : all_at_once->requests)
    EXPECT_EQ(q.arrival_ms, 0.0);
  EXPECT_EQ(all_at_once->requests[0].priority, -30);
  EXPECT_LT(all_at_once->requests[1].priority, all_at_once->requests[0].priority);  // 70 first

  o.priority_map = TracePriorityMap::kIgnore;
  auto ignored = make_trace_workload(inline_trace(), o);
  ASSERT_TRUE(ignored);
  for (const auto& q : ignored->requests)
    EXPECT_EQ(q.priority, 0);
  EXPECT_TRUE(parse_trace_priority_map("asc"));
  EXPECT_FALSE(parse_trace_priority_map("up"));
}

TEST(TraceWorkload, ClampingKeepsTheLeadingBlocks) {
  TraceOptions o = trace_options();
  o.max_input = 6;
  auto w = make_trace_workload(inline_trace(), o);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->n_clamped, 3);
  const auto& r = w->requests;
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(r[i].prompt.size(), 6u);
  EXPECT_EQ(r[3].prompt.size(), 3u);
  EXPECT_EQ(r[0].prompt, r[1].prompt);  // blocks 1 and the first half of 2
  auto full = make_trace_workload(inline_trace(), trace_options());
  ASSERT_TRUE(full);
  EXPECT_EQ(r[2].prompt, slice(full->requests[2].prompt, 0, 6));
}

TEST(TraceWorkload, ExplicitBlockSizeMustFitTheInputs) {
  TraceOptions o = trace_options();
  o.block_size = 6;  // request 0: 2 blocks of 6 > 10 tokens
  EXPECT_FALSE(make_trace_workload(inline_trace(), o));
}

TEST(TraceWorkload, SameSeedSameTails) {
  auto a = make_trace_workload(inline_trace(), trace_options());
  auto b = make_trace_workload(inline_trace(), trace_options());
  TraceOptions other = trace_options();
  other.seed = 99;
  auto c = make_trace_workload(inline_trace(), other);
  ASSERT_TRUE(a && b && c);
  for (size_t i = 0; i < a->requests.size(); ++i)
    EXPECT_EQ(a->requests[i].prompt, b->requests[i].prompt);
  // Hashed blocks do not depend on the seed; the tails do.
  EXPECT_EQ(slice(a->requests[0].prompt, 0, 8), slice(c->requests[0].prompt, 0, 8));
  EXPECT_NE(slice(a->requests[0].prompt, 8, 10), slice(c->requests[0].prompt, 8, 10));
}

// The first 100 requests of the shared 30-minute trace: 1024-token blocks, and every pair of requests shares
// exactly the blocks of its common leading hash run.
TEST(TraceWorkload, SharedTraceFirst100) {
  const std::string path = test::shared_data_dir() + "/traces/trace_30min.jsonl";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  auto records = load_trace(path, 100);
  ASSERT_TRUE(records) << records.status().to_string();
  ASSERT_EQ(records->size(), 100u);
  TraceOptions o;
  o.vocab_size = 151552;
  auto w = make_trace_workload(*records, o);
  ASSERT_TRUE(w) << w.status().to_string();
  EXPECT_EQ(w->block_size, 1024);
  EXPECT_EQ(w->n_clamped, 0);
  const size_t block = 1024;
  int sharing_pairs = 0;
  for (size_t i = 0; i < records->size(); ++i) {
    const auto& hi = (*records)[i].block_hashes;
    ASSERT_EQ(w->requests[i].prompt.size(), static_cast<size_t>((*records)[i].input_len));
    for (size_t j = i + 1; j < records->size(); ++j) {
      const auto& hj = (*records)[j].block_hashes;
      size_t common = 0;
      while (common < hi.size() && common < hj.size() && hi[common] == hj[common])
        ++common;
      const auto& pi = w->requests[i].prompt;
      const auto& pj = w->requests[j].prompt;
      EXPECT_TRUE(std::equal(pi.begin(), pi.begin() + static_cast<ptrdiff_t>(common * block), pj.begin()));
      if (common > 0) ++sharing_pairs;
      // The token right after the shared run differs (both prompts go on: a block of each or a tail).
      const size_t next = common * block;
      if (next + 8 <= pi.size() && next + 8 <= pj.size()) {
        EXPECT_NE(slice(pi, next, next + 8), slice(pj, next, next + 8)) << i << " vs " << j;
      }
    }
  }
  EXPECT_GT(sharing_pairs, 0) << "the trace's first 100 requests are expected to share some prefixes";
}

}  // namespace
}  // namespace autoglm::cli
