// The bodies of the model-local functions: attention and the transformer block as standard
// operators, written once and shared by export (which adds them to a model) and import (which
// accepts a model's function only when it equals one of them).
#include "onnx/functions.hpp"

#include <cmath>

#include "backprop/norm.hpp"
#include "backprop/onnx.hpp"
#include "onnx/graph.hpp"

namespace bp::onnx::detail {

namespace {

using Ints = std::vector<int64_t>;

::onnx::FunctionProto start(const char* name, const std::vector<std::string>& inputs,
                            bool calls_functions) {
  ::onnx::FunctionProto f;
  f.set_domain(kFunctionDomain);
  f.set_name(name);
  for (const std::string& in : inputs) f.add_input(in);
  f.add_output(std::string("y"));  // (the const char* overload trips GCC 12's -Wrestrict)
  auto* standard = f.add_opset_import();
  standard->set_domain("");
  standard->set_version(kOpset);
  if (calls_functions) {
    auto* own = f.add_opset_import();
    own->set_domain(kFunctionDomain);
    own->set_version(kFunctionDomainVersion);
  }
  return f;
}

const std::vector<std::string> kAttentionArgs{"W_q", "b_q", "W_k",   "b_k",   "W_v", "b_v",
                                              "W_o", "b_o", "heads", "scale", "mask"};

// softmax(Q·Kᵀ·scale + mask)·V per head, the heads merged, then the output projection.
::onnx::FunctionProto attention() {
  std::vector<std::string> inputs{"x"};
  inputs.insert(inputs.end(), kAttentionArgs.begin(), kAttentionArgs.end());
  ::onnx::FunctionProto f = start(kAttention, inputs, false);
  GraphWriter g(f);
  // x·Wᵀ + b, (batch, seq, dim) -> (batch, seq, heads, d), then its axes in `perm`.
  auto heads = [&](const char* w, const char* b, const Ints& perm) {
    const std::string p = g.node("Add", {g.node("MatMul", {"x", w}), b});
    return g.node("Transpose", {g.node("Reshape", {p, "heads"})}, {{"perm", perm}});
  };
  const std::string q = heads("W_q", "b_q", {0, 2, 1, 3});   // (batch, heads, seq, d)
  const std::string kt = heads("W_k", "b_k", {0, 2, 3, 1});  // (batch, heads, d, seq)
  const std::string v = heads("W_v", "b_v", {0, 2, 1, 3});
  const std::string scores =
      g.node("Add", {g.node("Mul", {g.node("MatMul", {q, kt}), "scale"}), "mask"});
  const std::string context =
      g.node("MatMul", {g.node("Softmax", {scores}, {{"axis", int64_t{-1}}}), v});
  const std::string merged =
      g.node("Reshape", {g.node("Transpose", {context}, {{"perm", Ints{0, 2, 1, 3}}}),
                         g.int64s("merged", {0, 0, -1})});
  g.node_to("y", "Add", {g.node("MatMul", {merged, "W_o"}), "b_o"});
  return f;
}

// h = x + Dropout(attention(LN₁(x))), y = h + Dropout(GELU(LN₂(h)·W₁ + b₁)·W₂ + b₂).
::onnx::FunctionProto transformer() {
  std::vector<std::string> inputs{"x", "ln1_scale", "ln1_bias"};
  inputs.insert(inputs.end(), kAttentionArgs.begin(), kAttentionArgs.end());
  for (const char* in : {"ratio", "ln2_scale", "ln2_bias", "W_1", "b_1", "W_2", "b_2"})
    inputs.emplace_back(in);
  ::onnx::FunctionProto f = start(kTransformer, inputs, true);
  GraphWriter g(f);
  const float eps = nn::LayerNormOptions{}.eps;
  auto norm = [&](const std::string& x, const char* scale, const char* bias) {
    return g.node("LayerNormalization", {x, scale, bias},
                  {{"axis", int64_t{-1}}, {"epsilon", eps}});
  };
  std::vector<std::string> call{norm("x", "ln1_scale", "ln1_bias")};
  call.insert(call.end(), kAttentionArgs.begin(), kAttentionArgs.end());
  const std::string h =
      g.node("Add", {"x", g.node("Dropout", {g.call(kAttention, call), "ratio"})});
  const std::string hidden =
      gelu(g, g.node("Add", {g.node("MatMul", {norm(h, "ln2_scale", "ln2_bias"), "W_1"}), "b_1"}));
  const std::string mlp = g.node("Add", {g.node("MatMul", {hidden, "W_2"}), "b_2"});
  g.node_to("y", "Add", {h, g.node("Dropout", {mlp, "ratio"})});
  return f;
}

}  // namespace

std::string gelu(GraphWriter& g, const std::string& x) {
  auto scalar = [&](float v) { return g.constant("c", Tensor::scalar(v)); };
  const std::string erf = g.node("Erf", {g.node("Div", {x, scalar(std::sqrt(2.0f))})});
  const std::string half = g.node("Mul", {g.node("Add", {erf, scalar(1.0f)}), scalar(0.5f)});
  return g.node("Mul", {x, half});
}

const std::vector<::onnx::FunctionProto>& local_functions() {
  static const std::vector<::onnx::FunctionProto> functions{attention(), transformer()};
  return functions;
}

const ::onnx::FunctionProto* local_function(const std::string& name) {
  for (const ::onnx::FunctionProto& f : local_functions())
    if (f.name() == name) return &f;
  return nullptr;
}

float attention_scale(int64_t head_dim) {
  return 1.0f / std::sqrt(static_cast<float>(head_dim));  // as MultiheadAttention::forward
}

}  // namespace bp::onnx::detail
