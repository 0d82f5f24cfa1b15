// An ONNX graph as a Model: the inverse of export's mapping (docs/onnx.md). The graph must be one
// chain of values from its input to its output; each node (or short group of nodes, such as GELU's
// five) on it becomes one layer of the spec, its constants that layer's parameters.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "backprop/activation.hpp"
#include "backprop/error.hpp"
#include "backprop/onnx.hpp"
#include "backprop/transformer.hpp"
#include "onnx/functions.hpp"
#include "onnx/import_graph.hpp"

namespace bp::onnx::detail {

namespace {

using Node = ::onnx::NodeProto;
using Ints = std::vector<int64_t>;

// A float printed so that reading it back gives the same float.
std::string num(float v) {
  return fmt::format("{}", v);
}

// ", key=value" when value differs from its default, else nothing.
template <typename T>
std::string opt(const char* key, T value, T fallback) {
  return value == fallback ? "" : fmt::format(",{}={}", key, value);
}

// The one value of a list of equal values (a square kernel, equal strides), or -1.
int64_t same(const Ints& v) {
  for (int64_t x : v)
    if (x != v.front()) return -1;
  return v.empty() ? -1 : v.front();
}

}  // namespace

Importer::Importer(const ::onnx::GraphProto& graph, const Constants& constants,
                   const std::set<std::string>& functions, std::string input, Shape shape,
                   std::string what)
    : constants_(constants),
      input_(std::move(input)),
      shape_(std::move(shape)),
      what_(std::move(what)) {
  for (int i = 0; i < graph.node_size(); ++i) {
    const Node& n = graph.node(i);
    const std::string where = what_ + ": " + describe(n, static_cast<size_t>(i));
    const bool local = n.domain() == kFunctionDomain && functions.count(n.op_type()) > 0;
    BP_CHECK_AS(FormatError, n.domain().empty() || n.domain() == "ai.onnx" || local,
                "{}: operator of domain '{}' is not supported{}", where, printable(n.domain()),
                n.domain() == kFunctionDomain ? " (the model defines no such function)" : "");
    if (n.op_type() == "Constant") {
      constants_.add_node(n, where);
    } else {
      BP_CHECK_AS(FormatError, n.input_size() >= 1 && n.output_size() >= 1,
                  "{}: a node needs an input and an output", where);
      nodes_.push_back(&n);
      where_.push_back(where);
    }
  }
  chain_[input_] = {0, shape_};
  current_ = input_;
}

std::vector<Layer> Importer::run(const std::string& output) {
  for (size_t i = 0; i < nodes_.size();) {
    auto h = handlers().find(key(i));
    if (h == handlers().end()) refuse(i, "operator not supported by import");

    i += (this->*h->second)(i);
  }
  BP_CHECK_AS(FormatError, output == current_,
              "{}: the graph's output '{}' is not the end of the chain of layers from its input "
              "(that ends at '{}')",
              what_, printable(output), printable(current_));
  BP_CHECK_AS(FormatError, !layers_.empty(), "{}: the graph has no layers", what_);
  return std::move(layers_);
}

std::string Importer::key(size_t j) const {
  const Node& n = node(j);
  return n.domain() == kFunctionDomain ? n.domain() + "." + n.op_type() : n.op_type();
}

void Importer::refuse(size_t i, const std::string& why) const {
  fail_as<FormatError>("{}: {}", where_[i], why);
}

const std::string& Importer::x_of(size_t i, int k) const {
  const Node& n = node(i);
  if (n.input_size() <= k) refuse(i, fmt::format("has no input {}", k));
  const std::string& v = n.input(k);
  if (v == current_) return v;
  if (chain_.count(v))
    refuse(i, fmt::format("reads '{}', an earlier value of the chain", printable(v)));
  refuse(i, fmt::format("input {} ('{}') is not the output of the layer before", k, printable(v)));
}

const Tensor& Importer::constant(size_t i, int k, const char* role) const {
  const Node& n = node(i);
  const Tensor* t = n.input_size() > k ? constants_.tensor(n.input(k)) : nullptr;
  if (!t) refuse(i, fmt::format("its {} (input {}) is not a float constant", role, k));
  return *t;
}

const Tensor* Importer::optional_constant(size_t i, int k, const char* role) const {
  const Node& n = node(i);
  if (n.input_size() <= k || n.input(k).empty()) return nullptr;
  return &constant(i, k, role);
}

const std::string& Importer::input(size_t j, int k) const {
  static const std::string none;
  return k < node(j).input_size() ? node(j).input(k) : none;
}

bool Importer::is(size_t j, const char* op) const {
  return j < nodes_.size() && node(j).op_type() == op;
}

bool Importer::takes(size_t j, const std::string& a, const std::string& b) const {
  const Node& n = node(j);
  return n.input_size() == 2 &&
         ((n.input(0) == a && n.input(1) == b) || (n.input(0) == b && n.input(1) == a));
}

std::string Importer::other_input(size_t j, const std::string& known) const {
  const Node& n = node(j);
  if (n.input_size() != 2) return "";
  return n.input(0) == known ? n.input(1) : n.input(1) == known ? n.input(0) : "";
}

bool Importer::is_scalar(const std::string& name, float value, float tolerance) const {
  const std::optional<float> v = constants_.scalar(name);
  return v && std::abs(*v - value) <= tolerance;
}

size_t Importer::push(size_t first, size_t last, Layer layer) {
  const Shape out = check_layer(layer, shape_, first);
  layers_.push_back(std::move(layer));
  shape_ = out;
  current_ = node(last).output(0);
  chain_[current_] = {layers_.size(), shape_};
  return last - first + 1;
}

Shape Importer::check_layer(const Layer& layer, const Shape& in, size_t i) const {
  std::shared_ptr<nn::Sequential> built;
  try {
    Generator gen(0);
    built = nn::build_model(nn::parse_model_spec(layer.spec), in, gen);
  } catch (const Error& e) {
    refuse(i, fmt::format("as '{}': {}", layer.spec, e.what()));
  }
  auto check = [&](const auto& named, const std::vector<Tensor>& given, const char* what) {
    if (named.size() != given.size())
      refuse(i, fmt::format("as '{}': {} {}s, the layer has {}", layer.spec, given.size(), what,
                            named.size()));
    for (size_t k = 0; k < named.size(); ++k)
      if (named[k].second.shape() != given[k].shape())
        refuse(i, fmt::format("as '{}': its {} has shape {}, the layer needs {}", layer.spec,
                              named[k].first, to_string(given[k].shape()),
                              to_string(named[k].second.shape())));
  };
  check(built->named_parameters(), layer.parameters, "parameter");
  check(built->named_buffers(), layer.buffers, "buffer");
  return built->output_shape(in);
}

// ---- one handler per operator that starts a layer ----

size_t Importer::gemm(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"alpha", "beta", "transA", "transB"});
  x_of(i, 0);
  if (a.f("alpha", 1) != 1 || a.f("beta", 1) != 1 || a.i("transA", 0) != 0)
    refuse(i, "only alpha = beta = 1 and transA = 0 are supported");
  Tensor w = constant(i, 1, "weight");
  if (w.dim() != 2) refuse(i, "its weight is not a matrix");
  if (a.i("transB", 0) == 0) w = transpose(w);  // ours is (out, in)
  const Tensor* b = optional_constant(i, 2, "bias");
  if (b && b->dim() != 1) refuse(i, "its bias is not a vector");
  Layer l{fmt::format("dense({}{})", w.shape()[0], b ? "" : ",bias=false"), {w}, {}};
  if (b) l.parameters.push_back(*b);
  return push(i, i, std::move(l));
}

