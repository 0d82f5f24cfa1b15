// Model specs: the text and JSON forms, their errors, and the networks built from them.
#include <gtest/gtest.h>

#include "backprop/spec.hpp"
#include "test_util.hpp"

namespace bp::nn {
namespace {

using bp::testing::expect_error;

// The text of an Error thrown by `fn`, or "" (and a failure) if none is thrown.
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected bp::Error";
  return "";
}

void expect_contains(const std::string& text, std::initializer_list<const char*> needles) {
  for (const char* needle : needles)
    EXPECT_NE(text.find(needle), std::string::npos) << "missing \"" << needle << "\" in: " << text;
}

TEST(Spec, ParsesTheDefaultSpec) {
  auto layers = parse_model_spec("flatten,dense(256),relu,dense(128),relu,dense(10)");
  ASSERT_EQ(layers.size(), 6u);
  const char* names[] = {"flatten", "dense", "relu", "dense", "relu", "dense"};
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(layers[i].name, names[i]);
    EXPECT_EQ(layers[i].position, i + 1);
  }
  EXPECT_EQ(layers[0].column, 1u);
  EXPECT_EQ(layers[1].column, 9u);
  ASSERT_EQ(layers[1].args.size(), 1u);
  EXPECT_EQ(layers[1].args[0].key, "");
  EXPECT_EQ(layers[1].args[0].value, "256");
  EXPECT_TRUE(layers[0].args.empty());
}

TEST(Spec, ParsesKeywordsSpacesAndUpperCase) {
  auto layers = parse_model_spec("  DENSE ( 10 , bias = false ) ,  Leaky_ReLU(0.2), tanh ");
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[0].name, "dense");
  ASSERT_EQ(layers[0].args.size(), 2u);
  EXPECT_EQ(layers[0].args[0].key, "");
  EXPECT_EQ(layers[0].args[0].value, "10");
  EXPECT_EQ(layers[0].args[1].key, "bias");
  EXPECT_EQ(layers[0].args[1].value, "false");
  EXPECT_EQ(layers[0].column, 3u);
  EXPECT_EQ(layers[1].name, "leaky_relu");
  ASSERT_EQ(layers[1].args.size(), 1u);
  EXPECT_EQ(layers[1].args[0].value, "0.2");
  EXPECT_EQ(layers[2].name, "tanh");
  EXPECT_EQ(layers[2].position, 3u);
  // An empty argument list is the same as none.
  EXPECT_TRUE(parse_model_spec("relu()")[0].args.empty());
  // Keys are case-insensitive like names; a keyword may come before a positional argument.
  auto keyed = parse_model_spec("dense(BIAS=false, 4)");
  EXPECT_EQ(keyed[0].args[0].key, "bias");
  EXPECT_EQ(to_string(keyed), "dense(bias=false,4)");
}

TEST(Spec, ToStringRoundTrips) {
  for (const char* text :
       {"flatten,dense(256),relu,dense(10)", "dense(10, bias=false), leaky_relu(0.2)",
        "elu(alpha=0.5),softplus(2),gelu,silu,swish,selu,sigmoid,softmax,log_softmax",
        "linear(units=3,bias=0)"}) {
    auto layers = parse_model_spec(text);
    std::string canonical = to_string(layers);
    auto again = parse_model_spec(canonical);
    ASSERT_EQ(again.size(), layers.size()) << text;
    for (size_t i = 0; i < layers.size(); ++i) {
      EXPECT_EQ(again[i].name, layers[i].name);
      ASSERT_EQ(again[i].args.size(), layers[i].args.size());
      for (size_t j = 0; j < layers[i].args.size(); ++j) {
        EXPECT_EQ(again[i].args[j].key, layers[i].args[j].key);
        EXPECT_EQ(again[i].args[j].value, layers[i].args[j].value);
      }
    }
    EXPECT_EQ(to_string(again), canonical);
  }
  EXPECT_EQ(to_string(parse_model_spec(" Dense( 10 , bias = false ) , RELU")),
            "dense(10,bias=false),relu");
}

