// Convolution and pooling ops: gradient checks (registered for the registry test), forward values
// against naive loops written here from the definitions, and every argument check.
#include <algorithm>
#include <limits>
#include <numeric>

#include "gradcheck_cases.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

using autograd::OpKind;
using bp::testing::expect_error;
using bp::testing::random;

struct BackendScope {
  Backend saved = backend();
  explicit BackendScope(Backend b) { set_backend(b); }
  ~BackendScope() { set_backend(saved); }
};

// Distinct values 0.05 apart in random order: no two elements of a pooling window are within a
// finite-difference step of each other, so the maximum never changes hands during a check.
Tensor distinct(const Shape& shape, Generator& gen) {
  Tensor t = Tensor::empty(shape, true);
  std::vector<int64_t> order(static_cast<size_t>(t.numel()));
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
  for (size_t i = 0; i < order.size(); ++i)
    t.data()[i] = 0.05f * static_cast<float>(order[i]) - 1.0f;
  return t;
}

// ---- gradient checks ----

BP_GRADCHECK_CASES(cases) {
  Generator gen(77);
  struct ConvCase {
    const char* label;
    Shape x, w;
    bool bias;
    Size2d stride, padding, dilation;
    int64_t groups;
  };
  const std::vector<ConvCase> convs = {
      {"plain 3x3", {2, 2, 5, 5}, {3, 2, 3, 3}, true, 1, 0, 1, 1},
      {"stride 2, pad 1", {1, 3, 6, 5}, {2, 3, 3, 3}, true, 2, 1, 1, 1},
      {"dilation 2, no bias", {2, 1, 7, 6}, {2, 1, 2, 3}, false, 1, {1, 0}, 2, 1},
      {"groups 2, rectangular", {1, 4, 5, 6}, {4, 2, 3, 2}, true, {2, 1}, {1, 2}, 1, 2},
      {"depthwise", {2, 3, 4, 4}, {3, 1, 3, 3}, true, 1, 1, 1, 3},
      {"1x1", {3, 2, 3, 2}, {4, 2, 1, 1}, true, 1, 0, 1, 1},
  };
  for (const auto& c : convs) {
    std::vector<Tensor> inputs;
    inputs.push_back(random(c.x, gen, -1, 1));
    inputs.push_back(random(c.w, gen, -1, 1));
    if (c.bias) inputs.push_back(random({c.w[0]}, gen, -1, 1));
    cases[OpKind::conv2d].push_back({std::string("conv2d ") + c.label,
                                     [c](const std::vector<Tensor>& x) {
                                       return conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(),
                                                     c.stride, c.padding, c.dilation, c.groups);
                                     },
                                     inputs});
  }

  struct TransposeCase {
    const char* label;
    Shape x, w;
    bool bias;
    Size2d stride, padding, output_padding, dilation;
    int64_t groups;
  };
  const std::vector<TransposeCase> transposes = {
      {"plain", {2, 2, 3, 3}, {2, 3, 3, 3}, true, 1, 0, 0, 1, 1},
      {"stride 2, pad 1, output_pad 1", {1, 3, 3, 4}, {3, 2, 3, 3}, true, 2, 1, 1, 1, 1},
      {"dilation 2, no bias", {2, 2, 3, 3}, {2, 1, 2, 2}, false, 1, 0, 0, 2, 1},
      {"groups 2, rectangular", {1, 4, 3, 2}, {4, 1, 2, 3}, true, {2, 1}, {0, 1}, {1, 0}, 1, 2},
      {"output_pad below dilation", {1, 1, 3, 3}, {1, 2, 2, 2}, true, 1, 0, 1, 2, 1},
  };
  for (const auto& c : transposes) {
    std::vector<Tensor> inputs;
    inputs.push_back(random(c.x, gen, -1, 1));
    inputs.push_back(random(c.w, gen, -1, 1));
    if (c.bias) inputs.push_back(random({c.w[1] * c.groups}, gen, -1, 1));
    cases[OpKind::conv_transpose2d].push_back(
        {std::string("conv_transpose2d ") + c.label,
         [c](const std::vector<Tensor>& x) {
           return conv_transpose2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), c.stride, c.padding,
                                   c.output_padding, c.dilation, c.groups);
         },
         inputs});
  }

  cases[OpKind::max_pool2d].push_back({"max_pool2d 2x2",
                                       [](auto& x) { return max_pool2d(x[0], 2); },
                                       {distinct({2, 2, 4, 5}, gen)}});
  cases[OpKind::max_pool2d].push_back({"max_pool2d 3x3 stride 2 pad 1",
                                       [](auto& x) { return max_pool2d(x[0], 3, Size2d(2), 1); },
                                       {distinct({1, 3, 5, 6}, gen)}});
  cases[OpKind::max_pool2d].push_back({"max_pool2d overlapping 2x3 stride 1",
                                       [](auto& x) {
                                         return max_pool2d(x[0], {2, 3}, Size2d(1), {1, 0});
                                       },
                                       {distinct({2, 1, 4, 4}, gen)}});

  cases[OpKind::avg_pool2d].push_back(
      {"avg_pool2d 2x2", [](auto& x) { return avg_pool2d(x[0], 2); }, {random({2, 2, 4, 5}, gen)}});
  cases[OpKind::avg_pool2d].push_back(
      {"avg_pool2d 3x3 stride 2 pad 1 include pad",
       [](auto& x) { return avg_pool2d(x[0], 3, Size2d(2), 1, true); },
       {random({1, 2, 5, 6}, gen)}});
  cases[OpKind::avg_pool2d].push_back({"avg_pool2d 3x2 stride 1 pad 1 exclude pad",
                                       [](auto& x) {
                                         return avg_pool2d(x[0], {3, 2}, Size2d(1), 1, false);
                                       },
                                       {random({2, 1, 4, 4}, gen)}});

  cases[OpKind::global_avg_pool].push_back({"global_avg_pool",
                                            [](auto& x) { return global_avg_pool(x[0]); },
                                            {random({2, 3, 4, 5}, gen)}});
  cases[OpKind::global_avg_pool].push_back({"global_avg_pool 1x1",
                                            [](auto& x) { return global_avg_pool(x[0]); },
                                            {random({3, 2, 1, 1}, gen)}});
}

