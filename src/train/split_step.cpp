#include "train/split_step.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "core/tensor_impl.hpp"
#include "nn/batch_shard.hpp"

namespace bp::train::detail {

void PartSums::reset(int parts) {
  barrier_.emplace(parts);
  slots_.resize(static_cast<size_t>(parts));
}

void PartSums::all_reduce(int part, std::span<double> sums) {
  slots_[static_cast<size_t>(part)].assign(sums.begin(), sums.end());
  // total_ is rewritten only once every part has arrived at the next all_reduce, so each has
  // read this one's by then.
  const bool met = barrier_->arrive_and_wait(part, [&] {
    total_ = slots_[0];
    for (size_t p = 1; p < slots_.size(); ++p)
      for (size_t i = 0; i < total_.size(); ++i) total_[i] += slots_[p][i];
  });
  if (!met) throw BatchAborted();
  std::copy(total_.begin(), total_.end(), sums.begin());
}

SplitStep::SplitStep(Epoch& epoch, int team)
    : epoch_(epoch),
      team_(team),
      grads_(static_cast<size_t>(team)),
      results_(static_cast<size_t>(team)),
      shard_grads_(static_cast<size_t>(team)),
      errors_(static_cast<size_t>(team)),
      non_finite_(static_cast<size_t>(team)) {
  std::vector<const TensorImpl*> optimized;
  for (const auto& g : epoch.optimizer().param_groups())
    for (const Tensor& p : g.params) optimized.push_back(p.impl().get());
  for (const Tensor& p : epoch.model().parameters()) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.impl()->grad = Tensor::zeros(p.shape()).impl();
    params_.push_back(p);
    overwrite_.push_back(std::find(optimized.begin(), optimized.end(), p.impl().get()) !=
                         optimized.end());
  }
}

void SplitStep::run() {
#pragma omp parallel num_threads(team_)
  {
    omp_set_num_threads(1);  // kernels called from here run on their thread alone
    // The team OpenMP granted: fewer threads than asked inside another parallel region, under
    // OMP_DYNAMIC or a thread limit (the barrier must count the threads that are there).
#pragma omp single
    {
      team_ = omp_get_num_threads();
      barrier_.emplace(team_);
    }
    run_thread(omp_get_thread_num());
  }
  if (failure_) std::rethrow_exception(failure_);
}

void SplitStep::run_thread(int t) {
  barrier_->arrive_and_wait(t, [this] { next_batch(); });
  while (more_) {
    forward_backward_rows(t);
    barrier_->arrive_and_wait(t, [] {});
    sum_gradient_slice(t);
    barrier_->arrive_and_wait(t, [this] { finish_step(); });
    if (!more_) return;
    apply_update_slice(t);
    barrier_->arrive_and_wait(t, [this] { next_batch(); });
  }
}

template <class F>
void SplitStep::serially(F&& f) {
  try {
    f();
  } catch (...) {
    failure_ = std::current_exception();
    more_ = false;
  }
}

void SplitStep::next_batch() {
  serially([&] {
    more_ = epoch_.next_batch(non_finite_);
    const int64_t rows = epoch_.batch().size();
    if (more_) shards_ = rows > 0 ? split_threads(rows, team_) : 0;
    batch_id_ = nn::detail::new_batch_id();
    sums_.reset(std::max(shards_, 1));
  });
}

void SplitStep::forward_backward_rows(int t) {
  const auto slot = static_cast<size_t>(t);
  errors_[slot] = nullptr;
  results_[slot] = {};
  if (t >= shards_) return;
  try {
    data::Batch& batch = epoch_.batch();
    const int64_t n = batch.size();
    const int64_t begin = n * t / shards_, end = n * (t + 1) / shards_;
    epoch_.loader().fill_features(batch, begin, end);
    grads_[slot] = params_;
    const BatchPart part{shards_ > 1 ? &sums_ : nullptr, t};
    const nn::detail::ShardScope shard({batch_id_, begin, part});
    results_[slot] =
        forward_backward(epoch_.model(), epoch_.loss(), batch, begin, end, &grads_[slot]);
    // A non-finite loss skips the backward pass, which the other parts may wait for.
    if (!std::isfinite(results_[slot].loss_sum)) sums_.abort();
  } catch (...) {
    errors_[slot] = std::current_exception();
    sums_.abort();
  }
}

void SplitStep::sum_gradient_slice(int t) {
  // A failed shard fails the step (in finish_step): its gradients are not worth adding up.
  for (int s = 0; s < shards_; ++s)
    if (errors_[static_cast<size_t>(s)] ||
        !std::isfinite(results_[static_cast<size_t>(s)].loss_sum))
      return;
  std::vector<const float*>& parts = shard_grads_[static_cast<size_t>(t)];
  for (size_t i = 0; i < params_.size(); ++i) {
    parts.clear();
    for (int s = 0; s < shards_; ++s)
      if (const Tensor& g = grads_[static_cast<size_t>(s)][i]; g.defined())
        parts.push_back(g.data());
    const int64_t count = params_[i].numel();
    const int64_t lo = count * t / team_, hi = count * (t + 1) / team_;
    float* dst = params_[i].grad().data();
    if (parts.empty()) {
      if (overwrite_[i]) std::fill(dst + lo, dst + hi, 0.0f);
      continue;
    }
    // A block at a time, so that dst stays in the L1 cache while the parts are added to it.
    constexpr int64_t kBlock = 2048;
    for (int64_t b = lo; b < hi; b += kBlock) {
      const int64_t e = std::min(hi, b + kBlock);
      const float* first = parts[0];
      if (overwrite_[i])
        for (int64_t j = b; j < e; ++j) dst[j] = first[j];
      else
        for (int64_t j = b; j < e; ++j) dst[j] += first[j];
      for (size_t k = 1; k < parts.size(); ++k) {
        const float* src = parts[k];
        for (int64_t j = b; j < e; ++j) dst[j] += src[j];
      }
    }
  }
}

void SplitStep::finish_step() {
  serially([&] {
    // The failure to report is the part's that failed, not another's that it stopped.
    std::exception_ptr aborted;
    for (const auto& e : errors_) {
      try {
        if (e) std::rethrow_exception(e);
      } catch (const BatchAborted&) {
        aborted = e;
      }
    }
    epoch_.finish_backward({results_.data(), static_cast<size_t>(shards_)});
    if (aborted) std::rethrow_exception(aborted);
    updates_ = &epoch_.optimizer().begin_step();  // applied (and checked) by the whole team
    epoch_.count_step();
  });
}

void SplitStep::apply_update_slice(int t) {
  NonFinite& bad = non_finite_[static_cast<size_t>(t)];
  for (const optim::ElementUpdate& u : *updates_) {
    const int64_t lo = u.size * t / team_, hi = u.size * (t + 1) / team_;
    epoch_.optimizer().apply(u, lo, hi);
    if (bad.element < 0) bad = {u.index, first_non_finite(u.weight, lo, hi)};
  }
}

}  // namespace bp::train::detail
