// Learning-rate schedules: the learning rate as a function of the update count.
//
// The unit is the step: one optimizer update, that is one batch. Step indices start at 0 (the
// first update of a run), so a schedule that is resumed after E epochs of B batches continues at
// step E·B. Epoch counts enter only through the text form (a duration such as "2e" means two
// epochs of steps) and ReduceOnPlateau, which is told the monitored loss once per epoch.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include "backprop/export.hpp"

namespace bp::optim {

class BP_API Schedule {
 public:
  virtual ~Schedule() = default;
  // The learning rate of update `step` (0-based). Throws bp::Error on a negative step.
  virtual double lr(int64_t step) const = 0;
  // Steps this schedule spans before the next piece of a SequentialSchedule takes over; 0 for an
  // open-ended schedule (which may only be the last piece).
  virtual int64_t length() const { return 0; }
  // The monitored loss at the end of an epoch; only ReduceOnPlateau reacts.
  virtual void observe(double /*loss*/) {}
  // Mutable state (ReduceOnPlateau's) as plain numbers, for checkpoints; empty for the pure
  // functions of the step. load_state() of what state() returned restores the schedule; it throws
  // bp::Error on a vector of the wrong size or values out of range.
  virtual std::vector<double> state() const { return {}; }
  virtual void load_state(std::span<const double> state);
  // The text form, with every argument explicit (parse_schedule reads it back).
  virtual std::string to_string() const = 0;
};

// lr = value throughout; `length` steps when it is followed by another piece.
class BP_API ConstantLR : public Schedule {
 public:
  explicit ConstantLR(double value, int64_t length = 0);
  double lr(int64_t step) const override;
  int64_t length() const override { return length_; }
  std::string to_string() const override;

 private:
  double value_;
  int64_t length_;
};

// lr = base·γ^⌊t / step_size⌋ (PyTorch's StepLR). Requires step_size >= 1, γ in (0, 1].
class BP_API StepLR : public Schedule {
 public:
  StepLR(double base, int64_t step_size, double gamma = 0.1);
  double lr(int64_t step) const override;
  std::string to_string() const override;

 private:
  double base_, gamma_;
  int64_t step_size_;
};

// lr = base·γ^(number of milestones <= t) (PyTorch's MultiStepLR). Requires strictly increasing
// milestones >= 0, γ in (0, 1].
class BP_API MultiStepLR : public Schedule {
 public:
  MultiStepLR(double base, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr(int64_t step) const override;
  std::string to_string() const override;

 private:
  double base_, gamma_;
  std::vector<int64_t> milestones_;
};

// lr = base·γᵗ. Requires γ in (0, 1].
class BP_API ExponentialLR : public Schedule {
 public:
  ExponentialLR(double base, double gamma);
  double lr(int64_t step) const override;
  std::string to_string() const override;

 private:
  double base_, gamma_;
};

// lr = η_min + (base − η_min)·(1 + cos(π·min(t, T)/T))/2: half a cosine from base down to η_min
// over T steps, then η_min (PyTorch's closed form, held at its end). Requires T >= 1,
// 0 <= η_min.
class BP_API CosineLR : public Schedule {
 public:
  CosineLR(double base, int64_t t_max, double eta_min = 0.0);
  double lr(int64_t step) const override;
  int64_t length() const override { return t_max_; }
  std::string to_string() const override;

 private:
  double base_, eta_min_;
  int64_t t_max_;
};

// Linear warm-up: lr = base·(f + (1 − f)·min(t, n)/n), from f·base at step 0 to base at step n
// (PyTorch's LinearLR with end factor 1). Requires n >= 1, f in (0, 1].
class BP_API WarmupLR : public Schedule {
 public:
  WarmupLR(double base, int64_t steps, double start_factor = 0.01);
  double lr(int64_t step) const override;
  int64_t length() const override { return steps_; }
  std::string to_string() const override;