// The registry test runs every case on the default (fast) backend; the reference kernels' own
// backward passes are checked here.
TEST(ConvOps, GradientsOnReferenceBackend) {
  BackendScope scope(Backend::reference);
  auto cases = bp::testing::all_gradcheck_cases();
  int checked = 0;
  for (OpKind kind : {OpKind::conv2d, OpKind::conv_transpose2d, OpKind::max_pool2d,
                      OpKind::avg_pool2d, OpKind::global_avg_pool})
    for (auto& c : cases[kind]) {
      GradcheckResult r = gradcheck(c.fn, c.inputs, c.options);
      EXPECT_TRUE(r.ok) << c.label << ": " << r.message;
      ++checked;
    }
  EXPECT_GE(checked, 19);
}

// ---- naive forward definitions ----

float get(const Tensor& t, int64_t a, int64_t b, int64_t c, int64_t d) {
  const Shape& s = t.shape();
  return t.data()[((a * s[1] + b) * s[2] + c) * s[3] + d];
}

// Zero-pads, then slides the dilated kernel: the textbook definition.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, Size2d st, Size2d pad,
                    Size2d dil, int64_t groups) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2) + 2 * pad.h, wd = x.size(3) + 2 * pad.w;
  Tensor xp = Tensor::zeros({n, c, h, wd});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t y = 0; y < x.size(2); ++y)
        for (int64_t z = 0; z < x.size(3); ++z)
          xp.data()[((i * c + j) * h + y + pad.h) * wd + z + pad.w] = get(x, i, j, y, z);
  const int64_t o = w.size(0), kh = w.size(2), kw = w.size(3), cg = c / groups, og = o / groups;
  const int64_t oh = (h - dil.h * (kh - 1) - 1) / st.h + 1,
                ow = (wd - dil.w * (kw - 1) - 1) / st.w + 1;
  Tensor y = Tensor::zeros({n, o, oh, ow});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < o; ++k)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t q = 0; q < ow; ++q) {
          double acc = b.defined() ? b.data()[k] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t u = 0; u < kw; ++u)
                acc += static_cast<double>(get(xp, i, (k / og) * cg + ci, r * st.h + p * dil.h,
                                               q * st.w + u * dil.w)) *
                       get(w, k, ci, p, u);
          y.data()[((i * o + k) * oh + r) * ow + q] = static_cast<float>(acc);
        }
  return y;
}

