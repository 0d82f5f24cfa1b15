// The Trainer: epochs of training, each followed by its evaluations and the epoch callbacks;
// data-parallel over the ranks of a communicator.
#include <array>
#include <optional>

#include "backprop/distributed.hpp"
#include "backprop/error.hpp"
#include "backprop/train.hpp"
#include "core/clock.hpp"
#include "train/epoch.hpp"

namespace bp::train {

Trainer::Trainer(nn::Module& model, optim::Optimizer& optimizer, TrainerOptions options)
    : model_(model), optimizer_(optimizer), options_(options) {
  BP_CHECK(options.epochs >= 0, "trainer: epochs must be >= 0 (got {})", options.epochs);
  BP_CHECK(options.batch_size > 0, "trainer: batch size must be positive (got {})",
           options.batch_size);
  BP_CHECK(options.eval_batch_size > 0, "trainer: evaluation batch size must be positive");
  BP_CHECK(options.start_epoch >= 0, "trainer: start epoch must be >= 0");
  BP_CHECK(options.bucket_bytes > 0, "trainer: gradient bucket size must be positive (got {})",
           options.bucket_bytes);
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  callbacks_.push_back(std::move(callback));
}

int Trainer::batch_threads(int64_t batch_size) const {
  if (!options_.split_batch || !model_.thread_safe_forward()) return 1;
  return detail::split_threads(batch_size, bp::num_threads());
}

namespace {

// Data parallelism: every rank walks the same global batches and trains on its shard of each.
data::LoaderOptions loader_options(const TrainerOptions& options, distributed::Communicator* comm) {
  const int64_t ranks = comm ? comm->size() : 1;
  return {.batch_size = options.batch_size * ranks,
          .shuffle = options.shuffle,
          .seed = options.seed,
          .random_crop_padding = options.random_crop_padding,
          .random_flip = options.random_flip,
          .shard_count = ranks,
          .shard_index = comm ? comm->rank() : 0};
}

// Every rank must walk the same batches of the same model, or the job would hang at the first
// reduction: a rank whose numbers are not the mean over the ranks differs from another one.
void check_ranks_agree(distributed::Communicator& comm, const TrainerOptions& options,
                       int64_t train_size, int64_t parameters) {
  const std::array<int64_t, 5> mine{train_size, options.batch_size, options.epochs,
                                    options.start_epoch, parameters};
  std::array<int64_t, 5> total = mine;
  comm.sum(total);
  for (size_t i = 0; i < mine.size(); ++i)
    BP_CHECK(total[i] == mine[i] * comm.size(),
             "data-parallel training needs the same training set size, batch size, epochs and "
             "model on every rank; this rank has {} samples, batch {}, epochs {}..{}, {} "
             "parameters, which differ from another rank's",
             mine[0], mine[1], mine[3], mine[2], mine[4]);
}

// An epoch's totals summed over the ranks.
detail::EpochTotals sum_over_ranks(distributed::Communicator& comm,
                                   const detail::EpochTotals& totals) {
  std::array<double, 4> sums{totals.loss_sum, static_cast<double>(totals.correct),
                             static_cast<double>(totals.seen),
                             static_cast<double>(totals.predictions)};
  comm.sum(sums);
  return {.loss_sum = sums[0],
          .correct = static_cast<int64_t>(sums[1]),
          .seen = static_cast<int64_t>(sums[2]),
          .predictions = static_cast<int64_t>(sums[3])};
}

// The training statistics of an epoch: its evaluations aside, and its learning rate.
EpochStats train_stats(int64_t epoch, const detail::EpochTotals& totals, double seconds) {
  const auto seen = static_cast<double>(totals.seen);
  EpochStats stats;
  stats.epoch = epoch;
  stats.seconds = seconds;
  stats.train_loss = totals.seen ? totals.loss_sum / seen : 0.0;
  stats.train_accuracy =
      totals.seen ? static_cast<double>(totals.correct) / static_cast<double>(totals.predictions)
                  : 0.0;
  stats.samples_per_sec = stats.seconds > 0 ? seen / stats.seconds : 0.0;
  return stats;
}

}  // namespace

std::vector<EpochStats> Trainer::fit(
    const data::Dataset& train,
    const std::vector<std::pair<std::string, const data::Dataset*>>& evals) {
  return fit(std::make_shared<const data::DatasetSource>(train), evals);
}

std::vector<EpochStats> Trainer::fit(
    std::shared_ptr<const data::SampleSource> train,
    const std::vector<std::pair<std::string, const data::Dataset*>>& evals) {
  distributed::Communicator* comm =
      options_.communicator && options_.communicator->size() > 1 ? options_.communicator : nullptr;
  data::DataLoader loader(std::move(train), loader_options(options_, comm));
  std::optional<distributed::GradientReducer> reducer;
  if (comm) {
    check_ranks_agree(*comm, options_, loader.size(), model_.parameter_count());
    distributed::broadcast_module(*comm, model_);
    std::vector<Tensor> params;
    for (const auto& g : optimizer_.param_groups())
      params.insert(params.end(), g.params.begin(), g.params.end());
    reducer.emplace(*comm, std::move(params), options_.bucket_bytes);
  }
  const PrecisionGuard precision(options_.precision);
  std::vector<EpochStats> ran;
  stop_ = false;
  interrupted_.reset();
  BP_CHECK(options_.start_batch >= 0 &&
               options_.start_batch < std::max<int64_t>(loader.num_batches(), 1),
           "trainer: start batch {} is not a batch of an epoch of {}", options_.start_batch,
           loader.num_batches());
  global_step_ = options_.start_epoch * loader.num_batches() + options_.start_batch;
  for (auto& cb : callbacks_) cb->on_train_begin(*this);
  for (int64_t epoch = options_.start_epoch + 1; epoch <= options_.epochs && !stop_; ++epoch) {
    for (auto& cb : callbacks_) cb->on_epoch_begin(*this, epoch);
    model_.train();
    loader.start_epoch(epoch - 1);
    const double start = now_seconds();
    const int64_t skip = epoch == options_.start_epoch + 1 ? options_.start_batch : 0;
    const detail::EpochTotals totals =
        detail::Epoch(*this, loader, reducer ? &*reducer : nullptr, epoch, skip).run();
    if (interrupted_) break;  // mid-epoch: nothing to evaluate or report
    ran.push_back(end_epoch(epoch, totals, start, evals, comm));
  }
  for (auto& cb : callbacks_) cb->on_train_end(*this);
  return ran;
}

EpochStats Trainer::end_epoch(
    int64_t epoch, const detail::EpochTotals& totals, double start,
    const std::vector<std::pair<std::string, const data::Dataset*>>& evals,
    distributed::Communicator* comm) {
  detail::EpochTotals all = totals;
  if (comm) {
    all = sum_over_ranks(*comm, totals);
    distributed::average_buffers(*comm, model_);
  }
  EpochStats stats = train_stats(epoch, all, now_seconds() - start);
  stats.lr = optimizer_.lr();
  for (const auto& [name, dataset] : evals)
    if (dataset)
      stats.evals.emplace_back(
          name, evaluate(model_, *dataset, options_.loss, options_.eval_batch_size, comm));
  history_.push_back(stats);
  for (auto& cb : callbacks_) cb->on_epoch_end(*this, stats);
  if (comm) {  // a stop requested on any rank stops all of them
    int64_t stops = stop_ ? 1 : 0;
    comm->sum(std::span<int64_t>(&stops, 1));
    stop_ = stops > 0;
  }
  return stats;
}

}  // namespace bp::train
