#include "core/call_syntax.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "backprop/error.hpp"

namespace bp::syntax {

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The text around offset `at`, quoted, at most about 60 characters: messages stay one short line
// even for a huge text.
std::string excerpt(std::string_view text, size_t at) {
  constexpr size_t kSide = 30;
  if (text.size() <= 2 * kSide) return fmt::format("\"{}\"", text);
  const size_t begin = at > kSide ? at - kSide : 0;
  const size_t end = std::min(text.size(), at + kSide);
  return fmt::format("\"{}{}{}\"", begin > 0 ? "..." : "", text.substr(begin, end - begin),
                     end < text.size() ? "..." : "");
}

// One pass over the text: each character is looked at a bounded number of times, and a nesting
// call's arguments are parsed where they stand (recursion one level per nesting call, at most
// max_depth deep), never re-read from a copy of their text.
class Parser {
 public:
  Parser(std::string_view text, const Grammar& grammar) : text_(text), g_(grammar) {}

  std::vector<Call> parse(size_t first_position, size_t depth) {
    skip_space();
    if (i_ == text_.size()) fail_as<ValueError>("{}: empty specification", g_.what);
    std::vector<Call> calls = list(first_position, depth);
    if (i_ < text_.size()) syntax_error(i_, fmt::format("unexpected '{}'", text_[i_]));
    return calls;
  }

 private:
  // Calls separated by commas, up to the end of the text or a ')' (left for the caller).
  std::vector<Call> list(size_t first_position, size_t depth) {
    std::vector<Call> calls;
    while (true) {
      calls.push_back(call(first_position + calls.size(), depth));
      skip_space();
      if (i_ == text_.size() || text_[i_] != ',') return calls;
      ++i_;
    }
  }

  Call call(size_t position, size_t depth) {
    skip_space();
    Call c;
    c.begin = i_;
    while (i_ < text_.size() && is_name_char(text_[i_])) ++i_;
    if (i_ == c.begin) syntax_error(i_, fmt::format("expected a {} name", g_.noun));
    c.name = lower(text_.substr(c.begin, i_ - c.begin));
    c.end = i_;
    const bool nests = g_.nests && g_.nests(c, position);
    skip_space();
    if (i_ < text_.size() && text_[i_] == '(') {
      const size_t open = i_++;
      if (nests)
        inner_calls(c, depth + 1);
      else
        arguments(c);
      if (i_ == text_.size())
        syntax_error(open + 1, fmt::format("unclosed '(' in {} '{}'", g_.noun, c.name));
      if (text_[i_] != ')') syntax_error(i_, fmt::format("unexpected '{}'", text_[i_]));
      c.end = ++i_;
    }
    return c;
  }

  // A nesting call's arguments: calls, one level deeper.
  void inner_calls(Call& c, size_t depth) {
    if (depth > g_.max_depth)
      fail_as<ValueError>(
          "{}: {} '{}' at column {} nests containers deeper than the limit of {} levels", g_.what,
          g_.noun, c.name, c.begin + 1, g_.max_depth);
    skip_space();
    if (i_ < text_.size() && text_[i_] == ')') return;
    const size_t at = i_;
    while (i_ < text_.size() && is_name_char(text_[i_])) ++i_;
    skip_space();
    if (i_ < text_.size() && text_[i_] == '=')
      syntax_error(
          at, fmt::format("{} '{}' takes {}s, not keyword arguments", g_.noun, c.name, g_.noun));
    i_ = at;
    c.inner = list(1, depth);
  }

  // Plain arguments: `value` or `key=value`, separated by commas, up to the ')'.
  void arguments(Call& c) {
    while (true) {
      const size_t start = i_;
      while (i_ < text_.size() && text_[i_] != ',' && text_[i_] != ')') {
        if (text_[i_] == '(') syntax_error(i_, "unexpected '('");
        ++i_;
      }
      if (i_ == text_.size()) return;  // the caller reports the unclosed '('
      const std::string_view raw = trim(text_.substr(start, i_ - start));
      if (raw.empty()) {
        if (text_[i_] == ')' && c.args.empty()) return;
        syntax_error(start, fmt::format("empty argument in {} '{}'", g_.noun, c.name));
      }
      c.args.push_back(argument(c, raw, start));
      if (text_[i_] == ')') return;
      ++i_;
    }
  }

  Arg argument(const Call& c, std::string_view raw, size_t start) const {
    const size_t eq = raw.find('=');
    if (eq == std::string_view::npos) {
      if (g_.keywords_last && !c.args.empty() && !c.args.back().key.empty())
        syntax_error(start, fmt::format("positional argument '{}' after a keyword argument", raw));
      return {"", std::string(raw)};
    }
    Arg arg{lower(trim(raw.substr(0, eq))), std::string(trim(raw.substr(eq + 1)))};
    if (arg.key.empty() || arg.value.empty())
      syntax_error(start, fmt::format("malformed argument '{}'", raw));
    return arg;
  }

