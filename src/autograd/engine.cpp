// The backward engine: visits the graph in reverse topological order, calling each node's
// backward once all of its consumers have contributed to its output gradient.
#include <array>
#include <unordered_map>

#include "backprop/autograd.hpp"
#include "backprop/error.hpp"
#include "backprop/ops.hpp"
#include "core/tensor_impl.hpp"

namespace bp::autograd {

namespace {
constexpr std::array kAllOps = {
#define BP_OP_VALUE(name, ...) OpKind::name,
    BP_DIFFERENTIABLE_OPS(BP_OP_VALUE)
#undef BP_OP_VALUE
};
constexpr std::array<std::string_view, kAllOps.size()> kOpNames = {
#define BP_OP_NAME(name, ...) #name,
    BP_DIFFERENTIABLE_OPS(BP_OP_NAME)
#undef BP_OP_NAME
};
}  // namespace

std::string_view op_name(OpKind kind) {
  return kOpNames[static_cast<size_t>(kind)];
}
std::span<const OpKind> all_ops() {
  return kAllOps;
}

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(OpKind kind, Tensor output, std::vector<Tensor> inputs, BackwardFn backward) {
  return record(kind, std::move(output), std::move(inputs), {}, std::move(backward));
}

Tensor record(OpKind kind, Tensor output, std::vector<Tensor> inputs, std::vector<Tensor> saved,
              BackwardFn backward) {
  if (!grad_enabled()) return output;
  bool needed = false;
  for (const Tensor& t : inputs) needed = needed || (t.defined() && t.requires_grad());
  if (!needed) return output;
  auto node = std::make_shared<Node>();
  node->kind = kind;
  node->inputs = std::move(inputs);
  node->saved.reserve(saved.size());
  for (Tensor& t : saved) {
    if (!t.defined()) continue;
    const uint64_t version = t.version();
    node->saved.push_back({std::move(t), version});
  }
  node->backward = std::move(backward);
  output.impl()->requires_grad = true;
  output.impl()->grad_fn = std::move(node);
  return output;
}

namespace {

thread_local LeafGradientSink* current_sink = nullptr;

// Adds g into the gradient slot `slot`. The first contribution is stored as is (it may alias a
// gradient held elsewhere, so it is never modified in place); later ones make a new sum.
void accumulate(Tensor& slot, const Tensor& g) {
  slot = slot.defined() ? add(slot, g) : g;
}

}  // namespace

LeafGradientSink::LeafGradientSink() : previous_(current_sink) {
  current_sink = this;
}
LeafGradientSink::~LeafGradientSink() {
  current_sink = previous_;
}

Tensor LeafGradientSink::grad(const Tensor& leaf) const {
  for (const auto& [key, g] : grads_)
    if (key == leaf.impl().get()) return g;
  return Tensor();
}

void LeafGradientSink::add(const Tensor& leaf, const Tensor& grad) {
  Tensor* slot = nullptr;
  for (auto& [key, g] : grads_)
    if (key == leaf.impl().get()) slot = &g;
  if (slot == nullptr) slot = &grads_.emplace_back(leaf.impl().get(), Tensor()).second;
  NoGradGuard no_grad;
  accumulate(*slot, grad);
}

namespace {

thread_local GradReadyHook* current_hook = nullptr;

}  // namespace

GradReadyHook::GradReadyHook(std::function<void(const Tensor& leaf)> on_ready)
    : on_ready_(std::move(on_ready)), previous_(current_hook) {
  current_hook = this;
}

GradReadyHook::~GradReadyHook() {
  current_hook = previous_;
}

namespace {

// Adds g into a leaf's .grad, which the leaf owns: copied the first time, then summed in place.
// With a LeafGradientSink on this thread, a true leaf's gradient goes there instead.
void accumulate_leaf(const Tensor& handle, TensorImpl& leaf, const Tensor& g) {
  if (current_sink != nullptr && !leaf.grad_fn) {
    current_sink->add(handle, g);
    return;
  }
  if (!leaf.grad) {
    leaf.grad = g.clone().impl();
    return;
  }
  float* dst = leaf.grad->data();
  const float* src = g.data();
  for (int64_t i = 0; i < leaf.count; ++i) dst[i] += src[i];
}

// Depth-first post-order from the root gives a topological order with the root last. It holds
// owning pointers: freeing a node's inputs may drop the last other reference.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> order;
  std::unordered_map<Node*, bool> visited;
  std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root, 0}};
  visited[root.get()] = true;
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    if (next < node->inputs.size()) {
      const Tensor& input = node->inputs[next++];
      if (!input.defined() || !input.grad_fn()) continue;
      const std::shared_ptr<Node>& child = input.grad_fn();
      if (!visited[child.get()]) {
        visited[child.get()] = true;
        stack.emplace_back(child, 0);
      }
    } else {
      order.push_back(std::move(node));
      stack.pop_back();
    }
  }
  return order;
}

