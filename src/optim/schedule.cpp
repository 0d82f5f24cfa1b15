#include "backprop/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "backprop/error.hpp"
#include "optim/schedule_table.hpp"

namespace bp::optim {

namespace {

void check_step(const char* who, int64_t step) {
  BP_CHECK_AS(ValueError, step >= 0, "{}: step must be >= 0 (got {})", who, step);
}

void check_gamma(const char* who, double gamma) {
  BP_CHECK_AS(ValueError, std::isfinite(gamma) && gamma > 0 && gamma <= 1,
              "{}: gamma must be in (0, 1] (got {})", who, gamma);
}

// Numbers in the text form: the shortest form that reads back to the same double.
std::string num(double v) {
  return fmt::format("{}", v);
}

std::unique_ptr<Schedule> exponential(ScheduleArgs& a) {
  const double gamma = a.number(0, "gamma", std::nullopt);
  a.finish();
  return std::make_unique<ExponentialLR>(a.base_lr(), gamma);
}

std::unique_ptr<Schedule> onecycle(ScheduleArgs& a) {
  OneCycleOptions o;
  o.max_lr = a.number(0, "max_lr", a.base_lr());
  o.total_steps = a.duration_or_rest(1, "total_steps", "total_steps");
  o.pct_start = a.number(2, "pct_start", o.pct_start);
  o.cosine = a.choice(3, "anneal", "cos", {"cos", "cosine", "linear"}) != "linear";
  o.div_factor = a.number(4, "div_factor", o.div_factor);
  o.final_div_factor = a.number(5, "final_div_factor", o.final_div_factor);
  a.finish();
  return std::make_unique<OneCycleLR>(o);
}

std::unique_ptr<Schedule> plateau(ScheduleArgs& a) {
  PlateauOptions o;
  o.factor = a.number(0, "factor", o.factor);
  o.patience = a.duration(1, "patience", o.patience);
  o.threshold = a.number(2, "threshold", o.threshold);
  o.cooldown = a.duration(3, "cooldown", o.cooldown);
  o.min_lr = a.number(4, "min_lr", o.min_lr);
  a.finish();
  return std::make_unique<ReduceOnPlateau>(a.base_lr(), o);
}

}  // namespace

void check_base_lr(const char* who, double base) {
  BP_CHECK_AS(ValueError, std::isfinite(base) && base >= 0,
              "{}: learning rate must be a finite number >= 0 (got {})", who, base);
}

void Schedule::load_state(std::span<const double> state) {
  BP_CHECK_AS(ValueError, state.empty(), "schedule {}: has no state, got {} values", to_string(),
              state.size());
}

// ---- ConstantLR ----

ConstantLR::ConstantLR(double value, int64_t length) : value_(value), length_(length) {
  check_base_lr("constant", value);
  BP_CHECK_AS(ValueError, length >= 0, "constant: length must be >= 0 (got {})", length);
}

double ConstantLR::lr(int64_t step) const {
  check_step("constant", step);
  return value_;
}

std::string ConstantLR::to_string() const {
  return length_ > 0 ? fmt::format("constant({})", length_) : "constant";
}

// ---- StepLR ----

StepLR::StepLR(double base, int64_t step_size, double gamma)
    : base_(base), gamma_(gamma), step_size_(step_size) {
  check_base_lr("step", base);
  BP_CHECK_AS(ValueError, step_size >= 1, "step: size must be >= 1 (got {})", step_size);
  check_gamma("step", gamma);
}

double StepLR::lr(int64_t step) const {
  check_step("step", step);
  return base_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

std::string StepLR::to_string() const {
  return fmt::format("step({},{})", step_size_, num(gamma_));
}

// ---- MultiStepLR ----

MultiStepLR::MultiStepLR(double base, std::vector<int64_t> milestones, double gamma)
    : base_(base), gamma_(gamma), milestones_(std::move(milestones)) {
  check_base_lr("multistep", base);
  check_gamma("multistep", gamma);
  BP_CHECK_AS(ValueError, !milestones_.empty(), "multistep: needs at least one milestone");
  for (size_t i = 0; i < milestones_.size(); ++i)
    BP_CHECK_AS(ValueError, milestones_[i] >= 0 && (i == 0 || milestones_[i] > milestones_[i - 1]),
                "multistep: milestones must be increasing numbers >= 0 (got {})",
                fmt::join(milestones_, ";"));
}

double MultiStepLR::lr(int64_t step) const {
  check_step("multistep", step);
  const auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_ * std::pow(gamma_, static_cast<double>(passed));
}

std::string MultiStepLR::to_string() const {
  return fmt::format("multistep({},{})", fmt::join(milestones_, ";"), num(gamma_));
}

// ---- ExponentialLR ----

ExponentialLR::ExponentialLR(double base, double gamma) : base_(base), gamma_(gamma) {
  check_base_lr("exponential", base);
  check_gamma("exponential", gamma);
}

double ExponentialLR::lr(int64_t step) const {
  check_step("exponential", step);
  return base_ * std::pow(gamma_, static_cast<double>(step));
}

std::string ExponentialLR::to_string() const {
  return fmt::format("exponential({})", num(gamma_));
}

// ---- CosineLR ----

CosineLR::CosineLR(double base, int64_t t_max, double eta_min)
    : base_(base), eta_min_(eta_min), t_max_(t_max) {
  check_base_lr("cosine", base);
  BP_CHECK_AS(ValueError, t_max >= 1, "cosine: T_max must be >= 1 (got {})", t_max);
  BP_CHECK_AS(ValueError, std::isfinite(eta_min) && eta_min >= 0,
              "cosine: eta_min must be >= 0 (got {})", eta_min);
}

double CosineLR::lr(int64_t step) const {
  check_step("cosine", step);
  const double x = static_cast<double>(std::min(step, t_max_)) / static_cast<double>(t_max_);
  return eta_min_ + (base_ - eta_min_) * (1 + std::cos(std::numbers::pi * x)) / 2;
}

std::string CosineLR::to_string() const {
  return fmt::format("cosine({},{})", t_max_, num(eta_min_));
}

// ---- WarmupLR ----

WarmupLR::WarmupLR(double base, int64_t steps, double start_factor)
    : base_(base), start_factor_(start_factor), steps_(steps) {
  check_base_lr("warmup", base);
  BP_CHECK_AS(ValueError, steps >= 1, "warmup: steps must be >= 1 (got {})", steps);
  BP_CHECK_AS(ValueError, std::isfinite(start_factor) && start_factor > 0 && start_factor <= 1,
              "warmup: start_factor must be in (0, 1] (got {})", start_factor);
}

double WarmupLR::lr(int64_t step) const {
  check_step("warmup", step);
  const double x = static_cast<double>(std::min(step, steps_)) / static_cast<double>(steps_);
  return base_ * (start_factor_ + (1 - start_factor_) * x);
}

std::string WarmupLR::to_string() const {
  return fmt::format("warmup({},{})", steps_, num(start_factor_));
}

// ---- OneCycleLR ----

OneCycleLR::OneCycleLR(OneCycleOptions o) : options_(o) {
  check_base_lr("onecycle", o.max_lr);
  BP_CHECK_AS(ValueError, o.total_steps >= 2, "onecycle: total_steps must be >= 2 (got {})",
              o.total_steps);
  BP_CHECK_AS(ValueError, std::isfinite(o.pct_start) && o.pct_start > 0 && o.pct_start < 1,
              "onecycle: pct_start must be in (0, 1) (got {})", o.pct_start);
  BP_CHECK_AS(ValueError, std::isfinite(o.div_factor) && o.div_factor > 0,
              "onecycle: div_factor must be positive (got {})", o.div_factor);
  BP_CHECK_AS(ValueError, std::isfinite(o.final_div_factor) && o.final_div_factor > 0,
              "onecycle: final_div_factor must be positive (got {})", o.final_div_factor);
  const double rise_end = o.pct_start * static_cast<double>(o.total_steps) - 1;
  BP_CHECK_AS(ValueError, rise_end > 0 && rise_end < static_cast<double>(o.total_steps - 1),
              "onecycle: pct_start {} of {} steps leaves a phase without steps", o.pct_start,
              o.total_steps);
}

double OneCycleLR::lr(int64_t step) const {
  check_step("onecycle", step);
  const OneCycleOptions& o = options_;
  const double initial = o.max_lr / o.div_factor, final_lr = initial / o.final_div_factor;
  const double rise_end = o.pct_start * static_cast<double>(o.total_steps) - 1;
  const double last = static_cast<double>(o.total_steps - 1);
  const double t = std::min(static_cast<double>(step), last);
  auto anneal = [&](double start, double end, double pct) {
    return o.cosine ? end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1)
                    : (end - start) * pct + start;
  };
  if (t <= rise_end) return anneal(initial, o.max_lr, t / rise_end);
  return anneal(o.max_lr, final_lr, (t - rise_end) / (last - rise_end));
}

std::string OneCycleLR::to_string() const {
  const OneCycleOptions& o = options_;
  return fmt::format("onecycle({},{},{},{},{},{})", num(o.max_lr), o.total_steps, num(o.pct_start),
                     o.cosine ? "cos" : "linear", num(o.div_factor), num(o.final_div_factor));
}

// ---- ReduceOnPlateau ----

ReduceOnPlateau::ReduceOnPlateau(double base, PlateauOptions o) : options_(o), lr_(base) {
  check_base_lr("plateau", base);
  BP_CHECK_AS(ValueError, std::isfinite(o.factor) && o.factor > 0 && o.factor < 1,
              "plateau: factor must be in (0, 1) (got {})", o.factor);
  BP_CHECK_AS(ValueError, o.patience >= 0, "plateau: patience must be >= 0 (got {})", o.patience);
  BP_CHECK_AS(ValueError, std::isfinite(o.threshold) && o.threshold >= 0 && o.threshold < 1,
              "plateau: threshold must be in [0, 1) (got {})", o.threshold);
  BP_CHECK_AS(ValueError, o.cooldown >= 0, "plateau: cooldown must be >= 0 (got {})", o.cooldown);
  BP_CHECK_AS(ValueError, std::isfinite(o.min_lr) && o.min_lr >= 0,
              "plateau: min_lr must be >= 0 (got {})", o.min_lr);
}

double ReduceOnPlateau::lr(int64_t step) const {
  check_step("plateau", step);
  return lr_;
}

void ReduceOnPlateau::observe(double loss) {
  // A NaN loss is never an improvement.
  if (!has_best_ ? !std::isnan(loss) : loss < best_ * (1 - options_.threshold)) {
    has_best_ = true;
    best_ = loss;
    bad_epochs_ = 0;
  } else {
    ++bad_epochs_;
  }
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    bad_epochs_ = 0;
  }
  if (bad_epochs_ > options_.patience) {
    const double reduced = std::max(lr_ * options_.factor, options_.min_lr);
    if (lr_ - reduced > 1e-8) lr_ = reduced;
    cooldown_left_ = options_.cooldown;
    bad_epochs_ = 0;
  }
}