TEST(Spec, JsonFormsMatchTheTextForm) {
  const std::string expected = "flatten,dense(8,bias=false),leaky_relu(0.2),dense(3)";
  EXPECT_EQ(to_string(parse_model_spec_json(
                R"j(["flatten", "dense(8, bias=false)", "leaky_relu(0.2)", "dense(3)"])j")),
            expected);
  EXPECT_EQ(to_string(parse_model_spec_json(
                R"j([{"layer": "flatten"}, {"layer": "dense", "args": [8], "bias": false},
                    {"layer": "leaky_relu", "args": [0.2]}, {"layer": "dense", "args": ["3"]}])j")),
            expected);
  EXPECT_EQ(to_string(parse_model_spec_json(
                R"j({"layers": ["flatten", {"layer": "dense", "args": [8], "bias": "false"},
                               "leaky_relu(0.2)", "dense(3)"]})j")),
            expected);
  auto layers = parse_model_spec_json(R"j(["relu", "dense(4)"])j");
  EXPECT_EQ(layers[1].position, 2u);
  EXPECT_EQ(layers[1].column, 0u);
}

TEST(Spec, BuildsNetworksWithTheRightShapesAndParameterCounts) {
  Generator gen(1);
  auto net = build_model(parse_model_spec("flatten,dense(256),relu,dense(128),relu,dense(10)"),
                         {1, 28, 28}, gen);
  EXPECT_EQ(net->size(), 6u);
  EXPECT_EQ(net->output_shape({1, 28, 28}), (Shape{10}));
  EXPECT_EQ(net->parameter_count(), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  Tensor out = net->forward(Tensor::zeros({5, 1, 28, 28}));
  EXPECT_EQ(out.shape(), (Shape{5, 10}));

  auto no_bias =
      build_model(parse_model_spec("dense(7, bias=false),tanh,dense(units=2)"), {3}, gen);
  EXPECT_EQ(no_bias->parameter_count(), 3 * 7 + 7 * 2 + 2);
  EXPECT_EQ(no_bias->named_parameters().size(), 3u);
  // Dense works on the last axis of a higher-rank sample.
  auto per_row = build_model(parse_model_spec("dense(5)"), {4, 3}, gen);
  EXPECT_EQ(per_row->output_shape({4, 3}), (Shape{4, 5}));
  // The same spec and seed give the same weights.
  Generator g1(9), g2(9);
  auto a = build_model(parse_model_spec("dense(4),relu,dense(2)"), {3}, g1);
  auto b = build_model(parse_model_spec("dense(4),relu,dense(2)"), {3}, g2);
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].to_vector(), pb[i].to_vector());
}

TEST(Spec, ShapeLayersFeedImageRowsToARecurrentLayer) {
  Generator gen(2);
  auto rows = build_model(parse_model_spec("reshape(28,28),lstm(16),dense(10)"), {1, 28, 28}, gen);
  EXPECT_EQ(rows->output_shape({1, 28, 28}), (Shape{10}));
  EXPECT_EQ(rows->forward(Tensor::zeros({3, 1, 28, 28})).shape(), (Shape{3, 10}));
  auto columns = build_model(parse_model_spec("reshape(28, -1), permute(1, 0)"), {784}, gen);
  EXPECT_EQ(columns->output_shape({784}), (Shape{28, 28}));
  EXPECT_EQ(to_string(parse_model_spec("reshape(4,-1),permute(1,0)")),
            "reshape(4,-1),permute(1,0)");
}

