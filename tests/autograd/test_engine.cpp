// The backward engine: upstream gradients, accumulation, shared inputs, diamonds, grad mode,
// detach, retain_graph, retain_grad, graph freeing and memory release.
#include <memory>

#include "core/tensor_impl.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using bp::testing::expect_error;

std::vector<float> grad_of(const Tensor& t) {
  EXPECT_TRUE(t.grad().defined());
  return t.grad().defined() ? t.grad().to_vector() : std::vector<float>{};
}

TEST(Engine, BackwardOnScalar) {
  // y = 3·x² + 2x at x = 1.5: dy/dx = 6x + 2 = 11.
  Tensor x = Tensor::scalar(1.5f, true);
  Tensor y = 3.0f * x * x + 2.0f * x;
  EXPECT_FLOAT_EQ(y.item(), 3.0f * 2.25f + 3.0f);
  y.backward();
  EXPECT_FLOAT_EQ(x.grad().item(), 11.0f);
}

TEST(Engine, BackwardOnLeafScalar) {
  Tensor x = Tensor::scalar(2.0f, true);
  x.backward();
  EXPECT_EQ(x.grad().item(), 1.0f);
}

TEST(Engine, ScalarGradientsOfAVectorFunction) {
  // L = Σ (w·x)², dL/dw_i = 2·w_i·x_i², dL/dx_i = 2·w_i²·x_i.
  Tensor w = Tensor::from_data({1, -2, 3}, {3}, true);
  Tensor x = Tensor::from_data({0.5f, 1, 2}, {3}, true);
  Tensor l = sum(square(w * x));
  EXPECT_FLOAT_EQ(l.item(), 0.25f + 4.0f + 36.0f);
  l.backward();
  EXPECT_EQ(grad_of(w), (std::vector<float>{2 * 1 * 0.25f, 2 * -2 * 1.0f, 2 * 3 * 4.0f}));
  EXPECT_EQ(grad_of(x), (std::vector<float>{2 * 1 * 0.5f, 2 * 4 * 1.0f, 2 * 9 * 2.0f}));
}

TEST(Engine, BackwardWithExplicitUpstreamGradient) {
  // y = x², upstream v: grad = 2·x·v.
  Tensor x = Tensor::from_data({1, 2, 3, 4}, {2, 2}, true);
  Tensor y = x * x;
  Tensor v = Tensor::from_data({1, 0.5f, -1, 2}, {2, 2});
  y.backward(v);
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 2, -6, 16}));
  // The upstream gradient is not modified by the engine.
  EXPECT_EQ(v.to_vector(), (std::vector<float>{1, 0.5f, -1, 2}));
}

TEST(Engine, ExplicitGradientOnLeafIsCopied) {
  Tensor x = Tensor::zeros({2}, true);
  Tensor v = Tensor::from_data({3, 4}, {2});
  x.backward(v);
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, 4}));
  v.data()[0] = 100;  // the gradient must not alias the caller's tensor
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, 4}));
  x.backward(v);
  EXPECT_EQ(grad_of(x), (std::vector<float>{103, 8}));
  EXPECT_EQ(v.to_vector(), (std::vector<float>{100, 4}));
}

TEST(Engine, WrongShapedUpstreamGradient) {
  Tensor x = Tensor::ones({2, 3}, true);
  Tensor y = x * 2.0f;
  expect_error(
      [&] {
        y.backward(Tensor::ones({3, 2}));
      },
      "gradient of shape [3, 2] given for a tensor of shape [2, 3]");
  expect_error([&] { y.backward(Tensor::ones({6})); }, "Tensor::backward");
  expect_error([&] { y.backward(Tensor()); }, "undefined");
  // Implicit upstream gradient needs one element.
  expect_error([&] { y.backward(); }, "must have one element");
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  sum(x * x).backward();  // 2x
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 4}));
  sum(x * 3.0f).backward();  // + 3
  EXPECT_EQ(grad_of(x), (std::vector<float>{5, 7}));
  Tensor g = x.grad();
  sum(x).backward();  // + 1, in the same buffer
  EXPECT_EQ(g.to_vector(), (std::vector<float>{6, 8}));
}

