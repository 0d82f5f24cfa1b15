// The training loop: epochs over a DataLoader, evaluation, metrics and callbacks.
#pragma once

#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backprop/data.hpp"
#include "backprop/export.hpp"
#include "backprop/nn.hpp"
#include "backprop/ops.hpp"
#include "backprop/optim.hpp"
#include "backprop/schedule.hpp"

namespace bp::distributed {
class Communicator;
class GradientReducer;
}  // namespace bp::distributed

namespace bp::train {

enum class Loss { cross_entropy, mse, l1, huber };

// Loss of a batch of network outputs: cross_entropy uses batch.labels (classification); the
// regression losses use batch.targets. Throws bp::Error on mismatched shapes or labels.
BP_API Tensor batch_loss(Loss loss, const Tensor& outputs, const data::Batch& batch);

// A confusion matrix grows with the square of the class count: it is kept for up to this many
// classes only (everything else in Metrics is linear in the classes).
inline constexpr int64_t kMaxConfusionClasses = 100;

// Scores of a model on a dataset.
struct BP_API Metrics {
  double loss = 0;
  double accuracy = 0;  // classification only
  int64_t samples = 0;
  bool classification = false;
  // confusion[true][predicted]: classification with at most kMaxConfusionClasses classes, else
  // empty.
  std::vector<std::vector<int64_t>> confusion;
  std::vector<double> precision, recall;  // per class; 0 where undefined
  std::vector<int64_t> support;           // per class: samples of that (true) class
};

// Runs `model` over `dataset` in eval mode without recording a graph, in batches of `batch_size`
// (the model's train/eval mode is restored). With a communicator of several ranks (a collective
// call), each rank runs its contiguous share of the dataset and every rank gets the metrics of the
// whole. Throws bp::Error when outputs do not fit the data.
BP_API Metrics evaluate(nn::Module& model, const data::Dataset& dataset, Loss loss,
                        int64_t batch_size = 512,
                        distributed::Communicator* communicator = nullptr);

struct BP_API EpochStats {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0;
  double train_accuracy = 0;
  double seconds = 0;  // training time of the epoch, evaluation excluded
  double samples_per_sec = 0;
  double lr = 0;
  std::vector<std::pair<std::string, Metrics>> evals;  // e.g. {"test", ...}
  // The named evaluation; nullptr if absent.
  const Metrics* eval(const std::string& name) const;
};

class Trainer;
namespace detail {
class Epoch;
struct EpochTotals;
}  // namespace detail

// Hooks into the loop. Each may call trainer.request_stop().
class BP_API Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Trainer&) {}
  virtual void on_epoch_begin(Trainer&, int64_t /*epoch*/) {}
  // Before the batch's forward pass (trainer.global_step() is the update about to be made).
  virtual void on_batch_begin(Trainer&, int64_t /*batch*/) {}
  // Between backward() and the optimizer's step(): the gradients are complete (clipping goes here).
  virtual void on_after_backward(Trainer&) {}
  virtual void on_batch_end(Trainer&, int64_t /*batch*/, int64_t /*batches*/, double /*loss*/,
                            int64_t /*samples_done*/) {}
  virtual void on_epoch_end(Trainer&, const EpochStats&) {}
  virtual void on_train_end(Trainer&) {}
};

