#include "nn/batch_shard.hpp"

#include <atomic>

namespace bp::nn::detail {

namespace {
thread_local const BatchShard* current = nullptr;
}  // namespace

uint64_t new_batch_id() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

const BatchShard* current_shard() {
  return current;
}

ShardScope::ShardScope(BatchShard shard) : saved_(current), shard_(shard) {
  current = &shard_;
}

ShardScope::~ShardScope() {
  current = saved_;
}

}  // namespace bp::nn::detail
