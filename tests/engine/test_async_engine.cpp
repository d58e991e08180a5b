// AsyncEngine: continuous batching over the paged KV cache.
//
// Batch invariance: each request's greedy tokens equal those of the same request run alone (Engine::generate,
// the contiguous single-sequence path, itself held to HF by the golden tests), whether it runs among 64 mixed
// requests, with chunked prefill on or off, when preempted and resumed, and when its prefix comes from the
// cache. Plus the serving behaviour: streaming events, stop ids and strings, cancellation, errors, stats.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "autoglm/async_engine.h"
#include "support/golden_fixture.h"
#include "support/test_data.h"

namespace autoglm {
namespace {

EngineOptions engine_options(const std::string& fixture) {
  EngineOptions o;
  o.model_path = test::fixture_dir(fixture);
  o.n_threads = 2;
  o.max_context = 256;
  return o;
}

std::unique_ptr<AsyncEngine> make_async(const std::string& fixture, ServeOptions serve = {}) {
  std::unique_ptr<AsyncEngine> engine;
  const Status s = AsyncEngine::create(engine_options(fixture), serve, &engine);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return engine;
}

Request greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
  Request r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.ignore_eos = true;
  return r;
}

// What one request produced, gathered from its events.
struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  int n_events = 0;
  bool finished = false;
  FinishReason reason = FinishReason::kLength;
  Status error;
  int32_t cached_prompt_tokens = -1;
  int32_t n_preemptions = 0;
};

Outcome drain(RequestStream& stream) {
  Outcome o;
  RequestEvent e;
  while (stream.next(&e)) {
    if (o.n_events++ == 0) o.cached_prompt_tokens = e.cached_prompt_tokens;
    o.tokens.insert(o.tokens.end(), e.tokens.begin(), e.tokens.end());
    o.text += e.text;
    if (e.finished) {
      o.finished = true;
      o.reason = e.finish_reason;
      o.error = e.error;
      o.n_preemptions = e.n_preemptions;
    }
  }
  return o;
}

// Submits all requests at once and waits for every outcome.
std::vector<Outcome> run_all(AsyncEngine& engine, const std::vector<Request>& requests) {
  std::vector<std::unique_ptr<RequestStream>> streams(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const Status s = engine.submit(requests[i], &streams[i]);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
  }
  std::vector<Outcome> out;
  for (auto& stream : streams)
    out.push_back(stream ? drain(*stream) : Outcome{});
  return out;
}

// Greedy tokens of one request alone through the single-sequence path.
std::vector<int32_t> alone(const std::string& fixture, const Request& r) {
  std::unique_ptr<Engine> engine;
  EXPECT_TRUE(Engine::create(engine_options(fixture), &engine).is_ok());
  GenerateRequest g;
  g.prompt = r.prompt;
  g.max_tokens = r.max_tokens;
  g.sampling = r.sampling;
  g.ignore_eos = r.ignore_eos;
  GenerateResult result;
  EXPECT_TRUE(engine->generate(g, &result).is_ok());
  return result.tokens;
}

// 64 mixed requests: random prompts of 1..90 tokens (some sharing long prefixes), 1..24 tokens to generate.
std::vector<Request> mixed_requests(int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> shared(48);
  for (int32_t& t : shared)
    t = static_cast<int32_t>(rng() % vocab);
  std::vector<Request> requests;
  for (int i = 0; i < 64; ++i) {
    std::vector<int32_t> prompt;
    if (i % 4 == 0) prompt.assign(shared.begin(), shared.begin() + 16 + rng() % 33);
    const int n = 1 + static_cast<int>(rng() % 90);
    for (int j = 0; j < n; ++j)
      prompt.push_back(static_cast<int32_t>(rng() % vocab));
    requests.push_back(greedy(std::move(prompt), 1 + static_cast<int32_t>(rng() % 24)));
  }
  return requests;
}