// MatMul with a constant (in, out), then optionally Add of a constant (out): dense on the last
// axis.
size_t Importer::matmul(size_t i) {
  Attributes(node(i), where_[i]).only({});
  x_of(i, 0);
  const Tensor& w = constant(i, 1, "weight");
  if (w.dim() != 2) refuse(i, "its weight is not a matrix");
  const std::string& y = node(i).output(0);
  const bool bias = is(i + 1, "Add") && constants_.tensor(other_input(i + 1, y));
  Layer l{fmt::format("dense({}{})", w.shape()[1], bias ? "" : ",bias=false"), {transpose(w)}, {}};
  if (bias) l.parameters.push_back(*constants_.tensor(other_input(i + 1, y)));
  return push(i, bias ? i + 1 : i, std::move(l));
}

size_t Importer::simple_activation(size_t i) {
  const std::string& op = node(i).op_type();
  Attributes a(node(i), where_[i]);
  x_of(i, 0);
  std::string spec;
  if (op == "Relu" || op == "Tanh" || op == "HardSwish") {
    a.only({});
    spec = op == "Relu" ? "relu" : op == "Tanh" ? "tanh" : "hardswish";
  } else if (op == "Selu") {
    a.only({"alpha", "gamma"});
    if (std::abs(a.f("alpha", 1.67326319f) - 1.67326319f) > 1e-6f ||
        std::abs(a.f("gamma", 1.05070102f) - 1.05070102f) > 1e-6f)
      refuse(i, "only the standard alpha and gamma are supported");
    spec = "selu";
  } else {  // LeakyRelu, Elu: one parameter, alpha
    a.only({"alpha"});
    const bool leaky = op == "LeakyRelu";
    const float fallback =
        leaky ? activation::leaky_relu::default_parameter : activation::elu::default_parameter;
    const float alpha = a.f("alpha", leaky ? 0.01f : 1.0f);
    spec = leaky ? "leaky_relu" : "elu";
    if (alpha != fallback) spec += "(" + num(alpha) + ")";
  }
  return push(i, i, {spec, {}, {}});
}

// Sigmoid, or SiLU: Sigmoid(x) then Mul(x, that).
size_t Importer::sigmoid(size_t i) {
  Attributes(node(i), where_[i]).only({});
  const std::string x = x_of(i, 0);
  if (is(i + 1, "Mul") && takes(i + 1, x, node(i).output(0))) return push(i, i + 1, {"silu"});
  return push(i, i, {"sigmoid"});
}

