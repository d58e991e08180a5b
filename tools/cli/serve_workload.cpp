#include "cli/serve_workload.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace autoglm::cli {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a full-period 64-bit stream from any seed, the same everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi]; the modulo bias is below 2^-32 for the ranges used here.
  int64_t uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

// Seeds of independent streams: a domain tag keeps the prefix, block and tail streams apart.
enum class StreamKind : uint64_t {
  kSyntheticLengths = 1,
  kSharedPrefix,
  kSyntheticPrompt,
  kTraceBlock,
  kTraceTail
};

uint64_t stream_seed(StreamKind kind, uint64_t a, uint64_t b) {
  SplitMix64 mix(a ^ (static_cast<uint64_t>(kind) << 56));
  const uint64_t x = mix.next();
  SplitMix64 mix2(x ^ b);
  return mix2.next();
}

void append_tokens(SplitMix64& rng, int64_t vocab_size, int64_t count, std::vector<int32_t>* out) {
  for (int64_t i = 0; i < count; ++i)
    out->push_back(static_cast<int32_t>(rng.uniform(kMinTokenId, vocab_size - 1)));
}

Status check_vocab(int64_t vocab_size) {
  if (vocab_size <= kMinTokenId || vocab_size > std::numeric_limits<int32_t>::max()) {
    return invalid_argument("vocabulary size " + std::to_string(vocab_size) + " leaves no ids above the " +
                            std::to_string(kMinTokenId) + " reserved low ids");
  }
  return Status::ok();
}

Status check_range(const LengthRange& r, int32_t min_lo, const char* what) {
  if (r.lo < min_lo || r.hi < r.lo) {
    return invalid_argument(std::string(what) + " range " + std::to_string(r.lo) + ":" +
                            std::to_string(r.hi) + " must satisfy " + std::to_string(min_lo) +
                            " <= lo <= hi");
  }
  return Status::ok();
}

Expected<int32_t> parse_int32(const std::string& text) {
  if (text.empty()) return invalid_argument("empty number");
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size() || v < std::numeric_limits<int32_t>::min() ||
      v > std::numeric_limits<int32_t>::max()) {
    return invalid_argument("'" + text + "' is not an integer");
  }
  return static_cast<int32_t>(v);
}

// A JSON integer field of a trace line (a float with an integral value is accepted: some writers emit 12.0).
Expected<int64_t> integer_field(const nlohmann::json& line, const char* name) {
  auto it = line.find(name);
  if (it == line.end()) return parse_error(std::string("missing field \"") + name + "\"");
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9e15) return static_cast<int64_t>(v);
  }
  return parse_error(std::string("field \"") + name + "\" is not an integer: " + it->dump());
}

Expected<uint64_t> parse_hash(const nlohmann::json& h) {
  if (h.is_number_unsigned()) return h.get<uint64_t>();
  if (h.is_string()) {
    const std::string s = h.get<std::string>();
    if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      errno = 0;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      if (errno == 0 && end == s.c_str() + s.size()) return static_cast<uint64_t>(v);
    }
  }
  return parse_error("block hash " + h.dump() + " is not a decimal uint64");
}

Expected<TraceRecord> parse_trace_line(const std::string& text) {
  nlohmann::json line = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (line.is_discarded()) return parse_error("not valid JSON");
  if (!line.is_object()) return parse_error("not a JSON object");
  TraceRecord r;
  auto ts = line.find("ts");
  if (ts == line.end()) return parse_error("missing field \"ts\"");
  if (!ts->is_number() || !std::isfinite(ts->get<double>()))
    return parse_error("field \"ts\" is not a number: " + ts->dump());
  r.ts_ms = ts->get<double>();
  AUTOGLM_ASSIGN_OR_RETURN(const int64_t il, integer_field(line, "il"));
  AUTOGLM_ASSIGN_OR_RETURN(const int64_t ol, integer_field(line, "ol"));
  if (il < 1 || il > std::numeric_limits<int32_t>::max())
    return parse_error("input length il = " + std::to_string(il) + " must be at least 1");
  if (ol < 0 || ol > std::numeric_limits<int32_t>::max())
    return parse_error("output length ol = " + std::to_string(ol) + " must not be negative");
  r.input_len = static_cast<int32_t>(il);
  r.output_len = static_cast<int32_t>(ol);
  auto bh = line.find("bh");
  if (bh == line.end()) return parse_error("missing field \"bh\"");
  if (!bh->is_array()) return parse_error("field \"bh\" is not an array");
  r.block_hashes.reserve(bh->size());
  for (const auto& h : *bh) {
    AUTOGLM_ASSIGN_OR_RETURN(const uint64_t v, parse_hash(h));
    r.block_hashes.push_back(v);
  }
  if (line.contains("priority")) {
    AUTOGLM_ASSIGN_OR_RETURN(const int64_t p, integer_field(line, "priority"));
    if (p < -(1 << 30) || p > (1 << 30))
      return parse_error("priority " + std::to_string(p) + " out of range");
    r.priority = static_cast<int32_t>(p);
  }
  return r;
}

}  // namespace