struct BP_API TrainerOptions {
  int64_t epochs = 10;
  int64_t batch_size = 128;
  uint64_t seed = 1;  // shuffling order
  bool shuffle = true;
  Loss loss = Loss::cross_entropy;
  int64_t start_epoch = 0;  // epochs already done (a resumed run)
  // Batches of epoch start_epoch + 1 already done (a run resumed from an interrupted one): that
  // epoch walks the same shuffled order and skips them.
  int64_t start_batch = 0;
  // When set, fit() stops as soon as *interrupt is non-zero (a signal handler sets it): after the
  // batch being trained, mid-epoch, without evaluating; interrupted() then says where. Not owned.
  const volatile std::sig_atomic_t* interrupt = nullptr;
  int64_t eval_batch_size = 512;
  // Image augmentation of the training batches (see data::LoaderOptions).
  int64_t random_crop_padding = 0;
  bool random_flip = false;
  // Split each training batch across bp::num_threads() threads — each decodes its share and runs
  // forward and backward on it with single-threaded kernels, then the threads add up the gradients
  // and apply the optimizer's update, each a slice of every parameter — when the model's
  // thread_safe_forward() allows it. Same result as one pass over the batch, up to float rounding.
  // Callbacks still run on the thread that called fit(); during a split epoch, the batch-level
  // ones (on_batch_begin/end, on_after_backward) run there with single-threaded kernels, while the
  // other threads wait. Epoch-level ones run after the team has finished, with all threads.
  bool split_batch = true;
  // Data-parallel training when it has several ranks (see distributed.hpp; not owned): every rank
  // calls fit() with the same data and options; batch_size is per rank, so each update averages a
  // global batch of batch_size × ranks samples, cut from the same shuffled order on every rank.
  // fit() first checks that the ranks agree (data size, batch, epochs, parameter count; throws
  // bp::Error otherwise), copies rank 0's parameters and buffers to all ranks, averages the buffers
  // (batch-norm running statistics) after each epoch, and evaluates on shards; epoch statistics
  // and stop requests are combined over the ranks.
  distributed::Communicator* communicator = nullptr;
  // Gradients are averaged in buckets of about this size (distributed::GradientReducer).
  int64_t bucket_bytes = int64_t{1} << 20;
  // The precision of matrix products and convolutions throughout fit(), its evaluations included
  // (see bp::Precision: bf16 is mixed precision, with weights, gradients, optimizer state and the
  // gradients averaged over ranks all fp32); the previous setting returns when fit() does.
  Precision precision = Precision::fp32;
};

class BP_API Trainer {
 public:
  // Requires epochs >= 0, batch_size > 0. Throws bp::Error otherwise.
  Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerOptions options);
  void add_callback(std::shared_ptr<Callback> callback);

  // Trains from options.start_epoch to options.epochs, evaluating on each named dataset after
  // every epoch. Returns the stats of the epochs run. Throws bp::Error when the loss becomes
  // non-finite (naming the epoch and batch), or when data and model do not fit.
  std::vector<EpochStats> fit(
      const data::Dataset& train,
      const std::vector<std::pair<std::string, const data::Dataset*>>& evals);
  // The same with training samples read from `source` as the batches need them (see
  // data::SampleSource); the evaluation sets stay in memory. Throws as above, and bp::Error when
  // the source does not fit the DataLoader's requirements.
  std::vector<EpochStats> fit(
      std::shared_ptr<const data::SampleSource> train,
      const std::vector<std::pair<std::string, const data::Dataset*>>& evals);

  void request_stop() { stop_ = true; }
  // Where the last fit() stopped because of options.interrupt: in `epoch`, after
  // `batches_done` of its batches (0: at its start, every earlier epoch complete).
  struct Position {
    int64_t epoch = 0;
    int64_t batches_done = 0;
  };
  // nullopt when the last fit() was not interrupted.
  const std::optional<Position>& interrupted() const { return interrupted_; }
  // Threads that each batch is split across (1: not split), for a batch of `batch_size`.
  int batch_threads(int64_t batch_size) const;
  // Optimizer updates made so far, counting options.start_epoch full epochs of a resumed run:
  // the schedule position (the unit of optim::Schedule).
  int64_t global_step() const { return global_step_; }
  nn::Module& model() { return model_; }
  optim::Optimizer& optimizer() { return optimizer_; }
  const TrainerOptions& options() const { return options_; }
  const std::vector<EpochStats>& history() const { return history_; }

 private:
  // The loop of one epoch, internal to the library, updates the state below.
  friend class detail::Epoch;
  // The end of a whole epoch begun at time `start`: its statistics over the ranks, its
  // evaluations, the epoch callbacks and the ranks' agreement to stop.
  EpochStats end_epoch(int64_t epoch, const detail::EpochTotals& totals, double start,
                       const std::vector<std::pair<std::string, const data::Dataset*>>& evals,
                       distributed::Communicator* comm);

  nn::Module& model_;
  optim::Optimizer& optimizer_;
  TrainerOptions options_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::vector<EpochStats> history_;
  bool stop_ = false;
  int64_t global_step_ = 0;
  std::optional<Position> interrupted_;
};

// ---- callbacks ----