// HardSwish before opset 14: HardSigmoid(x) with alpha 1/6 and beta 1/2, then Mul(x, that).
size_t Importer::hard_sigmoid(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"alpha", "beta"});
  const std::string x = x_of(i, 0);
  if (std::abs(a.f("alpha", 0.2f) - 1.0f / 6.0f) <= 1e-6f && a.f("beta", 0.5f) == 0.5f &&
      is(i + 1, "Mul") && takes(i + 1, x, node(i).output(0)))
    return push(i, i + 1, {"hardswish"});
  refuse(i, "a HardSigmoid is supported only as part of hardswish");
}

// Softplus, or Mish: Softplus(x), Tanh, Mul(x, that).
size_t Importer::softplus(size_t i) {
  Attributes(node(i), where_[i]).only({});
  const std::string x = x_of(i, 0);
  const std::string& sp = node(i).output(0);
  if (is(i + 1, "Tanh") && input(i + 1, 0) == sp && is(i + 2, "Mul") &&
      takes(i + 2, x, node(i + 1).output(0)))
    return push(i, i + 2, {"mish"});
  return push(i, i, {"softplus"});
}

// Softplus with beta: Mul(x, beta), Softplus, Div by beta.
size_t Importer::mul(size_t i) {
  Attributes(node(i), where_[i]).only({});
  const std::string x = x_of(i, 0);
  const std::optional<float> beta = constants_.scalar(other_input(i, x));
  if (beta && is(i + 1, "Softplus") && input(i + 1, 0) == node(i).output(0) && is(i + 2, "Div") &&
      input(i + 2, 0) == node(i + 1).output(0) && is_scalar(input(i + 2, 1), *beta, 0.0f))
    return push(i, i + 2, {"softplus(" + num(*beta) + ")"});
  refuse(i, "a Mul is supported only as part of softplus(beta), silu, mish or gelu");
}

// GELU, x·(1 + erf(x/√2))/2: Div(x, √2), Erf, Add 1, then Mul by ½ and Mul by x in either order.
size_t Importer::div(size_t i) {
  Attributes(node(i), where_[i]).only({});
  const std::string x = x_of(i, 0);
  const auto out = [&](size_t j) -> const std::string& { return node(j).output(0); };
  const bool head = node(i).input_size() == 2 && is_scalar(input(i, 1), std::sqrt(2.0f), 1e-6f) &&
                    is(i + 1, "Erf") && input(i + 1, 0) == out(i) && is(i + 2, "Add") &&
                    is_scalar(other_input(i + 2, out(i + 1)), 1.0f, 0.0f) && is(i + 3, "Mul") &&
                    is(i + 4, "Mul");
  if (head) {
    const std::string a = other_input(i + 3, out(i + 2)), b = other_input(i + 4, out(i + 3));
    if ((a == x && is_scalar(b, 0.5f, 0.0f)) || (b == x && is_scalar(a, 0.5f, 0.0f)))
      return push(i, i + 4, {"gelu"});
  }
  refuse(i, "a Div is supported only as part of gelu, softplus(beta) or the input normalisation");
}

size_t Importer::softmax(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"axis"});
  x_of(i, 0);
  const int64_t axis = a.i("axis", -1);
  if (axis != -1 && axis != static_cast<int64_t>(shape_.size()))
    refuse(i, "only the last axis is supported");
  return push(i, i, {node(i).op_type() == "Softmax" ? "softmax" : "log_softmax"});
}

size_t Importer::conv(size_t i) {
  const bool transposed = node(i).op_type() == "ConvTranspose";
  Attributes a(node(i), where_[i]);
  if (transposed)
    a.only({"auto_pad", "dilations", "group", "kernel_shape", "output_padding", "pads", "strides"});
  else
    a.only({"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"});
  x_of(i, 0);
  if (a.s("auto_pad", "NOTSET") != "NOTSET") refuse(i, "only auto_pad = NOTSET is supported");
  const Tensor& w = constant(i, 1, "weight");
  if (w.dim() != 4 || w.shape()[2] != w.shape()[3])
    refuse(i, "only 2-D convolutions with a square kernel are supported");
  const int64_t k = w.shape()[2], group = a.i("group", 1);
  const int64_t stride = same(a.ints("strides", {1, 1})),
                dilation = same(a.ints("dilations", {1, 1}));
  const int64_t pad = same(a.ints("pads", {0, 0, 0, 0}));
  const int64_t out_pad = transposed ? same(a.ints("output_padding", {0, 0})) : 0;
  if (a.ints("kernel_shape", {k, k}) != Ints{k, k} || stride < 0 || dilation < 0 || pad < 0 ||
      out_pad < 0)
    refuse(i, "only equal strides, dilations and pads on both axes and sides are supported");
  const Tensor* b = optional_constant(i, 2, "bias");
  const int64_t filters = transposed ? w.shape()[1] * group : w.shape()[0];
  const std::string spec =
      fmt::format("{}({},{}{}{}{}{}{}{})", transposed ? "conv_transpose" : "conv", filters, k,
                  opt("stride", stride, int64_t{1}), opt("pad", pad, int64_t{0}),
                  opt("output_pad", out_pad, int64_t{0}), opt("dilation", dilation, int64_t{1}),
                  opt("groups", group, int64_t{1}), b ? "" : ",bias=false");
  Layer l{spec, {w}, {}};
  if (b) l.parameters.push_back(*b);
  return push(i, i, std::move(l));
}

