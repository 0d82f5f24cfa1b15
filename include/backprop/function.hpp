// Differentiable functions defined by the user: a forward on plain tensors and a backward that
// turns the gradient of the output into gradients of the inputs (like PyTorch's autograd.Function).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp::autograd {

// What one call of a Function's forward leaves for its backward.
class BP_API FunctionContext {
 public:
  // Keeps `tensors` (inputs, the output or anything computed on the way) for backward. backward()
  // throws bp::Error naming the function if one of them is modified in place before it runs.
  void save_for_backward(std::vector<Tensor> tensors);
  // The tensors saved by forward, in order.
  const std::vector<Tensor>& saved_tensors() const { return saved_; }
  // Whether input i of this call requires a gradient; backward may return an undefined Tensor for
  // the others. False for an index past the inputs.
  bool needs_input_grad(size_t i) const { return i < needs_grad_.size() && needs_grad_[i]; }

 private:
  friend class Function;
  std::vector<Tensor> saved_;
  std::vector<bool> needs_grad_;
};

// A differentiable operation with its own name and derivative. forward(ctx, inputs) computes the
// output from the inputs (detached, with grad mode off: it may call any op, nothing is recorded)
// and saves what backward needs in ctx; backward(ctx, grad_output) returns one gradient per input,
// each of its input's shape (or undefined where none is needed), and runs with grad mode off too.
// Calling the Function records one node named `name`: that name is the node's name() in the graph
// and in every error that backward raises. bp::gradcheck checks a Function like any op.
//
//   Function cube("cube",
//       [](FunctionContext& ctx, const std::vector<Tensor>& in) {
//         ctx.save_for_backward({in[0]});
//         return in[0] * in[0] * in[0];
//       },
//       [](FunctionContext& ctx, const Tensor& g) -> std::vector<Tensor> {
//         const Tensor& x = ctx.saved_tensors()[0];
//         return {g * 3.0f * x * x};
//       });
//   Tensor y = cube({x});
class BP_API Function {
 public:
  using Forward = std::function<Tensor(FunctionContext& ctx, const std::vector<Tensor>& inputs)>;
  using Backward =
      std::function<std::vector<Tensor>(FunctionContext& ctx, const Tensor& grad_output)>;

  // Throws bp::ValueError if the name is empty or either function is empty.
  Function(std::string name, Forward forward, Backward backward);

  const std::string& name() const { return *name_; }

  // Runs forward on `inputs` and, when grad mode is on and an input requires a gradient, records
  // the output as produced by this function (the node keeps the function alive). Throws bp::Error
  // naming the function if forward returns an undefined tensor; an error forward throws passes
  // through with the function's name in front. backward() throws bp::ShapeError naming the
  // function when its backward returns more gradients than there are inputs, or one whose shape
  // differs from its input's, and puts the name in front of any bp::Error it throws.
  Tensor operator()(const std::vector<Tensor>& inputs) const;

 private:
  std::shared_ptr<const std::string> name_;
  std::shared_ptr<const Forward> forward_;
  std::shared_ptr<const Backward> backward_;
};

}  // namespace bp::autograd