// With a GradReadyHook: tells it when a leaf's gradient is final, that is once the last of the
// nodes still to visit that take the leaf as an input has been visited, whether or not it ran.
class LeafReadiness {
 public:
  LeafReadiness(const std::function<void(const Tensor&)>* on_ready,
                const std::vector<std::shared_ptr<Node>>& order)
      : on_ready_(on_ready) {
    if (on_ready_)
      for (const auto& node : order)
        for (const Tensor& input : node->inputs)
          if (is_leaf_input(input)) ++uses_[input.impl().get()];
  }

  void visited(const Node& node) {
    if (!on_ready_) return;
    for (const Tensor& input : node.inputs)
      if (is_leaf_input(input) && --uses_[input.impl().get()] == 0) (*on_ready_)(input);
  }

 private:
  static bool is_leaf_input(const Tensor& t) {
    return t.defined() && t.requires_grad() && !t.impl()->grad_fn;
  }

  const std::function<void(const Tensor&)>* on_ready_;
  std::unordered_map<TensorImpl*, int64_t> uses_;
};

// Runs `node`'s backward on the gradient pending for its output, if one reached it (else returns
// false), and hands each input its gradient: pending for the node that made it, or into a leaf.
bool backpropagate(Node& node, std::unordered_map<Node*, Tensor>& pending) {
  auto found = pending.find(&node);
  if (found == pending.end()) return false;
  Tensor grad_output = std::move(found->second);
  pending.erase(found);
  BP_CHECK(node.backward,
           "backward: the graph through '{}' was already freed by an earlier backward(); pass "
           "retain_graph=true to the first call to backpropagate twice",
           node.name());
  for (const SavedTensor& s : node.saved)
    BP_CHECK(s.tensor.version() == s.version,
             "backward: a tensor saved by '{}' for backward was modified in place (version {}, "
             "expected {}); modify a copy (clone()) instead, or run backward first",
             node.name(), s.tensor.version(), s.version);
  std::vector<Tensor> grads = node.backward(grad_output);
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& input = node.inputs[i];
    if (!input.defined() || !input.requires_grad() || i >= grads.size() || !grads[i].defined())
      continue;
    BP_CHECK(grads[i].shape() == input.shape(),
             "backward: internal error in '{}': gradient of shape {} for input {} of shape {}",
             node.name(), to_string(grads[i].shape()), i, to_string(input.shape()));
    TensorImpl& impl = *input.impl();
    if (impl.grad_fn) {
      accumulate(pending[impl.grad_fn.get()], grads[i]);
      if (impl.retains_grad) accumulate_leaf(input, impl, grads[i]);
    } else {
      accumulate_leaf(input, impl, grads[i]);
    }
  }
  return true;
}

}  // namespace

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  BP_CHECK(root.requires_grad(),
           "backward: the tensor does not require a gradient (no input had requires_grad, or it "
           "was computed under NoGradGuard)");
  NoGradGuard no_grad;
  // Into a LeafGradientSink the gradients do not reach .grad: nothing to report.
  const std::function<void(const Tensor&)>* on_ready =
      current_hook && !current_sink ? &current_hook->on_ready_ : nullptr;
  if (!root.grad_fn()) {
    accumulate_leaf(root, *root.impl(), grad);
    if (on_ready) (*on_ready)(root);
    return;
  }
  if (root.impl()->retains_grad) accumulate_leaf(root, *root.impl(), grad);

  const std::vector<std::shared_ptr<Node>> order = topological_order(root.grad_fn());
  LeafReadiness readiness(on_ready, order);
  std::unordered_map<Node*, Tensor> pending;
  pending[order.back().get()] = grad;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node& node = **it;
    const bool ran = backpropagate(node, pending);
    readiness.visited(node);
    if (ran && !retain_graph) {
      node.backward = nullptr;
      node.inputs.clear();
    }
  }
}

}  // namespace bp::autograd