size_t Importer::pool(size_t i) {
  const bool max = node(i).op_type() == "MaxPool";
  Attributes a(node(i), where_[i]);
  if (max)
    a.only(
        {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"});
  else
    a.only({"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"});
  x_of(i, 0);
  if (node(i).output_size() > 1 && !node(i).output(1).empty())
    refuse(i, "the indices output is not supported");
  const int64_t k = same(a.ints("kernel_shape", {})), stride = same(a.ints("strides", {1, 1}));
  const int64_t pad = same(a.ints("pads", {0, 0, 0, 0}));
  if (a.s("auto_pad", "NOTSET") != "NOTSET" || a.i("ceil_mode", 0) != 0 ||
      same(a.ints("dilations", {1, 1})) != 1 || a.i("storage_order", 0) != 0)
    refuse(i, "only auto_pad = NOTSET, ceil_mode = 0 and no dilation are supported");
  if (k < 1 || stride < 1 || pad < 0)
    refuse(i, "only square kernels with equal strides and pads on both axes are supported");
  if (!max && pad > 0 && a.i("count_include_pad", 0) == 0)
    refuse(i, "padding is supported only with count_include_pad = 1");
  const std::string spec = fmt::format("{}({}{}{})", max ? "maxpool" : "avgpool", k,
                                       opt("stride", stride, k), opt("pad", pad, int64_t{0}));
  return push(i, i, {spec});
}

// GlobalAveragePool (N, C, 1, 1), usually flattened next: global_avgpool gives (N, C) at once.
size_t Importer::global_pool(size_t i) {
  Attributes(node(i), where_[i]).only({});
  x_of(i, 0);
  const std::string& y = node(i).output(0);
  if (is(i + 1, "Flatten") && input(i + 1, 0) == y &&
      Attributes(node(i + 1), where_[i + 1]).i("axis", 1) == 1)
    return push(i, i + 1, {"global_avgpool"});
  push(i, i, {"global_avgpool"});
  return push(i, i, {fmt::format("reshape({},1,1)", shape_.at(0))});
}

size_t Importer::batch_norm(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"epsilon", "momentum", "training_mode"});
  x_of(i, 0);
  if (a.i("training_mode", 0) != 0 || node(i).output_size() > 1)
    refuse(i, "only the inference form (training_mode = 0, one output) is supported");
  const float eps = a.f("epsilon", 1e-5f), momentum = 1.0f - a.f("momentum", 0.9f);
  std::string args = opt("eps", num(eps), num(1e-5f));
  if (std::abs(momentum - 0.1f) > 1e-6f) args = fmt::format(",momentum={:.6g}", momentum) + args;
  const std::string spec = args.empty() ? "batchnorm" : "batchnorm(" + args.substr(1) + ")";
  return push(i, i,
              {spec,
               {constant(i, 1, "scale"), constant(i, 2, "bias")},
               {constant(i, 3, "mean"), constant(i, 4, "variance")}});
}

// LayerNormalization over every axis of a sample: ours normalises whole samples.
size_t Importer::layer_norm(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"axis", "epsilon", "stash_type"});
  x_of(i, 0);
  const auto rank = static_cast<int64_t>(shape_.size()) + 1;
  const int64_t axis = a.i("axis", -1);
  if ((axis < 0 ? axis + rank : axis) != 1)
    refuse(i,
           fmt::format("only normalisation over all {} axes of a sample is supported", rank - 1));
  for (int k = 1; k < node(i).output_size(); ++k)
    if (!node(i).output(k).empty()) refuse(i, "the mean and deviation outputs are not supported");
  const Tensor& scale = constant(i, 1, "scale");
  const Tensor* b = optional_constant(i, 2, "bias");
  const float eps = a.f("epsilon", 1e-5f);
  const std::string spec = eps == 1e-5f ? "layernorm" : "layernorm(eps=" + num(eps) + ")";
  return push(i, i, {spec, {scale, b ? *b : Tensor::zeros(scale.shape())}, {}});
}

size_t Importer::dropout(size_t i) {
  Attributes(node(i), where_[i]).only({"seed"});
  x_of(i, 0);
  const Node& n = node(i);
  if (n.input_size() > 2 && !n.input(2).empty())
    refuse(i, "a training_mode input is not supported");
  const std::optional<float> ratio = constants_.scalar(input(i, 1));
  if (optional_constant(i, 1, "ratio") && !ratio) refuse(i, "its ratio is not one value");
  const float p = ratio.value_or(0.5f);
  return push(i, i, {p == 0.5f ? "dropout" : "dropout(" + num(p) + ")"});
}

size_t Importer::flatten(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"axis"});
  x_of(i, 0);
  if (a.i("axis", 1) != 1) refuse(i, "only axis = 1 is supported");
  return push(i, i, {"flatten"});
}

