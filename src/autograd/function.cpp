// User-defined differentiable functions: forward on detached inputs, one recorded node carrying the
// function's name, and a backward whose gradients are checked against the inputs' shapes.
#include "backprop/function.hpp"

#include "backprop/autograd.hpp"
#include "backprop/error.hpp"

namespace bp::autograd {

void FunctionContext::save_for_backward(std::vector<Tensor> tensors) {
  for (Tensor& t : tensors) saved_.push_back(std::move(t));
}

Function::Function(std::string name, Forward forward, Backward backward)
    : name_(std::make_shared<const std::string>(std::move(name))),
      forward_(std::make_shared<const Forward>(std::move(forward))),
      backward_(std::make_shared<const Backward>(std::move(backward))) {
  BP_CHECK_AS(ValueError, !name_->empty(), "autograd::Function: the name is empty");
  BP_CHECK_AS(ValueError, *forward_ && *backward_,
              "autograd::Function '{}': forward and backward must both be given", *name_);
}

namespace {

// Checks what a Function's backward returned against the inputs of the call.
void check_gradients(const std::string& name, const std::vector<Tensor>& grads,
                     const std::vector<Shape>& input_shapes) {
  BP_CHECK_AS(ShapeError, grads.size() <= input_shapes.size(),
              "{} backward: returned {} gradients for {} inputs", name, grads.size(),
              input_shapes.size());
  for (size_t i = 0; i < grads.size(); ++i)
    BP_CHECK_AS(ShapeError, !grads[i].defined() || grads[i].shape() == input_shapes[i],
                "{} backward: the gradient for input {} has shape {}, but the input has shape {}",
                name, i, to_string(grads[i].shape()), to_string(input_shapes[i]));
}

}  // namespace

Tensor Function::operator()(const std::vector<Tensor>& inputs) const {
  auto ctx = std::make_shared<FunctionContext>();
  std::vector<Tensor> detached;
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) {
    detached.push_back(t.defined() ? t.detach() : Tensor());
    shapes.push_back(t.defined() ? t.shape() : Shape{});
    ctx->needs_grad_.push_back(grad_enabled() && t.defined() && t.requires_grad());
  }
  Tensor output;
  try {
    NoGradGuard no_grad;
    output = (*forward_)(*ctx, detached);
  } catch (const Error& e) {
    rethrow_with_prefix(e, *name_ + " forward: ");
  }
  BP_CHECK(output.defined(), "{} forward: returned an undefined tensor", *name_);
  // A new handle, so that the node never hangs on a tensor that forward saved or returned twice.
  output = output.detach();
  output = record(OpKind::custom, output, inputs, ctx->saved_,
                  [ctx, name = name_, backward = backward_,
                   shapes = std::move(shapes)](const Tensor& grad_output) {
                    std::vector<Tensor> grads;
                    try {
                      grads = (*backward)(*ctx, grad_output);
                    } catch (const Error& e) {
                      rethrow_with_prefix(e, *name + " backward: ");
                    }
                    check_gradients(*name, grads, shapes);
                    return grads;
                  });
  if (output.grad_fn()) output.grad_fn()->custom_name = name_;
  return output;
}

}  // namespace bp::autograd
