#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>

#include <nlohmann/json.hpp>

#include "backprop/distributed.hpp"
#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "backprop/train.hpp"
#include "core/clock.hpp"
#include "core/tensor_impl.hpp"
#include "io/json.hpp"
#include "kernels/parallel.hpp"

namespace bp::train {

namespace {

// Number of rows of `outputs` whose argmax equals the label.
int64_t count_correct(const Tensor& outputs, const std::vector<int64_t>& labels) {
  std::vector<int64_t> predicted = argmax(outputs, -1);
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
  return correct;
}

std::string format_rate(double per_sec) {
  if (per_sec >= 1e6) return fmt::format("{:.2f}M", per_sec / 1e6);
  if (per_sec >= 1e3) return fmt::format("{:.1f}k", per_sec / 1e3);
  return fmt::format("{:.0f}", per_sec);
}

}  // namespace

Tensor batch_loss(Loss loss, const Tensor& outputs, const data::Batch& batch) {
  if (loss == Loss::cross_entropy) {
    BP_CHECK(!batch.labels.empty() || batch.size() == 0,
             "loss: cross_entropy needs class labels; the data has regression targets (use mse)");
    BP_CHECK(outputs.dim() == 2,
             "loss: cross_entropy needs outputs of shape (batch, classes), got {}; "
             "end the model with a dense layer of one unit per class",
             to_string(outputs.shape()));
    return cross_entropy(outputs, batch.labels);
  }
  BP_CHECK(batch.targets.defined(),
           "loss: regression losses need float targets; the data has class labels (use "
           "cross_entropy)");
  BP_CHECK(outputs.shape() == batch.targets.shape(),
           "loss: model outputs of shape {} do not match targets of shape {}",
           to_string(outputs.shape()), to_string(batch.targets.shape()));
  switch (loss) {
    case Loss::mse:
      return mse_loss(outputs, batch.targets);
    case Loss::l1:
      return l1_loss(outputs, batch.targets);
    case Loss::huber:
      return huber_loss(outputs, batch.targets);
    case Loss::cross_entropy:
      break;
  }
  fail("loss: unknown loss");
}

namespace {

// Per-class counts of an evaluation, linear in the classes: hits[c] (true and predicted c),
// actual[c] (true c), predicted[c] (predicted c), and the confusion matrix when it is small
// enough to keep. All counts live in one vector, so ranks add them up in one call.
class ClassCounts {
 public:
  explicit ClassCounts(int64_t classes)
      : classes_(static_cast<size_t>(classes)),
        keep_matrix_(classes <= kMaxConfusionClasses),
        counts_(2 + 3 * classes_ + (keep_matrix_ ? classes_ * classes_ : 0), 0) {}

  void add(int64_t truth, int64_t predicted) {
    const auto t = static_cast<size_t>(truth), p = static_cast<size_t>(predicted);
    counts_[1] += truth == predicted;
    counts_[2 + t] += truth == predicted;
    counts_[2 + classes_ + t]++;
    counts_[2 + 2 * classes_ + p]++;
    if (keep_matrix_) counts_[2 + 3 * classes_ + t * classes_ + p]++;
  }
  void add_samples(int64_t n) { counts_[0] += n; }
  std::vector<int64_t>& all() { return counts_; }
  int64_t samples() const { return counts_[0]; }

  // Fills the classification fields of `m` (samples are set by the caller).
  void fill(Metrics& m) const {
    m.classification = true;
    m.accuracy = static_cast<double>(counts_[1]) / static_cast<double>(counts_[0]);
    m.precision.assign(classes_, 0.0);
    m.recall.assign(classes_, 0.0);
    m.support.assign(classes_, 0);
    for (size_t c = 0; c < classes_; ++c) {
      const auto hit = static_cast<double>(counts_[2 + c]);
      const int64_t actual = counts_[2 + classes_ + c], predicted = counts_[2 + 2 * classes_ + c];
      m.support[c] = actual;
      if (predicted) m.precision[c] = hit / static_cast<double>(predicted);
      if (actual) m.recall[c] = hit / static_cast<double>(actual);
    }
    if (!keep_matrix_) return;
    const auto* cell = counts_.data() + 2 + 3 * classes_;
    m.confusion.assign(classes_, {});
    for (size_t t = 0; t < classes_; ++t)
      m.confusion[t].assign(cell + t * classes_, cell + (t + 1) * classes_);
  }