// Transposed convolution as a scatter: every input element adds its kernel-weighted copy into
// the output, then the padding is cropped off.
Tensor naive_conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, Size2d st,
                              Size2d pad, Size2d opad, Size2d dil, int64_t groups) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t og = w.size(1), o = og * groups, kh = w.size(2), kw = w.size(3), cg = c / groups;
  const int64_t full_h = (h - 1) * st.h + dil.h * (kh - 1) + 1 + opad.h;
  const int64_t full_w = (wd - 1) * st.w + dil.w * (kw - 1) + 1 + opad.w;
  std::vector<double> full(static_cast<size_t>(n * o * full_h * full_w), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t z = 0; z < wd; ++z)
          for (int64_t k = 0; k < og; ++k)
            for (int64_t p = 0; p < kh; ++p)
              for (int64_t u = 0; u < kw; ++u) {
                const int64_t oc = (ci / cg) * og + k;
                full[static_cast<size_t>(((i * o + oc) * full_h + y * st.h + p * dil.h) * full_w +
                                         z * st.w + u * dil.w)] +=
                    static_cast<double>(get(x, i, ci, y, z)) * get(w, ci, k, p, u);
              }
  const int64_t oh = full_h - 2 * pad.h, ow = full_w - 2 * pad.w;
  Tensor out = Tensor::zeros({n, o, oh, ow});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < o; ++k)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t q = 0; q < ow; ++q)
          out.data()[((i * o + k) * oh + r) * ow + q] = static_cast<float>(
              full[static_cast<size_t>(((i * o + k) * full_h + r + pad.h) * full_w + q + pad.w)] +
              (b.defined() ? b.data()[k] : 0.0f));
  return out;
}

// Pools over windows of the padded plane; `max` or mean with either divisor.
Tensor naive_pool(const Tensor& x, Size2d k, Size2d st, Size2d pad, bool max, bool include_pad) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t oh = (h + 2 * pad.h - k.h) / st.h + 1, ow = (w + 2 * pad.w - k.w) / st.w + 1;
  Tensor y = Tensor::zeros({n, c, oh, ow});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t q = 0; q < ow; ++q) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t count = 0;
          for (int64_t p = 0; p < k.h; ++p)
            for (int64_t u = 0; u < k.w; ++u) {
              const int64_t yy = r * st.h - pad.h + p, zz = q * st.w - pad.w + u;
              if (yy < 0 || yy >= h || zz < 0 || zz >= w) continue;
              best = std::max<double>(best, get(x, i, j, yy, zz));
              sum += get(x, i, j, yy, zz);
              ++count;
            }
          y.data()[((i * c + j) * oh + r) * ow + q] = static_cast<float>(
              max ? best : sum / static_cast<double>(include_pad ? k.h * k.w : count));
        }
  return y;
}

void expect_close(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  for (int64_t i = 0; i < got.numel(); ++i)
    ASSERT_NEAR(got.data()[i], want.data()[i], 1e-4f + 1e-4f * std::fabs(want.data()[i]))
        << "at flat index " << i;
}

class ConvForward : public ::testing::TestWithParam<Backend> {};

TEST_P(ConvForward, Conv2dMatchesNaiveDefinition) {
  BackendScope scope(GetParam());
  Generator gen(3);
  struct Config {
    Shape x, w;
    Size2d stride, pad, dil;
    int64_t groups;
  };
  for (const Config& c :
       std::vector<Config>{{{2, 3, 7, 6}, {4, 3, 3, 3}, 1, 0, 1, 1},
                           {{1, 4, 9, 8}, {6, 2, 3, 2}, {2, 3}, {1, 2}, {2, 1}, 2},
                           {{3, 2, 5, 5}, {2, 2, 5, 5}, 1, 2, 1, 1},
                           {{1, 1, 8, 8}, {1, 1, 3, 3}, 3, 1, 2, 1}}) {
    SCOPED_TRACE(to_string(c.x) + " * " + to_string(c.w));
    Tensor x = Tensor::uniform(c.x, -1, 1, gen), w = Tensor::uniform(c.w, -1, 1, gen);
    Tensor b = Tensor::uniform({c.w[0]}, -1, 1, gen);
    expect_close(conv2d(x, w, b, c.stride, c.pad, c.dil, c.groups),
                 naive_conv2d(x, w, b, c.stride, c.pad, c.dil, c.groups));
    expect_close(conv2d(x, w, Tensor(), c.stride, c.pad, c.dil, c.groups),
                 naive_conv2d(x, w, Tensor(), c.stride, c.pad, c.dil, c.groups));
  }
}

