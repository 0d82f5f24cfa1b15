// The network of an ONNX graph, read node by node along the one chain of values from the graph's
// input to its output: each node, or short group of nodes (GELU's five), becomes one layer of a
// spec, and its constants that layer's parameters. Internal to the ONNX import.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backprop/spec.hpp"
#include "onnx/read.hpp"

namespace bp::onnx::detail {

// One imported layer: its spec text and its tensors in the order its module registers them.
struct Layer {
  std::string spec;
  std::vector<Tensor> parameters = {}, buffers = {};
};

class Importer {
 public:
  // `input` is the graph's input, of sample shape `shape`; `functions` the model's local functions
  // (checked to be export's own); `what` starts every error message. Throws bp::Error naming the
  // node on an operator of another domain (but a call of one of `functions`) or a bad Constant.
  Importer(const ::onnx::GraphProto& graph, const Constants& constants,
           const std::set<std::string>& functions, std::string input, Shape shape,
           std::string what);
  // The layers from the input to `output`. Throws bp::Error naming the first node that has no
  // layer form (its operator, an attribute or its place in the graph) or whose constants do not fit
  // the layer, and when `output` is not the end of the chain.
  std::vector<Layer> run(const std::string& output);
  // The input normalisation found at the start of the graph: (offset, scale).
  const std::optional<std::pair<Tensor, Tensor>>& normalisation() const { return normalisation_; }

 private:
  // Each handler reads the layer that starts at node i and returns how many nodes it took.
  using Handler = size_t (Importer::*)(size_t);
  static const std::map<std::string, Handler>& handlers();
  size_t gemm(size_t i);
  size_t matmul(size_t i);
  size_t simple_activation(size_t i);
  size_t sigmoid(size_t i);
  size_t hard_sigmoid(size_t i);
  size_t softplus(size_t i);
  size_t mul(size_t i);
  size_t div(size_t i);
  size_t softmax(size_t i);
  size_t conv(size_t i);
  size_t pool(size_t i);
  size_t global_pool(size_t i);
  size_t batch_norm(size_t i);
  size_t layer_norm(size_t i);
  size_t dropout(size_t i);
  size_t flatten(size_t i);
  size_t reshape(size_t i);
  size_t transpose_node(size_t i);
  size_t recurrent(size_t i);
  std::string recurrent_cell(size_t j, bool gru);
  bool last_step(size_t j, const std::string& y) const;
  size_t state_shape(size_t i);
  // Node j is part of a zero initial state; the first node from j on that is not.
  bool is_state(size_t j) const;
  size_t skip_state(size_t j);
  size_t attention(size_t i);
  size_t transformer(size_t i);
  // The inputs first.. of the attention call at node i: its settings, and its 8 parameters
  // appended to `parameters`.
  struct AttentionSettings {
    int64_t heads;
    bool causal;
  };
  AttentionSettings attention_args(size_t i, int first, std::vector<Tensor>& parameters) const;
  // Input k of node i: a constant matrix, transposed (a MatMul's weight as our Linear's).
  Tensor weight_t(size_t i, int k, const char* role) const;
  size_t cast(size_t i);
  size_t add(size_t i);
  size_t positional(size_t i, const Tensor& table);
  size_t sub(size_t i);
  size_t pad(size_t i);
  size_t identity(size_t i);
  size_t identity_of(size_t i);  // node i passes the current value on

  const ::onnx::NodeProto& node(size_t i) const { return *nodes_[i]; }
  // Input k of node j, or "" when it has fewer inputs.
  const std::string& input(size_t j, int k) const;
  [[noreturn]] void refuse(size_t i, const std::string& why) const;
  // Input k of node i, which must be the chain's current value.
  const std::string& x_of(size_t i, int k) const;
  // Input k of node i, which must be a float constant (or absent, for the optional one).
  const Tensor& constant(size_t i, int k, const char* role) const;
  const Tensor* optional_constant(size_t i, int k, const char* role) const;
  // Whether node j exists and is `op`; whether its two inputs are a and b in either order; its
  // input other than `known` ("" when it has not two inputs or none is `known`).
  bool is(size_t j, const char* op) const;
  bool takes(size_t j, const std::string& a, const std::string& b) const;
  std::string other_input(size_t j, const std::string& known) const;
  bool is_scalar(const std::string& name, float value, float tolerance) const;
  // The handler key of node j: its operator, "backprop." before a local function's.
  std::string key(size_t j) const;
  // Adds `layer`, read from nodes first..last, after checking that it builds on the current shape
  // with tensors of the shapes its module has; returns the count of nodes.
  size_t push(size_t first, size_t last, Layer layer);
  Shape check_layer(const Layer& layer, const Shape& in, size_t i) const;

  // A value computed from the input: the count of layers before it and its sample shape.
  struct ChainValue {
    size_t layers;
    Shape shape;
  };

  Constants constants_;
  std::vector<const ::onnx::NodeProto*> nodes_;  // every node but the Constants, in graph order
  std::vector<std::string> where_;               // how errors name each node
  std::map<std::string, ChainValue> chain_;
  std::string input_, current_;
  Shape shape_;  // the sample shape of current_
  std::string what_;
  std::vector<Layer> layers_;
  std::optional<std::pair<Tensor, Tensor>> normalisation_;
  std::set<std::string> shapes_;  // values computed from shapes only (a state's shape)
  std::set<std::string> zeros_;   // zero tensors of such shapes (initial states)
};

}  // namespace bp::onnx::detail
