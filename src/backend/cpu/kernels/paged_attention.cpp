// Causal grouped-query attention over a paged KV cache, CPU (the semantics of ops/paged_attention.h); f32
// caches, and bf16 / f16 / f8_e4m3 caches widened to f32 row by row (bf16 decode rows in registers as they
// are read, f8_e4m3 eight values at a time by integer vector operations: fp8_rows.h).
//
// Layout: q and out [t, q_heads, head_dim], the rows of all sequences packed (sequence s owns rows
//   [q_start[s], q_start[s + 1])); caches [n_blocks * block_size, kv_heads, head_dim]: position j of sequence
//   s is cache row block_tables[s, j / block_size] * block_size + j % block_size. The metadata is host memory
//   here and is read directly.
// Work unit: one sequence x one query row x one KV head x one chunk of that row's keys, exactly the units of
//   the contiguous kernel (attention.cpp) for that sequence alone: the unit gathers its keys' row pointers
//   from the block table (narrower rows are widened first: a decode row's into a per-thread buffer, a prefill
//   sequence's once per call for all its rows) and runs the shared row math of attention_rows.h over them. A
//   sequence's chunk count comes from key_chunks() of its own q_len and length and the pool size, never from
//   the batch, so every sequence's output is bit for bit what the contiguous kernel writes for it over a
//   contiguous cache holding the same rows (for f32 caches; narrower ones equal the f32 kernel on the
//   widened values).
// Threading: the units of all sequences form one range over the pool (grain 1 when the whole batch is worth
//   threads); a sequence's rows go in zigzag order as in the contiguous kernel. Chunked sequences' partials
//   are merged afterwards, one query head at a time, also over the pool.
// Metadata the op could not check (values on the device): a sequence whose lengths, q_start range or used
//   block ids are out of range gets NaN rows rather than a read outside the cache; a q_start that does not
//   run from 0 to t non-decreasing makes the whole output NaN.
// Accumulation: as attention.cpp (f32 dots and outputs, exps summed in double).
// Floor: decode reads 2 * n_keys * kv_heads * head_dim * dtype bytes per sequence / bandwidth; prefill is
//   FLOP-bound at about 4 * q_len * n_keys * q_heads * head_dim per sequence.
// Reference: the contiguous CPU attention on each sequence's gathered rows (tests/backend/
//   test_paged_attention.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/kernels/attention_rows.h"
#include "backend/cpu/kernels/fp8_rows.h"
#include "core/fp8.h"
#include "core/half.h"
#include "ops/kernel_table.h"
#include "ops/paged_attention.h"

