#include "model/kv_cache.h"

namespace autoglm {

Expected<KvCache> KvCache::create(Backend& backend, const ModelConfig& config, int64_t capacity,
                                  DType dtype) {
  if (capacity <= 0) return invalid_argument("KV cache capacity must be positive");
  KvCache cache;
  cache.capacity = capacity;
  const Shape shape{capacity, config.num_key_value_heads, config.head_dim};
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    AUTOGLM_ASSIGN_OR_RETURN(Tensor k, backend.allocate(dtype, shape));
    AUTOGLM_ASSIGN_OR_RETURN(Tensor v, backend.allocate(dtype, shape));
    cache.k.push_back(std::move(k));
    cache.v.push_back(std::move(v));
  }
  return cache;
}

size_t KvCache::nbytes() const {
  size_t n = 0;
  for (size_t i = 0; i < k.size(); ++i)
    n += k[i].nbytes() + v[i].nbytes();
  return n;
}

}  // namespace autoglm