// Reshape to a constant shape that keeps the batch: its first entry 0 or -1.
size_t Importer::reshape(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"allowzero"});
  x_of(i, 0);
  const Ints* target = node(i).input_size() > 1 ? constants_.int64s(input(i, 1)) : nullptr;
  if (!target || target->empty() || (target->front() != 0 && target->front() != -1))
    refuse(i, "only a constant shape whose first entry is 0 or -1 (the batch) is supported");
  Ints dims(target->begin() + 1, target->end());
  int64_t known = 1, unknown = -1;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 0 && a.i("allowzero", 0) == 0 && k < shape_.size()) dims[k] = shape_[k];
    if (dims[k] == -1 && unknown < 0 && target->front() == 0)
      unknown = static_cast<int64_t>(k);
    else if (dims[k] > 0)
      known *= dims[k];
    else
      refuse(i, "its shape has entries that are not positive");
  }
  if (unknown >= 0) dims[static_cast<size_t>(unknown)] = numel(shape_) / known;
  return push(i, i, {fmt::format("reshape({})", fmt::join(dims, ","))});
}

size_t Importer::transpose_node(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"perm"});
  x_of(i, 0);
  const Ints perm = a.ints("perm", {});
  const size_t next = skip_state(i + 1);
  if (perm == Ints{1, 0, 2} && (is(next, "RNN") || is(next, "LSTM") || is(next, "GRU")))
    return recurrent(i);
  if (perm.empty() || perm.front() != 0)
    refuse(i, "only permutations that keep the batch axis first are supported");
  Ints order;
  for (size_t k = 1; k < perm.size(); ++k) order.push_back(perm[k] - 1);
  return push(i, i, {fmt::format("permute({})", fmt::join(order, ","))});
}

namespace {

// Our gate order from ONNX's (the inverse of export's gate_blocks): ONNX's block k of `h` rows of
// the (1, rows, cols) `t`, starting at row `first` of each block group, goes to our block order[k].
Tensor our_gates(const Tensor& t, const std::vector<int>& order, int64_t h, int64_t part = 0) {
  const int64_t cols = t.dim() == 3 ? t.shape()[2] : 1;
  const auto gates = static_cast<int64_t>(order.size());
  std::vector<float> out(static_cast<size_t>(gates * h * cols));
  for (int64_t k = 0; k < gates; ++k) {
    const float* from = t.data() + (part * gates + k) * h * cols;
    std::copy(from, from + h * cols, out.begin() + order[static_cast<size_t>(k)] * h * cols);
  }
  return Tensor::from_data(out, t.dim() == 2 ? Shape{gates * h} : Shape{gates * h, cols});
}

}  // namespace

// A recurrent stack as export writes it: Transpose to (seq, batch, features); per layer an RNN,
// LSTM or GRU node and a Squeeze of its direction axis; then Transpose back (every step) or the
// Squeeze of the last layer's Y_h (the last step).
size_t Importer::recurrent(size_t i) {
  size_t j = skip_state(i + 1);
  const std::string op = node(j).op_type();
  const bool lstm = op == "LSTM", gru = op == "GRU";
  const std::vector<int> order = lstm  ? std::vector<int>{0, 3, 1, 2}
                                 : gru ? std::vector<int>{1, 0, 2}
                                       : std::vector<int>{0};
  if (shape_.size() != 2) refuse(i, "a recurrent layer needs samples of shape (seq, features)");
  std::string seq = node(i).output(0), first_activation;
  Layer layer;
  int64_t h = 0, layers = 0;
  size_t cell = j;
  for (; is(j, op.c_str()) && input(j, 0) == seq; j = skip_state(j + 2), ++layers) {
    cell = j;
    const std::string activation = recurrent_cell(j, gru);
    if (layers == 0) first_activation = activation;
    if (activation != first_activation)
      refuse(j, "every layer of a stack needs the same activation");
    const Tensor& w = constant(j, 1, "W");
    const Tensor& r = constant(j, 2, "R");
    const Tensor& b = constant(j, 3, "B");
    h = r.dim() == 3 ? r.shape()[2] : 0;
    if (w.dim() != 3 || b.dim() != 2 || h < 1)
      refuse(j, "its W, R and B do not have ONNX's shapes");
    for (const Tensor& t : {our_gates(w, order, h), our_gates(r, order, h),
                            our_gates(b, order, h, 0), our_gates(b, order, h, 1)})
      layer.parameters.push_back(t);
    if (!is(j + 1, "Squeeze") || input(j + 1, 0) != node(j).output(0) ||
        !constants_.int64s(input(j + 1, 1)) || *constants_.int64s(input(j + 1, 1)) != Ints{1})
      refuse(j, "its Y must be squeezed on axis 1, as export writes it");
    seq = node(j + 1).output(0);
  }
  if (layers == 0) refuse(i + 1, "its input is not the Transpose before it");
  const std::string y_h = node(cell).output_size() > 1 ? node(cell).output(1) : "";
  bool sequences = is(j, "Transpose") && input(j, 0) == seq;
  if (!sequences && !(is(j, "Squeeze") && input(j, 0) == y_h))
    refuse(cell, "the stack must end in a Transpose of Y or a Squeeze of Y_h, as export writes it");
  if (sequences && last_step(j + 1, node(j).output(0))) {  // PyTorch's y[:, -1]
    sequences = false;
    ++j;
  }
  layer.spec = fmt::format("{}({}{}{}{})",
                           lstm  ? "lstm"
                           : gru ? "gru"
                                 : "rnn",
                           h, opt("layers", layers, int64_t{1}), sequences ? ",sequences=true" : "",
                           first_activation == "Relu" ? ",nonlinearity=relu" : "");
  return push(i, j, std::move(layer));
}