class BatchInvariance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    requests_ = new std::vector<Request>(mixed_requests(1024, 7));
    expected_ = new std::vector<std::vector<int32_t>>();
    for (const Request& r : *requests_)
      expected_->push_back(alone("llama", r));
  }
  static void TearDownTestSuite() {
    delete requests_;
    delete expected_;
  }
  static void check(AsyncEngine& engine, const char* what) {
    const std::vector<Outcome> got = run_all(engine, *requests_);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(got[i].finished) << what << " request " << i;
      ASSERT_TRUE(got[i].error.is_ok()) << got[i].error.to_string();
      EXPECT_EQ(got[i].tokens, (*expected_)[i]) << what << ": request " << i;
      EXPECT_EQ(got[i].reason, FinishReason::kLength);
    }
  }
  static std::vector<Request>* requests_;
  static std::vector<std::vector<int32_t>>* expected_;
};
std::vector<Request>* BatchInvariance::requests_ = nullptr;
std::vector<std::vector<int32_t>>* BatchInvariance::expected_ = nullptr;

TEST_F(BatchInvariance, AmongSixtyFourMixedRequestsWithChunkedPrefill) {
  ServeOptions serve;
  serve.max_num_batched_tokens = 64;  // most prompts are split over several steps, mixed with decodes
  auto engine = make_async("llama", serve);
  check(*engine, "chunked");
  const EngineStats stats = engine->stats();
  EXPECT_EQ(stats.kv_cache_dtype, "f32");  // "auto" on the CPU
  EXPECT_EQ(stats.n_finished, 64);
  EXPECT_EQ(stats.n_running, 0);
  EXPECT_EQ(stats.kv_blocks_used, 0);  // every block released (cached ones count as free)
  EXPECT_GT(stats.n_steps, 0);
  EXPECT_GT(stats.n_steps_ahead, stats.n_steps * 3 / 4);  // greedy rows only: nearly every step
  // Fragmentation: only the last block of each live sequence can be partly empty.
  EXPECT_GT(stats.kv_slots_held, 0);
  EXPECT_GT(stats.kv_slots_unfilled, 0);
  EXPECT_LE(stats.kv_slots_unfilled, int64_t{serve.kv_block_size - 1} * 64 * stats.n_steps);
  EXPECT_LT(stats.kv_slots_unfilled, stats.kv_slots_held);
}

// Every test here schedules ahead of the device (ServeOptions::async_scheduling, the default) except this.
TEST_F(BatchInvariance, StepByStep) {
  ServeOptions serve;
  serve.max_num_batched_tokens = 64;
  serve.async_scheduling = false;
  auto engine = make_async("llama", serve);
  check(*engine, "step by step");
}

TEST_F(BatchInvariance, WithoutChunkedPrefill) {
  ServeOptions serve;
  serve.enable_chunked_prefill = false;
  serve.max_num_batched_tokens = 256;
  auto engine = make_async("llama", serve);
  check(*engine, "unchunked");
}

TEST_F(BatchInvariance, WhenPreemptedAndResumed) {
  ServeOptions serve;
  serve.kv_block_size = 4;
  serve.kv_blocks = 40;  // 160 slots for 64 requests of up to ~160 tokens each: constant preemption
  serve.max_num_batched_tokens = 64;
  auto engine = make_async("llama", serve);
  check(*engine, "preempted");
  EXPECT_GT(engine->stats().n_preemptions, 0);
}

TEST_F(BatchInvariance, WhenThePrefixComesFromTheCache) {
  ServeOptions serve;
  serve.kv_block_size = 8;
  auto engine = make_async("llama", serve);
  check(*engine, "first pass");
  const int64_t hits_before = engine->stats().prefix_hits;
  // Second pass: every prompt's full blocks are cached now.
  const std::vector<Outcome> again = run_all(*engine, *requests_);
  int32_t cached = 0;
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i].tokens, (*expected_)[i]) << "cached pass: request " << i;
    cached += again[i].cached_prompt_tokens;
  }
  EXPECT_GT(cached, 0);
  EXPECT_GT(engine->stats().prefix_hits, hits_before);
}