  void skip_space() {
    while (i_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[i_]))) ++i_;
  }

  [[noreturn]] void syntax_error(size_t at, const std::string& what) const {
    fail_as<ValueError>("{}: {} at column {} of {}", g_.what, what, at + 1, excerpt(text_, at));
  }

  std::string_view text_;
  const Grammar& g_;
  size_t i_ = 0;
};

}  // namespace

std::vector<Call> parse_calls(std::string_view text, const Grammar& grammar, size_t first_position,
                              size_t depth) {
  return Parser(text, grammar).parse(first_position, depth);
}

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n\f\v") - b + 1);
}

std::optional<double> parse_number(std::string_view text) {
  if (text.starts_with('+')) text.remove_prefix(1);
  double value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  if (text.starts_with('+')) text.remove_prefix(1);
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// ---- CallArgs ----

CallArgs::CallArgs(std::vector<ArgView> args, std::string name, std::string where)
    : args_(std::move(args)),
      used_(args_.size(), false),
      name_(std::move(name)),
      where_(std::move(where)) {}

std::optional<std::string_view> CallArgs::find(size_t index, const char* key) {
  if (params_.size() <= index) params_.resize(index + 1, nullptr);
  params_[index] = key;
  std::optional<std::string_view> found;
  size_t positional = 0;
  for (size_t i = 0; i < args_.size(); ++i) {
    const ArgView& a = args_[i];
    if (a.key.empty() ? positional++ != index : a.key != key) continue;
    if (found) error(fmt::format("argument '{}' given twice", key));
    used_[i] = true;
    found = a.value;
  }
  return found;
}

double CallArgs::number(size_t index, const char* key, std::optional<double> fallback) {
  const std::optional<std::string_view> text = find(index, key);
  if (!text) {
    if (!fallback) error(fmt::format("missing argument '{}'", key));
    return *fallback;
  }
  const std::optional<double> value = parse_number(*text);
  if (!value) error(fmt::format("argument '{}' must be a number, got '{}'", key, *text));
  return *value;
}

int64_t CallArgs::positive_int(size_t index, const char* key, std::optional<int64_t> fallback) {
  const double v = number(index, key, fallback ? std::optional<double>(*fallback) : std::nullopt);
  if (v != std::floor(v) || v < 1 || v > 1e9)
    error(fmt::format("argument '{}' must be a positive integer, got {}", key, v));
  return static_cast<int64_t>(v);
}

int64_t CallArgs::non_negative_int(size_t index, const char* key, int64_t fallback) {
  const double v = number(index, key, static_cast<double>(fallback));
  if (v != std::floor(v) || v < 0 || v > 1e9)
    error(fmt::format("argument '{}' must be a non-negative integer, got {}", key, v));
  return static_cast<int64_t>(v);
}

std::vector<int64_t> CallArgs::integers(const char* what) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < args_.size(); ++i) {
    if (!args_[i].key.empty()) continue;
    const std::optional<double> v = parse_number(args_[i].value);
    if (!v || *v != std::floor(*v) || std::fabs(*v) > 1e9)
      error(
          fmt::format("{} {} must be an integer, got '{}'", what, out.size() + 1, args_[i].value));
    used_[i] = true;
    out.push_back(static_cast<int64_t>(*v));
  }
  return out;
}

bool CallArgs::flag(size_t index, const char* key, bool fallback) {
  const std::optional<std::string_view> text = find(index, key);
  if (!text) return fallback;
  if (*text == "true" || *text == "1") return true;
  if (*text == "false" || *text == "0") return false;
  error(fmt::format("argument '{}' must be true or false, got '{}'", key, *text));
}

std::string CallArgs::choice(size_t index, const char* key, const char* fallback,
                             std::initializer_list<const char*> choices) {
  const std::optional<std::string_view> text = find(index, key);
  if (!text) return fallback;
  for (const char* c : choices)
    if (lower(*text) == c) return c;
  error(fmt::format("argument '{}' must be one of {}, got '{}'", key, fmt::join(choices, ", "),
                    *text));
}

void CallArgs::finish() const {
  for (size_t i = 0; i < args_.size(); ++i) {
    if (used_[i]) continue;
    const ArgView& a = args_[i];
    if (!a.key.empty())
      error(fmt::format("unknown argument '{}' ({} takes {})", a.key, name_, parameter_list()));
    const size_t most = params_.size();
    error(most == 0
              ? fmt::format("unexpected argument '{}' ({} takes no arguments)", a.value, name_)
              : fmt::format("unexpected argument '{}' ({} takes at most {} argument{}: {})",
                            a.value, name_, most, most == 1 ? "" : "s", parameter_list()));
  }
}

std::string CallArgs::parameter_list() const {
  std::string list;
  for (const char* p : params_)
    if (p) list += (list.empty() ? "" : ", ") + std::string(p);
  return list.empty() ? "no arguments" : list;
}

void CallArgs::error(const std::string& what) const {
  fail_as<ValueError>("{}: {}", where_, what);
}

}  // namespace bp::syntax
