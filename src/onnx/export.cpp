// A Model as an ONNX graph: the normalisation, then one group of nodes per layer, in evaluation
// form. The mapping is listed in docs/onnx.md.
#include "backprop/onnx.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

#include "backprop/conv.hpp"
#include "backprop/error.hpp"
#include "backprop/io.hpp"
#include "backprop/norm.hpp"
#include "backprop/recurrent.hpp"
#include "backprop/transformer.hpp"
#include "backprop/version.hpp"
#include "onnx/functions.hpp"
#include "onnx/graph.hpp"

namespace bp::onnx {

namespace {

using detail::GraphWriter;
using Ints = std::vector<int64_t>;

// The layers of a Sequential, each mapped to nodes on the value `x` with sample shape `in`.
class Exporter {
 public:
  explicit Exporter(GraphWriter& g) : g_(g) {}

  std::string sequence(const nn::Sequential& net, std::string x, Shape in, const std::string& path);
  // The model-local functions the nodes call (onnx/functions.hpp).
  const std::set<std::string>& functions() const { return functions_; }

 private:
  std::string layer(nn::Module& m, const std::string& x, const Shape& in, const std::string& path);
  std::string activation(const nn::Activation& a, const std::string& x);
  std::string dense(nn::Linear& m, const std::string& x, const Shape& in);
  std::string conv(nn::Conv2d& m, const std::string& x);
  std::string conv_transpose(nn::ConvTranspose2d& m, const std::string& x);
  std::string batch_norm(nn::BatchNorm& m, const std::string& x);
  std::string layer_norm(nn::LayerNorm& m, const std::string& x);
  std::string recurrent(nn::RecurrentBase& m, const std::string& x);
  std::vector<std::string> attention_args(nn::MultiheadAttention& m, int64_t seq);
  std::string attention(nn::MultiheadAttention& m, const std::string& x, const Shape& in);
  std::string transformer(nn::TransformerBlock& m, const std::string& x, const Shape& in);
  std::string parameter_or(const Tensor& t, const Shape& shape, float fill, const char* hint);