TEST(Engine, TensorUsedTwiceGetsBothContributions) {
  Tensor x = Tensor::from_data({-1.5f, 2, 3}, {3}, true);
  sum(x * x).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{-3, 4, 6}));

  Tensor a = Tensor::from_data({1, 2}, {2}, true);
  Tensor z = a + a;
  z.backward(Tensor::from_data({1, 10}, {2}));
  EXPECT_EQ(grad_of(a), (std::vector<float>{2, 20}));

  // Used by three ops: d/db (b·b + b - b/2) = 2b + 0.5.
  Tensor b = Tensor::scalar(4.0f, true);
  (b * b + b - b / 2.0f).backward();
  EXPECT_FLOAT_EQ(b.grad().item(), 8.5f);
}

TEST(Engine, DiamondGraph) {
  // x -> a = 2x, b = x²; y = a·b = 2x³; dy/dx = 6x².
  Tensor x = Tensor::scalar(3.0f, true);
  Tensor a = x * 2.0f;
  Tensor b = x * x;
  Tensor y = a * b;
  y.backward();
  EXPECT_FLOAT_EQ(y.item(), 54.0f);
  EXPECT_FLOAT_EQ(x.grad().item(), 54.0f);
  // The intermediates did not keep gradients.
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Engine, DeepDiamondWithSharedIntermediate) {
  // h = x + 1 feeds both branches: y = exp(h) + h², dy/dx = e^h + 2h.
  Tensor x = Tensor::from_data({0.0f, 1.0f}, {2}, true);
  Tensor h = x + 1.0f;
  Tensor y = sum(exp(h) + square(h));
  y.backward();
  std::vector<float> g = grad_of(x);
  ASSERT_EQ(g.size(), 2u);
  EXPECT_NEAR(g[0], std::exp(1.0) + 2.0, 1e-5);
  EXPECT_NEAR(g[1], std::exp(2.0) + 4.0, 1e-5);
}

TEST(Engine, BroadcastGradientIsSummed) {
  // y = x (2×3) + b (3): db = column sums of the upstream gradient.
  Tensor x = Tensor::zeros({2, 3}, true);
  Tensor b = Tensor::zeros({3}, true);
  Tensor y = x + b;
  y.backward(Tensor::from_data({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(grad_of(b), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(grad_of(x), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(Engine, OnlyInputsRequiringGradGetOne) {
  Tensor x = Tensor::from_data({2}, {1}, true);
  Tensor c = Tensor::from_data({5}, {1});
  sum(x * c).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{5}));
  EXPECT_FALSE(c.grad().defined());
}

// ---- grad mode ----

TEST(GradMode, NoGradGuardStopsRecording) {
  Tensor x = Tensor::ones({2}, true);
  EXPECT_TRUE(grad_enabled());
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    Tensor y = x * 2.0f + 1.0f;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    EXPECT_TRUE(y.is_leaf());
    EXPECT_EQ(y.to_vector(), (std::vector<float>{3, 3}));
    expect_error([&] { sum(y).backward(); }, "does not require a gradient");
  }
  EXPECT_TRUE(grad_enabled());
  Tensor z = x * 2.0f;
  EXPECT_TRUE(z.requires_grad());
  EXPECT_NE(z.grad_fn(), nullptr);
}

TEST(GradMode, NestedGuardsRestore) {
  EXPECT_TRUE(grad_enabled());
  {
    NoGradGuard outer;
    EXPECT_FALSE(grad_enabled());
    {
      NoGradGuard inner;
      EXPECT_FALSE(grad_enabled());
    }
    EXPECT_FALSE(grad_enabled());  // the inner guard restores "off", not "on"
  }
  EXPECT_TRUE(grad_enabled());
}

TEST(GradMode, BackwardRunsWithoutRecording) {
  // The gradient computed by backward is a plain tensor, not part of a graph.
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  sum(x * x).backward();
  EXPECT_FALSE(x.grad().requires_grad());
  EXPECT_EQ(x.grad().grad_fn(), nullptr);
  EXPECT_TRUE(grad_enabled());
}

// ---- detach ----

TEST(Detach, CutsTheGraphAndSharesData) {
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  Tensor y = x * 3.0f;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.grad_fn(), nullptr);
  EXPECT_TRUE(d.is_leaf());
  EXPECT_EQ(d.data(), y.data());
  d.data()[0] = 10.0f;
  EXPECT_EQ(y.data()[0], 10.0f);

  // z = y·d + y: d is a constant, so dz/dx = 3·(d + 1) = 3·(3x + 1) with the original d.
  Tensor x2 = Tensor::from_data({1, 2}, {2}, true);
  Tensor y2 = x2 * 3.0f;
  Tensor d2 = y2.detach();
  sum(y2 * d2 + y2).backward();
  EXPECT_EQ(grad_of(x2), (std::vector<float>{3 * 4.0f, 3 * 7.0f}));
  EXPECT_FALSE(d2.grad().defined());
}

TEST(Detach, DetachedTensorCannotBackward) {
  Tensor x = Tensor::ones({1}, true);
  Tensor d = (x * 2.0f).detach();
  expect_error([&] { d.backward(); }, "does not require a gradient");
}

// ---- retain_graph ----

TEST(RetainGraph, AllowsASecondBackwardAndDoublesGrads) {
  Tensor x = Tensor::from_data({1, -2}, {2}, true);
  Tensor y = sum(x * x * x);  // dy/dx = 3x²
  y.backward(true);
  EXPECT_EQ(grad_of(x), (std::vector<float>{3, 12}));
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_TRUE(static_cast<bool>(y.grad_fn()->backward));
  y.backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{6, 24}));
}