// Over an f8_e4m3 KV cache a request's tokens differ from the f32 path's (its K/V are rounded), but not with
// its company: alone (one request at a time, no prefix reuse) and among the mixed requests, chunked and
// preempted, it gives the same tokens.
TEST(AsyncEngine, Fp8KvCacheIsBatchInvariant) {
  const std::vector<Request> all = mixed_requests(1024, 9);
  const std::vector<Request> requests(all.begin(), all.begin() + 32);
  ServeOptions alone_options;
  alone_options.kv_cache_dtype = "fp8";
  alone_options.enable_prefix_caching = false;
  auto alone_engine = make_async("llama", alone_options);
  std::vector<std::vector<int32_t>> expected;
  int differ_from_f32 = 0;
  for (const Request& r : requests) {
    expected.push_back(run_all(*alone_engine, {r})[0].tokens);
    differ_from_f32 += expected.back() != alone("llama", r);
  }
  ServeOptions chunked;
  chunked.kv_cache_dtype = "fp8";
  chunked.max_num_batched_tokens = 64;
  ServeOptions preempted = chunked;
  preempted.kv_block_size = 4;
  preempted.kv_blocks = 40;
  for (const auto& [what, options] : {std::pair{"chunked", chunked}, std::pair{"preempted", preempted}}) {
    auto engine = make_async("llama", options);
    const std::vector<Outcome> got = run_all(*engine, requests);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(got[i].finished && got[i].error.is_ok()) << what << " request " << i;
      EXPECT_EQ(got[i].tokens, expected[i]) << what << ": request " << i;
    }
    if (options.kv_blocks > 0) {
      EXPECT_GT(engine->stats().n_preemptions, 0);
    }
  }
  EXPECT_GT(differ_from_f32, 0);  // the rounded cache is really in use
  EXPECT_EQ(alone_engine->stats().kv_cache_dtype, "f8_e4m3");
  EXPECT_EQ(alone_engine->stats().kv_block_size, 16);
  std::printf("%d of %zu requests' greedy tokens differ from the f32 cache's\n", differ_from_f32,
              requests.size());
}

TEST(AsyncEngine, RefusesAnUnknownKvCacheDtype) {
  for (const char* name : {"q4_k", "i32", "fp4", ""}) {
    ServeOptions serve;
    serve.kv_cache_dtype = name;
    std::unique_ptr<AsyncEngine> engine;
    const Status s = AsyncEngine::create(engine_options("llama"), serve, &engine);
    EXPECT_FALSE(s.is_ok()) << name;
    EXPECT_NE(s.to_string().find("kv_cache_dtype"), std::string::npos) << s.to_string();
  }
}

TEST(AsyncEngine, GoldenPromptsGiveHfGreedyTokensTogether) {
  for (const std::string& name : test::golden_fixture_names()) {
    SCOPED_TRACE(name);
    const auto golden = test::load_golden(name);
    auto engine = make_async(name);
    std::vector<Request> requests;
    for (const auto& p : golden.prompts)
      requests.push_back(greedy(p.ids, static_cast<int32_t>(p.greedy.size())));
    const std::vector<Outcome> got = run_all(*engine, requests);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_EQ(got[i].tokens, golden.prompts[i].greedy) << "prompt " << i;
  }
}

TEST(AsyncEngine, StopTokenIdsEndARequest) {
  const Request base = greedy({5, 6, 7, 8}, 12);
  const std::vector<int32_t> full = alone("llama", base);
  ASSERT_EQ(full.size(), 12u);
  auto engine = make_async("llama");
  Request r = base;
  r.stop_token_ids = {full[4]};
  const size_t first = static_cast<size_t>(std::find(full.begin(), full.end(), full[4]) - full.begin());
  const Outcome o = run_all(*engine, {r})[0];
  EXPECT_EQ(o.reason, FinishReason::kStop);
  EXPECT_EQ(o.tokens, std::vector<int32_t>(full.begin(), full.begin() + static_cast<int64_t>(first) + 1));
  EXPECT_EQ(o.n_events, static_cast<int>(first) + 1);  // one event per token, the last one finishing
}

