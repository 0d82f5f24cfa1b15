// Per-parameter state of the adaptive optimizers (internal): an update count and a fixed list of
// buffers for each parameter of the flattened groups, saved and loaded as named tensors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "backprop/optim.hpp"

namespace bp::optim::detail {

// One of an optimizer's per-parameter buffers.
struct Buffer {
  std::string name;         // saved as "<name>.<k>"
  float fill = 0.0f;        // its value before the parameter's first update
  bool per_element = true;  // false: one value for the whole parameter (NAdam's mu_product)
};

// A state entry's name "<name>.<k>" split into name and k; nullopt unless k is a whole number
// below `params`.
std::optional<std::pair<std::string, size_t>> split_entry_name(const std::string& entry,
                                                               size_t params);

// save() names each entry "<buffer>.<k>" and the count "step.<k>" (a 1-element tensor), for the
// parameters updated at least once.
class ParamState {
 public:
  ParamState(std::string owner, std::vector<Buffer> buffers, size_t params);
  // Counts one more update of parameter k and returns the new count, first creating each of its
  // buffers that is still undefined (per element: a tensor of `shape`).
  int64_t advance(size_t k, const Shape& shape);
  // Points u.state at the per-element buffers of parameter u.index, in order.
  void point(ElementUpdate& u);
  Tensor& buffer(size_t k, size_t b) { return buffers_[k][b]; }
  std::vector<std::pair<std::string, Tensor>> save() const;
  // Replaces the whole state. Throws bp::Error on an unknown name, an index or shape that does
  // not fit `params`, a step that is not a whole number >= 1, or a parameter with some but not
  // all of its entries.
  void load(const std::vector<std::pair<std::string, Tensor>>& state,
            const std::vector<Tensor>& params);

 private:
  int64_t load_step(const std::string& entry, const Tensor& t) const;
  Tensor load_buffer(const std::string& entry, const Tensor& t, const Buffer& buffer,
                     const Tensor& param) const;
  void check_whole(size_t k, const std::vector<Tensor>& buffers, int64_t step) const;

  std::string owner_;
  std::vector<Buffer> specs_;
  std::vector<int64_t> steps_;
  std::vector<std::vector<Tensor>> buffers_;  // [parameter][buffer]
};

}  // namespace bp::optim::detail