 private:
  double base_, start_factor_;
  int64_t steps_;
};

struct BP_API OneCycleOptions {
  double max_lr = 0.1;
  int64_t total_steps = 0;        // required, >= 2
  double pct_start = 0.3;         // share of the steps spent rising
  bool cosine = true;             // cosine annealing; false: linear
  double div_factor = 25;         // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;  // final lr = initial lr / final_div_factor
};

// The 1cycle policy (Smith & Topin, 2018) as PyTorch's OneCycleLR computes it (two phases):
// from max_lr/div_factor up to max_lr by step pct_start·total − 1, then down to
// max_lr/(div_factor·final_div_factor) at step total − 1, where it stays. Momentum is not cycled.
// Throws bp::Error unless both phases span at least one step and the factors are positive.
class BP_API OneCycleLR : public Schedule {
 public:
  explicit OneCycleLR(OneCycleOptions options);
  double lr(int64_t step) const override;
  int64_t length() const override { return options_.total_steps; }
  std::string to_string() const override;

 private:
  OneCycleOptions options_;
};

struct BP_API PlateauOptions {
  double factor = 0.1;      // lr ← max(lr·factor, min_lr) on a plateau; in (0, 1)
  int64_t patience = 10;    // epochs without improvement tolerated
  double threshold = 1e-4;  // improvement means loss < best·(1 − threshold)
  int64_t cooldown = 0;     // epochs after a reduction during which bad epochs are not counted
  double min_lr = 0;
};

// Reduce on plateau (PyTorch's ReduceLROnPlateau, mode "min", relative threshold): starts at base;
// after more than `patience` consecutive observed epochs without improvement the rate is reduced
// (skipped when the change would be below 1e-8). The step index is ignored.
class BP_API ReduceOnPlateau : public Schedule {
 public:
  ReduceOnPlateau(double base, PlateauOptions options = {});
  double lr(int64_t step) const override;
  void observe(double loss) override;
  std::vector<double> state() const override;  // lr, has_best, best, bad_epochs, cooldown_left
  void load_state(std::span<const double> state) override;
  std::string to_string() const override;
  int64_t bad_epochs() const { return bad_epochs_; }

 private:
  PlateauOptions options_;
  double lr_;
  bool has_best_ = false;
  double best_ = 0;
  int64_t bad_epochs_ = 0, cooldown_left_ = 0;
};

// Pieces one after another: piece i runs its own steps 0, 1, … from the step where the pieces
// before it end (the sum of their length()s); the last piece runs open-ended. Observations and
// state go to every piece. Throws bp::Error when no pieces are given or a piece other than the
// last has length 0.
class BP_API SequentialSchedule : public Schedule {
 public:
  explicit SequentialSchedule(std::vector<std::unique_ptr<Schedule>> pieces);
  double lr(int64_t step) const override;
  int64_t length() const override;
  void observe(double loss) override;
  std::vector<double> state() const override;
  void load_state(std::span<const double> state) override;
  std::string to_string() const override;
  size_t size() const { return pieces_.size(); }
  const Schedule& operator[](size_t i) const { return *pieces_[i]; }

 private:
  std::vector<std::unique_ptr<Schedule>> pieces_;
};

// What the text form leaves open.
struct BP_API ScheduleContext {
  double base_lr = 0.01;        // the optimizer's learning rate
  int64_t total_steps = 0;      // updates in the whole run (0: unknown)
  int64_t steps_per_epoch = 0;  // for durations in epochs such as "2e" (0: not allowed)
};

// Parses the text form: pieces separated by commas, run one after another (SequentialSchedule
// when there are several), each NAME or NAME(ARG, KEY=VALUE, ...):
//   constant[(steps)]                       step(size, gamma=0.1)
//   multistep(m1;m2;..., gamma=0.1)         exponential(gamma)          (alias exp)
//   cosine[(T_max, eta_min=0)]              warmup(steps, start_factor=0.01)
//   onecycle[(max_lr=base, total_steps, pct_start=0.3, anneal=cos|linear, div_factor=25,
//             final_div_factor=1e4)]
//   plateau[(factor=0.1, patience=10, threshold=1e-4, cooldown=0, min_lr=0)]
// Durations (steps, size, milestones, T_max, total_steps) count updates; a trailing "e" counts
// epochs instead ("2e", "0.5e"). An omitted T_max or total_steps is what remains of
// ctx.total_steps after the pieces before it. Example: "warmup(500),cosine". Throws bp::Error
// naming the piece and the argument that is wrong.
BP_API std::unique_ptr<Schedule> parse_schedule(const std::string& text,
                                                const ScheduleContext& ctx);

// One line per schedule of the text form: its syntax and what it does (for --help and the docs).
BP_API std::vector<std::string> schedule_help();

}  // namespace bp::optim