  GraphWriter& g_;
  std::set<std::string> functions_;
};

Ints pads(Size2d p) {
  return {p.h, p.w, p.h, p.w};
}
Ints pair(Size2d s) {
  return {s.h, s.w};
}

// P[:seq] of a positional encoding: the learned weight, or the fixed sines (what it adds to 0).
Tensor positions(nn::PositionalEncoding& p, const Shape& in) {
  if (p.kind() == nn::PositionKind::learned)
    return in[0] == p.max_len() ? p.parameters().front()
                                : slice(p.parameters().front(), 0, 0, in[0]);
  NoGradGuard no_grad;
  Shape batch_of_one{1};
  batch_of_one.insert(batch_of_one.end(), in.begin(), in.end());
  return p.forward(Tensor::zeros(batch_of_one)).reshape(in);
}

std::string Exporter::sequence(const nn::Sequential& net, std::string x, Shape in,
                               const std::string& path) {
  for (const auto& [name, child] : net.children()) {
    const std::string where = path.empty() ? name : path + "." + name;
    x = layer(*child, x, in, where);
    in = child->output_shape(in);
  }
  return x;
}

std::string Exporter::layer(nn::Module& m, const std::string& x, const Shape& in,
                            const std::string& path) {
  if (auto* s = dynamic_cast<nn::Sequential*>(&m)) return sequence(*s, x, in, path);
  if (auto* r = dynamic_cast<nn::Residual*>(&m))
    return g_.node("Add", {x, layer(r->body(), x, in, path + "." + r->children().front().first)});
  if (auto* a = dynamic_cast<nn::Activation*>(&m)) return activation(*a, x);
  if (auto* l = dynamic_cast<nn::Linear*>(&m)) return dense(*l, x, in);
  if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) return conv(*c, x);
  if (auto* c = dynamic_cast<nn::ConvTranspose2d*>(&m)) return conv_transpose(*c, x);
  if (auto* b = dynamic_cast<nn::BatchNorm*>(&m)) return batch_norm(*b, x);
  if (auto* l = dynamic_cast<nn::LayerNorm*>(&m)) return layer_norm(*l, x);
  if (auto* r = dynamic_cast<nn::RecurrentBase*>(&m)) return recurrent(*r, x);
  if (auto* a = dynamic_cast<nn::MultiheadAttention*>(&m)) return attention(*a, x, in);
  if (auto* t = dynamic_cast<nn::TransformerBlock*>(&m)) return transformer(*t, x, in);
  if (auto* p = dynamic_cast<nn::PositionalEncoding*>(&m))  // x + P[:seq]
    return g_.node("Add", {x, g_.constant("positions", positions(*p, in))});
  if (auto* d = dynamic_cast<nn::Dropout*>(&m))  // the identity in inference; kept for import
    return g_.node("Dropout", {x, g_.constant("ratio", Tensor::scalar(d->p()))});
  if (dynamic_cast<nn::Flatten*>(&m)) return g_.node("Flatten", {x}, {{"axis", int64_t{1}}});
  if (auto* r = dynamic_cast<nn::Reshape*>(&m)) {
    Ints shape{0};  // 0: the input's batch extent
    shape.insert(shape.end(), r->shape().begin(), r->shape().end());
    return g_.node("Reshape", {x, g_.int64s("shape", shape)});
  }
  if (auto* p = dynamic_cast<nn::Permute*>(&m)) {
    Ints perm{0};
    for (int64_t a : p->order()) perm.push_back(a + 1);
    return g_.node("Transpose", {x}, {{"perm", perm}});
  }
  if (auto* s = dynamic_cast<nn::Softmax*>(&m))
    return g_.node(s->log() ? "LogSoftmax" : "Softmax", {x}, {{"axis", int64_t{-1}}});
  if (auto* p = dynamic_cast<nn::MaxPool2d*>(&m))
    return g_.node("MaxPool", {x},
                   {{"kernel_shape", pair(p->kernel())},
                    {"strides", pair(p->stride())},
                    {"pads", pads(p->padding())}});
  if (auto* p = dynamic_cast<nn::AvgPool2d*>(&m))
    return g_.node("AveragePool", {x},
                   {{"kernel_shape", pair(p->kernel())},
                    {"strides", pair(p->stride())},
                    {"pads", pads(p->padding())},
                    {"count_include_pad", int64_t{p->count_include_pad() ? 1 : 0}}});
  if (dynamic_cast<nn::GlobalAvgPool*>(&m))
    return g_.node("Flatten", {g_.node("GlobalAveragePool", {x})}, {{"axis", int64_t{1}}});
  if (auto* e = dynamic_cast<nn::Embedding*>(&m)) {
    const std::string index = g_.node("Cast", {x}, {{"to", int64_t{::onnx::TensorProto::INT64}}});
    return g_.node("Gather", {g_.constant("embedding", e->weight()), index},
                   {{"axis", int64_t{0}}});
  }
  fail("ONNX export: module '{}' ({}) has no ONNX form in this version", path, m.name());
}

std::string Exporter::activation(const nn::Activation& a, const std::string& x) {
  const float p = a.parameter();
  auto scalar = [&](float v) { return g_.constant("c", Tensor::scalar(v)); };
  switch (a.kind()) {
    case ActivationKind::sigmoid:
      return g_.node("Sigmoid", {x});
    case ActivationKind::tanh:
      return g_.node("Tanh", {x});
    case ActivationKind::relu:
      return g_.node("Relu", {x});
    case ActivationKind::leaky_relu:
      return g_.node("LeakyRelu", {x}, {{"alpha", p}});
    case ActivationKind::elu:
      return g_.node("Elu", {x}, {{"alpha", p}});
    case ActivationKind::selu:
      return g_.node("Selu", {x});
    case ActivationKind::gelu:
      return gelu(g_, x);
    case ActivationKind::softplus:  // log(1 + e^(beta·x)) / beta
      if (p == 1.0f) return g_.node("Softplus", {x});
      return g_.node("Div", {g_.node("Softplus", {g_.node("Mul", {x, scalar(p)})}), scalar(p)});
    case ActivationKind::silu:
      return g_.node("Mul", {x, g_.node("Sigmoid", {x})});
    case ActivationKind::mish:
      return g_.node("Mul", {x, g_.node("Tanh", {g_.node("Softplus", {x})})});
    case ActivationKind::hardswish:
      return g_.node("HardSwish", {x});
  }
  fail("ONNX export: unknown activation");
}

std::string Exporter::dense(nn::Linear& m, const std::string& x, const Shape& in) {
  const bool bias = m.bias().defined();
  if (in.size() == 1) {  // (batch, in): one Gemm, y = x·Wᵀ + b
    std::vector<std::string> inputs{x, g_.constant("weight", m.weight())};
    if (bias) inputs.push_back(g_.constant("bias", m.bias()));
    return g_.node("Gemm", inputs, {{"transB", int64_t{1}}});
  }
  // Over the last axis of a longer sample: MatMul with Wᵀ (stored transposed), then the bias.
  const std::string y = g_.node("MatMul", {x, g_.constant("weight_t", transpose(m.weight()))});
  return bias ? g_.node("Add", {y, g_.constant("bias", m.bias())}) : y;
}

std::string Exporter::conv(nn::Conv2d& m, const std::string& x) {
  std::vector<std::string> inputs{x, g_.constant("weight", m.weight())};
  if (m.bias().defined()) inputs.push_back(g_.constant("bias", m.bias()));
  return g_.node("Conv", inputs,
                 {{"kernel_shape", pair(m.kernel())},
                  {"strides", pair(m.stride())},
                  {"pads", pads(m.padding())},
                  {"dilations", pair(m.dilation())},
                  {"group", m.groups()}});
}

std::string Exporter::conv_transpose(nn::ConvTranspose2d& m, const std::string& x) {
  std::vector<std::string> inputs{x, g_.constant("weight", m.weight())};
  if (m.bias().defined()) inputs.push_back(g_.constant("bias", m.bias()));
  return g_.node("ConvTranspose", inputs,
                 {{"kernel_shape", pair(m.kernel())},
                  {"strides", pair(m.stride())},
                  {"pads", pads(m.padding())},
                  {"output_padding", pair(m.output_padding())},
                  {"dilations", pair(m.dilation())},
                  {"group", m.groups()}});
}

std::string Exporter::parameter_or(const Tensor& t, const Shape& shape, float fill,
                                   const char* hint) {
  return g_.constant(hint, t.defined() ? t : Tensor::full(shape, fill));
}

std::string Exporter::batch_norm(nn::BatchNorm& m, const std::string& x) {
  const Shape c{m.num_features()};
  return g_.node(
      "BatchNormalization",
      {x, parameter_or(m.weight(), c, 1.0f, "scale"), parameter_or(m.bias(), c, 0.0f, "bias"),
       g_.constant("mean", m.running_mean()), g_.constant("var", m.running_var())},
      {{"epsilon", m.eps()}, {"momentum", 1.0f - m.momentum()}});  // ONNX keeps 1 - ours
}

std::string Exporter::layer_norm(nn::LayerNorm& m, const std::string& x) {
  const auto axes = static_cast<int64_t>(m.shape().size());
  return g_.node("LayerNormalization",
                 {x, parameter_or(m.weight(), m.shape(), 1.0f, "scale"),
                  parameter_or(m.bias(), m.shape(), 0.0f, "bias")},
                 {{"axis", -axes}, {"epsilon", m.eps()}});
}

// The blocks of `h` rows of `t` in ONNX's gate order (ONNX's gate k is ours order[k]), as
// (1, rows, ...) for one direction; `then`, if given, appended in the same order (Wb then Rb).
Tensor gate_blocks(const std::vector<int>& order, int64_t h, const Tensor& t,
                   const Tensor* then = nullptr) {
  std::vector<float> out;
  for (const Tensor* part : {&t, then}) {
    if (!part) continue;
    const int64_t block = h * (part->numel() / part->shape()[0]);
    for (int g : order) {
      const float* p = part->data() + g * block;
      out.insert(out.end(), p, p + block);
    }
  }
  Shape shape{1};
  shape.insert(shape.end(), t.shape().begin(), t.shape().end());
  if (then) shape.back() *= 2;
  return Tensor::from_data(out, shape);
}

// RNN, LSTM or GRU nodes on (seq, batch, features), one per layer of the stack: ONNX's gates come
// in another order (LSTM i, o, f, c against our i, f, g, o; GRU z, r, h against our r, z, n, with
// PyTorch's reset after the product: linear_before_reset).
std::string Exporter::recurrent(nn::RecurrentBase& m, const std::string& x) {
  const auto* rnn = dynamic_cast<nn::RNN*>(&m);
  const bool lstm = dynamic_cast<nn::LSTM*>(&m) != nullptr;
  const std::vector<int> order = rnn    ? std::vector<int>{0}
                                 : lstm ? std::vector<int>{0, 3, 1, 2}
                                        : std::vector<int>{1, 0, 2};
  const std::string op = rnn ? "RNN" : lstm ? "LSTM" : "GRU";
  const int64_t h = m.hidden_size();
  std::string seq = g_.node("Transpose", {x}, {{"perm", Ints{1, 0, 2}}});
  std::string last;
  for (int64_t l = 0; l < m.num_layers(); ++l) {
    const std::vector<std::string> in{
        seq, g_.constant("W", gate_blocks(order, h, m.weight_ih(l))),
        g_.constant("R", gate_blocks(order, h, m.weight_hh(l))),
        g_.constant("B", gate_blocks(order, h, m.bias_ih(l), &m.bias_hh(l)))};
    std::vector<std::string> out;
    if (rnn)
      out = g_.nodes(op, in, 2,
                     {{"hidden_size", h},
                      {"activations",
                       std::vector<std::string>{
                           rnn->nonlinearity() == nn::RNNNonlinearity::relu ? "Relu" : "Tanh"}}});
    else if (lstm)
      out = g_.nodes(op, in, 2, {{"hidden_size", h}});
    else
      out = g_.nodes(op, in, 2, {{"hidden_size", h}, {"linear_before_reset", int64_t{1}}});
    // Y (seq, 1, batch, h) without its direction axis feeds the next layer; Y_h (1, batch, h).
    seq = g_.node("Squeeze", {out[0], g_.int64s("axes", {1})});
    last = out[1];
  }
  if (m.return_sequences()) return g_.node("Transpose", {seq}, {{"perm", Ints{1, 0, 2}}});
  return g_.node("Squeeze", {last, g_.int64s("axes", {0})});
}

// The constants after x of a call of the MultiheadAttention function on samples of `seq` steps.
std::vector<std::string> Exporter::attention_args(nn::MultiheadAttention& m, int64_t seq) {
  std::vector<std::string> args;
  for (nn::Linear* p : {&m.q_proj(), &m.k_proj(), &m.v_proj(), &m.out_proj()}) {
    args.push_back(g_.constant("weight_t", transpose(p->weight())));
    args.push_back(g_.constant("bias", p->bias()));
  }
  const int64_t d = m.embed_dim() / m.num_heads();
  args.push_back(g_.int64s("heads", {0, 0, m.num_heads(), d}));
  args.push_back(g_.constant("scale", Tensor::scalar(detail::attention_scale(d))));
  // No mask is a scalar 0, so that it differs from the causal mask of one step (a zero).
  args.push_back(g_.constant("mask", m.causal() ? nn::causal_mask(seq) : Tensor::scalar(0.0f)));
  return args;
}

std::string Exporter::attention(nn::MultiheadAttention& m, const std::string& x, const Shape& in) {
  std::vector<std::string> args{x};
  for (std::string& a : attention_args(m, in.at(0))) args.push_back(std::move(a));
  functions_.insert(detail::kAttention);
  return g_.call(detail::kAttention, args);
}

// Its dropout is the identity in inference; its ratio is kept for import, as for dropout(p).
std::string Exporter::transformer(nn::TransformerBlock& m, const std::string& x, const Shape& in) {
  auto dense = [&](nn::Linear& l) {
    return std::vector<std::string>{g_.constant("weight_t", transpose(l.weight())),
                                    g_.constant("bias", l.bias())};
  };
  std::vector<std::string> args{x};
  auto append = [&](std::vector<std::string> more) {
    for (std::string& a : more) args.push_back(std::move(a));
  };
  append({parameter_or(m.ln1().weight(), {m.dim()}, 1.0f, "scale"),
          parameter_or(m.ln1().bias(), {m.dim()}, 0.0f, "bias")});
  append(attention_args(m.attention(), in.at(0)));
  append({g_.constant("ratio", Tensor::scalar(m.dropout())),
          parameter_or(m.ln2().weight(), {m.dim()}, 1.0f, "scale"),
          parameter_or(m.ln2().bias(), {m.dim()}, 0.0f, "bias")});
  append(dense(m.ff1()));
  append(dense(m.ff2()));
  functions_.insert({detail::kAttention, detail::kTransformer});
  return g_.call(detail::kTransformer, args);
}

// ---- the model around the network ----

void add_value_info(::onnx::ValueInfoProto& v, const std::string& name, const Shape& sample) {
  v.set_name(name);
  auto& type = *v.mutable_type()->mutable_tensor_type();
  type.set_elem_type(::onnx::TensorProto::FLOAT);
  auto& shape = *type.mutable_shape();
  shape.add_dim()->set_dim_param("batch");
  for (int64_t d : sample) shape.add_dim()->set_dim_value(d);
}

// y = (x - offset) / scale, with the statistics per value of a sample or one for all.
std::string normalisation(GraphWriter& g, const Model& model, const std::string& x) {
  const data::Normalizer& n = model.normalizer;
  if (n.kind() == data::NormKind::none) return x;
  const Shape shape = n.offset().size() == 1 ? Shape{} : model.input_shape;
  const std::string offset = g.constant("offset", Tensor::from_data(n.offset(), shape));
  const std::string scale = g.constant("scale", Tensor::from_data(n.scale(), shape));
  return g.node("Div", {g.node("Sub", {x, offset}), scale});
}

void add_metadata(::onnx::ModelProto& proto, const Model& model) {
  auto add = [&](const std::string& key, const std::string& value) {
    auto& p = *proto.add_metadata_props();
    p.set_key(key);
    p.set_value(value);
  };
  add("labels", nlohmann::json(model.label_names).dump());
  add("backprop.spec", nn::to_string(model.spec));
  add("backprop.task", model.task == data::Task::regression ? "regression" : "classification");
  add("backprop.normalization",
      model.normalizer.kind() == data::NormKind::min_max ? "min_max" : "standardize");
  add("backprop.info", model.info_json);
}

// The local functions that `called` names, callees first, and their domain's opset.
void add_functions(::onnx::ModelProto& proto, const std::set<std::string>& called) {
  if (called.empty()) return;
  auto& opset = *proto.add_opset_import();
  opset.set_domain(detail::kFunctionDomain);
  opset.set_version(detail::kFunctionDomainVersion);
  for (const ::onnx::FunctionProto& f : detail::local_functions())
    if (called.count(f.name())) *proto.add_functions() = f;
}

}  // namespace

void export_model(const Model& model, const std::string& path) {
  BP_CHECK(model.network, "ONNX export: the model has no network");
  ::onnx::ModelProto proto;
  proto.set_ir_version(8);  // the IR of opset 17
  proto.set_producer_name("backprop");
  proto.set_producer_version(BP_VERSION_STRING);
  auto& opset = *proto.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOpset);
  add_metadata(proto, model);

  ::onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name("backprop");
  add_value_info(*graph.add_input(), "input", model.input_shape);
  GraphWriter g(graph);
  const std::string x = normalisation(g, model, "input");
  Exporter exporter(g);
  const std::string y = exporter.sequence(*model.network, x, model.input_shape, "");
  g.node_to("output", "Identity", {y});
  add_functions(proto, exporter.functions());
  add_value_info(*graph.add_output(), "output", model.network->output_shape(model.input_shape));

  std::string bytes;
  BP_CHECK(proto.SerializeToString(&bytes), "ONNX export: the model could not be serialised");
  io::write_file_atomic(path, bytes);
}

}  // namespace bp::onnx
