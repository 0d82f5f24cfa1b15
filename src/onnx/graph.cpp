#include "onnx/graph.hpp"

#include <fmt/format.h>

#include <cstring>

#include "onnx/functions.hpp"

namespace bp::onnx::detail {

namespace {

void set_attribute(::onnx::AttributeProto& a, const Attribute& attribute) {
  a.set_name(attribute.name);
  if (const auto* i = std::get_if<int64_t>(&attribute.value)) {
    a.set_type(::onnx::AttributeProto::INT);
    a.set_i(*i);
  } else if (const auto* f = std::get_if<float>(&attribute.value)) {
    a.set_type(::onnx::AttributeProto::FLOAT);
    a.set_f(*f);
  } else if (const auto* list = std::get_if<std::vector<int64_t>>(&attribute.value)) {
    a.set_type(::onnx::AttributeProto::INTS);
    for (int64_t v : *list) a.add_ints(v);
  } else if (const auto* s = std::get_if<std::string>(&attribute.value)) {
    a.set_type(::onnx::AttributeProto::STRING);
    a.set_s(*s);
  } else {
    a.set_type(::onnx::AttributeProto::STRINGS);
    for (const std::string& v : std::get<std::vector<std::string>>(attribute.value))
      a.add_strings(v);
  }
}

}  // namespace

std::string GraphWriter::fresh(const std::string& hint) {
  return fmt::format("{}_{}", hint, next_++);
}

::onnx::TensorProto& GraphWriter::new_constant(const std::string& name) {
  if (initializers_) {
    ::onnx::TensorProto& init = *initializers_->Add();
    init.set_name(name);
    return init;
  }
  ::onnx::NodeProto& n = add_node("Constant", {}, {name}, {});
  ::onnx::AttributeProto& value = *n.add_attribute();
  value.set_name("value");
  value.set_type(::onnx::AttributeProto::TENSOR);
  value.mutable_t()->set_name(name);
  return *value.mutable_t();
}

std::string GraphWriter::constant(const std::string& hint, const Tensor& values) {
  const Tensor& t = values;  // always contiguous
  ::onnx::TensorProto& init = new_constant(fresh(hint));
  init.set_data_type(::onnx::TensorProto::FLOAT);
  for (int64_t d : t.shape()) init.add_dims(d);
  // ONNX stores raw data little-endian, as this machine does.
  init.set_raw_data(std::string(reinterpret_cast<const char*>(t.data()),
                                static_cast<size_t>(t.numel()) * sizeof(float)));
  return init.name();
}

std::string GraphWriter::int64s(const std::string& hint, const std::vector<int64_t>& values) {
  ::onnx::TensorProto& init = new_constant(fresh(hint));
  init.set_data_type(::onnx::TensorProto::INT64);
  init.add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) init.add_int64_data(v);
  return init.name();
}

::onnx::NodeProto& GraphWriter::add_node(const std::string& op,
                                         const std::vector<std::string>& inputs,
                                         const std::vector<std::string>& outputs,
                                         std::initializer_list<Attribute> attributes) {
  ::onnx::NodeProto& n = *nodes_.Add();
  n.set_op_type(op);
  n.set_name(fresh(op));
  for (const std::string& in : inputs) n.add_input(in);
  for (const std::string& out : outputs) n.add_output(out);
  for (const Attribute& a : attributes) set_attribute(*n.add_attribute(), a);
  return n;
}

void GraphWriter::node_to(const std::string& output, const std::string& op,
                          const std::vector<std::string>& inputs,
                          std::initializer_list<Attribute> attributes) {
  add_node(op, inputs, {output}, attributes);
}

std::vector<std::string> GraphWriter::nodes(const std::string& op,
                                            const std::vector<std::string>& inputs, int outputs,
                                            std::initializer_list<Attribute> attributes) {
  std::vector<std::string> names;
  for (int k = 0; k < outputs; ++k) names.push_back(fresh(op + "_out"));
  add_node(op, inputs, names, attributes);
  return names;
}

std::string GraphWriter::call(const std::string& function, const std::vector<std::string>& inputs) {
  std::string output = fresh(function + "_out");
  add_node(function, inputs, {output}, {}).set_domain(kFunctionDomain);
  return output;
}

std::string GraphWriter::node(const std::string& op, const std::vector<std::string>& inputs,
                              std::initializer_list<Attribute> attributes) {
  std::string output = fresh(op + "_out");
  node_to(output, op, inputs, attributes);
  return output;
}

}  // namespace bp::onnx::detail
