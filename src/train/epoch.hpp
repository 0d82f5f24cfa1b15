// One epoch of a Trainer: the loop over a DataLoader's batches and the serial steps around each
// batch's forward and backward, shared by the one-pass and the split way of training a batch.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include "backprop/train.hpp"

namespace bp::train::detail {

// Rows' losses summed, and (classification) the rows whose argmax is the label.
struct StepResult {
  double loss_sum = 0;
  int64_t correct = 0;
};

// This rank's sums over the batches of an epoch.
struct EpochTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t seen = 0;
  int64_t predictions = 0;  // seen times the labels per sample: what accuracy divides by
  double last_loss = 0;     // the last batch's mean loss
};

// Where an update made a parameter non-finite: parameter k of the optimizer's flattened groups.
struct NonFinite {
  size_t param = 0;
  int64_t element = -1;  // -1: every parameter stayed finite
};

// Index of the first NaN or infinity in p[begin, end), or -1.
int64_t first_non_finite(const float* p, int64_t begin, int64_t end);

// Forward and backward of rows [begin, end) of `batch`, weighted by their share of the batch.
// With `leaf_grads` (the parameters on entry), their gradients are returned there instead of
// being added into the parameters' .grad.
StepResult forward_backward(nn::Module& model, Loss loss, const data::Batch& batch, int64_t begin,
                            int64_t end, std::vector<Tensor>* leaf_grads);

// Threads `rows` rows are split across, out of `threads`: at least 16 rows per thread, or the
// split costs more than it saves.
inline int split_threads(int64_t rows, int threads) {
  return static_cast<int>(std::clamp<int64_t>(rows / 16, 1, threads));
}

// One epoch of `trainer`: forward, backward, the update and the batch callbacks of each batch.
// The serial steps below run on one thread: in a split epoch, thread 0 runs them in its
// barriers' serial sections while the others wait.
class Epoch {
 public:
  // `skip`: batches at the start of the epoch already done (a resumed interrupted run).
  Epoch(Trainer& trainer, data::DataLoader& loader, distributed::GradientReducer* reducer,
        int64_t epoch, int64_t skip);

  // Trains the epoch, split across threads when trainer.batch_threads() allows it. With
  // options.interrupt set, it may return early, having set trainer.interrupted().
  EpochTotals run();

  // Ends the step just made, if any: its update must have left every parameter finite
  // (`non_finite`: what each thread that applied a part of it found), then on_batch_end. Then
  // fetches the next batch without its features (whoever trains on rows decodes them) and
  // begins it: on_batch_begin, the reducer's pass. False when the epoch is over or interrupted.
  bool next_batch(std::span<const NonFinite> non_finite);
  // Once the batch's gradients are complete (`parts`: the results of its parts): checks that its
  // loss is finite, finishes the reducer's pass and runs on_after_backward.
  void finish_backward(std::span<const StepResult> parts);
  // Counts the step whose update has been made.
  void count_step();

  data::Batch& batch() { return batch_; }
  data::DataLoader& loader() { return loader_; }
  nn::Module& model() { return trainer_.model_; }
  optim::Optimizer& optimizer() { return trainer_.optimizer_; }
  Loss loss() const { return trainer_.options_.loss; }

 private:
  void end_step(std::span<const NonFinite> non_finite);
  bool begin_batch();
  double step_mean_loss() const;
  // The whole batch in one pass, with the kernels threaded.
  void run_one_pass();

  Trainer& trainer_;
  data::DataLoader& loader_;
  distributed::GradientReducer* reducer_;
  const int64_t epoch_, skip_;
  data::Batch batch_;
  int64_t index_;    // batches done
  StepResult step_;  // the current batch's, summed over its parts
  EpochTotals totals_;
};

}  // namespace bp::train::detail
