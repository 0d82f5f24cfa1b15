#include "train/epoch.hpp"

#include <bit>
#include <cmath>
#include <optional>

#include "backprop/distributed.hpp"
#include "backprop/error.hpp"
#include "core/tensor_impl.hpp"
#include "train/split_step.hpp"

namespace bp::train::detail {

// A value is not finite when its exponent bits are all ones: that test is branch-free and
// vectorises, so the scan costs about one read of the parameters; only a block that holds a bad
// value is searched again.
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

namespace {

// Number of rows of `outputs` whose argmax equals the label.
int64_t count_correct(const Tensor& outputs, const std::vector<int64_t>& labels) {
  std::vector<int64_t> predicted = argmax(outputs, -1);
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
  return correct;
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

// Rows [begin, end) of `batch`, sharing its data.
data::Batch batch_rows(const data::Batch& batch, int64_t begin, int64_t end) {
  data::Batch part;
  part.features = rows(batch.features, begin, end);
  part.targets = rows(batch.targets, begin, end);
  const int64_t k = batch.labels_per_sample;
  part.labels_per_sample = k;
  if (!batch.labels.empty())
    part.labels.assign(batch.labels.begin() + begin * k, batch.labels.begin() + end * k);
  part.indices.assign(batch.indices.begin() + begin, batch.indices.begin() + end);
  return part;
}

// Where every optimized parameter first became non-finite, scanned whole after the step.
NonFinite scan_parameters(optim::Optimizer& optimizer) {
  size_t k = 0;
  for (const auto& g : optimizer.param_groups())
    for (const Tensor& p : g.params) {
      if (const int64_t e = first_non_finite(p.data(), 0, p.numel()); e >= 0) return {k, e};
      ++k;
    }
  return {};
}

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

}  // namespace

StepResult forward_backward(nn::Module& model, Loss loss_kind, const data::Batch& batch,
                            int64_t begin, int64_t end, std::vector<Tensor>* leaf_grads) {
  data::Batch part;
  const bool whole = begin == 0 && end == batch.size();
  if (!whole) part = batch_rows(batch, begin, end);
  const data::Batch& run = whole ? batch : part;
  std::optional<autograd::LeafGradientSink> sink;
  if (leaf_grads) sink.emplace();
  Tensor out = model.forward(run.features);
  Tensor loss = batch_loss(loss_kind, out, run);
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
  const bool classify = !run.labels.empty();
  return {static_cast<double>(value) * count, classify ? count_correct(out, run.labels) : 0};
}

Epoch::Epoch(Trainer& trainer, data::DataLoader& loader, distributed::GradientReducer* reducer,
             int64_t epoch, int64_t skip)
    : trainer_(trainer),
      loader_(loader),
      reducer_(reducer),
      epoch_(epoch),
      skip_(skip),
      index_(skip) {}

EpochTotals Epoch::run() {
  for (int64_t i = 0; i < skip_; ++i) loader_.next_without_features(batch_);  // the same order
  const int team = trainer_.batch_threads(trainer_.options_.batch_size);
  if (team > 1)
    SplitStep(*this, team).run();
  else
    run_one_pass();
  return totals_;
}

void Epoch::run_one_pass() {
  NonFinite bad;
  while (next_batch({&bad, 1})) {
    optimizer().zero_grad();
    StepResult result;
    if (batch_.size() > 0) {  // a rank may have no rows of a global batch
      loader_.fill_features(batch_, 0, batch_.size());
      result = forward_backward(model(), loss(), batch_, 0, batch_.size(), nullptr);
    }
    finish_backward({&result, 1});
    optimizer().step();
    bad = scan_parameters(optimizer());
    count_step();
  }
}

bool Epoch::next_batch(std::span<const NonFinite> non_finite) {
  if (index_ > skip_) end_step(non_finite);
  return begin_batch();
}

void Epoch::end_step(std::span<const NonFinite> non_finite) {
  // The update just made must have left every parameter finite: the loss cannot tell (a NaN
  // weight whose input is always 0, say), and NaN weights would be saved.
  for (const NonFinite& bad : non_finite)
    if (bad.element >= 0) fail_non_finite(model(), optimizer(), bad, epoch_, index_);
  // Samples of all ranks so far (the global batches are the same on every rank).
  const int64_t global_batch = loader_.options().batch_size;
  const int64_t done = std::min(index_ * global_batch, loader_.size());
  for (auto& cb : trainer_.callbacks_)
    cb->on_batch_end(trainer_, index_, loader_.num_batches(), totals_.last_loss, done);
}

bool Epoch::begin_batch() {
  if (!loader_.next_without_features(batch_)) return false;
  // Checked once a next batch exists, so that an epoch whose batches are all done ends with its
  // evaluation and checkpoint, and an interrupted one always has a batch left to resume.
  const auto* interrupt = trainer_.options_.interrupt;
  if (interrupt != nullptr && *interrupt != 0) {
    trainer_.interrupted_ = Trainer::Position{epoch_, index_};
    return false;
  }
  for (auto& cb : trainer_.callbacks_) cb->on_batch_begin(trainer_, index_ + 1);
  // The loss is a mean over the batch, so a shard's gradient weighs its share of the samples.
  const int64_t global_batch = loader_.options().batch_size;
  const int64_t whole = std::min(global_batch, loader_.size() - index_ * global_batch);
  if (reducer_) reducer_->begin(static_cast<double>(batch_.size()) / static_cast<double>(whole));
  return true;
}

void Epoch::finish_backward(std::span<const StepResult> parts) {
  step_ = {};
  for (const StepResult& part : parts) {
    step_.loss_sum += part.loss_sum;
    step_.correct += part.correct;
  }
  const double value = step_mean_loss();
  BP_CHECK(std::isfinite(value),
           "training stopped: the loss became {} at epoch {}, batch {} (try a lower learning "
           "rate; the last checkpoint, if any, is intact)",
           value, epoch_, index_ + 1);
  if (reducer_) reducer_->finish();
  for (auto& cb : trainer_.callbacks_) cb->on_after_backward(trainer_);
}

double Epoch::step_mean_loss() const {
  return batch_.size() ? step_.loss_sum / static_cast<double>(batch_.size()) : 0.0;
}

void Epoch::count_step() {
  ++trainer_.global_step_;
  totals_.loss_sum += step_.loss_sum;
  totals_.correct += step_.correct;
  totals_.seen += batch_.size();
  totals_.predictions += batch_.size() * batch_.labels_per_sample;
  totals_.last_loss = step_mean_loss();
  ++index_;
}

}  // namespace bp::train::detail
