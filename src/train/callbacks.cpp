// The library's callbacks: early stopping, learning-rate schedules, gradient clipping,
// checkpoints.
#include <cmath>

#include "backprop/error.hpp"
#include "backprop/train.hpp"

namespace bp::train {

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

LearningRateSchedule::LearningRateSchedule(std::function<float(int64_t)> lr_for_epoch)
    : lr_for_epoch_(std::move(lr_for_epoch)) {}

void LearningRateSchedule::on_epoch_begin(Trainer& trainer, int64_t epoch) {
  trainer.optimizer().set_lr(lr_for_epoch_(epoch));
}

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
