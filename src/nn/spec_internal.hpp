// The layer table behind model specs: how each layer name reads its arguments and builds its
// module. Each op family registers its layers in its own spec_*.cpp. Internal.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "backprop/error.hpp"
#include "backprop/spec.hpp"
#include "core/call_syntax.hpp"

namespace bp::nn::spec {

// Reads the arguments of one layer (the reader every call of the grammar uses), and what a layer's
// builder needs besides: whether this is only a check, the parameter budget, the inner layers.
class Args : public syntax::CallArgs {
 public:
  explicit Args(const LayerSpec& spec, bool dry_run = false, double* budget = nullptr);

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
  // A container's inner layers, parsed and checked with the spec (empty for other layers).
  const std::vector<LayerSpec>& layers() const { return spec_.inner; }

 private:
  const LayerSpec& spec_;
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
void add_core_layers(LayerTable& table);         // spec.cpp: dense, flatten, activations
void add_container_layers(LayerTable& table);    // spec.cpp: residual
void add_conv_layers(LayerTable& table);         // spec_conv.cpp
void add_norm_layers(LayerTable& table);         // spec_norm.cpp
void add_recurrent_layers(LayerTable& table);    // spec_recurrent.cpp
void add_transformer_layers(LayerTable& table);  // spec_transformer.cpp

// Where a layer's errors point: "model spec: layer 3 'dense' (column 12)" (column 0: none).
std::string where(size_t position, std::string_view name, size_t column);

// The complete table.
const LayerTable& layer_kinds();

}  // namespace bp::nn::spec