std::vector<double> ReduceOnPlateau::state() const {
  return {lr_, has_best_ ? 1.0 : 0.0, best_, static_cast<double>(bad_epochs_),
          static_cast<double>(cooldown_left_)};
}

void ReduceOnPlateau::load_state(std::span<const double> s) {
  BP_CHECK_AS(ValueError, s.size() == 5, "plateau: state has {} values, expected 5", s.size());
  auto whole = [](double v) { return std::isfinite(v) && v >= 0 && v == std::floor(v); };
  BP_CHECK_AS(ValueError,
              std::isfinite(s[0]) && s[0] >= 0 && (s[1] == 0 || s[1] == 1) && std::isfinite(s[2]) &&
                  whole(s[3]) && whole(s[4]),
              "plateau: malformed state [{}]", fmt::join(s, ", "));
  lr_ = s[0];
  has_best_ = s[1] == 1;
  best_ = s[2];
  bad_epochs_ = static_cast<int64_t>(s[3]);
  cooldown_left_ = static_cast<int64_t>(s[4]);
}

std::string ReduceOnPlateau::to_string() const {
  const PlateauOptions& o = options_;
  return fmt::format("plateau({},{},{},{},{})", num(o.factor), o.patience, num(o.threshold),
                     o.cooldown, num(o.min_lr));
}