// Progress on stderr: a live bar on a terminal (batches, samples/s, running loss, ETA), one plain
// line per epoch otherwise. Epoch summaries go to stdout.
class BP_API ProgressPrinter : public Callback {
 public:
  explicit ProgressPrinter(bool quiet = false);
  void on_epoch_begin(Trainer&, int64_t epoch) override;
  void on_batch_end(Trainer&, int64_t batch, int64_t batches, double loss,
                    int64_t samples_done) override;
  void on_epoch_end(Trainer&, const EpochStats& stats) override;
  // Clears a bar left by an epoch that did not finish (an interrupted run).
  void on_train_end(Trainer&) override;

 private:
  bool quiet_, tty_;
  double epoch_start_ = 0, last_draw_ = 0, loss_sum_ = 0;
  int64_t epoch_ = 0;
};

// Appends one JSON object per epoch to a file: epoch, train_loss, train_accuracy, lr, seconds,
// samples_per_sec, and <name>_loss / <name>_accuracy per evaluation set; the file is emptied first
// unless `append`. Each line is written at the end of its epoch and checked: throws bp::Error
// naming the path if the file cannot be opened or a write fails (a full disk), which stops fit().
class BP_API JsonLogger : public Callback {
 public:
  explicit JsonLogger(const std::string& path, bool append = false);
  void on_epoch_end(Trainer&, const EpochStats& stats) override;

 private:
  std::string path_;
};

// Stops when the monitored evaluation's loss has not improved by min_delta for `patience` epochs.
class BP_API EarlyStopping : public Callback {
 public:
  EarlyStopping(std::string monitor, int64_t patience, double min_delta = 0.0);
  void on_epoch_end(Trainer&, const EpochStats& stats) override;
  int64_t best_epoch() const { return best_epoch_; }

 private:
  std::string monitor_;
  int64_t patience_;
  double min_delta_;
  double best_ = 0;
  int64_t best_epoch_ = 0;
};

// Sets the learning rate at the start of each epoch from a function of the epoch (1-based).
class BP_API LearningRateSchedule : public Callback {
 public:
  explicit LearningRateSchedule(std::function<float(int64_t epoch)> lr_for_epoch);
  void on_epoch_begin(Trainer&, int64_t epoch) override;

 private:
  std::function<float(int64_t)> lr_for_epoch_;
};

// Sets the learning rate before every batch from a schedule at trainer.global_step() (groups keep
// their learning rates' ratios to the first group's), and after every epoch tells the schedule the
// loss of the evaluation named `monitor` (the training loss when there is none), for
// reduce-on-plateau. Add it before a CheckpointCallback so that checkpoints see the new state.
class BP_API ScheduleCallback : public Callback {
 public:
  explicit ScheduleCallback(std::shared_ptr<optim::Schedule> schedule, std::string monitor = "val");
  void on_train_begin(Trainer& trainer) override;
  void on_batch_begin(Trainer& trainer, int64_t batch) override;
  void on_epoch_end(Trainer& trainer, const EpochStats& stats) override;
  optim::Schedule& schedule() { return *schedule_; }

 private:
  std::shared_ptr<optim::Schedule> schedule_;
  std::string monitor_;
  std::vector<double> ratios_;  // group lr / first group's lr, at the start of training
};

// Clips the gradients of the optimizer's parameters after every backward pass: first each element
// to [−clip_value, clip_value], then the total 2-norm to max_norm (either 0: off). Throws bp::Error
// on a negative or non-finite limit.
class BP_API GradientClipping : public Callback {
 public:
  GradientClipping(double max_norm, double clip_value = 0.0);
  void on_after_backward(Trainer& trainer) override;
  double last_norm() const { return last_norm_; }  // before clipping; 0 when max_norm is 0

 private:
  double max_norm_, clip_value_;
  double last_norm_ = 0;
};

// Calls `save(epochs_done)` after every epoch (the CLI writes a checkpoint file there).
class BP_API CheckpointCallback : public Callback {
 public:
  explicit CheckpointCallback(std::function<void(int64_t epochs_done)> save);
  void on_epoch_end(Trainer&, const EpochStats& stats) override;

 private:
  std::function<void(int64_t)> save_;
};

}  // namespace bp::train