// Vec8 only passes between inlined functions (attention_rows.h), so the note that 32-byte vectors change the
// calling convention without AVX concerns no real call.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace autoglm {
namespace {

using namespace cpu_attention;

struct Batch {
  const float* q = nullptr;
  float* out = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  DType cache_dtype = DType::kF32;
  const int32_t* block_tables = nullptr;
  int64_t max_blocks = 0, block_size = 1;
  int64_t q_heads = 0, kv_heads = 0, group = 0, head_dim = 0;
  int64_t window = 0;
  float scale = 1.0f, softcap = 0.0f;
  float* part_out = nullptr;    // [slots, head_dim] unnormalized outputs of chunked sequences
  float* part_stats = nullptr;  // [slots, 2] (max, sum of exps)
  float* widened = nullptr;     // narrow caches: the K / V rows of prefill sequences as f32 (Seq::widened_*)
};

struct Seq {
  int64_t index = 0;       // s
  int64_t q_begin = 0;     // first packed query row
  int64_t q_len = 0;       // its query rows
  int64_t pos0 = 0;        // position of its first query row: seq_len - q_len
  int64_t n_chunks = 1;    // key chunks per row (key_chunks() of this sequence alone)
  int64_t unit_begin = 0;  // first unit in the batch's unit range
  int64_t part_begin = 0;  // first partial slot, when n_chunks > 1
  // Narrow caches, more than one query row: its visible positions [widened_first, widened_first +
  // widened_keys) widened once per call into Batch::widened from widened_begin, [kv_head][position][K | V]
  // rows of head_dim, rather than once per query row. -1: its units widen their own keys.
  int64_t widened_begin = -1;
  int64_t widened_first = 0;
  int64_t widened_keys = 0;
};

// n elements of a bf16, f16 or f8_e4m3 cache from element `at`, as f32 (exact).
AUTOGLM_VEC_INLINE void widen_row(DType dtype, const void* cache, int64_t at, int64_t n, float* out) {
  if (dtype == DType::kF8E4M3) {
    cpu_vec::widen_fp8_e4m3(static_cast<const uint8_t*>(cache) + at, n, out);
    return;
  }
  const uint16_t* x = static_cast<const uint16_t*>(cache) + at;
  const bool bf16 = dtype == DType::kBF16;  // else f16: the kernel is registered for no other
  for (int64_t d = 0; d < n; ++d)
    out[d] = bf16 ? bf16_to_f32(x[d]) : f16_to_f32(x[d]);
}

// fn(j, element) for keys j = 0 .. n - 1 of positions [keys.begin, keys.end) of sequence s: `element` is the
// offset of KV head g's row of that position in the caches, in elements.
template <typename Fn>
void for_each_key_row(const Batch& b, const Seq& s, int64_t g, KeyRange keys, Fn&& fn) {
  const int64_t bs = b.block_size;
  const int32_t* table = b.block_tables + s.index * b.max_blocks;
  int64_t block = keys.begin / bs, offset = keys.begin % bs;
  for (int64_t j = 0; j < keys.end - keys.begin; ++j) {
    fn(j, ((int64_t{table[block]} * bs + offset) * b.kv_heads + g) * b.head_dim);
    if (++offset == bs) {
      offset = 0;
      ++block;
    }
  }
}

// Whether a unit of sequence s reads its cache rows as they are (NarrowRows: bf16 rows outside a prefill's
// widened buffer) rather than through f32 row pointers.
bool reads_narrow_rows(const Batch& b, const Seq& s) {
  return s.widened_begin < 0 && b.cache_dtype == DType::kBF16;
}

// The cache row pointers of keys [keys.begin, keys.end) of sequence s, KV head g, into
// scratch.narrow_rows[0, n) (K) and [n, 2n) (V).
void gather_narrow_rows(const Batch& b, const Seq& s, int64_t g, KeyRange keys, Scratch& scratch) {
  const int64_t n = keys.end - keys.begin;
  const size_t elem = dtype_size(b.cache_dtype);
  scratch.narrow_rows.resize(static_cast<size_t>(2 * n));
  for_each_key_row(b, s, g, keys, [&](int64_t j, int64_t element) {
    const size_t byte = static_cast<size_t>(element) * elem;
    scratch.narrow_rows[static_cast<size_t>(j)] = static_cast<const uint8_t*>(b.k_cache) + byte;
    scratch.narrow_rows[static_cast<size_t>(n + j)] = static_cast<const uint8_t*>(b.v_cache) + byte;
  });
}

// Row pointers of keys [keys.begin, keys.end) of sequence s, KV head g, into rows[0, n) (K) and rows[n, 2n)
// (V): f32 cache rows, a prefill's widened rows, or f16 / f8_e4m3 rows widened into scratch.widened first.
AUTOGLM_ATTENTION_CLONES
void gather_rows(const Batch& b, const Seq& s, int64_t g, KeyRange keys, Scratch& scratch) {
  const int64_t n = keys.end - keys.begin, hd = b.head_dim;
  scratch.rows.resize(static_cast<size_t>(2 * n));
  if (s.widened_begin >= 0) {  // widened for the whole call (widen_prefill_rows)
    const float* head = b.widened + s.widened_begin + g * s.widened_keys * 2 * hd;
    for (int64_t j = 0; j < n; ++j) {
      const float* k_row = head + (keys.begin + j - s.widened_first) * 2 * hd;
      scratch.rows[j] = k_row;
      scratch.rows[n + j] = k_row + hd;
    }
    return;
  }
  const bool widen = b.cache_dtype != DType::kF32;
  if (widen) scratch.widened.resize(static_cast<size_t>(2 * n * hd));
  for_each_key_row(b, s, g, keys, [&](int64_t j, int64_t element) {
    if (!widen) {
      scratch.rows[j] = static_cast<const float*>(b.k_cache) + element;
      scratch.rows[n + j] = static_cast<const float*>(b.v_cache) + element;
      return;
    }
    float* k_row = scratch.widened.data() + j * hd;
    float* v_row = scratch.widened.data() + (n + j) * hd;
    widen_row(b.cache_dtype, b.k_cache, element, hd, k_row);
    widen_row(b.cache_dtype, b.v_cache, element, hd, v_row);
    scratch.rows[j] = k_row;
    scratch.rows[n + j] = v_row;
  });
}

AUTOGLM_ATTENTION_CLONES
void attend_unit(const Batch& b, const Seq& s, int64_t i, int64_t g, int64_t c, Scratch& scratch) {
  const KeyRange keys = chunk_of(visible_keys(s.pos0 + i, b.window), c, s.n_chunks);
  const int64_t n = keys.end - keys.begin, hd = b.head_dim, group = b.group;
  const int64_t first_head = g * group;
  const float* q = b.q + ((s.q_begin + i) * b.q_heads + first_head) * hd;
  UnitResult r;
  if (reads_narrow_rows(b, s)) {
    gather_narrow_rows(b, s, g, keys, scratch);
    const void* const* rows = scratch.narrow_rows.data();
    r = attend_keys(q, NarrowRows<Bf16Element>{rows}, NarrowRows<Bf16Element>{rows + n}, n, group, hd,
                    b.scale, b.softcap, scratch);
  } else {
    gather_rows(b, s, g, keys, scratch);
    r = attend_keys(q, RowTable{scratch.rows.data()}, RowTable{scratch.rows.data() + n}, n, group, hd,
                    b.scale, b.softcap, scratch);
  }

  for (int64_t h = 0; h < group; ++h) {
    const int64_t head = i * b.q_heads + first_head + h;  // within the sequence
    if (s.n_chunks == 1) {
      write_normalized(b.out + (s.q_begin * b.q_heads + head) * hd, r.acc + h * hd, r.stats[h], hd);
    } else {
      const int64_t slot = s.part_begin + head * s.n_chunks + c;
      write_partial(b.part_out + slot * hd, b.part_stats + 2 * slot, r.acc + h * hd, r.stats[h], hd);
    }
  }
}

// Keys [keys.begin, keys.end) of sequence s, KV head g, widened into rows: [K | V] rows of head_dim each.
AUTOGLM_ATTENTION_CLONES
void widen_key_rows(const Batch& b, const Seq& s, int64_t g, KeyRange keys, float* rows) {
  const int64_t hd = b.head_dim;
  for_each_key_row(b, s, g, keys, [&](int64_t j, int64_t element) {
    widen_row(b.cache_dtype, b.k_cache, element, hd, rows + j * 2 * hd);
    widen_row(b.cache_dtype, b.v_cache, element, hd, rows + j * 2 * hd + hd);
  });
}

// Narrow caches: the visible K / V rows of every sequence with more than one query row, widened once into
// `buffer` (sized here) over the pool, so that its q_len query rows do not each widen them again. The same
// values the units would widen, so the same results.
void widen_prefill_rows(const Batch& b, std::vector<Seq>& seqs, const int32_t* seq_lens,
                        std::vector<float>& buffer, ThreadPool& pool) {
  const int64_t hd = b.head_dim;
  int64_t total = 0;
  for (Seq& s : seqs) {
    if (s.q_len < 2) continue;
    s.widened_first = visible_keys(s.pos0, b.window).begin;
    s.widened_keys = seq_lens[s.index] - s.widened_first;
    s.widened_begin = total;
    total += b.kv_heads * s.widened_keys * 2 * hd;
  }
  if (total == 0) return;
  buffer.resize(static_cast<size_t>(total));
  float* widened = buffer.data();
  constexpr int64_t kRowsPerTask = 64;
  // Tasks: (sequence, KV head, run of kRowsPerTask positions), sequence after sequence.
  std::vector<std::pair<const Seq*, int64_t>> tasks;  // (sequence, first task index of it)
  int64_t n_tasks = 0;
  for (const Seq& s : seqs) {
    if (s.widened_begin < 0) continue;
    tasks.emplace_back(&s, n_tasks);
    n_tasks += b.kv_heads * ((s.widened_keys + kRowsPerTask - 1) / kRowsPerTask);
  }
  pool.parallel_for(
      n_tasks,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t task = begin; task < end; ++task) {
          const auto it = std::upper_bound(tasks.begin(), tasks.end(), task,
                                           [](int64_t x, const auto& e) { return x < e.second; }) -
                          1;
          const Seq& s = *it->first;
          const int64_t runs = (s.widened_keys + kRowsPerTask - 1) / kRowsPerTask;
          const int64_t local = task - it->second, g = local / runs, first = local % runs * kRowsPerTask;
          float* rows = widened + s.widened_begin + (g * s.widened_keys + first) * 2 * hd;
          const KeyRange keys{s.widened_first + first,
                              s.widened_first + std::min(first + kRowsPerTask, s.widened_keys)};
          widen_key_rows(b, s, g, keys, rows);
        }
      },
      1);
}