Expected<LengthRange> parse_length_range(const std::string& text) {
  const size_t colon = text.find(':');
  LengthRange r;
  if (colon == std::string::npos) {
    AUTOGLM_ASSIGN_OR_RETURN(r.lo, parse_int32(text));
    r.hi = r.lo;
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(r.lo, parse_int32(text.substr(0, colon)));
    AUTOGLM_ASSIGN_OR_RETURN(r.hi, parse_int32(text.substr(colon + 1)));
  }
  if (r.lo < 0 || r.hi < r.lo)
    return invalid_argument("length range '" + text + "' must be A or A:B with 0 <= A <= B");
  return r;
}

Expected<std::vector<WorkloadRequest>> make_synthetic_workload(const SyntheticOptions& o) {
  AUTOGLM_RETURN_IF_ERROR(check_vocab(o.vocab_size));
  if (o.num_prompts < 1) return invalid_argument("--num-prompts must be at least 1");
  if (o.shared_prefix < 0) return invalid_argument("--shared-prefix must not be negative");
  AUTOGLM_RETURN_IF_ERROR(check_range(o.input_len, o.shared_prefix > 0 ? 0 : 1, "--input-len"));
  AUTOGLM_RETURN_IF_ERROR(check_range(o.output_len, 1, "--output-len"));

  std::vector<int32_t> prefix;
  SplitMix64 prefix_rng(stream_seed(StreamKind::kSharedPrefix, o.seed, 0));
  append_tokens(prefix_rng, o.vocab_size, o.shared_prefix, &prefix);

  SplitMix64 lengths(stream_seed(StreamKind::kSyntheticLengths, o.seed, 0));
  std::vector<WorkloadRequest> requests(static_cast<size_t>(o.num_prompts));
  for (size_t i = 0; i < requests.size(); ++i) {
    WorkloadRequest& r = requests[i];
    const int64_t input_len = lengths.uniform(o.input_len.lo, o.input_len.hi);
    r.max_tokens = static_cast<int32_t>(lengths.uniform(o.output_len.lo, o.output_len.hi));
    r.prompt = prefix;
    r.prompt.reserve(prefix.size() + static_cast<size_t>(input_len));
    SplitMix64 tokens(stream_seed(StreamKind::kSyntheticPrompt, o.seed, i));
    append_tokens(tokens, o.vocab_size, input_len, &r.prompt);
  }
  return requests;
}

Expected<std::vector<TraceRecord>> parse_trace(std::istream& in, const std::string& source_name,
                                               size_t max_records) {
  std::vector<TraceRecord> records;
  std::string text;
  size_t line_no = 0;
  while ((max_records == 0 || records.size() < max_records) && std::getline(in, text)) {
    ++line_no;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto r = parse_trace_line(text);
    if (!r) return parse_error(source_name + ":" + std::to_string(line_no) + ": " + r.status().message());
    records.push_back(std::move(*r));
  }
  if (in.bad()) return io_error(source_name + ": read failed");
  if (records.empty()) return parse_error(source_name + ": no trace records");
  return records;
}

Expected<std::vector<TraceRecord>> load_trace(const std::string& path, size_t max_records) {
  std::ifstream in(path);
  if (!in) return not_found("cannot open trace " + path);
  return parse_trace(in, path, max_records);
}

