// The grammar that model specs and learning-rate schedules share: calls separated by commas, each
// `name` or `name(arg, key=value, ...)`, where the arguments of a nesting call (a container layer)
// are calls themselves. One parser reads it into a small tree; one reader takes a call's
// arguments by position or keyword. Internal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bp::syntax {

// One argument as written: `value`, or `key=value`.
struct Arg {
  std::string key;  // lower-cased; empty for a positional argument
  std::string value;
};

// One call. Offsets are 0-based, into the text that was parsed.
struct Call {
  std::string name;  // lower-cased
  size_t begin = 0;  // where the name starts
  size_t end = 0;    // one past the call's last character
  std::vector<Arg> args;
  std::vector<Call> inner;  // the arguments of a nesting call
};

// What differs between the texts written in the grammar.
struct Grammar {
  std::string what;            // the text's name, first in every error: "model spec"
  std::string noun;            // what one call is: "layer"
  size_t max_depth = 0;        // nesting calls nest at most this deep
  bool keywords_last = false;  // refuse a positional argument after a keyword one
  // Called once a call's name is read, with its 1-based position in its list: whether its
  // arguments are calls. It may throw (an unknown name). Null: no call nests.
  std::function<bool(const Call&, size_t position)> nests = nullptr;
};

// Parses `text`, in time linear in its length; the first call gets position `first_position` and
// the calls sit `depth` nesting calls deep. Throws bp::Error "<what>: <problem> at column <c> of
// <excerpt>" on a syntax error, and on nesting deeper than grammar.max_depth (before recursing).
std::vector<Call> parse_calls(std::string_view text, const Grammar& grammar,
                              size_t first_position = 1, size_t depth = 0);

// `text` without the white space around it.
std::string_view trim(std::string_view text);

// A whole number or a finite number written as text (an optional '+', then what std::from_chars
// reads, nothing else); nullopt otherwise.
std::optional<double> parse_number(std::string_view text);
std::optional<int64_t> parse_integer(std::string_view text);

// An argument without its storage: the reader takes arguments from a parsed Call and from the
// public LayerSpec alike.
struct ArgView {
  std::string_view key;
  std::string_view value;
};

// Reads the arguments of one call: each by its position among the positional arguments or by its
// keyword, typed, range-checked and at most once; finish() then refuses any argument not read.
// Errors read "<where>: <what>", e.g. "model spec: layer 2 'dense' (column 7): missing argument
// 'units'".
class CallArgs {
 public:
  CallArgs(std::vector<ArgView> args, std::string name, std::string where);

  // The argument's text; nullopt when absent. Throws when it is given twice.
  std::optional<std::string_view> find(size_t index, const char* key);
  // A finite number; `fallback` when absent (nullopt: the argument is required).
  double number(size_t index, const char* key, std::optional<double> fallback);
  // An integer in [1, 1e9], or in [0, 1e9].
  int64_t positive_int(size_t index, const char* key, std::optional<int64_t> fallback);
  int64_t non_negative_int(size_t index, const char* key, int64_t fallback);
  // Every positional argument, each an integer in [-1e9, 1e9] (`what` names them in errors, e.g.
  // "extent"); empty when there are none.
  std::vector<int64_t> integers(const char* what);
  // true/1 or false/0.
  bool flag(size_t index, const char* key, bool fallback);
  // One of `choices` (any case), as spelled there.
  std::string choice(size_t index, const char* key, const char* fallback,
                     std::initializer_list<const char*> choices);
  // Every argument must have been read: anything left is a typo or one argument too many.
  void finish() const;

  [[noreturn]] void error(const std::string& what) const;

 private:
  std::string parameter_list() const;

  std::vector<ArgView> args_;
  std::vector<bool> used_;
  std::vector<const char*> params_;  // the keys read so far, by position
  std::string name_, where_;
};

}  // namespace bp::syntax
