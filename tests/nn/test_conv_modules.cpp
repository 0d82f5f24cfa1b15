// Convolution and pooling modules and their model-spec layers: shapes, parameter counts,
// initialisation bounds, names and errors.
#include <cmath>

#include "backprop/spec.hpp"
#include "test_util.hpp"

namespace bp::nn {
namespace {

using bp::testing::expect_error;

float max_abs(const Tensor& t) {
  float m = 0;
  for (float v : t.values()) m = std::max(m, std::fabs(v));
  return m;
}

TEST(ConvModules, Conv2dShapesParametersAndInit) {
  Generator gen(1);
  Conv2d conv({.in = 4, .out = 8, .kernel = 3, .stride = 2, .padding = 1, .groups = 2}, gen);
  EXPECT_EQ(conv.weight().shape(), (Shape{8, 2, 3, 3}));
  EXPECT_EQ(conv.bias().shape(), (Shape{8}));
  EXPECT_EQ(conv.parameter_count(), 8 * 2 * 9 + 8);
  EXPECT_EQ(conv.output_shape({4, 9, 10}), (Shape{8, 5, 5}));
  EXPECT_EQ(conv(Tensor::zeros({3, 4, 9, 10})).shape(), (Shape{3, 8, 5, 5}));
  EXPECT_EQ(conv.name(), "Conv2d(4, 8, kernel=3, stride=2, padding=1, groups=2)");
  // PyTorch's default: U(-1/√fan_in, 1/√fan_in), fan_in = in/groups·kH·kW = 18.
  const float bound = 1.0f / std::sqrt(18.0f);
  EXPECT_LE(max_abs(conv.weight()), bound);
  EXPECT_GT(max_abs(conv.weight()), 0.8f * bound);
  EXPECT_LE(max_abs(conv.bias()), bound);
  EXPECT_TRUE(conv.weight().requires_grad());

  Conv2d plain({.in = 1, .out = 2, .kernel = {3, 5}, .dilation = {2, 1}, .bias = false}, gen);
  EXPECT_FALSE(plain.bias().defined());
  EXPECT_EQ(plain.parameter_count(), 2 * 15);
  EXPECT_EQ(plain.output_shape({1, 10, 10}), (Shape{2, 6, 6}));
  EXPECT_EQ(plain.name(), "Conv2d(1, 2, kernel=(3, 5), dilation=(2, 1), bias=false)");
}

TEST(ConvModules, ConvTranspose2dShapesParametersAndInit) {
  Generator gen(2);
  ConvTranspose2d up(
      {.in = 6, .out = 4, .kernel = 3, .stride = 2, .padding = 1, .output_padding = 1, .groups = 2},
      gen);
  EXPECT_EQ(up.weight().shape(), (Shape{6, 2, 3, 3}));
  EXPECT_EQ(up.parameter_count(), 6 * 2 * 9 + 4);
  EXPECT_EQ(up.output_shape({6, 5, 7}), (Shape{4, 10, 14}));
  EXPECT_EQ(up(Tensor::zeros({2, 6, 5, 7})).shape(), (Shape{2, 4, 10, 14}));
  EXPECT_EQ(up.name(),
            "ConvTranspose2d(6, 4, kernel=3, stride=2, padding=1, output_padding=1, groups=2)");
  // fan_in from the weight's second axis: out/groups·kH·kW = 18.
  EXPECT_LE(max_abs(up.weight()), 1.0f / std::sqrt(18.0f));
}

TEST(ConvModules, PoolingShapes) {
  EXPECT_EQ(MaxPool2d({.kernel = 2}).output_shape({3, 7, 8}), (Shape{3, 3, 4}));
  EXPECT_EQ(MaxPool2d({.kernel = 3, .stride = 1, .padding = 1}).output_shape({3, 7, 8}),
            (Shape{3, 7, 8}));
  EXPECT_EQ(AvgPool2d({.kernel = {2, 4}}).output_shape({1, 4, 8}), (Shape{1, 2, 2}));
  EXPECT_EQ(GlobalAvgPool().output_shape({5, 3, 3}), (Shape{5}));
  EXPECT_EQ(MaxPool2d({.kernel = 2}).name(), "MaxPool2d(kernel=2)");
  EXPECT_EQ(MaxPool2d({.kernel = 3, .stride = 2, .padding = 1}).name(),
            "MaxPool2d(kernel=3, stride=2, padding=1)");
  EXPECT_EQ(AvgPool2d({.kernel = 2, .count_include_pad = false}).name(),
            "AvgPool2d(kernel=2, count_include_pad=false)");
  EXPECT_EQ(MaxPool2d({.kernel = 2}).parameter_count(), 0);
  EXPECT_EQ(GlobalAvgPool()(Tensor::ones({2, 3, 4, 4})).shape(), (Shape{2, 3}));
}

TEST(ConvModules, RejectBadArgumentsAndShapes) {
  expect_error([] { Conv2d({.in = 0, .out = 4, .kernel = 3}); },
               "Conv2d: channel counts must be positive (got in=0, out=4)");
  expect_error([] { Conv2d({.in = 4, .out = 6, .kernel = 3, .groups = 4}); },
               "Conv2d: groups=4 does not divide the 6 output channels");
  expect_error([] { Conv2d({.in = 4, .out = 6}); }, "Conv2d: kernel must be positive (got 0)");
  expect_error([] { Conv2d({.in = 4, .out = 6, .kernel = 3, .stride = 0}); },
               "Conv2d: stride must be positive (got 0)");
  expect_error([] { Conv2d({.in = 4, .out = 6, .kernel = 3, .padding = -1}); },
               "Conv2d: padding must be non-negative (got -1)");
  expect_error([] { ConvTranspose2d({.in = 4, .out = 6, .kernel = 3, .output_padding = -1}); },
               "ConvTranspose2d: output_padding must be non-negative (got -1)");
  expect_error([] { MaxPool2d({.kernel = 2, .stride = 2, .padding = 2}); },
               "MaxPool2d: padding 2 must be at most half the kernel 2");
  expect_error([] { AvgPool2d({.kernel = 2, .stride = 0}); },
               "AvgPool2d: stride must be positive (got 0)");
  Conv2d conv({.in = 3, .out = 4, .kernel = 3});
  expect_error([&] { conv.output_shape({784}); },
               "Conv2d(3, 4, kernel=3): expects inputs of shape (C, H, W), got [784]");
  expect_error([&] { conv.output_shape({2, 8, 8}); }, "has 2");
  expect_error([&] { conv.output_shape({3, 2, 8}); }, "larger than the padded input 2x8");
  expect_error(
      [&] {
        GlobalAvgPool().output_shape({3, 4});
      },
      "GlobalAvgPool: expects inputs of shape (C, H, W), got [3, 4]");
  expect_error(
      [&] {
        MaxPool2d({.kernel = 2}).output_shape({1, 1, 1});
      },
      "larger than the padded input");
}

TEST(ConvSpec, BuildsTheFashionMnistNetwork) {
  Generator gen(3);
  auto layers = parse_model_spec(
      "conv(32,3),relu,maxpool(2),conv(64,3),relu,maxpool(2),flatten,dense(128),relu,dense(10)");
  auto net = build_model(layers, {1, 28, 28}, gen);
  ASSERT_EQ(net->size(), 10u);
  const std::vector<Shape> shapes = {{32, 26, 26}, {32, 26, 26}, {32, 13, 13}, {64, 11, 11},
                                     {64, 11, 11}, {64, 5, 5},   {1600},       {128},
                                     {128},        {10}};
  Shape shape = {1, 28, 28};
  for (size_t i = 0; i < shapes.size(); ++i) {
    shape = (*net)[i].output_shape(shape);
    EXPECT_EQ(shape, shapes[i]) << "after layer " << i << " " << (*net)[i].name();
  }
  EXPECT_EQ(net->parameter_count(),
            (32 * 9 + 32) + (64 * 32 * 9 + 64) + (1600 * 128 + 128) + (128 * 10 + 10));
  Tensor y = (*net)(Tensor::zeros({2, 1, 28, 28}));
  EXPECT_EQ(y.shape(), (Shape{2, 10}));
  // Exactly the parameter budget builds; one less does not.
  const int64_t count = net->parameter_count();
  EXPECT_NO_THROW(build_model(layers, {1, 28, 28}, gen, count));
  expect_error([&] { build_model(layers, {1, 28, 28}, gen, count - 1); }, "parameters");
}

TEST(ConvSpec, EveryLayerWithItsArguments) {
  Generator gen(4);
  auto net =
      build_model(parse_model_spec("conv(8, 3, stride=2, pad=1, dilation=1, groups=2, bias=false),"
                                   "conv_transpose(4, 2, stride=2, pad=0, output_pad=1, groups=2),"
                                   "avgpool(3, stride=1, pad=1),maxpool(2, 1),global_avgpool"),
                  {2, 9, 9}, gen);
  EXPECT_EQ(net->output_shape({2, 9, 9}), (Shape{4}));
  EXPECT_EQ((*net)[0].output_shape({2, 9, 9}), (Shape{8, 5, 5}));
  EXPECT_EQ((*net)[1].output_shape({8, 5, 5}), (Shape{4, 11, 11}));
  EXPECT_EQ((*net)[0].parameter_count(), 8 * 1 * 9);
  EXPECT_EQ((*net)[1].parameter_count(), 8 * 2 * 4 + 4);
  EXPECT_EQ((*net)(Tensor::ones({1, 2, 9, 9})).shape(), (Shape{1, 4}));
  EXPECT_EQ(to_string(parse_model_spec("maxpool(kernel=2)")), "maxpool(kernel=2)");
}

TEST(ConvSpec, FailsClearly) {
  Generator gen(5);
  expect_error(
      [&] {
        build_model(parse_model_spec("flatten,conv(4,3)"), {1, 28, 28}, gen);
      },
      "model spec: layer 2 'conv' (column 9): needs inputs of shape (C, H, W), got [784]");
  expect_error([&] { build_model(parse_model_spec("maxpool(2)"), {784}, gen); },
               "layer 1 'maxpool' (column 1): needs inputs of shape (C, H, W), got [784]");
  expect_error([&] { build_model(parse_model_spec("global_avgpool"), {10}, gen); },
               "needs inputs of shape (C, H, W), got [10]");
  expect_error(
      [&] {
        build_model(parse_model_spec("conv_transpose(4,3)"), {4, 5}, gen);
      },
      "needs inputs of shape (C, H, W), got [4, 5]");
  expect_error(
      [&] {
        build_model(parse_model_spec("conv(4,5)"), {1, 3, 3}, gen);
      },
      "model spec: layer 1 'conv' (column 1): does not fit its input of shape [1, 3, 3]");
  expect_error(
      [&] {
        build_model(parse_model_spec("conv(4,3,groups=2)"), {3, 8, 8}, gen);
      },
      "groups=2 does not divide the 3 input channels");
  expect_error([] { parse_model_spec("conv(6,3,groups=4)"); },
               "Conv2d: groups=4 does not divide the 6 output channels");
  expect_error([] { parse_model_spec("conv(4)"); }, "missing argument 'kernel'");
  expect_error([] { parse_model_spec("conv(4,3,pad=-1)"); },
               "argument 'pad' must be a non-negative integer, got -1");
  expect_error([] { parse_model_spec("conv(4,3,stride=0)"); },
               "argument 'stride' must be a positive integer, got 0");
  expect_error([] { parse_model_spec("maxpool(2,pad=2)"); },
               "MaxPool2d: padding 2 must be at most half the kernel 2");
  expect_error(
      [] { parse_model_spec("conv_transpose(4,3,stride=2,output_pad=2)"); },
      "ConvTranspose2d: output_padding 2 must be smaller than the stride 2 or the dilation 1");
  expect_error([] { parse_model_spec("global_avgpool(2)"); }, "unexpected argument '2'");
  expect_error([] { parse_model_spec("avgpool(2,size=3)"); }, "unknown argument 'size'");
}

}  // namespace
}  // namespace bp::nn