Expected<int32_t> infer_trace_block_size(const std::vector<TraceRecord>& records) {
  if (records.empty()) return invalid_argument("no trace records to infer the block size from");
  // Every record with n hashes and il tokens needs n * B <= il < (n + 1) * B.
  int64_t lo = 1, hi = std::numeric_limits<int32_t>::max();
  for (const TraceRecord& r : records) {
    const int64_t n = static_cast<int64_t>(r.block_hashes.size());
    lo = std::max(lo, r.input_len / (n + 1) + 1);
    if (n > 0) hi = std::min(hi, r.input_len / n);
  }
  if (lo > hi) {
    return parse_error(
        "the trace's block hash counts fit no single block size (they need a block size of at least " +
        std::to_string(lo) + " and at most " + std::to_string(hi) + ")");
  }
  for (int64_t b = 1; b <= hi; b *= 2) {
    if (b >= lo) return static_cast<int32_t>(b);
  }
  return static_cast<int32_t>(lo);
}

Expected<TracePriorityMap> parse_trace_priority_map(const std::string& text) {
  if (text == "asc") return TracePriorityMap::kAscending;
  if (text == "desc") return TracePriorityMap::kDescending;
  if (text == "ignore") return TracePriorityMap::kIgnore;
  return invalid_argument("trace priority map '" + text + "' is not asc, desc or ignore");
}

Expected<TraceWorkload> make_trace_workload(const std::vector<TraceRecord>& records, const TraceOptions& o) {
  AUTOGLM_RETURN_IF_ERROR(check_vocab(o.vocab_size));
  if (records.empty()) return invalid_argument("empty trace");
  if (o.min_output < 1) return invalid_argument("--min-output must be at least 1");
  if (o.max_input < 0) return invalid_argument("--max-input must not be negative");
  if (!(o.time_scale >= 0) || !std::isfinite(o.time_scale))
    return invalid_argument("--time-scale must be >= 0");
  TraceWorkload w;
  if (o.block_size > 0) {
    w.block_size = o.block_size;
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(w.block_size, infer_trace_block_size(records));
  }
  const int64_t block = w.block_size;
  double first_ts = records.front().ts_ms;
  for (const TraceRecord& r : records)
    first_ts = std::min(first_ts, r.ts_ms);

  std::set<std::pair<uint64_t, size_t>> blocks_seen;
  w.requests.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const TraceRecord& r = records[i];
    WorkloadRequest& q = w.requests[i];
    if (static_cast<int64_t>(r.block_hashes.size()) * block > r.input_len) {
      return invalid_argument("trace record " + std::to_string(i) + ": " +
                              std::to_string(r.block_hashes.size()) + " blocks of " + std::to_string(block) +
                              " tokens exceed its input length " + std::to_string(r.input_len));
    }
    int64_t len = r.input_len;
    if (o.max_input > 0 && len > o.max_input) {
      len = o.max_input;
      ++w.n_clamped;
    }
    q.prompt.reserve(static_cast<size_t>(len));
    for (size_t b = 0; b < r.block_hashes.size() && static_cast<int64_t>(q.prompt.size()) < len; ++b) {
      SplitMix64 rng(stream_seed(StreamKind::kTraceBlock, r.block_hashes[b], b));
      append_tokens(rng, o.vocab_size, std::min(block, len - static_cast<int64_t>(q.prompt.size())),
                    &q.prompt);
      blocks_seen.emplace(r.block_hashes[b], b);
    }
    SplitMix64 tail(stream_seed(StreamKind::kTraceTail, o.seed, i));
    append_tokens(tail, o.vocab_size, len - static_cast<int64_t>(q.prompt.size()), &q.prompt);

    q.max_tokens = r.output_len;
    if (q.max_tokens < o.min_output) {
      q.max_tokens = o.min_output;
      ++w.n_output_raised;
    }
    q.arrival_ms = o.no_arrivals ? 0.0 : (r.ts_ms - first_ts) * o.time_scale;
    switch (o.priority_map) {
      case TracePriorityMap::kAscending:
        q.priority = r.priority;
        break;
      case TracePriorityMap::kDescending:
        q.priority = -r.priority;
        break;
      case TracePriorityMap::kIgnore:
        q.priority = 0;
        break;
    }
  }
  w.n_distinct_blocks = static_cast<int64_t>(blocks_seen.size());
  return w;
}

}  // namespace autoglm::cli
