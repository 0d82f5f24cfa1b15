// Which rows of a training batch the calling thread's forward pass computes, when the trainer
// splits the batch across threads. Layers whose output depends on a row's place in the batch
// (dropout's random stream) or on the whole batch (batch norm's statistics) read it, so that a
// split batch computes what one pass would. Internal.
#pragma once

#include <cstdint>

#include "backprop/norm.hpp"

namespace bp::nn::detail {

struct BatchShard {
  uint64_t batch = 0;  // the same for every part of one batch, different for every batch
  int64_t first_row = 0;
  BatchPart part;  // where the parts total their sums over the batch (batch norm's statistics)
};

// A number no other batch of this process has had.
uint64_t new_batch_id();

// The calling thread's part of a split batch, or null when it computes a whole one.
const BatchShard* current_shard();

// Makes `shard` the calling thread's part for the scope's lifetime.
class ShardScope {
 public:
  explicit ShardScope(BatchShard shard);
  ~ShardScope();
  ShardScope(const ShardScope&) = delete;
  ShardScope& operator=(const ShardScope&) = delete;

 private:
  const BatchShard* saved_;
  BatchShard shard_;
};

}  // namespace bp::nn::detail
