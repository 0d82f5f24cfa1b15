// Writes an ONNX graph, or the body of a model-local function, one node at a time: constants become
// the graph's initializers (Constant nodes in a function body), every value gets a fresh name.
// Internal to the ONNX export.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

#include "backprop/tensor.hpp"

namespace bp::onnx::detail {

// One attribute of a node: an integer, a float, a list of integers, a string or a list of strings.
struct Attribute {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>, std::string, std::vector<std::string>> value;
};

class GraphWriter {
 public:
  explicit GraphWriter(::onnx::GraphProto& graph)
      : nodes_(*graph.mutable_node()), initializers_(graph.mutable_initializer()) {}
  explicit GraphWriter(::onnx::FunctionProto& function) : nodes_(*function.mutable_node()) {}

  // An initializer holding `values` (float32, `shape`); returns its name.
  std::string constant(const std::string& hint, const Tensor& values);
  // An int64 initializer of shape (values.size()); returns its name.
  std::string int64s(const std::string& hint, const std::vector<int64_t>& values);
  // A node `op` on `inputs` with one output; returns the output's name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   std::initializer_list<Attribute> attributes = {});
  // A node `op` with `outputs` outputs; returns their names.
  std::vector<std::string> nodes(const std::string& op, const std::vector<std::string>& inputs,
                                 int outputs, std::initializer_list<Attribute> attributes = {});
  // The same with the output named `output`.
  void node_to(const std::string& output, const std::string& op,
               const std::vector<std::string>& inputs,
               std::initializer_list<Attribute> attributes = {});
  // A node calling `function`, one of the model-local functions (onnx/functions.hpp); returns its
  // output's name.
  std::string call(const std::string& function, const std::vector<std::string>& inputs);

 private:
  std::string fresh(const std::string& hint);
  ::onnx::NodeProto& add_node(const std::string& op, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& outputs,
                              std::initializer_list<Attribute> attributes);
  // An initializer, or in a function body a Constant node, to fill in; returns it.
  ::onnx::TensorProto& new_constant(const std::string& name);

  google::protobuf::RepeatedPtrField<::onnx::NodeProto>& nodes_;
  google::protobuf::RepeatedPtrField<::onnx::TensorProto>* initializers_ = nullptr;  // or a body
  int64_t next_ = 0;
};

}  // namespace bp::onnx::detail