// With a tokenizer (the real stories260K GGUF): incremental text equals the detokenized tokens, and a stop
// string ends the request with the text cut right before it.
TEST(AsyncEngine, TextStreamsAndStopStrings) {
  EngineOptions options;
  options.model_path = test::shared_data_dir() + "/models/stories260K/stories260K.gguf";
  options.n_threads = 2;
  std::unique_ptr<AsyncEngine> engine;
  ASSERT_TRUE(AsyncEngine::create(options, ServeOptions{}, &engine).is_ok());
  Request r = greedy({1}, 60);  // BOS
  const Outcome full = run_all(*engine, {r})[0];
  ASSERT_EQ(full.tokens.size(), 60u);
  std::string text;
  ASSERT_TRUE(engine->engine().detokenize(full.tokens, true, &text).is_ok());
  EXPECT_EQ(full.text, text);
  EXPECT_GT(full.n_events, 1);
  // A stop string from the middle of that text.
  const std::string stop = text.substr(text.size() / 2, 6);
  r.stop_strings = {stop};
  const Outcome cut = run_all(*engine, {r})[0];
  EXPECT_EQ(cut.reason, FinishReason::kStop);
  EXPECT_EQ(cut.text, text.substr(0, text.find(stop)));
  EXPECT_LT(cut.tokens.size(), full.tokens.size());
}

TEST(AsyncEngine, RefusesInvalidRequests) {
  auto engine = make_async("llama");
  std::unique_ptr<RequestStream> stream;
  EXPECT_EQ(engine->submit(greedy({}, 4), &stream).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->submit(greedy({1, 5000}, 4), &stream).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->submit(greedy({1, -1}, 4), &stream).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->submit(greedy(std::vector<int32_t>(256, 3), 4), &stream).code(),
            StatusCode::kInvalidArgument);  // no room for one token in a context of 256
  EXPECT_EQ(engine->submit(greedy({1, 2}, 0), &stream).code(), StatusCode::kInvalidArgument);
  Request with_stop = greedy({1, 2}, 4);
  with_stop.stop_strings = {"x"};
  EXPECT_EQ(engine->submit(with_stop, &stream).code(), StatusCode::kInvalidArgument);  // no tokenizer here
  // The engine still serves after the refusals.
  ASSERT_TRUE(engine->submit(greedy({1, 2}, 3), &stream).is_ok());
  EXPECT_EQ(drain(*stream).tokens.size(), 3u);
}

TEST(AsyncEngine, MaxTokensIsBoundedByTheContext) {
  auto engine = make_async("llama");
  const Outcome o = run_all(*engine, {greedy(std::vector<int32_t>(250, 3), 100)})[0];
  EXPECT_EQ(o.tokens.size(), 6u);
  EXPECT_EQ(o.reason, FinishReason::kLength);
}

TEST(AsyncEngine, CancelFreesTheRequestAndOthersGoOn) {
  ServeOptions serve;
  serve.kv_block_size = 4;
  auto engine = make_async("llama", serve);
  std::unique_ptr<RequestStream> victim, other;
  ASSERT_TRUE(engine->submit(greedy({1, 2, 3}, 200), &victim).is_ok());
  ASSERT_TRUE(engine->submit(greedy({4, 5, 6}, 20), &other).is_ok());
  RequestEvent e;
  ASSERT_TRUE(victim->next(&e));  // running
  engine->cancel(victim->id());
  engine->cancel(987654);  // unknown ids are ignored
  const Outcome v = drain(*victim);
  EXPECT_TRUE(v.finished);
  EXPECT_EQ(v.reason, FinishReason::kCancelled);
  EXPECT_LT(v.tokens.size(), 199u);
  const Outcome o = drain(*other);
  EXPECT_EQ(o.tokens, alone("llama", greedy({4, 5, 6}, 20)));
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
}