// ---- SequentialSchedule ----

SequentialSchedule::SequentialSchedule(std::vector<std::unique_ptr<Schedule>> pieces)
    : pieces_(std::move(pieces)) {
  BP_CHECK_AS(ValueError, !pieces_.empty(), "schedule: a sequence needs at least one piece");
  for (size_t i = 0; i < pieces_.size(); ++i) {
    BP_CHECK_AS(ValueError, pieces_[i] != nullptr, "schedule: piece {} is null", i + 1);
    BP_CHECK_AS(ValueError, i + 1 == pieces_.size() || pieces_[i]->length() > 0,
                "schedule: '{}' runs open-ended, so only the last piece may be one",
                pieces_[i]->to_string());
  }
}

double SequentialSchedule::lr(int64_t step) const {
  check_step("schedule", step);
  int64_t start = 0;
  for (size_t i = 0; i + 1 < pieces_.size(); ++i) {
    const int64_t n = pieces_[i]->length();
    if (step < start + n) return pieces_[i]->lr(step - start);
    start += n;
  }
  return pieces_.back()->lr(step - start);
}

int64_t SequentialSchedule::length() const {
  int64_t total = 0;
  for (const auto& p : pieces_) {
    if (p->length() == 0) return 0;
    total += p->length();
  }
  return total;
}