TEST_P(ConvForward, ConvTranspose2dMatchesScatterDefinition) {
  BackendScope scope(GetParam());
  Generator gen(4);
  struct Config {
    Shape x, w;
    Size2d stride, pad, opad, dil;
    int64_t groups;
  };
  for (const Config& c :
       std::vector<Config>{{{2, 3, 4, 4}, {3, 2, 3, 3}, 1, 0, 0, 1, 1},
                           {{1, 4, 3, 5}, {4, 3, 3, 2}, {2, 3}, {1, 0}, {1, 2}, 1, 2},
                           {{2, 2, 5, 4}, {2, 1, 2, 3}, 2, 1, 0, {2, 1}, 1},
                           {{1, 1, 3, 3}, {1, 2, 2, 2}, 1, 0, 1, 2, 1}}) {
    SCOPED_TRACE(to_string(c.x) + " * " + to_string(c.w));
    Tensor x = Tensor::uniform(c.x, -1, 1, gen), w = Tensor::uniform(c.w, -1, 1, gen);
    Tensor b = Tensor::uniform({c.w[1] * c.groups}, -1, 1, gen);
    expect_close(conv_transpose2d(x, w, b, c.stride, c.pad, c.opad, c.dil, c.groups),
                 naive_conv_transpose2d(x, w, b, c.stride, c.pad, c.opad, c.dil, c.groups));
  }
}

TEST_P(ConvForward, PoolingMatchesNaiveDefinition) {
  BackendScope scope(GetParam());
  Generator gen(5);
  struct Config {
    Shape x;
    Size2d k, stride, pad;
  };
  for (const Config& c : std::vector<Config>{{{2, 3, 6, 6}, 2, 2, 0},
                                             {{1, 2, 7, 5}, 3, 2, 1},
                                             {{2, 1, 5, 8}, {2, 3}, {1, 2}, {1, 1}},
                                             {{1, 1, 3, 3}, 3, 1, 0}}) {
    SCOPED_TRACE(to_string(c.x));
    Tensor x = Tensor::uniform(c.x, -1, 1, gen);
    expect_close(max_pool2d(x, c.k, c.stride, c.pad),
                 naive_pool(x, c.k, c.stride, c.pad, true, true));
    expect_close(avg_pool2d(x, c.k, c.stride, c.pad, true),
                 naive_pool(x, c.k, c.stride, c.pad, false, true));
    expect_close(avg_pool2d(x, c.k, c.stride, c.pad, false),
                 naive_pool(x, c.k, c.stride, c.pad, false, false));
  }
}

