// The autograd graph: every recorded operation is a Node that knows its inputs and how to turn the
// gradient of its output into gradients of its inputs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backprop/activation.hpp"
#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp::autograd {

// The one list of differentiable operations, in groups by op family; a macro passed to it takes
// (name, ...), since some rows carry more. Every Node carries one of these kinds, and the test
// suite fails when a kind has no gradient check, so an op cannot be added without one.
// clang-format off
#define BP_CORE_OPS(X)                                                                           \
  X(add) X(sub) X(mul) X(div) X(pow) X(pow_scalar) X(neg) X(exp) X(log) X(sqrt) X(abs) X(clamp)  \
  X(matmul) X(linear) X(sum) X(max) X(broadcast_to) X(reshape) X(permute) X(concat) X(slice)     \
  X(index_select) X(softmax) X(log_softmax) X(huber) X(smooth_l1) X(binary_cross_entropy)        \
  X(binary_cross_entropy_with_logits) X(cross_entropy) X(nll_loss)
// One kind per activation (activation.hpp); X receives the list row's further arguments too.
#define BP_ACTIVATION_OPS(X) BP_ACTIVATIONS(X, X)
// Convolution and pooling (conv.hpp).
#define BP_CONV_OPS(X) X(conv2d) X(conv_transpose2d) X(max_pool2d) X(avg_pool2d) X(global_avg_pool)
// Normalisation, dropout and embeddings (norm.hpp).
#define BP_NORM_OPS(X) X(batch_norm) X(layer_norm) X(dropout) X(embedding)
// Recurrent layers and attention (recurrent.hpp).
#define BP_RECURRENT_OPS(X) X(rnn) X(lstm) X(gru)
// Every user-defined autograd::Function (function.hpp); its node carries the function's name.
#define BP_USER_OPS(X) X(custom)

#define BP_DIFFERENTIABLE_OPS(X)                                                             \
  BP_CORE_OPS(X) BP_ACTIVATION_OPS(X) BP_CONV_OPS(X) BP_NORM_OPS(X) BP_RECURRENT_OPS(X) \
  BP_USER_OPS(X)

// clang-format on
enum class OpKind {
#define BP_OP_ENUM(name, ...) name,
  BP_DIFFERENTIABLE_OPS(BP_OP_ENUM)
#undef BP_OP_ENUM
};

BP_API std::string_view op_name(OpKind kind);
BP_API std::span<const OpKind> all_ops();

// Given the gradient of the node's output, returns one gradient per input (an undefined Tensor
// where the input needs none). Runs with grad mode off.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

// A tensor that a node's backward reads, with its version (Tensor::version) when it was saved.
struct BP_API SavedTensor {
  Tensor tensor;
  uint64_t version = 0;
};

struct BP_API Node {
  OpKind kind;
  std::shared_ptr<const std::string> custom_name;  // a custom Function's name; null otherwise
  std::vector<Tensor> inputs;
  std::vector<SavedTensor> saved;  // checked against in-place changes before backward runs
  BackwardFn backward;             // empty once the graph has been freed

  // The op's name as errors show it: op_name(kind), or a custom Function's own name.
  std::string_view name() const { return custom_name ? *custom_name : op_name(kind); }
};

// Records `output` as produced by `kind` from `inputs` when grad mode is on and an input requires a
// gradient; otherwise returns it unchanged. `backward` must not capture `output` itself (that would
// be a reference cycle): capture output.detach() instead.
BP_API Tensor record(OpKind kind, Tensor output, std::vector<Tensor> inputs, BackwardFn backward);
// The same for a backward that reads `saved` (inputs or the output, detached): backward() throws
// bp::Error naming the op if one of them was modified in place after this call (its version()
// changed), since the gradient would silently be wrong.
BP_API Tensor record(OpKind kind, Tensor output, std::vector<Tensor> inputs,
                     std::vector<Tensor> saved, BackwardFn backward);

// True when grad mode is on and any of the inputs requires a gradient.
BP_API bool any_requires_grad(std::initializer_list<Tensor> inputs);

// Runs reverse-mode differentiation from `root` with upstream gradient `grad`; see
// Tensor::backward.
BP_API void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

// Tells when leaf gradients are final during backward passes on this thread. While the hook is
// alive, run_backward calls `on_ready(leaf)` once for each leaf that requires a gradient and is an
// input of the graph, as soon as no node still to run can add to its .grad (at the latest before
// run_backward returns; its .grad stays undefined if no path gave it a gradient). Data-parallel
// training starts averaging a parameter's gradient there while backward goes on. Not called for
// backward passes into a LeafGradientSink (their gradients do not go to .grad). Hooks nest: the
// innermost one is called; destroying it restores the previous one.
class BP_API GradReadyHook {
 public:
  explicit GradReadyHook(std::function<void(const Tensor& leaf)> on_ready);
  ~GradReadyHook();
  GradReadyHook(const GradReadyHook&) = delete;
  GradReadyHook& operator=(const GradReadyHook&) = delete;

 private:
  friend void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);
  std::function<void(const Tensor&)> on_ready_;
  GradReadyHook* previous_;
};

// While one is alive on a thread, backward() on that thread adds the gradients of leaf tensors
// (parameters) into this sink instead of into their .grad. Several threads can then backpropagate
// at once through graphs that share parameters — each into its own sink — and the caller adds the
// sinks' gradients up afterwards. Sinks nest (the innermost one collects).
class BP_API LeafGradientSink {
 public:
  LeafGradientSink();
  ~LeafGradientSink();
  LeafGradientSink(const LeafGradientSink&) = delete;
  LeafGradientSink& operator=(const LeafGradientSink&) = delete;

  // The gradient collected for `leaf`; undefined when backward reached none.
  Tensor grad(const Tensor& leaf) const;
  // Adds a gradient for `leaf` (what backward() does).
  void add(const Tensor& leaf, const Tensor& grad);

 private:
  std::vector<std::pair<const void*, Tensor>> grads_;  // few leaves: a vector beats a map
  LeafGradientSink* previous_;
};

}  // namespace bp::autograd
