// ONNX import: our own exports come back with the same spec, parameters and normalisation bit for
// bit; broken and unsupported files are refused naming the file, the node and the operator.
// PyTorch's exports are checked by tests/onnx/check_torch_import.py (the "onnx" label).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "backprop/onnx.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

namespace fs = std::filesystem;
using bp::testing::expect_error;
using bp::testing::TempDir;

// A model with every parameter and buffer drawn at random (biases, layer norms' weights and
// running statistics too), so that a tensor landing in the wrong place shows.
Model random_model(const std::string& spec, const Shape& input, data::NormKind norm) {
  Generator gen(11);
  Model m = Model::create(nn::parse_model_spec(spec), input, gen);
  for (auto& [name, p] : m.network->named_parameters()) {
    Tensor t = p;
    t.copy_(Tensor::uniform(p.shape(), -0.5f, 0.5f, gen));
  }
  for (auto& [name, b] : m.network->named_buffers()) {
    Tensor t = b;
    t.copy_(Tensor::uniform(b.shape(), 0.5f, 1.5f, gen));
  }
  m.label_names.clear();
  for (int64_t k = 0; k < m.num_outputs; ++k) m.label_names.push_back("class" + std::to_string(k));
  if (norm != data::NormKind::none) {
    const auto n = static_cast<size_t>(numel(input));
    std::vector<float> offset(n), scale(n);
    for (size_t k = 0; k < n; ++k) {
      offset[k] = 0.25f * static_cast<float>(k % 7);
      scale[k] = 1.0f + 0.125f * static_cast<float>(k % 5);
    }
    m.normalizer = data::Normalizer::from_stats(norm, offset, scale);
  }
  return m;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

void expect_round_trip(const std::string& spec, const Shape& input,
                       data::NormKind norm = data::NormKind::standardize) {
  SCOPED_TRACE(spec);
  TempDir dir;
  const Model m = random_model(spec, input, norm);
  onnx::export_model(m, dir / "m.onnx");
  const Model back = onnx::import_model(dir / "m.onnx");
  EXPECT_EQ(nn::to_string(back.spec), spec);
  EXPECT_EQ(back.input_shape, m.input_shape);
  EXPECT_EQ(back.label_names, m.label_names);
  EXPECT_EQ(back.num_outputs, m.num_outputs);
  EXPECT_EQ(back.normalizer.kind(), m.normalizer.kind());
  EXPECT_EQ(back.normalizer.offset(), m.normalizer.offset());
  EXPECT_EQ(back.normalizer.scale(), m.normalizer.scale());
  const auto p = m.network->named_parameters(), q = back.network->named_parameters();
  ASSERT_EQ(p.size(), q.size());
  for (size_t k = 0; k < p.size(); ++k) {
    EXPECT_EQ(p[k].first, q[k].first);
    EXPECT_TRUE(same_bits(p[k].second, q[k].second)) << p[k].first;
  }
  const auto b = m.network->named_buffers(), c = back.network->named_buffers();
  ASSERT_EQ(b.size(), c.size());
  for (size_t k = 0; k < b.size(); ++k) EXPECT_TRUE(same_bits(b[k].second, c[k].second));
  Shape batch{5};
  batch.insert(batch.end(), input.begin(), input.end());
  std::vector<float> values(static_cast<size_t>(numel(batch)));
  for (size_t k = 0; k < values.size(); ++k) values[k] = static_cast<float>((k * 7) % 10);  // ids
  const Tensor x = Tensor::from_data(values, batch);
  EXPECT_TRUE(same_bits(m.predict(x), back.predict(x)));
}

TEST(OnnxImport, EveryExportableLayerComesBackBitForBit) {
  expect_round_trip("dense(16),relu,dense(3)", {64});
  expect_round_trip("dense(16),tanh,dense(3)", {64}, data::NormKind::min_max);
  expect_round_trip(
      "dense(8),sigmoid,dense(8),leaky_relu,dense(8),leaky_relu(0.2),dense(8),elu,"
      "dense(8),elu(0.5),dense(8),selu,dense(8),gelu,dense(8),softplus,dense(8),"
      "softplus(2),dense(8),silu,dense(8),mish,dense(8),hardswish,"
      "dense(8,bias=false),relu,dense(3)",
      {12}, data::NormKind::none);
  expect_round_trip(
      "dense(32),batchnorm,relu,dropout(0.3),dense(32),batchnorm(momentum=0.2,eps=0.001),"
      "dropout,layernorm,relu,layernorm(eps=0.0001),residual(dense(32),relu,dense(32)),"
      "dense(3),log_softmax",
      {10});
  expect_round_trip(
      "reshape(1,8,8),conv(4,3,pad=1),batchnorm,relu,maxpool(2),"
      "conv(8,3,pad=1,groups=2),relu,avgpool(2,stride=1,pad=1),"
      "conv_transpose(4,3,stride=2,pad=1,output_pad=1,bias=false),relu,"
      "conv(6,2,stride=2,dilation=2),maxpool(2,stride=1),global_avgpool,dense(3)",
      {64});
  expect_round_trip("reshape(8,8),permute(1,0),dense(4),flatten,dense(3),softmax", {64});
  expect_round_trip("reshape(4,16),dense(8),layernorm,flatten,dense(3)", {64});
  expect_round_trip("embedding(10,4),flatten,dense(3)", {6}, data::NormKind::none);
  expect_round_trip("reshape(8,8),lstm(16),dense(3)", {64});
  expect_round_trip("reshape(8,8),positional,dense(4),positional(kind=sinusoidal),flatten,dense(3)",
                    {64});
  expect_round_trip("reshape(8,8),gru(12,layers=2),dense(3)", {64});
  expect_round_trip("reshape(8,8),rnn(16,sequences=true),rnn(8,nonlinearity=relu),dense(3)", {64});
  expect_round_trip("reshape(8,8),lstm(8,layers=2,sequences=true),flatten,dense(3)", {64});
}

TEST(OnnxImport, AttentionAndTransformerComeBackBitForBit) {
  expect_round_trip("reshape(8,8),dense(16),attention(4),layernorm,flatten,dense(3)", {64});
  expect_round_trip("reshape(8,8),attention(2,causal=true),attention(1),flatten,dense(3)", {64},
                    data::NormKind::min_max);
  expect_round_trip("embedding(50,32),positional,transformer(4,64),dense(50)", {16},
                    data::NormKind::none);
  expect_round_trip(
      "embedding(10,8),transformer(2,16,dropout=0.25,causal=false),transformer(8,4,dropout=0),"
      "flatten,dense(3)",
      {6}, data::NormKind::none);
  expect_round_trip("reshape(28,28),dense(32),attention(4),layernorm,flatten,dense(10)", {784});
  // One step: the causal mask is then a zero, which must still tell causal from not.
  expect_round_trip(
      "reshape(1,4),attention(2),attention(2,causal=true),transformer(1,8),"
      "transformer(2,8,causal=false),flatten,dense(3)",
      {4});
}

TEST(OnnxImport, KeepsTheTaskAndTheTrainingRecord) {
  TempDir dir;
  Model m = random_model("dense(2)", {3}, data::NormKind::none);
  m.task = data::Task::regression;
  m.label_names.clear();
  m.info_json = R"({"epochs":3})";
  onnx::export_model(m, dir / "r.onnx");
  const Model back = onnx::import_model(dir / "r.onnx");
  EXPECT_EQ(back.task, data::Task::regression);
  EXPECT_TRUE(back.label_names.empty());
  EXPECT_EQ(back.info_json, m.info_json);
}

// ---- broken and unsupported files ----

::onnx::ModelProto exported(const TempDir& dir, const std::string& spec, const Shape& input) {
  onnx::export_model(random_model(spec, input, data::NormKind::none), dir / "base.onnx");
  ::onnx::ModelProto proto;
  std::ifstream in(dir / "base.onnx", std::ios::binary);
  EXPECT_TRUE(proto.ParseFromIstream(&in));
  return proto;
}

std::string write(const TempDir& dir, const std::string& name, const ::onnx::ModelProto& proto) {
  std::ofstream out(dir / name, std::ios::binary);
  EXPECT_TRUE(proto.SerializeToOstream(&out));
  return dir / name;
}

::onnx::NodeProto& first_node(::onnx::ModelProto& proto, const std::string& op) {
  for (auto& n : *proto.mutable_graph()->mutable_node())
    if (n.op_type() == op) return n;
  throw std::runtime_error("no " + op);
}

TEST(OnnxImport, RefusesFilesThatAreNotOnnxModels) {
  TempDir dir;
  expect_error([&] { onnx::import_model(dir / "missing.onnx"); }, "missing.onnx: no such file");
  std::ofstream(dir / "text.onnx") << "label,f1\nc0,0.5\n";
  expect_error([&] { onnx::import_model(dir / "text.onnx"); }, "text.onnx: not an ONNX model");
  onnx::export_model(random_model("dense(16),relu,dense(3)", {64}, data::NormKind::none),
                     dir / "whole.onnx");
  std::ifstream in(dir / "whole.onnx", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir / "cut.onnx", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_error([&] { onnx::import_model(dir / "cut.onnx"); }, "cut.onnx: not an ONNX model");
  std::ofstream(dir / "empty.onnx").flush();
  expect_error([&] { onnx::import_model(dir / "empty.onnx"); }, "not an ONNX model");
}

TEST(OnnxImport, RefusesOtherOpsets) {
  TempDir dir;
  ::onnx::ModelProto proto = exported(dir, "dense(2)", {3});
  proto.mutable_opset_import(0)->set_version(18);
  expect_error([&] { onnx::import_model(write(dir, "new.onnx", proto)); },
               "opset 18 is not supported (import reads opsets 13 to 17)");
  proto.mutable_opset_import(0)->set_version(9);
  expect_error([&] { onnx::import_model(write(dir, "old.onnx", proto)); }, "opset 9 is not");
}

TEST(OnnxImport, RefusesUnsupportedOperatorsAndAttributesNamingTheNode) {
  TempDir dir;
  ::onnx::ModelProto proto = exported(dir, "dense(4),relu,dense(2)", {3});
  ::onnx::NodeProto& relu = first_node(proto, "Relu");
  relu.set_op_type("Celu");
  expect_error([&] { onnx::import_model(write(dir, "op.onnx", proto)); },
               "node '" + relu.name() + "' (Celu): operator not supported by import");
  relu.set_name(std::string("\x01"
                            "bad") +
                static_cast<char>(0xff));  // bytes from the file reach messages as printable text
  expect_error([&] { onnx::import_model(write(dir, "name.onnx", proto)); },
               "node '?bad?' (Celu): operator not supported");
  relu.set_op_type("Relu");
  ::onnx::NodeProto& gemm = first_node(proto, "Gemm");
  auto* a = gemm.add_attribute();
  a->set_name("transA");
  a->set_type(::onnx::AttributeProto::INT);
  a->set_i(1);
  expect_error([&] { onnx::import_model(write(dir, "attr.onnx", proto)); },
               "(Gemm): only alpha = beta = 1 and transA = 0 are supported");
  a->set_name("color");
  expect_error([&] { onnx::import_model(write(dir, "attr2.onnx", proto)); },
               "(Gemm): attribute 'color' is not supported");
}

TEST(OnnxImport, RefusesGraphsThatAreNotOneChain) {
  TempDir dir;
  ::onnx::ModelProto proto = exported(dir, "dense(4),relu,dense(2)", {3});
  *proto.mutable_graph()->add_input() = proto.graph().input(0);
  proto.mutable_graph()->mutable_input(1)->set_name("second");
  expect_error([&] { onnx::import_model(write(dir, "two.onnx", proto)); },
               "the graph has 2 inputs; import takes one");
  proto = exported(dir, "dense(4),relu,dense(2)", {3});
  // The second Gemm reads the input instead of the Relu's output: the Relu leads nowhere.
  ::onnx::NodeProto& relu = first_node(proto, "Relu");
  relu.set_input(0, "input");
  expect_error([&] { onnx::import_model(write(dir, "fork.onnx", proto)); },
               "(Relu): reads 'input', an earlier value of the chain");
  proto = exported(dir, "dense(4),relu,dense(2)", {3});
  first_node(proto, "Gemm").set_input(1, "nowhere");
  expect_error([&] { onnx::import_model(write(dir, "w.onnx", proto)); },
               "(Gemm): its weight (input 1) is not a float constant");
}

// The call node of a local function (domain "backprop") named `op`.
::onnx::NodeProto& call_node(::onnx::ModelProto& proto, const std::string& op) {
  for (auto& n : *proto.mutable_graph()->mutable_node())
    if (n.domain() == "backprop" && n.op_type() == op) return n;
  throw std::runtime_error("no call of " + op);
}

::onnx::TensorProto& initializer(::onnx::ModelProto& proto, const std::string& name) {
  for (auto& t : *proto.mutable_graph()->mutable_initializer())
    if (t.name() == name) return t;
  throw std::runtime_error("no initializer " + name);
}

// The functions a model holds: each one that its nodes call, once, callees first.
std::vector<std::string> functions_of(const ::onnx::ModelProto& proto) {
  std::vector<std::string> names;
  for (const auto& f : proto.functions()) names.push_back(f.domain() + "." + f.name());
  return names;
}

TEST(OnnxExport, HoldsEachLocalFunctionThatItCallsOnce) {
  TempDir dir;
  using Names = std::vector<std::string>;
  EXPECT_EQ(functions_of(exported(dir, "dense(2)", {3})), Names{});
  ::onnx::ModelProto proto =
      exported(dir, "reshape(4,8),attention(2),attention(4,causal=true),flatten,dense(2)", {32});
  EXPECT_EQ(functions_of(proto), Names{"backprop.MultiheadAttention"});
  EXPECT_EQ(proto.opset_import_size(), 2);
  proto = exported(dir, "reshape(4,8),transformer(2,16),transformer(1,8),flatten,dense(2)", {32});
  EXPECT_EQ(functions_of(proto),
            (Names{"backprop.MultiheadAttention", "backprop.TransformerBlock"}));
}

TEST(OnnxImport, RefusesAttentionThatExportDidNotWrite) {
  TempDir dir;
  const std::string spec = "reshape(4,8),attention(2,causal=true),flatten,dense(2)";
  ::onnx::ModelProto proto = exported(dir, spec, {32});
  ::onnx::NodeProto& call = call_node(proto, "MultiheadAttention");
  const std::string node = "node '" + call.name() + "' (MultiheadAttention): ";
  const ::onnx::NodeProto original = call;
  call.set_input(1, original.input(2));  // a bias where a weight goes
  expect_error([&] { onnx::import_model(write(dir, "w.onnx", proto)); },
               node + "its W_q (input 1) is not a matrix");
  call.set_input(1, original.input(11));  // the (4, 4) mask where an (8, 8) weight goes
  expect_error([&] { onnx::import_model(write(dir, "shape.onnx", proto)); },
               node + "as 'attention(2,causal=true)': its 0.q_proj.weight has shape [4, 4]");
  call = original;
  call.set_input(11, original.input(1));  // a weight where the mask goes
  expect_error([&] { onnx::import_model(write(dir, "mask.onnx", proto)); },
               node + "its mask (input 11) is neither a scalar 0 nor the causal mask of (4, 4)");
  call = original;
  ::onnx::TensorProto& heads = initializer(proto, original.input(9));
  heads.set_int64_data(2, 3);
  expect_error([&] { onnx::import_model(write(dir, "heads.onnx", proto)); },
               node + "its heads (input 9) is not the shape (0, 0, heads, 8 / heads)");
  heads.set_int64_data(2, 2);
  call.add_input(original.input(1));
  expect_error([&] { onnx::import_model(write(dir, "inputs.onnx", proto)); },
               node + "has 13 inputs, the function 12");
  call = original;
  // A function of the same name whose body differs from export's is not taken for attention.
  proto.mutable_functions(0)->mutable_node(0)->set_op_type("Sub");
  expect_error([&] { onnx::import_model(write(dir, "body.onnx", proto)); },
               "function 'backprop.MultiheadAttention' is not one that export writes");
  proto.clear_functions();
  expect_error([&] { onnx::import_model(write(dir, "none.onnx", proto)); },
               node +
                   "operator of domain 'backprop' is not supported (the model defines no such "
                   "function)");
}

TEST(OnnxImport, RefusesTransformerCallsWithConstantsThatDoNotFit) {
  TempDir dir;
  ::onnx::ModelProto proto =
      exported(dir, "embedding(10,8),transformer(2,16),flatten,dense(2)", {4});
  ::onnx::NodeProto& call = call_node(proto, "TransformerBlock");
  const std::string node = "node '" + call.name() + "' (TransformerBlock): ";
  const ::onnx::NodeProto original = call;
  call.set_input(17, original.input(19));  // W_2ᵀ (16, 8) where W_1ᵀ (8, 16) goes
  expect_error([&] { onnx::import_model(write(dir, "ff.onnx", proto)); },
               node +
                   "as 'transformer(2,8)': its 0.ff1.weight has shape [8, 16], the layer needs "
                   "[8, 8]");
  call = original;
  call.set_input(14, original.input(1));  // the layer norm's scale where the ratio goes
  expect_error([&] { onnx::import_model(write(dir, "ratio.onnx", proto)); },
               node + "its ratio (input 14) is not one float");
}

}  // namespace
}  // namespace bp
