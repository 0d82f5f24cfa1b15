// The training step of a batch split across a team of threads.
#pragma once

#include <exception>
#include <optional>
#include <span>
#include <vector>

#include "backprop/error.hpp"
#include "backprop/norm.hpp"
#include "kernels/parallel.hpp"
#include "train/epoch.hpp"

namespace bp::train::detail {

// Where the parts of one batch total their sums (batch norm's statistics): each part leaves its
// sums in its slot, and part 0 adds the slots up in part order at a barrier.
class PartSums final : public BatchSums {
 public:
  // Begins a batch of `parts` parts (while no part uses it).
  void reset(int parts);
  void all_reduce(int part, std::span<double> sums) override;
  // For a part that fails: every other part waiting in all_reduce, or calling it later, throws
  // BatchAborted, so that none waits for the failed one.
  void abort() { barrier_->abort(); }

 private:
  std::optional<kernels::TeamBarrier> barrier_;
  std::vector<std::vector<double>> slots_;  // per part
  std::vector<double> total_;               // written by part 0 at the barrier
};

// What a part of a batch throws when another part failed (the failure to report is the other's).
struct BatchAborted : Error {
  BatchAborted() : Error("training stopped: another part of the split batch failed") {}
};

// The batches of an epoch, each split across a team of OpenMP threads. Each thread decodes its
// rows and runs forward and backward on them with single-threaded kernels into its own
// gradients; then each adds up its slice of every parameter's gradient over the team and applies
// its slice of the update. The team lives for the whole epoch (one fork and join), and its
// barriers spin briefly, so a step's phases follow each other without waking sleeping threads.
// Thread 0 runs the epoch's serial steps in the barriers' serial sections. The buffers are made
// once, for every step of the epoch.
class SplitStep {
 public:
  // `team`: the threads asked for (OpenMP may grant fewer).
  SplitStep(Epoch& epoch, int team);
  // Trains the epoch's batches; rethrows the first failure of any thread.
  void run();

 private:
  // The phases of every step, in the order each thread runs them, barriers between.
  void run_thread(int t);
  // Every thread: decodes its rows, runs their forward and backward into its own gradients.
  void forward_backward_rows(int t);
  // Every thread: its slice of each parameter's gradient, summed over the shards.
  void sum_gradient_slice(int t);
  // Thread 0, once the gradients are complete: checks, hooks and the start of the update.
  void finish_step();
  // Every thread: its slice of each parameter's update, checked while it is in cache.
  void apply_update_slice(int t);
  // Thread 0, between steps: the end of the previous one and the next batch.
  void next_batch();
  // Runs f on thread 0; a failure ends the epoch, and run() rethrows it.
  template <class F>
  void serially(F&& f);

  Epoch& epoch_;
  int team_;  // the threads OpenMP granted, once the team has started
  // The trainable parameters; `overwrite_` marks the optimizer's, whose .grad the sum replaces
  // (the zero_grad() a step starts with), where any other's accumulates as backward() would.
  std::vector<Tensor> params_;
  std::vector<char> overwrite_;
  std::optional<kernels::TeamBarrier> barrier_;
  PartSums sums_;  // the current batch's
  // Per thread.
  std::vector<std::vector<Tensor>> grads_;
  std::vector<StepResult> results_;
  std::vector<std::vector<const float*>> shard_grads_;
  std::vector<std::exception_ptr> errors_;
  std::vector<NonFinite> non_finite_;  // from the update
  // Written by thread 0 in a barrier's serial section, read by every thread after it.
  std::exception_ptr failure_;
  int shards_ = 1;         // threads the current batch is split across
  uint64_t batch_id_ = 0;  // the current batch's, for layers that see their rows' place in it
  bool more_ = true;  // there is a batch to train on (false: the epoch is over, or a step failed)
  const std::vector<optim::ElementUpdate>* updates_ = nullptr;  // the step's
};

}  // namespace bp::train::detail
