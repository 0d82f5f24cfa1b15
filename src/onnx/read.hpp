// Reads an ONNX file and the pieces of its graph that import needs: tensors (initializers and
// Constant nodes) and node attributes, each checked before use. Internal to the ONNX import.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backprop/tensor.hpp"

namespace bp::onnx::detail {

// Largest ONNX file import reads (protobuf's own limit for one message).
inline constexpr uint64_t kMaxOnnxFileBytes = (uint64_t{1} << 31) - 1;

// Parses the file at `path`. Throws bp::Error naming the path when it cannot be read, is too large,
// does not parse as an ONNX model or has no graph.
::onnx::ModelProto read_model_file(const std::string& path);

// A name from the file as error messages show it: printable ASCII, other bytes as '?', at most 80
// characters.
std::string printable(const std::string& name);

// "node 'Conv_3' (Conv)", or "node #3 (Conv)" for a node without a name.
std::string describe(const ::onnx::NodeProto& node, size_t index);

// The constants of a graph by name: float tensors and int64 lists, from its initializers and its
// Constant nodes.
struct Constants {
  std::map<std::string, Tensor> floats;
  std::map<std::string, std::vector<int64_t>> ints;

  // Adds a tensor named `name`; throws bp::Error naming `what` on an unsupported element type,
  // external data, or data that does not fill its dimensions.
  void add(const std::string& name, const ::onnx::TensorProto& t, const std::string& what);
  // Adds the value of a Constant node.
  void add_node(const ::onnx::NodeProto& node, const std::string& what);
  const Tensor* tensor(const std::string& name) const;
  const std::vector<int64_t>* int64s(const std::string& name) const;
  // The value of a one-element float constant, if `name` is one.
  std::optional<float> scalar(const std::string& name) const;
};

// The attributes of one node, read by name; refuses the ones a handler does not know.
class Attributes {
 public:
  Attributes(const ::onnx::NodeProto& node, std::string what)
      : node_(node), what_(std::move(what)) {}
  // Throws bp::Error naming the node and the attribute when it has one not in `known`.
  void only(std::initializer_list<const char*> known) const;
  int64_t i(const char* name, int64_t fallback) const;
  float f(const char* name, float fallback) const;
  std::vector<int64_t> ints(const char* name, std::vector<int64_t> fallback) const;
  std::string s(const char* name, std::string fallback) const;

 private:
  const ::onnx::AttributeProto* find(const char* name,
                                     ::onnx::AttributeProto::AttributeType type) const;

  const ::onnx::NodeProto& node_;
  std::string what_;
};

}  // namespace bp::onnx::detail
