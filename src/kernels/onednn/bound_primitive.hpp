// A cached oneDNN primitive with its arguments, bound once to no data: each call points them at
// its buffers and runs it, so that a steady-state call allocates nothing. Internal.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <initializer_list>
#include <unordered_map>
#include <utility>

namespace bp::kernels::onednn {

struct BoundPrimitive {
  dnnl::primitive primitive;
  std::unordered_map<int, dnnl::memory> args;  // those the primitive reads or writes
};

// The primitive of `pd` with each argument it takes (of the data, statistics and scale/shift
// kinds) bound to no data.
BoundPrimitive bind_arguments(const dnnl::primitive_desc& pd);

// Points each of p's arguments at its buffer in `data` (arguments p does not take are ignored),
// runs p on the calling thread's stream and waits; `operation` names it in an error.
void execute(BoundPrimitive& p, const char* operation,
             std::initializer_list<std::pair<int, const float*>> data);

}  // namespace bp::kernels::onednn