TEST(RetainGraph, SecondBackwardWithoutItThrows) {
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  Tensor y = sum(x * x);
  y.backward();
  expect_error([&] { y.backward(); }, "retain_graph");
  // The failed call did not change the gradient.
  EXPECT_EQ(grad_of(x), (std::vector<float>{2, 4}));
}

TEST(RetainGraph, SecondBackwardThroughAFreedSubgraphThrows) {
  Tensor x = Tensor::scalar(2.0f, true);
  Tensor h = x * x;
  h.backward();
  // A new op on top of the freed intermediate: the new node is fine, h's node is freed.
  Tensor y = h * 3.0f;
  expect_error([&] { y.backward(); }, "retain_graph");
}

TEST(Engine, BackwardOnTensorNotRequiringGradThrows) {
  Tensor x = Tensor::ones({1});
  expect_error([&] { x.backward(); }, "does not require a gradient");
  Tensor y = x * 2.0f;
  expect_error([&] { y.backward(); }, "backward");
  EXPECT_FALSE(y.requires_grad());
}

// ---- zero_grad, retain_grad, set_requires_grad ----

TEST(Engine, ZeroGradKeepsTheBuffer) {
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  x.zero_grad();  // no gradient yet: nothing happens
  EXPECT_FALSE(x.grad().defined());
  sum(x * x).backward();
  Tensor g = x.grad();
  x.zero_grad();
  EXPECT_TRUE(x.grad().is_same(g));
  EXPECT_EQ(g.to_vector(), (std::vector<float>{0, 0}));
  sum(x * 5.0f).backward();
  EXPECT_EQ(grad_of(x), (std::vector<float>{5, 5}));
  x.clear_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, RetainGradOnIntermediate) {
  // h = 2x, y = Σ h²: dy/dh = 2h = 4x, dy/dx = 8x.
  Tensor x = Tensor::from_data({1, 3}, {2}, true);
  Tensor h = x * 2.0f;
  h.retain_grad();
  Tensor other = x + 1.0f;  // not retained
  Tensor y = sum(h * h) + sum(other);
  y.backward();
  EXPECT_EQ(grad_of(h), (std::vector<float>{4, 12}));
  EXPECT_EQ(grad_of(x), (std::vector<float>{8 + 1, 24 + 1}));
  EXPECT_FALSE(other.grad().defined());
  EXPECT_FALSE(h.is_leaf());
}

