// The model-local ONNX functions (FunctionProto) that export writes for the layers without one
// standard operator, and that import recognises: a call node of domain "backprop" whose function
// is exactly the one written here. Their bodies are standard opset-17 operators, which runtimes
// inline. Internal to the ONNX export and import.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bp::onnx::detail {

class GraphWriter;

inline constexpr const char* kFunctionDomain = "backprop";
inline constexpr int kFunctionDomainVersion = 1;

// MultiheadAttention(x, W_q, b_q, W_k, b_k, W_v, b_v, W_o, b_o, heads, scale, mask) -> y on
// (batch, seq, dim): the projections' weights transposed (dim, dim) and biases (dim); heads the
// int64 shape (0, 0, heads, dim / heads) that splits the heads; scale 1/√(dim / heads); mask
// added to the scores: nn::causal_mask (seq, seq), or a scalar 0 without one.
inline constexpr const char* kAttention = "MultiheadAttention";
inline constexpr int kAttentionInputs = 12;
// TransformerBlock(x, ln1_scale, ln1_bias, <attention's 11 inputs after x>, ratio, ln2_scale,
// ln2_bias, W_1, b_1, W_2, b_2) -> y: the pre-norm block with LayerNormalization (epsilon 1e-5),
// the attention function above, Dropout of `ratio` (the identity in inference), GELU (erf form)
// and the MLP's transposed weights.
inline constexpr const char* kTransformer = "TransformerBlock";
inline constexpr int kTransformerInputs = 21;

// Every function, callees first (the order a model lists them in).
const std::vector<::onnx::FunctionProto>& local_functions();
// The function named `name`, or null.
const ::onnx::FunctionProto* local_function(const std::string& name);
// GELU's nodes on x, x·(1 + erf(x/√2))/2; returns the output's name.
std::string gelu(GraphWriter& g, const std::string& x);
// 1/√d, the scale MultiheadAttention applies to the scores of heads of d features.
float attention_scale(int64_t head_dim);

}  // namespace bp::onnx::detail