void fill_nan(float* out, int64_t n) {
  std::fill(out, out + n, std::numeric_limits<float>::quiet_NaN());
}

// True when sequence s's metadata can be followed without leaving the cache: 0 <= q_len <= seq_len <=
// max_blocks * block_size, and every block its query rows read is a block of the cache.
bool sequence_valid(const Batch& b, int64_t s, int64_t q_len, int64_t seq_len, int64_t n_blocks) {
  if (q_len < 0 || seq_len < q_len || seq_len > b.max_blocks * b.block_size) return false;
  if (q_len == 0) return true;
  const int64_t first = visible_keys(seq_len - q_len, b.window).begin / b.block_size;
  const int64_t last = (seq_len - 1) / b.block_size;
  const int32_t* table = b.block_tables + s * b.max_blocks;
  for (int64_t blk = first; blk <= last; ++blk) {
    if (table[blk] < 0 || table[blk] >= n_blocks) return false;
  }
  return true;
}

void paged_attention_cpu(Backend& backend, const PagedAttentionArgs& a) {
  Batch b;
  const int64_t t = a.q.shape[0];
  b.q_heads = a.q.shape[1];
  b.head_dim = a.q.shape[2];
  b.kv_heads = a.k_cache.shape[1];
  if (t == 0 || b.q_heads == 0 || b.head_dim == 0) return;
  b.q = a.q.as<const float>();
  b.out = a.out.as<float>();
  b.k_cache = a.k_cache.data;
  b.v_cache = a.v_cache.data;
  b.cache_dtype = a.k_cache.dtype;
  b.block_tables = a.block_tables.as<const int32_t>();
  b.max_blocks = a.block_tables.shape[1];
  b.block_size = a.block_size;
  b.group = b.q_heads / b.kv_heads;
  b.window = a.window;
  b.scale = a.scale;
  b.softcap = a.softcap;
  const int64_t n_seqs = a.block_tables.shape[0], n_blocks = a.k_cache.shape[0] / a.block_size;
  const int32_t* q_start = a.q_start.as<const int32_t>();
  const int32_t* seq_lens = a.seq_lens.as<const int32_t>();
  const int64_t row_elems = b.q_heads * b.head_dim;
  bool packed = q_start[0] == 0 && q_start[n_seqs] == t;
  for (int64_t s = 0; s < n_seqs && packed; ++s)
    packed = q_start[s] <= q_start[s + 1];
  if (!packed) {
    fill_nan(b.out, t * row_elems);
    return;
  }

  ThreadPool& pool = cpu_pool(backend);
  const int n_threads = pool.n_threads();
  // Buffers of the calling thread that keep their capacity (decode calls this once per layer and token),
  // reached by reference from the tasks: a thread_local named inside a task would be the worker's own.
  thread_local std::vector<Seq> seq_buffer;
  thread_local std::vector<float> partials;
  thread_local std::vector<const Seq*> chunked_buffer;
  thread_local std::vector<int64_t> head_begin_buffer;
  thread_local std::vector<float> widened_buffer;
  std::vector<Seq>& seqs = seq_buffer;
  seqs.clear();
  int64_t n_units = 0, n_slots = 0;
  double row_keys = 0;  // sum of q_len * keys of the longest row: the flops over 4 * q_heads * head_dim
  for (int64_t s = 0; s < n_seqs; ++s) {
    Seq seq;
    seq.index = s;
    seq.q_begin = q_start[s];
    seq.q_len = q_start[s + 1] - q_start[s];
    if (!sequence_valid(b, s, seq.q_len, seq_lens[s], n_blocks)) {
      fill_nan(b.out + seq.q_begin * row_elems, seq.q_len * row_elems);
      continue;
    }
    if (seq.q_len == 0) continue;
    seq.pos0 = seq_lens[s] - seq.q_len;
    const KeyRange last = visible_keys(seq_lens[s] - 1, b.window);
    const int64_t max_keys = last.end - last.begin;
    row_keys += static_cast<double>(seq.q_len) * static_cast<double>(max_keys);
    seq.n_chunks = key_chunks(n_threads, seq.q_len, b.q_heads, b.kv_heads, b.head_dim, max_keys);
    seq.unit_begin = n_units;
    n_units += seq.q_len * b.kv_heads * seq.n_chunks;
    if (seq.n_chunks > 1) {
      seq.part_begin = n_slots;
      n_slots += seq.q_len * b.q_heads * seq.n_chunks;
    }
    seqs.push_back(seq);
  }
  if (n_units == 0) return;
  if (n_slots > 0) {
    partials.resize(static_cast<size_t>(n_slots * (b.head_dim + 2)));
    b.part_out = partials.data();
    b.part_stats = b.part_out + n_slots * b.head_dim;
  }
  // Work under kMinParallelFlops in total runs inline.
  const bool parallel = worth_parallel(n_threads, 1, b.q_heads, b.head_dim, static_cast<int64_t>(row_keys));
  if (b.cache_dtype != DType::kF32) {
    widen_prefill_rows(b, seqs, seq_lens, widened_buffer, pool);
    b.widened = widened_buffer.data();
  }

  pool.parallel_for(
      n_units,
      [&](int64_t begin, int64_t end, int) {
        thread_local Scratch scratch;
        // The sequence holding unit `begin`, then walk on.
        auto it = std::upper_bound(seqs.begin(), seqs.end(), begin,
                                   [](int64_t u, const Seq& s) { return u < s.unit_begin; }) -
                  1;
        for (int64_t u = begin; u < end; ++u) {
          while (it + 1 != seqs.end() && u >= (it + 1)->unit_begin)
            ++it;
          const Seq& s = *it;
          const int64_t local = u - s.unit_begin, c = local % s.n_chunks, rest = local / s.n_chunks;
          attend_unit(b, s, zigzag(rest / b.kv_heads, s.q_len), rest % b.kv_heads, c, scratch);
        }
      },
      parallel ? 1 : n_units);
  if (n_slots == 0) return;

  // Merge chunked sequences head by head: [seq, row, head] over the pool, each head merged alone.
  std::vector<const Seq*>& chunked = chunked_buffer;
  std::vector<int64_t>& head_begin = head_begin_buffer;  // first merged head of each chunked sequence
  chunked.clear();
  head_begin.clear();
  int64_t n_heads = 0;
  for (const Seq& s : seqs) {
    if (s.n_chunks == 1) continue;
    chunked.push_back(&s);
    head_begin.push_back(n_heads);
    n_heads += s.q_len * b.q_heads;
  }
  const int64_t hd = b.head_dim;
  pool.parallel_for(
      n_heads,
      [&](int64_t begin, int64_t end, int) {
        for (int64_t h = begin; h < end; ++h) {
          const size_t k = static_cast<size_t>(std::upper_bound(head_begin.begin(), head_begin.end(), h) -
                                               head_begin.begin()) -
                           1;
          const Seq& s = *chunked[k];
          const int64_t head = h - head_begin[k];  // row * q_heads + head within the sequence
          const int64_t slot = s.part_begin + head * s.n_chunks;
          merge_partials(b.part_out + slot * hd, b.part_stats + 2 * slot, s.n_chunks, hd,
                         b.out + (s.q_begin * b.q_heads + head) * hd);
        }
      },
      std::max<int64_t>(1, parallel ? b.q_heads : n_heads));
}

const KernelRegistrar<PagedAttentionArgs> kRegisterF32(DeviceKind::kCpu, DType::kF32, paged_attention_cpu);
const KernelRegistrar<PagedAttentionArgs> kRegisterBF16(DeviceKind::kCpu, DType::kBF16, paged_attention_cpu);
const KernelRegistrar<PagedAttentionArgs> kRegisterF16(DeviceKind::kCpu, DType::kF16, paged_attention_cpu);
const KernelRegistrar<PagedAttentionArgs> kRegisterF8(DeviceKind::kCpu, DType::kF8E4M3, paged_attention_cpu);

}  // namespace
}  // namespace autoglm