TEST(Engine, RetainGradOnIntermediateUsedTwiceAndOnRoot) {
  Tensor x = Tensor::scalar(2.0f, true);
  Tensor h = x * 3.0f;  // 6
  h.retain_grad();
  Tensor y = h * h + h;  // dy/dh = 2h + 1 = 13
  y.retain_grad();
  y.backward();
  EXPECT_FLOAT_EQ(h.grad().item(), 13.0f);
  EXPECT_FLOAT_EQ(y.grad().item(), 1.0f);
  EXPECT_FLOAT_EQ(x.grad().item(), 39.0f);
}

TEST(Engine, RetainGradNeedsRequiresGrad) {
  Tensor c = Tensor::ones({1});
  expect_error([&] { c.retain_grad(); }, "does not require a gradient");
}

TEST(Engine, SetRequiresGradOnlyOnLeaves) {
  Tensor x = Tensor::ones({2});
  EXPECT_FALSE(x.requires_grad());
  x.set_requires_grad();
  EXPECT_TRUE(x.requires_grad());
  Tensor y = x * 2.0f;
  EXPECT_FALSE(y.is_leaf());
  expect_error([&] { y.set_requires_grad(false); }, "only leaf tensors");
  EXPECT_TRUE(y.requires_grad());
  x.set_requires_grad(false);
  EXPECT_FALSE(x.requires_grad());
  EXPECT_FALSE((x * 2.0f).requires_grad());
}

// ---- graph freeing and memory ----

TEST(GraphFreeing, NodesAreClearedAfterBackward) {
  Tensor x = Tensor::ones({2}, true);
  Tensor h = exp(x);
  Tensor y = sum(h * 2.0f);
  std::shared_ptr<autograd::Node> hn = h.grad_fn(), yn = y.grad_fn();
  ASSERT_NE(hn, nullptr);
  ASSERT_NE(yn, nullptr);
  EXPECT_EQ(hn->kind, autograd::OpKind::exp);
  EXPECT_EQ(hn->inputs.size(), 1u);
  EXPECT_TRUE(static_cast<bool>(hn->backward));
  y.backward();
  EXPECT_FALSE(static_cast<bool>(yn->backward));
  EXPECT_TRUE(yn->inputs.empty());
  EXPECT_FALSE(static_cast<bool>(hn->backward));
  EXPECT_TRUE(hn->inputs.empty());
}

TEST(GraphFreeing, RetainGraphKeepsNodes) {
  Tensor x = Tensor::ones({2}, true);
  Tensor h = exp(x);
  Tensor y = sum(h);
  y.backward(true);
  ASSERT_NE(h.grad_fn(), nullptr);
  EXPECT_TRUE(static_cast<bool>(h.grad_fn()->backward));
  EXPECT_EQ(h.grad_fn()->inputs.size(), 1u);
}

TEST(Memory, IntermediateIsReleasedAfterBackward) {
  Tensor x = Tensor::from_data({1, 2, 3}, {3}, true);
  Tensor y;
  std::weak_ptr<TensorImpl> weak_h, weak_node_input;
  std::weak_ptr<autograd::Node> weak_hn;
  {
    Tensor h = exp(x) * x;
    weak_h = h.impl();
    weak_hn = h.grad_fn();
    y = sum(h);
  }
  // Still held by y's graph.
  EXPECT_FALSE(weak_h.expired());
  EXPECT_FALSE(weak_hn.expired());
  y.backward();
  EXPECT_TRUE(weak_h.expired()) << "the graph still holds the intermediate after backward";
  EXPECT_TRUE(weak_hn.expired());
  EXPECT_TRUE(x.grad().defined());
}