TEST_P(ConvForward, HandComputedValues) {
  BackendScope scope(GetParam());
  Tensor x = Tensor::arange(1, 17).reshape({1, 1, 4, 4});
  // Sums of 2x2 blocks of 1..16.
  EXPECT_EQ(conv2d(x, Tensor::ones({1, 1, 2, 2}), Tensor(), 2).to_vector(),
            (std::vector<float>{14, 22, 46, 54}));
  EXPECT_EQ(max_pool2d(x, 2).to_vector(), (std::vector<float>{6, 8, 14, 16}));
  EXPECT_EQ(avg_pool2d(x, 2).to_vector(), (std::vector<float>{3.5f, 5.5f, 11.5f, 13.5f}));
  EXPECT_EQ(global_avg_pool(x).to_vector(), (std::vector<float>{8.5f}));
  EXPECT_EQ(global_avg_pool(x).shape(), (Shape{1, 1}));
  // A 3x3 window around each pixel of a 2x2 plane of ones holds all 4: 4/9 with the padding in
  // the divisor, 1 without.
  Tensor ones = Tensor::ones({1, 1, 2, 2});
  for (float v : avg_pool2d(ones, 3, Size2d(1), 1, true).to_vector()) EXPECT_FLOAT_EQ(v, 4.0f / 9);
  for (float v : avg_pool2d(ones, 3, Size2d(1), 1, false).to_vector()) EXPECT_FLOAT_EQ(v, 1.0f);
  // Stride-2 transposed convolution with a 2x2 kernel of ones copies each input into a 2x2 block.
  Tensor small = Tensor::from_data({1, 2, 3, 4}, {1, 1, 2, 2});
  EXPECT_EQ(conv_transpose2d(small, Tensor::ones({1, 1, 2, 2}), Tensor(), 2).to_vector(),
            (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  // Max pooling routes the gradient to the maxima only.
  Tensor leaf = Tensor::arange(1, 17).reshape({1, 1, 4, 4}).detach().set_requires_grad();
  sum(max_pool2d(leaf, 2)).backward();
  EXPECT_EQ(leaf.grad().to_vector(),
            (std::vector<float>{0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1}));
}

INSTANTIATE_TEST_SUITE_P(Backends, ConvForward,
                         ::testing::Values(Backend::fast, Backend::reference),
                         [](const auto& param_info) {
                           return param_info.param == Backend::fast ? "fast" : "reference";
                         });

TEST(ConvOps, EmptyBatchGivesEmptyOutput) {
  Tensor x = Tensor::zeros({0, 2, 5, 5});
  EXPECT_EQ(conv2d(x, Tensor::zeros({3, 2, 3, 3})).shape(), (Shape{0, 3, 3, 3}));
  EXPECT_EQ(max_pool2d(x, 2).shape(), (Shape{0, 2, 2, 2}));
  EXPECT_EQ(conv_transpose2d(x, Tensor::zeros({2, 3, 3, 3}), Tensor(), 2).shape(),
            (Shape{0, 3, 11, 11}));
}

TEST(ConvOps, NoGraphWithoutGradients) {
  Tensor x = Tensor::ones({1, 1, 4, 4});
  EXPECT_EQ(conv2d(x, Tensor::ones({1, 1, 3, 3})).grad_fn(), nullptr);
  Tensor leaf = Tensor::ones({1, 1, 4, 4}, true);
  EXPECT_NE(max_pool2d(leaf, 2).grad_fn(), nullptr);
  NoGradGuard guard;
  EXPECT_EQ(max_pool2d(leaf, 2).grad_fn(), nullptr);
}

// ---- argument checks ----

TEST(ConvOps, Conv2dRejectsBadArguments) {
  Tensor x = Tensor::zeros({2, 4, 5, 5}), w = Tensor::zeros({6, 4, 3, 3});
  expect_error([&] { conv2d(Tensor(), w); }, "conv2d: the input tensor is undefined");
  expect_error(
      [&] {
        conv2d(Tensor::zeros({4, 5, 5}), w);
      },
      "conv2d: the input must be 4-D (N, C, H, W), got [4, 5, 5]");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({6, 4, 3}));
      },
      "conv2d: the weight must be 4-D (O, C/groups, kH, kW), got [6, 4, 3]");
  expect_error([&] { conv2d(x, w, Tensor(), 0); }, "conv2d: stride must be positive (got 0)");
  expect_error(
      [&] {
        conv2d(x, w, Tensor(), {1, -1});
      },
      "conv2d: stride must be positive (got (1, -1))");
  expect_error([&] { conv2d(x, w, Tensor(), 1, -1); },
               "conv2d: padding must be non-negative (got -1)");
  expect_error([&] { conv2d(x, w, Tensor(), 1, 0, 0); },
               "conv2d: dilation must be positive (got 0)");
  expect_error([&] { conv2d(x, w, Tensor(), 1, 0, 1, 0); },
               "conv2d: groups must be positive (got 0)");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({6, 1, 3, 3}), Tensor(), 1, 0, 1, 3);
      },
      "conv2d: groups=3 does not divide the 4 input channels");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({5, 2, 3, 3}), Tensor(), 1, 0, 1, 2);
      },
      "conv2d: groups=2 does not divide the 5 output channels");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({6, 3, 3, 3}));
      },
      "conv2d: weight [6, 3, 3, 3] expects 3 input channels per group, but input "
      "[2, 4, 5, 5] with groups=1 has 4");
  expect_error([&] { conv2d(x, w, Tensor::zeros({5})); },
               "conv2d: bias of shape [5] does not match weight [6, 4, 3, 3] (expected [6])");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({6, 4, 7, 3}));
      },
      "conv2d: kernel 7x3 (dilation 1) is larger than the padded input 5x5 of input "
      "[2, 4, 5, 5]");
  expect_error([&] { conv2d(x, w, Tensor(), 1, 0, 3); },
               "conv2d: kernel 3x3 (dilation 3) is larger than the padded input 5x5");
  expect_error(
      [&] {
        conv2d(x, Tensor::zeros({6, 4, 0, 3}));
      },
      "conv2d: kernel must be positive (got (0, 3))");
  // A kernel that fits once padding is added is fine.
  EXPECT_EQ(conv2d(x, Tensor::zeros({6, 4, 7, 7}), Tensor(), 1, 1).shape(), (Shape{2, 6, 1, 1}));
}