// A step's events go out while the next step runs, so a cancellation can arrive after a request's last
// token was produced but before its event went out: too late, the request ends as it would have. Whatever
// the timing, each request gets exactly one finished event, last, and tokens in order.
TEST(AsyncEngine, CancellationsRacingTheLastEventsEndEachRequestOnce) {
  auto engine = make_async("llama");
  struct Seen {
    std::mutex mutex;
    std::vector<int32_t> tokens;
    int n_finished = 0;
    bool event_after_finish = false;
    FinishReason reason = FinishReason::kLength;
  };
  constexpr int kPairs = 24;
  std::vector<Seen> seen(2 * kPairs);
  std::vector<RequestId> ids(2 * kPairs, 0);
  std::atomic<int> finished{0};
  auto record = [&](int index) {
    return [&, index](const RequestEvent& e) {
      Seen& s = seen[static_cast<size_t>(index)];
      {
        std::lock_guard<std::mutex> lock(s.mutex);
        s.event_after_finish = s.event_after_finish || s.n_finished > 0;
        s.tokens.insert(s.tokens.end(), e.tokens.begin(), e.tokens.end());
        if (e.finished) {
          ++s.n_finished;
          s.reason = e.finish_reason;
        }
      }
      if (e.finished) ++finished;
      // The second request of each pair cancels the first on each of its events, the first of which comes
      // around the step that produces the first one's last token.
      if (index % 2 == 1) engine->cancel(ids[static_cast<size_t>(index - 1)]);
    };
  };
  for (int p = 0; p < kPairs; ++p) {
    const int32_t t = 1 + p;
    const auto i = static_cast<size_t>(2 * p);
    ASSERT_TRUE(engine->submit(greedy({t, t + 1}, 1 + p % 3), record(2 * p), &ids[i]).is_ok());
    ASSERT_TRUE(engine->submit(greedy({t + 2, t}, 4), record(2 * p + 1), &ids[i + 1]).is_ok());
  }
  for (int i = 0; i < 500 && finished < 2 * kPairs; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(finished.load(), 2 * kPairs);
  for (int p = 0; p < kPairs; ++p) {
    SCOPED_TRACE(::testing::Message() << "pair " << p);
    const Seen& first = seen[static_cast<size_t>(2 * p)];
    const Seen& second = seen[static_cast<size_t>(2 * p + 1)];
    EXPECT_EQ(first.n_finished, 1);
    EXPECT_FALSE(first.event_after_finish);
    const auto full = static_cast<size_t>(1 + p % 3);
    if (first.reason == FinishReason::kCancelled) {
      EXPECT_LT(first.tokens.size(), full);
    } else {
      EXPECT_EQ(first.reason, FinishReason::kLength);
      EXPECT_EQ(first.tokens, alone("llama", greedy({1 + p, 2 + p}, 1 + p % 3)));
    }
    EXPECT_EQ(second.n_finished, 1);
    EXPECT_EQ(second.tokens, alone("llama", greedy({3 + p, 1 + p}, 4)));
  }
  int n_cancelled = 0;
  for (int p = 0; p < kPairs; ++p)
    n_cancelled += seen[static_cast<size_t>(2 * p)].reason == FinishReason::kCancelled;
  std::printf("%d of %d cancelled in time\n", n_cancelled, kPairs);
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
}

// Handing a step's events out during the next step changes when a client sees its tokens, never which.
TEST(AsyncEngine, OverlappedOutputGivesTheSameEventsAsImmediateOutput) {
  std::mt19937 rng(41);
  std::vector<Request> requests;
  for (int i = 0; i < 16; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(1 + rng() % 30));
    for (int32_t& t : prompt)
      t = static_cast<int32_t>(rng() % 200);
    Request r = greedy(std::move(prompt), 1 + static_cast<int32_t>(rng() % 12));
    r.stop_token_ids = {static_cast<int32_t>(rng() % 200)};
    requests.push_back(std::move(r));
  }
  ServeOptions immediate;
  immediate.overlap_output = false;
  const std::vector<Outcome> want = run_all(*make_async("llama", immediate), requests);
  const std::vector<Outcome> got = run_all(*make_async("llama"), requests);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "request " << i);
    EXPECT_EQ(got[i].tokens, want[i].tokens);
    EXPECT_EQ(got[i].n_events, want[i].n_events);
    EXPECT_TRUE(got[i].finished);
    EXPECT_EQ(got[i].reason, want[i].reason);
  }
}