 private:
  size_t classes_;
  bool keep_matrix_;
  std::vector<int64_t> counts_;  // samples, correct, hits, actual, predicted[, matrix]
};

// This rank's contiguous share of `dataset` when there are several ranks.
data::Dataset rank_share(const data::Dataset& dataset, distributed::Communicator& communicator) {
  const int64_t n = dataset.size(), r = communicator.rank(), ranks = communicator.size();
  std::vector<int64_t> rows;
  for (int64_t i = r * n / ranks; i < (r + 1) * n / ranks; ++i) rows.push_back(i);
  return data::subset(dataset, rows);
}

}  // namespace

Metrics evaluate(nn::Module& model, const data::Dataset& dataset, Loss loss, int64_t batch_size,
                 distributed::Communicator* communicator) {
  Metrics m;
  if (dataset.size() == 0) return m;
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const int64_t ranks = communicator ? communicator->size() : 1;
  data::Dataset shard;
  if (ranks > 1) shard = rank_share(dataset, *communicator);
  const data::Dataset& part = ranks > 1 ? shard : dataset;
  const bool classify = dataset.task == data::Task::classification;
  ClassCounts counts(classify ? dataset.num_classes : 0);
  double loss_sum = 0;
  data::Batch batch;
  try {
    std::optional<data::DataLoader> loader;
    if (part.size() > 0) {
      loader.emplace(part, data::LoaderOptions{.batch_size = batch_size});
      loader->start_epoch(0);
    }
    while (loader && loader->next(batch)) {
      Tensor out = model.forward(batch.features);
      loss_sum += static_cast<double>(batch_loss(loss, out, batch).item()) *
                  static_cast<double>(batch.size());
      if (classify) {
        std::vector<int64_t> predicted = argmax(out, -1);
        for (size_t i = 0; i < predicted.size(); ++i) {
          BP_CHECK(predicted[i] < dataset.num_classes,
                   "evaluate: the model has more outputs ({}) than the data has classes ({})",
                   out.size(-1), dataset.num_classes);
          counts.add(batch.labels[i], predicted[i]);
        }
      }
      counts.add_samples(batch.size());
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  if (ranks > 1) {
    communicator->sum(std::span<double>(&loss_sum, 1));
    communicator->sum(counts.all());
  }
  m.samples = counts.samples();
  m.loss = loss_sum / static_cast<double>(m.samples);
  if (classify) counts.fill(m);
  return m;
}

const Metrics* EpochStats::eval(const std::string& name) const {
  for (const auto& [n, m] : evals)
    if (n == name) return &m;
  return nullptr;
}

// ---- Trainer ----

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

std::vector<EpochStats> Trainer::fit(
    const data::Dataset& train,
    const std::vector<std::pair<std::string, const data::Dataset*>>& evals) {
  // Data parallelism: every rank walks the same global batches and trains on its shard of each.
  distributed::Communicator* comm =
      options_.communicator && options_.communicator->size() > 1 ? options_.communicator : nullptr;
  const int64_t ranks = comm ? comm->size() : 1;
  const int64_t global_batch = options_.batch_size * ranks;
  data::DataLoader loader(train, {.batch_size = global_batch,
                                  .shuffle = options_.shuffle,
                                  .seed = options_.seed,
                                  .random_crop_padding = options_.random_crop_padding,
                                  .random_flip = options_.random_flip,
                                  .shard_count = ranks,
                                  .shard_index = comm ? comm->rank() : 0});
  std::optional<distributed::GradientReducer> reducer;
  if (comm) {
    // Every rank must walk the same batches of the same model, or the job would hang at the first
    // reduction: a rank whose numbers are not the mean over the ranks differs from another one.
    const std::array<int64_t, 5> mine{train.size(), options_.batch_size, options_.epochs,
                                      options_.start_epoch, model_.parameter_count()};
    std::array<int64_t, 5> total = mine;
    comm->sum(total);
    for (size_t i = 0; i < mine.size(); ++i)
      BP_CHECK(total[i] == mine[i] * ranks,
               "data-parallel training needs the same training set size, batch size, epochs and "
               "model on every rank; this rank has {} samples, batch {}, epochs {}..{}, {} "
               "parameters, which differ from another rank's",
               mine[0], mine[1], mine[3], mine[2], mine[4]);
    distributed::broadcast_module(*comm, model_);
    std::vector<Tensor> params;
    for (const auto& g : optimizer_.param_groups())
      params.insert(params.end(), g.params.begin(), g.params.end());
    reducer.emplace(*comm, std::move(params), options_.bucket_bytes);
  }
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
    const EpochTotals totals = train_epoch(loader, reducer ? &*reducer : nullptr, epoch, skip);
    if (interrupted_) break;  // mid-epoch: nothing to evaluate or report
    double loss_sum = totals.loss_sum;
    int64_t correct = totals.correct, seen = totals.seen;
    if (comm) {
      std::array<double, 3> sums{loss_sum, static_cast<double>(correct), static_cast<double>(seen)};
      comm->sum(sums);
      loss_sum = sums[0];
      correct = static_cast<int64_t>(sums[1]);
      seen = static_cast<int64_t>(sums[2]);
      distributed::average_buffers(*comm, model_);
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.seconds = now_seconds() - start;
    stats.train_loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
    stats.train_accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
    stats.samples_per_sec = stats.seconds > 0 ? static_cast<double>(seen) / stats.seconds : 0.0;
    stats.lr = optimizer_.lr();
    for (const auto& [name, dataset] : evals)
      if (dataset)
        stats.evals.emplace_back(
            name, evaluate(model_, *dataset, options_.loss, options_.eval_batch_size, comm));
    history_.push_back(stats);
    ran.push_back(stats);
    for (auto& cb : callbacks_) cb->on_epoch_end(*this, stats);
    if (comm) {  // a stop requested on any rank stops all of them
      int64_t stops = stop_ ? 1 : 0;
      comm->sum(std::span<int64_t>(&stops, 1));
      stop_ = stops > 0;
    }
  }
  for (auto& cb : callbacks_) cb->on_train_end(*this);
  return ran;
}

namespace {
// Threads `rows` rows are split across, out of `threads`: at least 16 rows per thread, or the
// split costs more than it saves.
int split_threads(int64_t rows, int threads) {
  return static_cast<int>(std::clamp<int64_t>(rows / 16, 1, threads));
}
}  // namespace

int Trainer::batch_threads(int64_t batch_size) const {
  if (!options_.split_batch || !model_.thread_safe_forward()) return 1;
  return split_threads(batch_size, bp::num_threads());
}

namespace {

// Index of the first NaN or infinity in p[begin, end), or -1. A value is not finite when its
// exponent bits are all ones: that test is branch-free and vectorises, so the scan costs about
// one read of the parameters; only a block that holds a bad value is searched again.
int64_t first_non_finite(const float* p, int64_t begin, int64_t end) {
  constexpr int64_t kBlock = 1024;
  constexpr uint32_t kExponent = 0x7f800000u;
  for (int64_t b = begin; b < end; b += kBlock) {
    const int64_t e = std::min(end, b + kBlock);
    uint32_t bad = 0;
    for (int64_t i = b; i < e; ++i) bad |= (std::bit_cast<uint32_t>(p[i]) & kExponent) == kExponent;
    if (bad)
      for (int64_t i = b; i < e; ++i)
        if (!std::isfinite(p[i])) return i;
  }
  return -1;
}

// Where an update made a parameter non-finite: parameter k of the optimizer's flattened groups.
struct NonFinite {
  size_t param = 0;
  int64_t element = -1;  // -1: every parameter stayed finite
};

// Throws the error for `bad`, naming the parameter as the model does, the value, epoch and batch.
[[noreturn]] void fail_non_finite(nn::Module& model, optim::Optimizer& optimizer,
                                  const NonFinite& bad, int64_t epoch, int64_t batch) {
  size_t k = 0;
  Tensor param;
  for (const auto& g : optimizer.param_groups())
    for (const Tensor& p : g.params)
      if (k++ == bad.param) param = p;
  std::string name = fmt::format("#{}", bad.param);
  for (const auto& [n, p] : model.named_parameters())
    if (p.impl() == param.impl()) name = n;
  fail(
      "training stopped: parameter '{}' became {} (element {}) in the update of epoch {}, batch "
      "{} (try a lower learning rate or a larger eps; the last checkpoint, if any, is intact)",
      name, param.data()[bad.element], bad.element, epoch, batch);
}

// Rows [begin, end) of a contiguous (N, ...) tensor, sharing its data.
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  if (!t.defined()) return t;
  auto impl = std::make_shared<TensorImpl>(*t.impl());
  const int64_t row = t.size(0) > 0 ? t.numel() / t.size(0) : 0;
  impl->offset += begin * row;
  impl->shape[0] = end - begin;
  impl->count = (end - begin) * row;
  impl->grad.reset();
  impl->grad_fn.reset();
  impl->requires_grad = false;
  return Tensor(std::move(impl));
}

}  // namespace

Trainer::StepResult Trainer::forward_backward(const data::Batch& batch, int64_t begin, int64_t end,
                                              std::vector<Tensor>* leaf_grads) {
  data::Batch part;
  const data::Batch* run = &batch;
  if (begin != 0 || end != batch.size()) {
    part.features = rows(batch.features, begin, end);
    part.targets = rows(batch.targets, begin, end);
    if (!batch.labels.empty())
      part.labels.assign(batch.labels.begin() + begin, batch.labels.begin() + end);
    part.indices.assign(batch.indices.begin() + begin, batch.indices.begin() + end);
    run = &part;
  }
  std::optional<autograd::LeafGradientSink> sink;
  if (leaf_grads) sink.emplace();
  Tensor out = model_.forward(run->features);
  Tensor loss = batch_loss(options_.loss, out, *run);
  const float value = loss.item();
  const auto count = static_cast<double>(end - begin);
  if (std::isfinite(value)) {
    // The part's mean, weighted by its share, so that the parts' gradients add up to the batch's.
    if (leaf_grads) {
      (loss * static_cast<float>(count / static_cast<double>(batch.size()))).backward();
      for (Tensor& g : *leaf_grads) g = sink->grad(g);
    } else {
      loss.backward();
    }
  }
  const bool classify = !run->labels.empty();
  return {static_cast<double>(value) * count, classify ? count_correct(out, run->labels) : 0};
}

Trainer::EpochTotals Trainer::train_epoch(data::DataLoader& loader,
                                          distributed::GradientReducer* reducer, int64_t epoch,
                                          int64_t skip) {
  const int64_t global_batch = loader.options().batch_size;  // the batch of all ranks together
  const int64_t train_size = loader.dataset().size();
  const int64_t batches = loader.num_batches();
  // Split: each batch's rows are shared among a team of threads. Each fills its rows, runs forward
  // and backward on them with single-threaded kernels into its own gradients, then adds up its
  // slice of every parameter's gradient over the team and applies its slice of the update. The
  // team lives for the whole epoch (one fork and join), and its barriers spin briefly, so a step's
  // phases follow each other without waking sleeping threads. Not split (one thread): the whole
  // batch in one pass, with the kernels threaded.
  int team = batch_threads(options_.batch_size);  // OpenMP may grant fewer: set again below
  const bool split = team > 1;
  // The trainable parameters; `overwrite` marks the optimizer's, whose .grad the sum replaces (the
  // zero_grad() a step starts with), where any other's accumulates as backward() would.
  std::vector<Tensor> params;
  std::vector<char> overwrite;
  if (split) {
    std::vector<const TensorImpl*> optimized;
    for (const auto& g : optimizer_.param_groups())
      for (const Tensor& p : g.params) optimized.push_back(p.impl().get());
    for (const Tensor& p : model_.parameters()) {
      if (!p.requires_grad()) continue;
      if (!p.grad().defined()) p.impl()->grad = Tensor::zeros(p.shape()).impl();
      params.push_back(p);
      overwrite.push_back(std::find(optimized.begin(), optimized.end(), p.impl().get()) !=
                          optimized.end());
    }
  }
  std::optional<kernels::TeamBarrier> barrier;
  std::vector<std::vector<Tensor>> grads(static_cast<size_t>(team));
  std::vector<StepResult> results(static_cast<size_t>(team));
  std::vector<std::vector<const float*>> shard_grads(static_cast<size_t>(team));  // per thread
  std::vector<std::exception_ptr> errors(static_cast<size_t>(team));
  std::vector<NonFinite> non_finite(static_cast<size_t>(team));  // per thread, from the update
  std::exception_ptr failure;
  data::Batch batch;
  EpochTotals totals;
  for (int64_t i = 0; i < skip; ++i) loader.next_without_features(batch);  // the same order
  int64_t index = skip;                                                    // batches done
  int shards = 1;  // threads the current batch is split across
  // Written by thread 0 in a barrier's serial section, read by every thread after it.
  bool more = true;  // there is a batch to train on (false: the epoch is over, or a step failed)
  const std::vector<optim::ElementUpdate>* updates = nullptr;  // the step's, when split

  // Not split: the whole of every optimized parameter, after the step.
  auto scan_parameters = [&] {
    size_t k = 0;
    for (const auto& g : optimizer_.param_groups())
      for (const Tensor& p : g.params) {
        if (const int64_t e = first_non_finite(p.data(), 0, p.numel()); e >= 0)
          return NonFinite{k, e};
        ++k;
      }
    return NonFinite{};
  };
  // Thread 0, between the parallel phases: the previous step's end and the next batch.
  auto next_batch = [&] {
    try {
      if (index > skip) {
        // The update just made must have left every parameter finite: the loss cannot tell
        // (a NaN weight whose input is always 0, say), and NaN weights would be saved.
        for (const NonFinite& bad : non_finite)
          if (bad.element >= 0) fail_non_finite(model_, optimizer_, bad, epoch, index);
        const double loss = totals.last_loss;
        // Samples of all ranks so far (the global batches are the same on every rank).
        const int64_t done = std::min(index * global_batch, train_size);
        for (auto& cb : callbacks_) cb->on_batch_end(*this, index, batches, loss, done);
      }
      more = loader.next_without_features(batch);
      if (!more) return;
      // Checked once a next batch exists, so that an epoch whose batches are all done ends with
      // its evaluation and checkpoint, and an interrupted one always has a batch left to resume.
      if (options_.interrupt != nullptr && *options_.interrupt != 0) {
        interrupted_ = Position{epoch, index};
        more = false;
        return;
      }
      for (auto& cb : callbacks_) cb->on_batch_begin(*this, index + 1);
      if (!split) optimizer_.zero_grad();
      // The loss is a mean over the batch, so a shard's gradient weighs its share of the samples.
      const int64_t whole = std::min(global_batch, train_size - index * global_batch);
      if (reducer) reducer->begin(static_cast<double>(batch.size()) / static_cast<double>(whole));
      shards = batch.size() > 0 ? split_threads(batch.size(), team) : 0;
    } catch (...) {
      failure = std::current_exception();
      more = false;
    }
  };
  // Thread 0, once the gradients are complete: checks, hooks and the update.
  auto finish_step = [&] {
    try {
      for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
      double loss_sum = 0;
      int64_t correct = 0;
      for (int s = 0; s < shards; ++s) {
        loss_sum += results[static_cast<size_t>(s)].loss_sum;
        correct += results[static_cast<size_t>(s)].correct;
      }
      const double value = batch.size() ? loss_sum / static_cast<double>(batch.size()) : 0.0;
      BP_CHECK(std::isfinite(value),
               "training stopped: the loss became {} at epoch {}, batch {} (try a lower learning "
               "rate; the last checkpoint, if any, is intact)",
               value, epoch, index + 1);
      if (reducer) reducer->finish();
      for (auto& cb : callbacks_) cb->on_after_backward(*this);
      if (split) {
        updates = &optimizer_.begin_step();  // applied (and checked) by the whole team
      } else {
        optimizer_.step();
        non_finite[0] = scan_parameters();
      }
      ++global_step_;
      totals.loss_sum += loss_sum;
      totals.correct += correct;
      totals.seen += batch.size();
      totals.last_loss = value;
      ++index;
    } catch (...) {
      failure = std::current_exception();
      more = false;
    }
  };
  // Every thread: its rows' forward and backward.
  auto compute = [&](int t) {
    const auto slot = static_cast<size_t>(t);
    errors[slot] = nullptr;
    if (t >= shards) return;
    try {
      const int64_t n = batch.size();
      const int64_t begin = n * t / shards, end = n * (t + 1) / shards;
      loader.fill_features(batch, begin, end);
      if (!split) {
        results[slot] = forward_backward(batch, begin, end, nullptr);
        return;
      }
      grads[slot] = params;
      results[slot] = forward_backward(batch, begin, end, &grads[slot]);
    } catch (...) {
      errors[slot] = std::current_exception();
    }
  };
  // Every thread of a split: its slice of each parameter's gradient, summed over the shards.
  auto sum_gradients = [&](int t) {
    for (int s = 0; s < shards; ++s)
      if (errors[static_cast<size_t>(s)] ||
          !std::isfinite(results[static_cast<size_t>(s)].loss_sum))
        return;
    std::vector<const float*>& parts = shard_grads[static_cast<size_t>(t)];
    for (size_t i = 0; i < params.size(); ++i) {
      parts.clear();
      for (int s = 0; s < shards; ++s)
        if (const Tensor& g = grads[static_cast<size_t>(s)][i]; g.defined())
          parts.push_back(g.data());
      const int64_t count = params[i].numel();
      const int64_t lo = count * t / team, hi = count * (t + 1) / team;
      float* dst = params[i].grad().data();
      if (parts.empty()) {
        if (overwrite[i]) std::fill(dst + lo, dst + hi, 0.0f);
        continue;
      }
      // A block at a time, so that dst stays in the L1 cache while the parts are added to it.
      constexpr int64_t kBlock = 2048;
      for (int64_t b = lo; b < hi; b += kBlock) {
        const int64_t e = std::min(hi, b + kBlock);
        const float* first = parts[0];
        if (overwrite[i])
          for (int64_t j = b; j < e; ++j) dst[j] = first[j];
        else
          for (int64_t j = b; j < e; ++j) dst[j] += first[j];
        for (size_t k = 1; k < parts.size(); ++k) {
          const float* src = parts[k];
          for (int64_t j = b; j < e; ++j) dst[j] += src[j];
        }
      }
    }
  };
  // Every thread of a split: its slice of each parameter's update, checked while it is in cache.
  auto apply_update = [&](int t) {
    NonFinite& bad = non_finite[static_cast<size_t>(t)];
    for (const optim::ElementUpdate& u : *updates) {
      const int64_t lo = u.size * t / team, hi = u.size * (t + 1) / team;
      optimizer_.apply(u, lo, hi);
      if (bad.element < 0) bad = {u.index, first_non_finite(u.weight, lo, hi)};
    }
  };
  auto run = [&](int t) {
    barrier->arrive_and_wait(t, next_batch);
    while (more) {
      compute(t);
      if (split) {
        barrier->arrive_and_wait(t, [] {});
        sum_gradients(t);
      }
      barrier->arrive_and_wait(t, finish_step);
      if (!more) return;
      if (split) apply_update(t);
      barrier->arrive_and_wait(t, next_batch);
    }
  };
  if (split) {
#pragma omp parallel num_threads(team)
    {
      omp_set_num_threads(1);  // kernels called from here run on their thread alone
      // The team OpenMP granted: fewer threads than asked inside another parallel region, under
      // OMP_DYNAMIC or a thread limit (the barrier must count the threads that are there).
#pragma omp single
      {
        team = omp_get_num_threads();
        barrier.emplace(team);
      }
      run(omp_get_thread_num());
    }
  } else {
    barrier.emplace(1);
    run(0);
  }
  if (failure) std::rethrow_exception(failure);
  return totals;
}

// ---- ProgressPrinter ----

ProgressPrinter::ProgressPrinter(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

void ProgressPrinter::on_epoch_begin(Trainer&, int64_t epoch) {
  epoch_ = epoch;
  epoch_start_ = now_seconds();
  last_draw_ = 0;
  loss_sum_ = 0;
}

void ProgressPrinter::on_batch_end(Trainer& trainer, int64_t batch, int64_t batches, double loss,
                                   int64_t samples_done) {
  loss_sum_ += loss;
  if (quiet_ || !tty_) return;
  const double t = now_seconds();
  if (batch != batches && t - last_draw_ < 0.1) return;
  last_draw_ = t;
  const double elapsed = t - epoch_start_;
  const double rate = elapsed > 0 ? static_cast<double>(samples_done) / elapsed : 0.0;
  const double eta =
      batch > 0 ? elapsed * static_cast<double>(batches - batch) / static_cast<double>(batch) : 0.0;
  constexpr int kWidth = 24;
  const auto filled = static_cast<int>(kWidth * batch / std::max<int64_t>(batches, 1));
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  %s samples/s  loss %.4f  ETA %.0fs",
               static_cast<long long>(epoch_), static_cast<long long>(trainer.options().epochs),
               bar.c_str(), static_cast<long long>(batch), static_cast<long long>(batches),
               format_rate(rate).c_str(), loss_sum_ / static_cast<double>(batch), eta);
  std::fflush(stderr);
}

void ProgressPrinter::on_epoch_end(Trainer& trainer, const EpochStats& s) {
  if (quiet_) return;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::string line = fmt::format("epoch {}/{}  train_loss {:.4f}", s.epoch,
                                 trainer.options().epochs, s.train_loss);
  const bool classify =
      !s.evals.empty() ? s.evals.front().second.classification : s.train_accuracy > 0;
  if (classify) line += fmt::format("  train_acc {:.2f}%", 100 * s.train_accuracy);
  for (const auto& [name, m] : s.evals) {
    line += fmt::format("  {}_loss {:.4f}", name, m.loss);
    if (m.classification) line += fmt::format("  {}_acc {:.2f}%", name, 100 * m.accuracy);
  }
  line += fmt::format("  {:.2f}s  {} samples/s  lr {:g}", s.seconds, format_rate(s.samples_per_sec),
                      s.lr);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void ProgressPrinter::on_train_end(Trainer&) {
  if (!quiet_ && tty_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

// ---- JsonLogger ----

JsonLogger::JsonLogger(const std::string& path, bool append) : path_(path) {
  try {
    if (append)
      io::check_appendable(path);
    else
      io::append_to_file(path, "", /*truncate=*/true);
  } catch (const Error& e) {
    fail("JSON log: {}", e.what());
  }
}

void JsonLogger::on_epoch_end(Trainer&, const EpochStats& s) {
  nlohmann::json j;
  j["epoch"] = s.epoch;
  j["train_loss"] = s.train_loss;
  j["train_accuracy"] = s.train_accuracy;
  for (const auto& [name, m] : s.evals) {
    j[name + "_loss"] = m.loss;
    if (m.classification) j[name + "_accuracy"] = m.accuracy;
  }
  j["seconds"] = s.seconds;
  j["samples_per_sec"] = s.samples_per_sec;
  j["lr"] = std::stod(fmt::format("{}", static_cast<float>(s.lr)));  // shortest float form
  // Each line is written and checked at once: a full disk stops the run with an error.
  try {
    io::append_to_file(path_, io::dump_json(j) + "\n");
  } catch (const Error& e) {
    fail("JSON log: {}", e.what());
  }
}

// ---- EarlyStopping ----

EarlyStopping::EarlyStopping(std::string monitor, int64_t patience, double min_delta)
    : monitor_(std::move(monitor)), patience_(patience), min_delta_(min_delta) {
  BP_CHECK(patience > 0, "early stopping: patience must be positive (got {})", patience);
  BP_CHECK(min_delta >= 0, "early stopping: min_delta must be >= 0 (got {})", min_delta);
}

void EarlyStopping::on_epoch_end(Trainer& trainer, const EpochStats& stats) {
  const Metrics* m = stats.eval(monitor_);
  BP_CHECK(m != nullptr, "early stopping: no evaluation named '{}'", monitor_);
  if (best_epoch_ == 0 || m->loss < best_ - min_delta_) {
    best_ = m->loss;
    best_epoch_ = stats.epoch;
  } else if (stats.epoch - best_epoch_ >= patience_) {
    trainer.request_stop();
  }
}

// ---- LearningRateSchedule / CheckpointCallback ----

LearningRateSchedule::LearningRateSchedule(std::function<float(int64_t)> lr_for_epoch)
    : lr_for_epoch_(std::move(lr_for_epoch)) {}

void LearningRateSchedule::on_epoch_begin(Trainer& trainer, int64_t epoch) {
  trainer.optimizer().set_lr(lr_for_epoch_(epoch));
}

// ---- ScheduleCallback / GradientClipping ----

ScheduleCallback::ScheduleCallback(std::shared_ptr<optim::Schedule> schedule, std::string monitor)
    : schedule_(std::move(schedule)), monitor_(std::move(monitor)) {
  BP_CHECK(schedule_ != nullptr, "ScheduleCallback: no schedule");
}

void ScheduleCallback::on_train_begin(Trainer& trainer) {
  const auto& groups = trainer.optimizer().param_groups();
  ratios_.clear();
  for (const auto& g : groups)
    ratios_.push_back(groups.front().lr > 0
                          ? static_cast<double>(g.lr) / static_cast<double>(groups.front().lr)
                          : 1.0);
}

void ScheduleCallback::on_batch_begin(Trainer& trainer, int64_t) {
  const double lr = schedule_->lr(trainer.global_step());
  auto& groups = trainer.optimizer().param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    const double r = i < ratios_.size() ? ratios_[i] : 1.0;
    groups[i].lr = static_cast<float>(lr * r);
  }
}

void ScheduleCallback::on_epoch_end(Trainer&, const EpochStats& stats) {
  const Metrics* m = stats.eval(monitor_);
  schedule_->observe(m ? m->loss : stats.train_loss);
}

GradientClipping::GradientClipping(double max_norm, double clip_value)
    : max_norm_(max_norm), clip_value_(clip_value) {
  BP_CHECK(std::isfinite(max_norm) && max_norm >= 0,
           "gradient clipping: max norm must be a finite number >= 0 (got {})", max_norm);
  BP_CHECK(std::isfinite(clip_value) && clip_value >= 0,
           "gradient clipping: clip value must be a finite number >= 0 (got {})", clip_value);
}

void GradientClipping::on_after_backward(Trainer& trainer) {
  std::vector<Tensor> params;
  for (const auto& g : trainer.optimizer().param_groups())
    params.insert(params.end(), g.params.begin(), g.params.end());
  if (clip_value_ > 0) optim::clip_grad_value(params, clip_value_);
  if (max_norm_ > 0) last_norm_ = optim::clip_grad_norm(params, max_norm_);
}

CheckpointCallback::CheckpointCallback(std::function<void(int64_t)> save)
    : save_(std::move(save)) {}

void CheckpointCallback::on_epoch_end(Trainer&, const EpochStats& stats) {
  save_(stats.epoch);
}

}  // namespace bp::train