void SequentialSchedule::observe(double loss) {
  for (auto& p : pieces_) p->observe(loss);
}

std::vector<double> SequentialSchedule::state() const {
  std::vector<double> out;
  for (const auto& p : pieces_) {
    std::vector<double> s = p->state();
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

void SequentialSchedule::load_state(std::span<const double> state) {
  size_t at = 0;
  for (auto& p : pieces_) {
    const size_t n = p->state().size();
    BP_CHECK_AS(ValueError, at + n <= state.size(), "schedule {}: state has {} values, too few",
                to_string(), state.size());
    p->load_state(state.subspan(at, n));
    at += n;
  }
  BP_CHECK_AS(ValueError, at == state.size(), "schedule {}: state has {} values, expected {}",
              to_string(), state.size(), at);
}

std::string SequentialSchedule::to_string() const {
  std::vector<std::string> parts;
  for (const auto& p : pieces_) parts.push_back(p->to_string());
  return fmt::format("{}", fmt::join(parts, ","));
}

// ---- the table of the text form ----

const std::vector<ScheduleKind>& schedule_kinds() {
  using Built = std::unique_ptr<Schedule>;
  static const std::vector<ScheduleKind> kinds = {
      {"constant", "constant[(steps)]", "the base rate; `steps` long when a piece follows",
       [](ScheduleArgs& a) -> Built {
         const int64_t steps = a.duration(0, "steps", 0);
         a.finish();
         return std::make_unique<ConstantLR>(a.base_lr(), steps);
       }},
      {"step", "step(size, gamma=0.1)", "base·gamma^⌊t/size⌋",
       [](ScheduleArgs& a) -> Built {
         const int64_t size = a.duration(0, "size");
         const double gamma = a.number(1, "gamma", 0.1);
         a.finish();
         return std::make_unique<StepLR>(a.base_lr(), size, gamma);
       }},
      {"multistep", "multistep(m1;m2;..., gamma=0.1)", "base·gamma^(milestones passed)",
       [](ScheduleArgs& a) -> Built {
         std::vector<int64_t> milestones = a.durations(0, "milestones");
         const double gamma = a.number(1, "gamma", 0.1);
         a.finish();
         return std::make_unique<MultiStepLR>(a.base_lr(), std::move(milestones), gamma);
       }},
      {"exponential", "exponential(gamma)", "base·gamma^t", exponential},
      {"exp", "exp(gamma)", "same as exponential", exponential},
      {"cosine", "cosine[(T_max, eta_min=0)]",
       "half a cosine from base to eta_min over T_max steps (default: the rest of the run)",
       [](ScheduleArgs& a) -> Built {
         const int64_t t_max = a.duration_or_rest(0, "t_max", "T_max");
         const double eta_min = a.number(1, "eta_min", 0);
         a.finish();
         return std::make_unique<CosineLR>(a.base_lr(), t_max, eta_min);
       }},
      {"warmup", "warmup(steps, start_factor=0.01)", "linear from start_factor·base to base",
       [](ScheduleArgs& a) -> Built {
         const int64_t steps = a.duration(0, "steps");
         const double start_factor = a.number(1, "start_factor", 0.01);
         a.finish();
         return std::make_unique<WarmupLR>(a.base_lr(), steps, start_factor);
       }},
      {"onecycle",
       "onecycle[(max_lr=base, total_steps=rest, pct_start=0.3, anneal=cos|linear, "
       "div_factor=25, final_div_factor=1e4)]",
       "the 1cycle policy: up to max_lr, then down far below the start", onecycle},
      {"plateau", "plateau[(factor=0.1, patience=10, threshold=1e-4, cooldown=0, min_lr=0)]",
       "multiplies by factor when the monitored loss stops improving", plateau},
  };
  return kinds;
}

}  // namespace bp::optim