// Scheduling ahead changes when the host learns a step's tokens, never which: requests that stop on a token
// (their row in the step already queued is dropped), stop at their length, or need the host's view of their
// history (penalties, log-probabilities, seeded draws, which make those steps run step by step) give the same
// events either way, and every KV block comes back.
TEST(AsyncEngine, SchedulingAheadGivesTheSameEventsAsStepByStep) {
  std::mt19937 rng(43);
  std::vector<Request> requests;
  for (int i = 0; i < 40; ++i) {
    std::vector<int32_t> prompt(static_cast<size_t>(1 + rng() % 40));
    for (int32_t& t : prompt)
      t = static_cast<int32_t>(rng() % 300);
    Request r = greedy(std::move(prompt), 1 + static_cast<int32_t>(rng() % 20));
    if (i % 2 == 0) r.stop_token_ids = {static_cast<int32_t>(rng() % 300), static_cast<int32_t>(rng() % 300)};
    if (i % 7 == 3) r.sampling.repetition_penalty = 1.3f;
    if (i % 9 == 4) r.logprobs = 2;
    if (i % 11 == 5) {
      r.sampling.temperature = 0.8f;
      r.sampling.seed = 1000 + i;
    }
    requests.push_back(std::move(r));
  }
  ServeOptions serve;
  serve.max_num_batched_tokens = 48;
  serve.kv_block_size = 4;
  ServeOptions step_by_step = serve;
  step_by_step.async_scheduling = false;
  auto reference = make_async("llama", step_by_step);
  const std::vector<Outcome> want = run_all(*reference, requests);
  EXPECT_EQ(reference->stats().n_steps_ahead, 0);
  auto engine = make_async("llama", serve);
  const std::vector<Outcome> got = run_all(*engine, requests);
  ASSERT_EQ(got.size(), want.size());
  int n_stopped = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "request " << i);
    EXPECT_TRUE(got[i].finished);
    EXPECT_TRUE(got[i].error.is_ok()) << got[i].error.to_string();
    EXPECT_EQ(got[i].tokens, want[i].tokens);
    EXPECT_EQ(got[i].n_events, want[i].n_events);
    EXPECT_EQ(got[i].reason, want[i].reason);
    n_stopped += got[i].reason == FinishReason::kStop;
  }
  EXPECT_GT(n_stopped, 0);  // some rows were computed for requests that had stopped
  const EngineStats stats = engine->stats();
  EXPECT_GT(stats.n_steps_ahead, 0);
  EXPECT_LT(stats.n_steps_ahead, stats.n_steps);  // steps with penalised, logprobs or drawn rows were not
  EXPECT_EQ(stats.kv_blocks_used, 0);
  EXPECT_EQ(stats.n_running, 0);
  EXPECT_EQ(stats.n_finished, 40);
}

TEST(AsyncEngine, CallbacksFromManyThreads) {
  auto engine = make_async("llama");
  std::atomic<int> finished{0};
  std::atomic<int> tokens{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 8; ++i) {
        RequestId id = 0;
        const Status s = engine->submit(
            greedy({1 + c, 2 + i, 3}, 5),
            [&](const RequestEvent& e) {
              tokens += static_cast<int>(e.tokens.size());
              if (e.finished) ++finished;
            },
            &id);
        EXPECT_TRUE(s.is_ok());
      }
    });
  }
  for (auto& t : clients)
    t.join();
  for (int i = 0; i < 500 && finished < 32; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(finished.load(), 32);
  EXPECT_EQ(tokens.load(), 32 * 5);
}

TEST(AsyncEngine, DestructionCancelsWhatIsLeft) {
  std::unique_ptr<RequestStream> stream;
  {
    auto engine = make_async("llama");
    ASSERT_TRUE(engine->submit(greedy({1, 2, 3}, 250), &stream).is_ok());
    RequestEvent e;
    ASSERT_TRUE(stream->next(&e));
  }
  const Outcome o = drain(*stream);
  EXPECT_TRUE(o.finished);
  EXPECT_EQ(o.reason, FinishReason::kCancelled);
}

}  // namespace
}  // namespace autoglm
