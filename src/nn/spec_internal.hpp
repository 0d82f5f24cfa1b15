// The layer table behind model specs: how each layer name reads its arguments and builds its
// module. Each op family registers its layers in its own spec_*.cpp. Internal.
#pragma once

#include <charconv>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "backprop/error.hpp"
#include "backprop/spec.hpp"

namespace bp::nn::spec {

// Reads the arguments of one layer by name, checking each is used and well-typed.
class Args {
 public:
  explicit Args(const LayerSpec& spec, bool dry_run = false, double* budget = nullptr)
      : spec_(spec), used_(spec.args.size(), false), dry_run_(dry_run), budget_(budget) {}

  // True when only the arguments are checked: builders then return nullptr without allocating.
  bool dry_run() const { return dry_run_; }

  // Takes `count` parameters from the budget (when there is one), before they are allocated.
  void reserve_parameters(double count) {
    if (!budget_) return;
    if (count > *budget_)
      error(fmt::format("needs {} parameters, more than the {} available", count, *budget_));
    *budget_ -= count;
  }

  // Parameters still allowed (-1: no limit); containers pass it on to their inner layers.
  int64_t budget_left() const { return budget_ ? static_cast<int64_t>(*budget_) : -1; }
  // Number of arguments given.
  size_t count() const { return spec_.args.size(); }
  // A container's inner layers, parsed and checked with the spec (empty for other layers).
  const std::vector<LayerSpec>& layers() const { return spec_.inner; }
  // The raw text of positional argument `index` (marks it used). Requires index < count().
  const std::string& text(size_t index) {
    used_[index] = true;
    return spec_.args[index].value;
  }

  // The positional argument `index`, or the keyword `key`; `fallback` when absent (nullopt means
  // required).
  double number(size_t index, const char* key, std::optional<double> fallback) {
    const LayerArg* arg = find(index, key);
    if (!arg) {
      if (!fallback) error(fmt::format("missing argument '{}'", key));
      return *fallback;
    }
    double value = 0;
    const char* begin = arg->value.data();
    const char* end = begin + arg->value.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || ptr != end || !std::isfinite(value))
      error(fmt::format("argument '{}' must be a number, got '{}'", key, arg->value));
    return value;
  }

  int64_t positive_int(size_t index, const char* key, std::optional<int64_t> fallback) {
    double v =
        number(index, key,
               fallback ? std::optional<double>(static_cast<double>(*fallback)) : std::nullopt);
    if (v != std::floor(v) || v < 1 || v > 1e9)
      error(fmt::format("argument '{}' must be a positive integer, got {}", key, v));
    return static_cast<int64_t>(v);
  }

  bool flag(size_t index, const char* key, bool fallback) {
    const LayerArg* arg = find(index, key);
    if (!arg) return fallback;
    if (arg->value == "true" || arg->value == "1") return true;
    if (arg->value == "false" || arg->value == "0") return false;
    error(fmt::format("argument '{}' must be true or false, got '{}'", key, arg->value));
  }

  // The argument as a word, one of `choices`; `fallback` when absent.
  std::string choice(size_t index, const char* key, const char* fallback,
                     std::initializer_list<const char*> choices) {
    const LayerArg* arg = find(index, key);
    if (!arg) return fallback;
    std::string list;
    for (const char* c : choices) {
      if (arg->value == c) return arg->value;
      list += (list.empty() ? "" : ", ") + std::string(c);
    }
    error(fmt::format("argument '{}' must be one of {}, got '{}'", key, list, arg->value));
  }

  // Every argument must have been consumed: anything left is a typo or too many arguments.
  void finish() const {
    for (size_t i = 0; i < used_.size(); ++i)
      if (!used_[i]) {
        const LayerArg& a = spec_.args[i];
        error(a.key.empty() ? fmt::format("unexpected argument '{}'", a.value)
                            : fmt::format("unknown argument '{}'", a.key));
      }
  }

  [[noreturn]] void error(const std::string& what) const {
    fail("model spec: layer {} '{}'{}: {}", spec_.position, spec_.name,
         spec_.column ? fmt::format(" (column {})", spec_.column) : std::string(), what);
  }

 private:
  const LayerArg* find(size_t index, const char* key) {
    size_t positional = 0;
    for (size_t i = 0; i < spec_.args.size(); ++i) {
      const LayerArg& a = spec_.args[i];
      if (a.key.empty() ? positional++ == index : a.key == key) {
        used_[i] = true;
        return &a;
      }
    }
    return nullptr;
  }

  const LayerSpec& spec_;
  std::vector<bool> used_;
  bool dry_run_;
  double* budget_;
};

// Builds a layer for inputs of the given shape (without the batch dimension).
using Builder = std::function<std::shared_ptr<Module>(Args&, const Shape&, Generator&)>;

struct LayerKind {
  std::string syntax;
  std::string help;
  Builder build;
  bool nests = false;  // a container: its arguments are layers (LayerSpec::inner), e.g.
                       // residual(dense(8),relu)
};

using LayerTable = std::map<std::string, LayerKind>;

// Each family adds its layers (name -> syntax, help, builder).
void add_core_layers(LayerTable& table);       // spec.cpp: dense, flatten, activations
void add_container_layers(LayerTable& table);  // spec.cpp: residual
void add_conv_layers(LayerTable& table);       // spec_conv.cpp
void add_norm_layers(LayerTable& table);       // spec_norm.cpp
void add_recurrent_layers(LayerTable& table);  // spec_recurrent.cpp

// The complete table.
const LayerTable& layer_kinds();

}  // namespace bp::nn::spec
