// User-defined differentiable functions (autograd::Function): gradient checks, the function's name
// in the graph and in errors, and what backward may return.
#include "gradcheck_cases.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using autograd::Function;
using autograd::FunctionContext;
using autograd::OpKind;
using bp::testing::expect_error;
using bp::testing::random;

// cube(x) = x³, d/dx = 3x²
Function cube_function() {
  return Function(
      "cube",
      [](FunctionContext& ctx, const std::vector<Tensor>& in) {
        ctx.save_for_backward({in[0]});
        return in[0] * in[0] * in[0];
      },
      [](FunctionContext& ctx, const Tensor& g) -> std::vector<Tensor> {
        const Tensor& x = ctx.saved_tensors()[0];
        return {g * 3.0f * x * x};
      });
}

// swish(x, b) = x·σ(b·x); d/dx = σ + b·x·σ(1-σ), d/db = x²·σ(1-σ) (b broadcast over x)
Function swish_function() {
  return Function(
      "swish",
      [](FunctionContext& ctx, const std::vector<Tensor>& in) {
        Tensor s = sigmoid(in[1] * in[0]);
        ctx.save_for_backward({in[0], in[1], s});
        return in[0] * s;
      },
      [](FunctionContext& ctx, const Tensor& g) -> std::vector<Tensor> {
        const Tensor &x = ctx.saved_tensors()[0], &b = ctx.saved_tensors()[1],
                     &s = ctx.saved_tensors()[2];
        Tensor ds = s * (1.0f - s);
        std::vector<Tensor> grads(2);
        if (ctx.needs_input_grad(0)) grads[0] = g * (s + b * x * ds);
        if (ctx.needs_input_grad(1)) grads[1] = sum_to(g * x * x * ds, b.shape());
        return grads;
      });
}

BP_GRADCHECK_CASES(cases) {
  Generator gen(11);
  cases[OpKind::custom].push_back({"custom cube",
                                   [](auto& x) { return cube_function()({x[0]}); },
                                   {random({3, 4}, gen, -2, 2).set_requires_grad()}});
  cases[OpKind::custom].push_back({"custom swish",
                                   [](auto& x) {
                                     return swish_function()({x[0], x[1]});
                                   },
                                   {random({2, 5}, gen, -2, 2).set_requires_grad(),
                                    random({5}, gen, 0.5f, 2).set_requires_grad()}});
}

TEST(Function, GradientsOfACubeMatchTheFormula) {
  Tensor x = Tensor::from_data({1, -2, 3}, {3}, true);
  sum(cube_function()({x})).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 12, 27}));
}

TEST(Function, TheNodeCarriesTheFunctionsName) {
  Tensor x = Tensor::ones({2}, true);
  Tensor y = cube_function()({x});
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->kind, OpKind::custom);
  EXPECT_EQ(y.grad_fn()->name(), "cube");
  // Built-in ops keep their own names.
  EXPECT_EQ(exp(x).grad_fn()->name(), "exp");
}

TEST(Function, TheFunctionOutlivesItsObject) {
  Tensor x = Tensor::from_data({2}, {1}, true);
  Tensor y;
  {
    Function cube = cube_function();
    y = cube({x});
  }
  y.backward();
  EXPECT_EQ(x.grad().item(), 12.0f);
}

TEST(Function, NothingIsRecordedWithoutAGradient) {
  Tensor x = Tensor::ones({2});
  EXPECT_FALSE(cube_function()({x}).grad_fn());
  Tensor w = Tensor::ones({2}, true);
  NoGradGuard no_grad;
  EXPECT_FALSE(cube_function()({w}).grad_fn());
}

TEST(Function, AGradientOfTheWrongShapeNamesTheFunction) {
  Function bad(
      "bad_grad", [](FunctionContext&, const std::vector<Tensor>& in) { return in[0] * 2.0f; },
      [](FunctionContext&, const Tensor& g) -> std::vector<Tensor> { return {sum(g)}; });
  Tensor x = Tensor::ones({2, 3}, true);
  expect_error([&] { sum(bad({x})).backward(); },
               "bad_grad backward: the gradient for input 0 has shape [], but the input has shape "
               "[2, 3]");
}

TEST(Function, TooManyGradientsNameTheFunction) {
  Function bad(
      "two_grads", [](FunctionContext&, const std::vector<Tensor>& in) { return in[0] * 2.0f; },
      [](FunctionContext&, const Tensor& g) -> std::vector<Tensor> {
        return {g, g};
      });
  Tensor x = Tensor::ones({2}, true);
  expect_error([&] { sum(bad({x})).backward(); }, "two_grads backward: returned 2 gradients for 1");
}

TEST(Function, ErrorsFromForwardAndBackwardCarryTheName) {
  Function bad(
      "mismatch", [](FunctionContext&, const std::vector<Tensor>& in) { return in[0] + in[1]; },
      [](FunctionContext&, const Tensor& g) -> std::vector<Tensor> {
        return {g + Tensor::ones({7}), g};
      });
  expect_error([&] { bad({Tensor::ones({2}, true), Tensor::ones({3})}); }, "mismatch forward: add");
  Tensor y = bad({Tensor::ones({2}, true), Tensor::ones({2})});
  try {
    sum(y).backward();
    ADD_FAILURE() << "expected a ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("mismatch backward: add", 0), 0u) << e.what();
  }
}

TEST(Function, AnUndefinedOutputOrAnEmptyNameIsAnError) {
  Function none(
      "none", [](FunctionContext&, const std::vector<Tensor>&) { return Tensor(); },
      [](FunctionContext&, const Tensor& g) -> std::vector<Tensor> { return {g}; });
  expect_error([&] { none({Tensor::ones({1}, true)}); }, "none forward: returned an undefined");
  expect_error(
      [] {
        Function(
            "", [](FunctionContext&, const std::vector<Tensor>& in) { return in[0]; },
            [](FunctionContext&, const Tensor& g) -> std::vector<Tensor> { return {g}; });
      },
      "the name is empty");
  expect_error([] { Function("f", nullptr, nullptr); }, "'f': forward and backward");
}

TEST(Function, AnOutputThatIsAnInputIsANewTensor) {
  Function identity(
      "identity",
      [](FunctionContext& ctx, const std::vector<Tensor>& in) {
        ctx.save_for_backward({in[0]});
        return in[0];
      },
      [](FunctionContext&, const Tensor& g) -> std::vector<Tensor> { return {g}; });
  Tensor x = Tensor::ones({2}, true);
  Tensor y = identity({x});
  EXPECT_FALSE(y.is_same(x));
  EXPECT_TRUE(x.is_leaf());
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{1, 1}));
}

TEST(Function, ASavedTensorModifiedInPlaceIsAnErrorNamingTheFunction) {
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  Tensor y = cube_function()({x});
  x.detach().fill_(5.0f);
  expect_error([&] { sum(y).backward(); },
               "a tensor saved by 'cube' for backward was modified in place (version 1, expected "
               "0)");
}

}  // namespace
}  // namespace bp
