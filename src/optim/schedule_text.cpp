// The text form of schedules: pieces in the grammar of calls (core/call_syntax.hpp), each built by
// its row of the table in schedule.cpp.
#include <cmath>
#include <string_view>

#include "backprop/error.hpp"
#include "backprop/schedule.hpp"
#include "optim/schedule_table.hpp"

namespace bp::optim {

namespace {

std::vector<syntax::ArgView> views(const std::vector<syntax::Arg>& args) {
  std::vector<syntax::ArgView> out;
  out.reserve(args.size());
  for (const syntax::Arg& a : args) out.push_back({a.key, a.value});
  return out;
}

const syntax::Grammar& grammar() {
  static const syntax::Grammar g{.what = "schedule", .noun = "schedule", .keywords_last = true};
  return g;
}

const ScheduleKind& kind_of(const syntax::Call& piece, const std::string& text) {
  for (const ScheduleKind& kind : schedule_kinds())
    if (kind.name == piece.name) return kind;
  std::string names;
  for (const ScheduleKind& kind : schedule_kinds())
    names += (names.empty() ? "" : ", ") + kind.name;
  fail_as<ValueError>("schedule piece '{}': unknown schedule '{}' (known: {})", text, piece.name,
                      names);
}

// One piece, its errors named after it: "schedule piece 'step(10,2)': step: gamma must be ...".
std::unique_ptr<Schedule> make_piece(const syntax::Call& piece, const std::string& text,
                                     const ScheduleContext& ctx, int64_t used, bool last) {
  const ScheduleKind& kind = kind_of(piece, text);
  ScheduleArgs args(piece, text, ctx, used, last);
  try {
    return kind.build(args);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind("schedule", 0) == 0) throw;
    fail_as<ValueError>("schedule piece '{}': {}", text, what);
  }
}

}  // namespace

ScheduleArgs::ScheduleArgs(const syntax::Call& piece, std::string_view text,
                           const ScheduleContext& ctx, int64_t used, bool last)
    : syntax::CallArgs(views(piece.args), piece.name, fmt::format("schedule piece '{}'", text)),
      ctx_(ctx),
      used_(used),
      last_(last) {}

int64_t ScheduleArgs::duration(size_t index, const char* key, std::optional<int64_t> fallback) {
  const std::optional<std::string_view> text = find(index, key);
  if (text) return to_duration(key, *text);
  if (!fallback) error(fmt::format("missing argument '{}'", key));
  return *fallback;
}

std::vector<int64_t> ScheduleArgs::durations(size_t index, const char* key) {
  const std::optional<std::string_view> text = find(index, key);
  if (!text) error(fmt::format("missing argument '{}'", key));
  std::vector<int64_t> out;
  size_t start = 0;
  while (true) {
    const size_t semi = text->find(';', start);
    out.push_back(to_duration(key, syntax::trim(text->substr(start, semi - start))));
    if (semi == std::string_view::npos) return out;
    start = semi + 1;
  }
}

int64_t ScheduleArgs::duration_or_rest(size_t index, const char* key, const char* shown) {
  const std::optional<std::string_view> text = find(index, key);
  if (text) return to_duration(key, *text);
  if (!last_) error(fmt::format("give {} when another piece follows", shown));
  if (ctx_.total_steps <= 0)
    error(fmt::format("give {}; the number of training steps is unknown here", shown));
  if (ctx_.total_steps <= used_)
    error(fmt::format("the pieces before it take {} of the {} training steps, leaving none", used_,
                      ctx_.total_steps));
  return ctx_.total_steps - used_;
}

int64_t ScheduleArgs::to_duration(const char* key, std::string_view text) const {
  if (!text.empty() && (text.back() == 'e' || text.back() == 'E')) {
    const std::optional<double> epochs = syntax::parse_number(text.substr(0, text.size() - 1));
    if (epochs && ctx_.steps_per_epoch <= 0)
      error(fmt::format("{} '{}' is in epochs, but the steps per epoch are unknown", key, text));
    if (epochs && *epochs >= 0 && *epochs < 1e12)
      return std::llround(*epochs * static_cast<double>(ctx_.steps_per_epoch));
    if (epochs) error(fmt::format("argument '{}' is out of range, got '{}'", key, text));
  } else if (const std::optional<int64_t> steps = syntax::parse_integer(text);
             steps && *steps >= 0) {
    return *steps;
  }
  error(
      fmt::format("argument '{}' must be a whole number of steps (or of epochs, like 2e), got '{}'",
                  key, text));
}

std::unique_ptr<Schedule> parse_schedule(const std::string& text, const ScheduleContext& ctx) {
  check_base_lr("schedule", ctx.base_lr);
  BP_CHECK_AS(ValueError, ctx.total_steps >= 0 && ctx.steps_per_epoch >= 0,
              "schedule: step counts must be >= 0");
  const std::vector<syntax::Call> calls = syntax::parse_calls(text, grammar());
  std::vector<std::unique_ptr<Schedule>> pieces;
  int64_t used = 0;
  for (const syntax::Call& piece : calls) {
    const std::string piece_text = text.substr(piece.begin, piece.end - piece.begin);
    const bool last = pieces.size() + 1 == calls.size();
    pieces.push_back(make_piece(piece, piece_text, ctx, used, last));
    const int64_t n = pieces.back()->length();
    BP_CHECK_AS(ValueError, last || n > 0,
                "schedule piece '{}': {} runs open-ended, so it can only be the last piece{}",
                piece_text, piece.name,
                piece.name == "constant" ? " (give constant(steps) a length)" : "");
    used += n;
  }
  if (pieces.size() == 1) return std::move(pieces.front());
  return std::make_unique<SequentialSchedule>(std::move(pieces));
}

std::vector<std::string> schedule_help() {
  std::vector<std::string> lines;
  for (const ScheduleKind& kind : schedule_kinds())
    lines.push_back(fmt::format("{:<26} {}", kind.syntax, kind.help));
  return lines;
}

}  // namespace bp::optim
