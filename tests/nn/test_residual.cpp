// Residual blocks: the module, and nested layers in model specs.
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

TEST(Residual, AddsTheInputToTheBodysOutput) {
  Generator gen(4);
  auto body = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(5, 5, gen), std::make_shared<nn::Tanh>()});
  nn::Residual block(body);
  Tensor x = Tensor::uniform({3, 5}, -1, 1, gen, true);
  Tensor y = block(x);
  EXPECT_TRUE(allclose(y, x + body->forward(x), 0, 0));
  // The skip path contributes the identity to the input gradient.
  sum(y).backward();
  Tensor through_body = x.detach().clone().set_requires_grad(true);
  sum(body->forward(through_body)).backward();
  EXPECT_TRUE(allclose(x.grad(), through_body.grad() + 1.0f, 1e-6f, 1e-6f));
  EXPECT_EQ(block.named_parameters()[0].first, "body.0.weight");
}

TEST(Residual, RejectsABodyThatChangesTheShape) {
  Generator gen(1);
  nn::Residual block(std::make_shared<nn::Linear>(4, 3, gen));
  expect_error([&] { block(Tensor::zeros({2, 4})); }, "must keep the shape");
  expect_error([&] { block.output_shape({4}); }, "must keep the shape");
  expect_error([] { nn::Residual(nullptr); }, "null");
}

TEST(Residual, NestsInModelSpecs) {
  auto layers = nn::parse_model_spec("flatten, residual(dense(6), relu, dense(6)), dense(2)");
  ASSERT_EQ(layers.size(), 3u);
  EXPECT_EQ(layers[1].name, "residual");
  EXPECT_TRUE(layers[1].args.empty());
  ASSERT_EQ(layers[1].inner.size(), 3u);
  EXPECT_EQ(layers[1].inner[2].name, "dense");
  EXPECT_EQ(layers[1].inner[2].column, 35u);  // columns count from the start of the whole text
  EXPECT_EQ(nn::to_string(layers), "flatten,residual(dense(6),relu,dense(6)),dense(2)");
  EXPECT_EQ(nn::to_string(nn::parse_model_spec(nn::to_string(layers))), nn::to_string(layers));
  Generator gen(2);
  auto model = nn::build_model(layers, {6}, gen);
  EXPECT_EQ(model->output_shape({6}), (Shape{2}));
  EXPECT_EQ(model->parameter_count(), 2 * (6 * 6 + 6) + 6 * 2 + 2);
  // The same from JSON.
  auto json =
      nn::parse_model_spec_json(R"json([{"layer": "residual", "args": ["dense(6)", "relu"]}])json");
  EXPECT_EQ(nn::to_string(json), "residual(dense(6),relu)");
  // Keyword arguments of inner layers stay with them; JSON layer names ignore case like text.
  auto keyed = nn::parse_model_spec("residual(dense(6, bias=false), relu)");
  ASSERT_EQ(keyed[0].inner.size(), 2u);
  ASSERT_EQ(keyed[0].inner[0].args.size(), 2u);
  EXPECT_EQ(keyed[0].inner[0].args[1].key, "bias");
  EXPECT_EQ(keyed[0].inner[0].args[1].value, "false");
  EXPECT_EQ(nn::build_model(keyed, {6}, gen)->parameter_count(), 36);
  EXPECT_EQ(nn::parse_model_spec_json(R"([{"layer": "Flatten"}])")[0].name, "flatten");
}

TEST(Residual, SpecErrorsNameTheInnerProblem) {
  Generator gen(3);
  expect_error([&] { nn::build_model(nn::parse_model_spec("residual(dense(3))"), {4}, gen); },
               "must keep the shape");
  expect_error([] { nn::parse_model_spec("residual(dens(3))"); }, "unknown layer");
  expect_error([] { nn::parse_model_spec("residual()"); }, "at least one inner layer");
  expect_error([] { nn::parse_model_spec("residual(dense(3)"); }, "unclosed '('");
  // Only containers take parenthesised arguments.
  expect_error([] { nn::parse_model_spec("dense((3))"); }, "unexpected '('");
}

}  // namespace
}  // namespace bp
