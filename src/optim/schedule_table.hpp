// The schedules of the text form, in a table as the layers of model specs are: name -> syntax,
// help, builder. Internal.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backprop/schedule.hpp"
#include "core/call_syntax.hpp"

namespace bp::optim {

// Reads the arguments of one piece of a schedule, with what the text form leaves open.
class ScheduleArgs : public syntax::CallArgs {
 public:
  // `text` is the piece as written; `used`: steps the pieces before it take; `last`: no piece
  // follows.
  ScheduleArgs(const syntax::Call& piece, std::string_view text, const ScheduleContext& ctx,
               int64_t used, bool last);

  double base_lr() const { return ctx_.base_lr; }
  // A count of steps: a whole number, or a number of epochs followed by 'e' ("2e", "0.5e").
  int64_t duration(size_t index, const char* key, std::optional<int64_t> fallback = std::nullopt);
  // Durations separated by ';' (required).
  std::vector<int64_t> durations(size_t index, const char* key);
  // A duration, or when absent what the run's steps leave after the pieces before this one
  // (`shown` names the argument in that case's errors).
  int64_t duration_or_rest(size_t index, const char* key, const char* shown);

 private:
  int64_t to_duration(const char* key, std::string_view text) const;

  const ScheduleContext& ctx_;
  int64_t used_;
  bool last_;
};

struct ScheduleKind {
  std::string name;
  std::string syntax;
  std::string help;
  // Reads the arguments, calls finish(), then builds (so that a misspelt argument is named before
  // the schedule judges the values).
  std::function<std::unique_ptr<Schedule>(ScheduleArgs&)> build;
};

// Every schedule of the text form, in the order the documentation lists them (schedule.cpp).
const std::vector<ScheduleKind>& schedule_kinds();

// Throws bp::Error naming `who` unless `base` is a finite learning rate >= 0.
void check_base_lr(const char* who, double base);

}  // namespace bp::optim