// The zeros PyTorch computes for a recurrent layer's initial state: Shape of a value of the chain,
// Gather, Unsqueeze and Concat with constants (the state's shape), ConstantOfShape of 0. They add
// no layer: a state of zeros is what ours start from.
size_t Importer::state_shape(size_t i) {
  const Node& n = node(i);
  const std::string& op = n.op_type();
  auto shape_or_constant = [&](const std::string& v) {
    return shapes_.count(v) > 0 || constants_.int64s(v) != nullptr;
  };
  bool ok = n.input_size() >= 1 && n.output_size() == 1;
  if (op == "Shape") {
    Attributes(n, where_[i]).only({});
    ok = ok && chain_.count(n.input(0)) > 0;
  } else if (op == "Slice") {  // part of a zero state is zeros
    for (const std::string& v : n.input()) ok = ok && (v == n.input(0) || constants_.int64s(v));
    ok = ok && zeros_.count(n.input(0)) > 0;
    if (ok) zeros_.insert(n.output(0));
    if (ok) return 1;
  } else if (op == "ConstantOfShape") {
    ok = ok && shapes_.count(n.input(0)) > 0;
    for (const auto& a : n.attribute()) {
      Constants value;
      if (a.name() == "value" && a.has_t()) value.add("value", a.t(), where_[i]);
      const Tensor* t = value.tensor("value");
      ok = ok && t && t->numel() == 1 && t->data()[0] == 0.0f;
    }
    if (ok) zeros_.insert(n.output(0));
    if (ok) return 1;
  } else {  // Gather, Unsqueeze, Concat on shapes and int64 constants
    for (const std::string& v : n.input()) ok = ok && shape_or_constant(v);
    ok = ok && shapes_.count(n.input(0)) + (op == "Concat" ? 1 : 0) > 0;
  }
  if (!ok)
    refuse(i, fmt::format("a {} is supported only in the zero initial state of a recurrent layer",
                          op));
  shapes_.insert(n.output(0));
  return 1;
}

bool Importer::is_state(size_t j) const {
  if (j >= nodes_.size()) return false;
  const std::string& op = node(j).op_type();
  return op == "Shape" || op == "Unsqueeze" || op == "Concat" || op == "ConstantOfShape" ||
         (op == "Slice" && zeros_.count(input(j, 0))) ||
         (op == "Gather" && shapes_.count(input(j, 0)));
}

size_t Importer::skip_state(size_t j) {
  while (is_state(j)) j += state_shape(j);
  return j;
}

// Whether node j is a Gather of the last step of the (batch, seq, h) value `y`.
bool Importer::last_step(size_t j, const std::string& y) const {
  if (!is(j, "Gather") || node(j).input_size() != 2 || input(j, 0) != y) return false;
  const Ints* index = constants_.int64s(input(j, 1));
  return Attributes(node(j), where_[j]).i("axis", 0) == 1 && index && index->size() == 1 &&
         (index->front() == -1 || index->front() == shape_.at(0) - 1);
}

// The attributes of one RNN, LSTM or GRU node that export writes; returns its activation.
std::string Importer::recurrent_cell(size_t j, bool gru) {
  Attributes a(node(j), where_[j]);
  a.only({"hidden_size", "activations", "linear_before_reset", "direction", "layout"});
  const Node& n = node(j);
  for (int k = 4; k < n.input_size(); ++k)
    if (!n.input(k).empty() && (k == 4 || !zeros_.count(n.input(k))))
      refuse(j, "sequence lengths and initial states other than zeros are not supported");
  if (a.s("direction", "forward") != "forward" || a.i("layout", 0) != 0 ||
      a.i("linear_before_reset", gru ? 1 : 0) != (gru ? 1 : 0))
    refuse(j, "only forward, time-first cells (GRU with linear_before_reset = 1) are supported");
  const auto* list = [&]() -> const ::onnx::AttributeProto* {
    for (const auto& at : n.attribute())
      if (at.name() == "activations") return &at;
    return nullptr;
  }();
  if (!list) return "Tanh";
  if (n.op_type() != "RNN" || list->strings_size() != 1 ||
      (list->strings(0) != "Tanh" && list->strings(0) != "Relu"))
    refuse(j, "only the default activations (an RNN's Tanh or Relu) are supported");
  return list->strings(0);
}

Tensor Importer::weight_t(size_t i, int k, const char* role) const {
  const Tensor& w = constant(i, k, role);
  if (w.dim() != 2) refuse(i, fmt::format("its {} (input {}) is not a matrix", role, k));
  return transpose(w);
}