TEST(Spec, ActivationArgumentsReachTheModules) {
  Generator gen(1);
  auto net =
      build_model(parse_model_spec("leaky_relu(0.2),elu(alpha=0.5),softplus(beta=3)"), {2}, gen);
  auto& leaky = dynamic_cast<Activation&>((*net)[0]);
  EXPECT_EQ(leaky.kind(), ActivationKind::leaky_relu);
  EXPECT_FLOAT_EQ(leaky.parameter(), 0.2f);
  EXPECT_FLOAT_EQ(dynamic_cast<Activation&>((*net)[1]).parameter(), 0.5f);
  EXPECT_FLOAT_EQ(dynamic_cast<Activation&>((*net)[2]).parameter(), 3.0f);
  Tensor y = net->forward(Tensor::from_data({-1.0f, 2.0f}, {1, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
}

TEST(SpecErrors, UnknownLayerNamesItsPositionColumnAndTheKnownLayers) {
  std::string e = error_of([] { parse_model_spec("flatten,dense(10),frobnicate,relu"); });
  expect_contains(e, {"layer 3", "'frobnicate'", "column 19", "unknown layer", "dense", "relu",
                      "leaky_relu", "softmax"});
}

TEST(SpecErrors, SyntaxErrorsNameTheColumnAndTheText) {
  expect_contains(error_of([] { parse_model_spec("relu,dense(10"); }),
                  {"unclosed '('", "dense", "column 12", "relu,dense(10"});
  expect_contains(error_of([] { parse_model_spec("dense(10,,bias=false)"); }),
                  {"empty argument", "'dense'", "column 10"});
  expect_contains(error_of([] { parse_model_spec("dense(,)"); }), {"empty argument", "column 7"});
  expect_contains(error_of([] { parse_model_spec("relu,"); }),
                  {"expected a layer name", "column 6", "\"relu,\""});
  expect_contains(error_of([] { parse_model_spec("relu,,tanh"); }),
                  {"expected a layer name", "column 6"});
  expect_contains(error_of([] { parse_model_spec("relu tanh"); }), {"unexpected 't'", "column 6"});
  expect_contains(error_of([] { parse_model_spec("dense(10))"); }),
                  {"unexpected ')'", "column 10"});
  expect_contains(error_of([] { parse_model_spec("dense((10)"); }), {"unexpected '('", "column 7"});
  expect_contains(error_of([] { parse_model_spec("dense(=3)"); }), {"malformed argument '=3'"});
  expect_contains(error_of([] { parse_model_spec("dense(units=)"); }), {"malformed argument"});
}

TEST(SpecErrors, EmptySpec) {
  expect_error([] { parse_model_spec(""); }, "empty");
  expect_error([] { parse_model_spec("   \t "); }, "empty");
  expect_error([] { parse_model_spec(","); }, "expected a layer name at column 1");
}

TEST(SpecErrors, BadArgumentsNameTheLayerAndTheValue) {
  expect_contains(error_of([] { parse_model_spec("relu,dense(abc)"); }),
                  {"layer 2 'dense'", "column 6", "'units' must be a number", "'abc'"});
  expect_contains(error_of([] { parse_model_spec("dense(12x)"); }), {"must be a number", "'12x'"});
  expect_contains(error_of([] { parse_model_spec("dense(nan)"); }), {"must be a number", "'nan'"});
  expect_contains(error_of([] { parse_model_spec("leaky_relu(inf)"); }),
                  {"'slope' must be a number", "'inf'"});
  expect_contains(error_of([] { parse_model_spec("dense(2.5)"); }),
                  {"layer 1 'dense'", "'units' must be a positive integer", "2.5"});
  expect_contains(error_of([] { parse_model_spec("dense(0)"); }), {"positive integer", "0"});
  expect_contains(error_of([] { parse_model_spec("dense(-3)"); }), {"positive integer", "-3"});
  expect_contains(error_of([] { parse_model_spec("dense(1e12)"); }), {"positive integer"});
  expect_contains(error_of([] { parse_model_spec("dense()"); }), {"missing argument 'units'"});
  expect_contains(error_of([] { parse_model_spec("dense(4, bias=maybe)"); }),
                  {"'bias' must be true or false", "'maybe'"});
  expect_contains(error_of([] { parse_model_spec("dense(4, bais=false)"); }),
                  {"layer 1 'dense'", "unknown argument 'bais' (dense takes units, bias)"});
  expect_contains(
      error_of([] { parse_model_spec("tanh,relu(3)"); }),
      {"layer 2 'relu'", "column 6", "unexpected argument '3' (relu takes no arguments)"});
  expect_contains(error_of([] { parse_model_spec("dense(4, true, 7)"); }),
                  {"unexpected argument '7' (dense takes at most 2 arguments: units, bias)"});
  expect_contains(error_of([] { parse_model_spec("dense(4, units=5)"); }),
                  {"layer 1 'dense'", "argument 'units' given twice"});
  expect_contains(error_of([] { parse_model_spec("reshape(4, x)"); }),
                  {"layer 1 'reshape'", "extent 2 must be an integer, got 'x'"});
  expect_contains(error_of([] { parse_model_spec("reshape()"); }), {"at least one extent"});
  expect_contains(error_of([] { parse_model_spec("reshape(2, size=3)"); }),
                  {"unknown argument 'size'"});
  expect_contains(error_of([] { parse_model_spec("permute(1, 1)"); }), {"each axis 0..1 once"});
  expect_contains(error_of([] { parse_model_spec("leaky_relu(1e300)"); }),
                  {"'slope'", "out of range"});
}

TEST(SpecErrors, LargeLayersAreCheckedWithoutAllocating) {
  // Parsing only reads the arguments: a billion-unit layer must not allocate anything.
  auto layers = parse_model_spec("dense(1000000000)");
  ASSERT_EQ(layers.size(), 1u);
  Generator gen(1);
  // A parameter budget (what a model file holds) is enforced before allocation.
  expect_contains(error_of([&] { build_model(layers, {784}, gen, 1000); }),
                  {"layer 1 'dense'", "parameters", "1000"});
  auto small = parse_model_spec("dense(3),dense(2)");
  EXPECT_EQ(build_model(small, {4}, gen, 4 * 3 + 3 + 3 * 2 + 2)->parameter_count(), 23);
  expect_error([&] { build_model(small, {4}, gen, 22); }, "layer 2 'dense'");
  expect_error([&] { build_model(small, {1 << 30, 1 << 30, 1 << 30}, gen); }, "too large");
}

TEST(SpecErrors, JsonErrors) {
  expect_error([] { parse_model_spec_json("[\"relu\", "); }, "invalid JSON");
  expect_error([] { parse_model_spec_json("{\"layers\": 3}"); }, "non-empty array");
  expect_error([] { parse_model_spec_json("[]"); }, "non-empty array");
  expect_error([] { parse_model_spec_json("42"); }, "non-empty array");
  expect_contains(error_of([] { parse_model_spec_json(R"j(["relu", 7])j"); }),
                  {"layer 2", "expected a string or an object", "7"});
  expect_contains(error_of([] { parse_model_spec_json(R"j(["relu", "tanh", "dense(3),relu"])j"); }),
                  {"layer 3", "not a single layer", "dense(3),relu"});
  // Errors inside a string item name that item's position in the array.
  expect_contains(error_of([] { parse_model_spec_json(R"j(["relu", "tanh", "wobble"])j"); }),
                  {"layer 3 'wobble'", "unknown layer"});
  expect_contains(error_of([] { parse_model_spec_json(R"j(["relu", "dense(x)"])j"); }),
                  {"layer 2 'dense'", "must be a number", "'x'"});
  expect_contains(error_of([] { parse_model_spec_json(R"j([{"layer": "dense", "args": 3}])j"); }),
                  {"layer 1 'dense'", "\"args\" must be an array"});
  expect_contains(
      error_of([] {
        parse_model_spec_json(R"j(["relu", {"layer": "dense", "args": [4], "bias": 2}])j");
      }),
      {"layer 2 'dense'", "'bias' must be true or false"});
  expect_contains(
      error_of([] { parse_model_spec_json(R"j([{"layer": "dense", "units": 4, "x": 1}])j"); }),
      {"unknown argument 'x'"});
  expect_contains(error_of([] { parse_model_spec_json(R"j([{"name": "dense"}])j"); }),
                  {"layer 1", "expected a string or an object with \"layer\""});
}

TEST(SpecErrors, LayerNotFittingItsInput) {
  Generator gen(1);
  expect_contains(error_of([&] { build_model(parse_model_spec("relu,dense(3)"), {}, gen); }),
                  {"layer 2 'dense'", "column 6", "input"});
  expect_contains(error_of([&] { build_model(parse_model_spec("dense(3)"), {0}, gen); }),
                  {"layer 1 'dense'", "does not fit its input of shape [0]"});
  expect_contains(error_of([&] {
                    build_model(parse_model_spec("reshape(5,5)"), {1, 28, 28}, gen);
                  }),
                  {"layer 1 'reshape'", "cannot reshape samples of shape [1, 28, 28]"});
  expect_contains(error_of([&] { build_model(parse_model_spec("permute(1,0)"), {784}, gen); }),
                  {"layer 1 'permute'", "expects samples with 2 axes, got [784]"});
  expect_error([&] { build_model({}, {3}, gen); }, "no layers");
  // A spec assembled by hand is checked as well.
  std::vector<LayerSpec> bad{{"conv9", {}, 1, 0, {}}};
  expect_error([&] { build_model(bad, {3}, gen); }, "unknown layer");
}

TEST(Spec, LayerHelpListsEveryLayer) {
  auto help = layer_help();
  std::string all;
  for (const auto& line : help) all += line + "\n";
  expect_contains(all, {"dense(units, bias=true)", "leaky_relu(slope=0.01)", "flatten", "softmax"});
  // Every listed name is a known layer: its bare name parses, or only lacks required arguments.
  for (const auto& line : help) {
    std::string name = line.substr(0, line.find_first_of("( "));
    try {
      parse_model_spec(name);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find("unknown layer"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace bp::nn