TEST(Memory, GraphIsReleasedWhenTheResultGoesOutOfScope) {
  Tensor x = Tensor::from_data({1, 2, 3}, {3}, true);
  std::weak_ptr<TensorImpl> weak_h, weak_y;
  std::weak_ptr<autograd::Node> weak_node;
  {
    Tensor h = sigmoid(x) / (x + 1.0f);
    Tensor y = sum(softmax(h.reshape({1, 3})) * h);
    weak_h = h.impl();
    weak_y = y.impl();
    weak_node = y.grad_fn();
  }
  // Never backpropagated: releasing the result must free the whole graph (no cycles).
  EXPECT_TRUE(weak_h.expired());
  EXPECT_TRUE(weak_y.expired());
  EXPECT_TRUE(weak_node.expired());
}

TEST(Memory, RetainedGraphIsReleasedWhenTheResultGoesOutOfScope) {
  Tensor x = Tensor::from_data({1, 2}, {2}, true);
  std::weak_ptr<TensorImpl> weak_h;
  std::weak_ptr<autograd::Node> weak_node;
  {
    Tensor h = tanh(x * x);
    h.retain_grad();
    Tensor y = mean(h * h);
    weak_h = h.impl();
    weak_node = y.grad_fn();
    y.backward(true);
    EXPECT_FALSE(weak_h.expired());
  }
  EXPECT_TRUE(weak_h.expired());
  EXPECT_TRUE(weak_node.expired());
}

TEST(Memory, LeafIsNotKeptAliveByAReleasedGraph) {
  std::weak_ptr<TensorImpl> weak_x;
  {
    Tensor y;
    {
      Tensor x = Tensor::ones({4}, true);
      weak_x = x.impl();
      y = sum(matmul(x.reshape({2, 2}), x.reshape({2, 2})));
    }
    EXPECT_FALSE(weak_x.expired());  // y's graph refers to x
    y.backward();
    EXPECT_TRUE(weak_x.expired());  // the freed graph does not
  }
}

// The hook sees each leaf once, when its gradient is final: in a two-layer chain the second
// layer's weight is ready (with its full gradient) before the first layer's backward has run.
TEST(Engine, GradReadyHookReportsEachLeafOnceWhenFinal) {
  Generator gen(3);
  Tensor w1 = Tensor::uniform({4, 3}, -1.0f, 1.0f, gen, true);
  Tensor w2 = Tensor::uniform({2, 4}, -1.0f, 1.0f, gen, true);
  Tensor x = Tensor::uniform({5, 3}, -1.0f, 1.0f, gen);
  Tensor unused = Tensor::zeros({2}, true);
  std::vector<std::pair<TensorImpl*, std::vector<float>>> seen;
  bool w1_done_before_w2_reported = true;
  {
    autograd::GradReadyHook hook([&](const Tensor& leaf) {
      if (leaf.is_same(w2)) w1_done_before_w2_reported = w1.grad().defined();
      seen.emplace_back(leaf.impl().get(), leaf.grad().to_vector());
    });
    // w2 is used twice; its gradient must include both uses when reported.
    Tensor h = relu(matmul(x, transpose(w1, 0, 1)));
    Tensor y = add(matmul(h, transpose(w2, 0, 1)), matmul(h, transpose(w2, 0, 1)));
    sum(square(y)).backward();
  }
  ASSERT_EQ(seen.size(), 2u);
  // w2 was reported while backward had yet to reach the first layer.
  EXPECT_FALSE(w1_done_before_w2_reported);
  EXPECT_EQ(seen[0].first, w2.impl().get());
  EXPECT_EQ(seen[1].first, w1.impl().get());
  EXPECT_EQ(seen[0].second, w2.grad().to_vector());
  EXPECT_EQ(seen[1].second, w1.grad().to_vector());
  EXPECT_FALSE(unused.grad().defined());

  // Out of scope: no more calls.
  seen.clear();
  sum(square(w1)).backward();
  EXPECT_TRUE(seen.empty());
}

TEST(Engine, GradReadyHookOnALeafRootAndAProduct) {
  Tensor a = Tensor::scalar(2.0f, true);
  Tensor b = Tensor::scalar(3.0f, true);
  int calls = 0;
  autograd::GradReadyHook hook([&](const Tensor&) { ++calls; });
  // The root is a leaf: reported once.
  a.backward();
  EXPECT_EQ(calls, 1);
  calls = 0;
  mul(a, b).backward();
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace bp