// Export's attention arguments: the four projections, the heads' shape (0, 0, heads, d) with
// heads·d the sample's dim, the scale 1/√d and the mask, zeros or nn::causal_mask.
Importer::AttentionSettings Importer::attention_args(size_t i, int first,
                                                     std::vector<Tensor>& parameters) const {
  const char* roles[] = {"W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o"};
  for (int k = 0; k < 8; k += 2) {
    parameters.push_back(weight_t(i, first + k, roles[k]));
    parameters.push_back(constant(i, first + k + 1, roles[k + 1]));
  }
  if (shape_.size() != 2) refuse(i, "attention needs samples of shape (seq, dim)");
  const int64_t seq = shape_[0], dim = shape_[1];
  const Ints* heads = constants_.int64s(input(i, first + 8));
  if (!heads || heads->size() != 4 || (*heads)[0] != 0 || (*heads)[1] != 0 || (*heads)[2] < 1 ||
      dim % (*heads)[2] != 0 || (*heads)[3] != dim / (*heads)[2])
    refuse(i, fmt::format("its heads (input {}) is not the shape (0, 0, heads, {} / heads)",
                          first + 8, dim));
  const std::optional<float> scale = constants_.scalar(input(i, first + 9));
  if (!scale || *scale != attention_scale((*heads)[3]))
    refuse(i, fmt::format("its scale (input {}) is not 1/sqrt({})", first + 9, (*heads)[3]));
  const Tensor& mask = constant(i, first + 10, "mask");
  const Tensor causal = nn::causal_mask(seq);
  const bool is_causal = mask.shape() == causal.shape() &&
                         std::equal(causal.data(), causal.data() + causal.numel(), mask.data());
  if (!is_causal && !(mask.dim() == 0 && mask.data()[0] == 0.0f))
    refuse(i,
           fmt::format("its mask (input {}) is neither a scalar 0 nor the causal mask of ({}, {})",
                       first + 10, seq, seq));
  return {(*heads)[2], is_causal};
}

// A call of export's MultiheadAttention function.
size_t Importer::attention(size_t i) {
  Attributes(node(i), where_[i]).only({});
  x_of(i, 0);
  if (node(i).input_size() != kAttentionInputs)
    refuse(i,
           fmt::format("has {} inputs, the function {}", node(i).input_size(), kAttentionInputs));
  Layer l;
  const auto [heads, causal] = attention_args(i, 1, l.parameters);
  l.spec = fmt::format("attention({}{})", heads, causal ? ",causal=true" : "");
  return push(i, i, std::move(l));
}

// A call of export's TransformerBlock function: the layer norms around attention and the MLP.
size_t Importer::transformer(size_t i) {
  Attributes(node(i), where_[i]).only({});
  x_of(i, 0);
  if (node(i).input_size() != kTransformerInputs)
    refuse(i,
           fmt::format("has {} inputs, the function {}", node(i).input_size(), kTransformerInputs));
  Layer l;
  l.parameters = {constant(i, 1, "ln1_scale"), constant(i, 2, "ln1_bias")};
  const auto [heads, causal] = attention_args(i, 3, l.parameters);
  const std::optional<float> ratio = constants_.scalar(input(i, 14));
  if (!ratio) refuse(i, "its ratio (input 14) is not one float");
  const Tensor w1 = weight_t(i, 17, "W_1");
  l.parameters.insert(l.parameters.end(),
                      {constant(i, 15, "ln2_scale"), constant(i, 16, "ln2_bias"), w1,
                       constant(i, 18, "b_1"), weight_t(i, 19, "W_2"), constant(i, 20, "b_2")});
  l.spec =
      fmt::format("transformer({},{}{}{})", heads, w1.shape()[0],
                  *ratio == 0.1f ? "" : ",dropout=" + num(*ratio), causal ? "" : ",causal=false");
  return push(i, i, std::move(l));
}

// Embedding: Cast of the ids to int64, then Gather from a constant table along axis 0.
size_t Importer::cast(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"to", "saturate"});
  x_of(i, 0);
  const std::string& ids = node(i).output(0);
  if (a.i("to", 0) != ::onnx::TensorProto::INT64 || !is(i + 1, "Gather") ||
      node(i + 1).input_size() != 2 || input(i + 1, 1) != ids ||
      Attributes(node(i + 1), where_[i + 1]).i("axis", 0) != 0)
    refuse(i, "a Cast is supported only as the ids of an embedding (Cast to int64, Gather)");
  const Tensor& table = constant(i + 1, 0, "table");
  if (table.dim() != 2) refuse(i + 1, "its table is not a matrix");
  return push(i, i + 1,
              {fmt::format("embedding({},{})", table.shape()[0], table.shape()[1]), {table}, {}});
}

// Add of a constant of the sample's shape: a positional encoding, fixed when it holds the sines.
size_t Importer::positional(size_t i, const Tensor& table) {
  if (shape_.size() != 2) refuse(i, "an Add of a constant is supported only on (seq, dim) samples");
  Generator gen(0);
  nn::PositionalEncoding sines(
      {.max_len = shape_[0], .dim = shape_[1], .kind = nn::PositionKind::sinusoidal}, gen);
  NoGradGuard no_grad;
  const Tensor p = sines.forward(Tensor::zeros({1, shape_[0], shape_[1]}));  // the sines
  const bool fixed = std::equal(table.data(), table.data() + table.numel(), p.data());
  if (fixed) return push(i, i, {"positional(kind=sinusoidal)"});
  return push(i, i, {"positional", {table}});
}