TEST(ConvOps, ConvTranspose2dRejectsBadArguments) {
  Tensor x = Tensor::zeros({1, 4, 3, 3}), w = Tensor::zeros({4, 2, 3, 3});
  expect_error(
      [&] {
        conv_transpose2d(Tensor::zeros({4, 3, 3}), w);
      },
      "conv_transpose2d: the input must be 4-D");
  expect_error([&] { conv_transpose2d(x, w, Tensor(), 0); },
               "conv_transpose2d: stride must be positive (got 0)");
  expect_error([&] { conv_transpose2d(x, w, Tensor(), 1, -2); },
               "conv_transpose2d: padding must be non-negative (got -2)");
  expect_error([&] { conv_transpose2d(x, w, Tensor(), 1, 0, -1); },
               "conv_transpose2d: output_padding must be non-negative (got -1)");
  expect_error([&] { conv_transpose2d(x, w, Tensor(), 2, 0, 2); },
               "conv_transpose2d: output_padding 2 must be smaller than the stride 2 or the "
               "dilation 1");
  expect_error(
      [&] {
        conv_transpose2d(x, Tensor::zeros({4, 1, 3, 3}), Tensor(), 1, 0, 0, 1, 3);
      },
      "conv_transpose2d: groups=3 does not divide the 4 input channels");
  expect_error(
      [&] {
        conv_transpose2d(x, Tensor::zeros({3, 2, 3, 3}));
      },
      "conv_transpose2d: weight [3, 2, 3, 3] expects 3 input channels, but input "
      "[1, 4, 3, 3] has 4");
  expect_error([&] { conv_transpose2d(x, w, Tensor::zeros({2}), 1, 0, 0, 1, 2); },
               "conv_transpose2d: bias of shape [2] does not match weight [4, 2, 3, 3] "
               "(expected [4])");
  expect_error(
      [&] {
        conv_transpose2d(x, Tensor::zeros({4, 2, 1, 1}), Tensor(), 1, 2);
      },
      "conv_transpose2d: input [1, 4, 3, 3] with weight [4, 2, 1, 1], stride 1, "
      "padding 2 gives an empty output -1x-1");
  expect_error(
      [&] {
        conv_transpose2d(x, Tensor::zeros({4, 2, 3}));
      },
      "conv_transpose2d: the weight must be 4-D (C, O/groups, kH, kW), got [4, 2, 3]");
}

TEST(ConvOps, PoolingRejectsBadArguments) {
  Tensor x = Tensor::zeros({1, 2, 4, 4});
  expect_error(
      [&] {
        max_pool2d(Tensor::zeros({2, 4, 4}), 2);
      },
      "max_pool2d: the input must be 4-D (N, C, H, W), got [2, 4, 4]");
  expect_error([&] { max_pool2d(x, 0); }, "max_pool2d: kernel must be positive (got 0)");
  expect_error([&] { max_pool2d(x, 2, Size2d(0)); }, "max_pool2d: stride must be positive (got 0)");
  expect_error([&] { max_pool2d(x, 2, std::nullopt, -1); },
               "max_pool2d: padding must be non-negative (got -1)");
  expect_error([&] { max_pool2d(x, 2, std::nullopt, 2); },
               "max_pool2d: padding 2 must be at most half the kernel 2");
  expect_error([&] { max_pool2d(x, 5); },
               "max_pool2d: kernel 5 is larger than the padded input 4x4 of input [1, 2, 4, 4]");
  expect_error(
      [&] {
        avg_pool2d(x, {2, 7}, std::nullopt, 1);
      },
      "avg_pool2d: kernel (2, 7) is larger than the padded input 6x6");
  expect_error([&] { avg_pool2d(x, -1); }, "avg_pool2d: kernel must be positive (got -1)");
  expect_error(
      [&] {
        global_avg_pool(Tensor::zeros({2, 3}));
      },
      "global_avg_pool: the input must be 4-D (N, C, H, W), got [2, 3]");
  expect_error(
      [&] {
        global_avg_pool(Tensor::zeros({2, 3, 0, 4}));
      },
      "global_avg_pool: input [2, 3, 0, 4] has an empty spatial extent");
  expect_error([&] { global_avg_pool(Tensor()); },
               "global_avg_pool: the input tensor is undefined");
}

}  // namespace
}  // namespace bp
