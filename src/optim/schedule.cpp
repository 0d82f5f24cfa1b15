#include "backprop/schedule.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <numbers>

#include "backprop/error.hpp"

namespace bp::optim {

namespace {

void check_step(const char* who, int64_t step) {
  BP_CHECK(step >= 0, "{}: step must be >= 0 (got {})", who, step);
}

void check_base(const char* who, double base) {
  BP_CHECK(std::isfinite(base) && base >= 0,
           "{}: learning rate must be a finite number >= 0 (got {})", who, base);
}

void check_gamma(const char* who, double gamma) {
  BP_CHECK(std::isfinite(gamma) && gamma > 0 && gamma <= 1, "{}: gamma must be in (0, 1] (got {})",
           who, gamma);
}

// Numbers in the text form: the shortest form that reads back to the same double.
std::string num(double v) {
  return fmt::format("{}", v);
}

}  // namespace

void Schedule::load_state(std::span<const double> state) {
  BP_CHECK(state.empty(), "schedule {}: has no state, got {} values", to_string(), state.size());
}

// ---- ConstantLR ----

ConstantLR::ConstantLR(double value, int64_t length) : value_(value), length_(length) {
  check_base("constant", value);
  BP_CHECK(length >= 0, "constant: length must be >= 0 (got {})", length);
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
  check_base("step", base);
  BP_CHECK(step_size >= 1, "step: size must be >= 1 (got {})", step_size);
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
  check_base("multistep", base);
  check_gamma("multistep", gamma);
  BP_CHECK(!milestones_.empty(), "multistep: needs at least one milestone");
  for (size_t i = 0; i < milestones_.size(); ++i)
    BP_CHECK(milestones_[i] >= 0 && (i == 0 || milestones_[i] > milestones_[i - 1]),
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
  check_base("exponential", base);
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
  check_base("cosine", base);
  BP_CHECK(t_max >= 1, "cosine: T_max must be >= 1 (got {})", t_max);
  BP_CHECK(std::isfinite(eta_min) && eta_min >= 0, "cosine: eta_min must be >= 0 (got {})",
           eta_min);
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
  check_base("warmup", base);
  BP_CHECK(steps >= 1, "warmup: steps must be >= 1 (got {})", steps);
  BP_CHECK(std::isfinite(start_factor) && start_factor > 0 && start_factor <= 1,
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
  check_base("onecycle", o.max_lr);
  BP_CHECK(o.total_steps >= 2, "onecycle: total_steps must be >= 2 (got {})", o.total_steps);
  BP_CHECK(std::isfinite(o.pct_start) && o.pct_start > 0 && o.pct_start < 1,
           "onecycle: pct_start must be in (0, 1) (got {})", o.pct_start);
  BP_CHECK(std::isfinite(o.div_factor) && o.div_factor > 0,
           "onecycle: div_factor must be positive (got {})", o.div_factor);
  BP_CHECK(std::isfinite(o.final_div_factor) && o.final_div_factor > 0,
           "onecycle: final_div_factor must be positive (got {})", o.final_div_factor);
  const double rise_end = o.pct_start * static_cast<double>(o.total_steps) - 1;
  BP_CHECK(rise_end > 0 && rise_end < static_cast<double>(o.total_steps - 1),
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
  check_base("plateau", base);
  BP_CHECK(std::isfinite(o.factor) && o.factor > 0 && o.factor < 1,
           "plateau: factor must be in (0, 1) (got {})", o.factor);
  BP_CHECK(o.patience >= 0, "plateau: patience must be >= 0 (got {})", o.patience);
  BP_CHECK(std::isfinite(o.threshold) && o.threshold >= 0 && o.threshold < 1,
           "plateau: threshold must be in [0, 1) (got {})", o.threshold);
  BP_CHECK(o.cooldown >= 0, "plateau: cooldown must be >= 0 (got {})", o.cooldown);
  BP_CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0, "plateau: min_lr must be >= 0 (got {})",
           o.min_lr);
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
  BP_CHECK(s.size() == 5, "plateau: state has {} values, expected 5", s.size());
  auto whole = [](double v) { return std::isfinite(v) && v >= 0 && v == std::floor(v); };
  BP_CHECK(std::isfinite(s[0]) && s[0] >= 0 && (s[1] == 0 || s[1] == 1) && std::isfinite(s[2]) &&
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
  BP_CHECK(!pieces_.empty(), "schedule: a sequence needs at least one piece");
  for (size_t i = 0; i < pieces_.size(); ++i) {
    BP_CHECK(pieces_[i] != nullptr, "schedule: piece {} is null", i + 1);
    BP_CHECK(i + 1 == pieces_.size() || pieces_[i]->length() > 0,
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
    BP_CHECK(at + n <= state.size(), "schedule {}: state has {} values, too few", to_string(),
             state.size());
    p->load_state(state.subspan(at, n));
    at += n;
  }
  BP_CHECK(at == state.size(), "schedule {}: state has {} values, expected {}", to_string(),
           state.size(), at);
}

std::string SequentialSchedule::to_string() const {
  std::vector<std::string> parts;
  for (const auto& p : pieces_) parts.push_back(p->to_string());
  return fmt::format("{}", fmt::join(parts, ","));
}

// ---- the text form ----

namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Splits at commas outside parentheses; throws on unbalanced parentheses.
std::vector<std::string> split_top(const std::string& text, const std::string& whole) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    BP_CHECK(depth >= 0, "schedule '{}': unbalanced ')'", whole);
    if (c == ',' && depth == 0) {
      parts.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  BP_CHECK(depth == 0, "schedule '{}': unbalanced '('", whole);
  parts.push_back(trim(cur));
  return parts;
}

// One piece: its name and arguments, matched to parameter names by position or key.
class Piece {
 public:
  Piece(const std::string& text, const ScheduleContext& ctx) : text_(text), ctx_(ctx) {
    const size_t open = text.find('(');
    name_ = lower(trim(text.substr(0, open)));
    BP_CHECK(!name_.empty(), "schedule: empty piece '{}'", text);
    if (open == std::string::npos) return;
    BP_CHECK(text.back() == ')', "schedule piece '{}': expected ')' at the end", text);
    const std::string inner = text.substr(open + 1, text.size() - open - 2);
    if (trim(inner).empty()) return;
    for (const std::string& arg : split_top(inner, text)) {
      BP_CHECK(!arg.empty(), "schedule piece '{}': empty argument", text);
      const size_t eq = arg.find('=');
      if (eq == std::string::npos) {
        BP_CHECK(keyed_.empty(),
                 "schedule piece '{}': positional argument '{}' after a keyword one", text, arg);
        positional_.push_back(arg);
      } else {
        keyed_.emplace_back(lower(trim(arg.substr(0, eq))), trim(arg.substr(eq + 1)));
      }
    }
  }

  const std::string& name() const { return name_; }

  // Declares the parameters in positional order; throws on extra or unknown arguments.
  void expect(std::vector<std::string> params) {
    params_ = std::move(params);
    BP_CHECK(positional_.size() <= params_.size(),
             "schedule piece '{}': {} takes at most {} arguments ({}), got {}", text_, name_,
             params_.size(), fmt::join(params_, ", "), positional_.size());
    for (const auto& [key, value] : keyed_) {
      BP_CHECK(std::find(params_.begin(), params_.end(), key) != params_.end(),
               "schedule piece '{}': {} has no argument '{}' (it takes {})", text_, name_, key,
               fmt::join(params_, ", "));
      const auto pos =
          static_cast<size_t>(std::find(params_.begin(), params_.end(), key) - params_.begin());
      size_t times = 0;
      for (const auto& kv : keyed_) times += kv.first == key;
      BP_CHECK(pos >= positional_.size() && times == 1, "schedule piece '{}': '{}' given twice",
               text_, key);
    }
  }

  // The raw text of a parameter, or empty when absent.
  std::string raw(const std::string& param) const {
    const auto pos =
        static_cast<size_t>(std::find(params_.begin(), params_.end(), param) - params_.begin());
    if (pos < positional_.size()) return positional_[pos];
    for (const auto& [key, value] : keyed_)
      if (key == param) return value;
    return "";
  }
  bool has(const std::string& param) const { return !raw(param).empty(); }

  double number(const std::string& param, double fallback) const {
    const std::string s = raw(param);
    if (s.empty()) return fallback;
    return to_number(param, s);
  }

  double required_number(const std::string& param) const {
    BP_CHECK(has(param), "schedule piece '{}': {} needs {}", text_, name_, param);
    return number(param, 0);
  }

  // A count of steps: an integer, or a number of epochs followed by 'e'.
  int64_t duration(const std::string& param, int64_t fallback) const {
    const std::string s = raw(param);
    if (s.empty()) return fallback;
    return to_duration(param, s);
  }

  int64_t required_duration(const std::string& param) const {
    BP_CHECK(has(param), "schedule piece '{}': {} needs {}", text_, name_, param);
    return duration(param, 0);
  }

  std::vector<int64_t> durations(const std::string& param) const {
    BP_CHECK(has(param), "schedule piece '{}': {} needs {}", text_, name_, param);
    std::vector<int64_t> out;
    const std::string s = raw(param);
    size_t start = 0;
    while (true) {
      const size_t semi = s.find(';', start);
      out.push_back(to_duration(param, trim(s.substr(start, semi - start))));
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
    return out;
  }

  std::string word(const std::string& param, const std::string& fallback) const {
    const std::string s = raw(param);
    return s.empty() ? fallback : lower(s);
  }

  const std::string& text() const { return text_; }

 private:
  double to_number(const std::string& param, const std::string& s) const {
    double v = 0;
    size_t used = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    BP_CHECK(used == s.size() && std::isfinite(v), "schedule piece '{}': {} '{}' is not a number",
             text_, param, s);
    return v;
  }

  int64_t to_duration(const std::string& param, const std::string& s) const {
    BP_CHECK(!s.empty(), "schedule piece '{}': empty {}", text_, param);
    if (s.back() == 'e' || s.back() == 'E') {
      const double epochs = to_number(param, s.substr(0, s.size() - 1));
      BP_CHECK(ctx_.steps_per_epoch > 0,
               "schedule piece '{}': {} '{}' is in epochs, but the steps per epoch are unknown",
               text_, param, s);
      BP_CHECK(epochs >= 0 && epochs < 1e12, "schedule piece '{}': {} '{}' is out of range", text_,
               param, s);
      return std::llround(epochs * static_cast<double>(ctx_.steps_per_epoch));
    }
    long long v = 0;
    size_t used = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    BP_CHECK(used == s.size() && v >= 0,
             "schedule piece '{}': {} '{}' is not a whole number of steps (or of epochs, like 2e)",
             text_, param, s);
    return v;
  }

  std::string text_, name_;
  const ScheduleContext& ctx_;
  std::vector<std::string> positional_, params_;
  std::vector<std::pair<std::string, std::string>> keyed_;
};

// Steps left for an open-ended length: what ctx.total_steps leaves after `used`.
int64_t remaining(const Piece& p, const ScheduleContext& ctx, int64_t used, bool last,
                  const std::string& param) {
  BP_CHECK(last, "schedule piece '{}': give {} when another piece follows", p.text(), param);
  BP_CHECK(ctx.total_steps > 0,
           "schedule piece '{}': give {}; the number of training steps is unknown here", p.text(),
           param);
  BP_CHECK(ctx.total_steps > used,
           "schedule piece '{}': the pieces before it take {} of the {} training steps, leaving "
           "none",
           p.text(), used, ctx.total_steps);
  return ctx.total_steps - used;
}

std::unique_ptr<Schedule> make_piece(Piece& p, const ScheduleContext& ctx, int64_t used,
                                     bool last) {
  const double base = ctx.base_lr;
  const std::string& n = p.name();
  try {
    if (n == "constant") {
      p.expect({"steps"});
      return std::make_unique<ConstantLR>(base, p.duration("steps", 0));
    }
    if (n == "step") {
      p.expect({"size", "gamma"});
      return std::make_unique<StepLR>(base, p.required_duration("size"), p.number("gamma", 0.1));
    }
    if (n == "multistep") {
      p.expect({"milestones", "gamma"});
      return std::make_unique<MultiStepLR>(base, p.durations("milestones"), p.number("gamma", 0.1));
    }
    if (n == "exponential" || n == "exp") {
      p.expect({"gamma"});
      return std::make_unique<ExponentialLR>(base, p.required_number("gamma"));
    }
    if (n == "cosine") {
      p.expect({"t_max", "eta_min"});
      const int64_t t_max =
          p.has("t_max") ? p.duration("t_max", 0) : remaining(p, ctx, used, last, "T_max");
      return std::make_unique<CosineLR>(base, t_max, p.number("eta_min", 0));
    }
    if (n == "warmup") {
      p.expect({"steps", "start_factor"});
      return std::make_unique<WarmupLR>(base, p.required_duration("steps"),
                                        p.number("start_factor", 0.01));
    }
    if (n == "onecycle") {
      p.expect({"max_lr", "total_steps", "pct_start", "anneal", "div_factor", "final_div_factor"});
      OneCycleOptions o;
      o.max_lr = p.number("max_lr", base);
      o.total_steps = p.has("total_steps") ? p.duration("total_steps", 0)
                                           : remaining(p, ctx, used, last, "total_steps");
      o.pct_start = p.number("pct_start", o.pct_start);
      const std::string anneal = p.word("anneal", "cos");
      BP_CHECK(anneal == "cos" || anneal == "cosine" || anneal == "linear",
               "anneal must be cos or linear, got '{}'", anneal);
      o.cosine = anneal != "linear";
      o.div_factor = p.number("div_factor", o.div_factor);
      o.final_div_factor = p.number("final_div_factor", o.final_div_factor);
      return std::make_unique<OneCycleLR>(o);
    }
    if (n == "plateau") {
      p.expect({"factor", "patience", "threshold", "cooldown", "min_lr"});
      PlateauOptions o;
      o.factor = p.number("factor", o.factor);
      o.patience = p.duration("patience", o.patience);
      o.threshold = p.number("threshold", o.threshold);
      o.cooldown = p.duration("cooldown", o.cooldown);
      o.min_lr = p.number("min_lr", o.min_lr);
      return std::make_unique<ReduceOnPlateau>(base, o);
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind("schedule", 0) == 0) throw;
    fail("schedule piece '{}': {}", p.text(), what);
  }
  fail(
      "schedule piece '{}': unknown schedule '{}' (known: constant, step, multistep, exponential, "
      "cosine, warmup, onecycle, plateau)",
      p.text(), n);
}

}  // namespace

std::unique_ptr<Schedule> parse_schedule(const std::string& text, const ScheduleContext& ctx) {
  BP_CHECK(!trim(text).empty(), "schedule: empty specification");
  check_base("schedule", ctx.base_lr);
  BP_CHECK(ctx.total_steps >= 0 && ctx.steps_per_epoch >= 0, "schedule: step counts must be >= 0");
  const std::vector<std::string> parts = split_top(text, text);
  std::vector<std::unique_ptr<Schedule>> pieces;
  int64_t used = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    BP_CHECK(!parts[i].empty(), "schedule '{}': empty piece at position {}", text, i + 1);
    Piece piece(parts[i], ctx);
    const bool last = i + 1 == parts.size();
    pieces.push_back(make_piece(piece, ctx, used, last));
    const int64_t n = pieces.back()->length();
    BP_CHECK(last || n > 0,
             "schedule piece '{}': {} runs open-ended, so it can only be the last piece{}",
             parts[i], piece.name(),
             piece.name() == "constant" ? " (give constant(steps) a length)" : "");
    used += n;
  }
  if (pieces.size() == 1) return std::move(pieces.front());
  return std::make_unique<SequentialSchedule>(std::move(pieces));
}

}  // namespace bp::optim