// Add of an earlier value of the chain and the current one: the layers between are a residual.
size_t Importer::add(size_t i) {
  Attributes(node(i), where_[i]).only({});
  const Tensor* table = constants_.tensor(other_input(i, current_));
  if (table && table->shape() == shape_) return positional(i, *table);
  const std::string& skip = other_input(i, current_);
  auto earlier = chain_.find(skip);
  if (skip.empty() || skip == current_ || earlier == chain_.end())
    refuse(i, "an Add is supported only after MatMul (a bias) or around layers (a residual)");
  const auto [start, in] = earlier->second;
  if (start >= layers_.size() || in != shape_)
    refuse(i, "the layers it goes around change the shape, which a residual must keep");
  Layer r{"", {}, {}};
  std::vector<std::string> inner;
  for (size_t k = start; k < layers_.size(); ++k) {
    inner.push_back(layers_[k].spec);
    r.parameters.insert(r.parameters.end(), layers_[k].parameters.begin(),
                        layers_[k].parameters.end());
    r.buffers.insert(r.buffers.end(), layers_[k].buffers.begin(), layers_[k].buffers.end());
  }
  r.spec = fmt::format("residual({})", fmt::join(inner, ","));
  layers_.resize(start);
  shape_ = in;
  return push(i, i, std::move(r));
}

// The input normalisation (x - offset) / scale: Sub then Div by constants, first in the graph.
size_t Importer::sub(size_t i) {
  Attributes(node(i), where_[i]).only({});
  x_of(i, 0);
  if (!layers_.empty() || current_ != input_ || normalisation_ || !is(i + 1, "Div") ||
      input(i + 1, 0) != node(i).output(0))
    refuse(i, "a Sub is supported only as the input normalisation (Sub, Div) at the start");
  const Tensor& offset = constant(i, 1, "offset");
  const Tensor& scale = constant(i + 1, 1, "scale");
  for (const Tensor* t : {&offset, &scale})
    if (t->numel() != 1 && t->shape() != shape_)
      refuse(i, fmt::format("its statistics have shape {}; the input normalisation needs one "
                            "value or one per value of a sample {}",
                            to_string(t->shape()), to_string(shape_)));
  normalisation_ = {offset, scale};
  current_ = node(i + 1).output(0);
  chain_[current_] = {0, shape_};
  return 2;
}

// A Pad that adds nothing (PyTorch writes one before an AveragePool): the identity.
size_t Importer::pad(size_t i) {
  Attributes a(node(i), where_[i]);
  a.only({"mode"});
  x_of(i, 0);
  const Ints* pads = node(i).input_size() > 1 ? constants_.int64s(input(i, 1)) : nullptr;
  if (!pads || std::any_of(pads->begin(), pads->end(), [](int64_t p) { return p != 0; }) ||
      (node(i).input_size() > 3 && !input(i, 3).empty()))
    refuse(i, "only a Pad that adds nothing is supported (padding belongs to the next layer)");
  return identity_of(i);
}

size_t Importer::identity(size_t i) {
  Attributes(node(i), where_[i]).only({});
  x_of(i, 0);
  return identity_of(i);
}

size_t Importer::identity_of(size_t i) {
  current_ = node(i).output(0);
  chain_[current_] = {layers_.size(), shape_};
  return 1;
}

const std::map<std::string, Importer::Handler>& Importer::handlers() {
  static const std::map<std::string, Handler> table{
      {"Gemm", &Importer::gemm},
      {"MatMul", &Importer::matmul},
      {"Relu", &Importer::simple_activation},
      {"Tanh", &Importer::simple_activation},
      {"HardSwish", &Importer::simple_activation},
      {"Selu", &Importer::simple_activation},
      {"LeakyRelu", &Importer::simple_activation},
      {"Elu", &Importer::simple_activation},
      {"Sigmoid", &Importer::sigmoid},
      {"HardSigmoid", &Importer::hard_sigmoid},
      {"Softplus", &Importer::softplus},
      {"Mul", &Importer::mul},
      {"Div", &Importer::div},
      {"Softmax", &Importer::softmax},
      {"LogSoftmax", &Importer::softmax},
      {"Conv", &Importer::conv},
      {"ConvTranspose", &Importer::conv},
      {"MaxPool", &Importer::pool},
      {"AveragePool", &Importer::pool},
      {"GlobalAveragePool", &Importer::global_pool},
      {"BatchNormalization", &Importer::batch_norm},
      {"LayerNormalization", &Importer::layer_norm},
      {"Dropout", &Importer::dropout},
      {"Flatten", &Importer::flatten},
      {"Reshape", &Importer::reshape},
      {"Transpose", &Importer::transpose_node},
      {"Cast", &Importer::cast},
      {std::string(kFunctionDomain) + "." + kAttention, &Importer::attention},
      {std::string(kFunctionDomain) + "." + kTransformer, &Importer::transformer},
      {"Add", &Importer::add},
      {"Sub", &Importer::sub},
      {"Identity", &Importer::identity},
      {"Pad", &Importer::pad},
      {"Shape", &Importer::state_shape},
      {"Gather", &Importer::state_shape},
      {"Unsqueeze", &Importer::state_shape},
      {"Concat", &Importer::state_shape},
      {"ConstantOfShape", &Importer::state_shape},
      {"Slice", &Importer::state_shape},
  };
  return table;
}

}  // namespace bp::onnx::detail
