// The oneDNN convolution and pooling kernels must agree with the reference loops on random shapes:
// odd sizes, batch 1, strides, padding, dilation, groups; forward and every backward kernel.
#include <bit>

#include "kernels/conv.hpp"
#include "test_util.hpp"

namespace bp {
namespace {

std::vector<float> random_vector(int64_t n, Generator& gen) {
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = gen.uniform(-1, 1);
  return v;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, double tol,
                 const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << what << " at " << i;
}

int64_t out_extent(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  return (in + 2 * pad - dil * (k - 1) - 1) / stride + 1;
}

// n, c_in, h, w, c_out, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups
kernels::ConvShape conv_shape(std::array<int64_t, 14> a) {
  return {.n = a[0],
          .c_in = a[1],
          .h = a[2],
          .w = a[3],
          .c_out = a[4],
          .kh = a[5],
          .kw = a[6],
          .oh = out_extent(a[2], a[5], a[7], a[9], a[11]),
          .ow = out_extent(a[3], a[6], a[8], a[10], a[12]),
          .stride_h = a[7],
          .stride_w = a[8],
          .pad_h = a[9],
          .pad_w = a[10],
          .dil_h = a[11],
          .dil_w = a[12],
          .groups = a[13]};
}

TEST(FastConvKernels, ConvolutionMatchesReference) {
  Generator gen(21);
  const std::vector<std::array<int64_t, 14>> configs = {
      {1, 1, 28, 28, 32, 3, 3, 1, 1, 0, 0, 1, 1, 1},   // the first layer of a Fashion-MNIST net
      {7, 32, 13, 13, 64, 3, 3, 1, 1, 0, 0, 1, 1, 1},  // its second layer, odd batch
      {1, 3, 7, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1},     {2, 4, 9, 11, 6, 3, 2, 1, 2, 2, 0, 2, 1, 2},
      {3, 6, 6, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 6},  // depthwise
      {1, 5, 1, 1, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1},     {2, 3, 10, 10, 5, 5, 5, 3, 3, 2, 2, 1, 1, 1},
      {1, 2, 8, 7, 4, 2, 2, 2, 2, 0, 0, 3, 2, 2},     {4, 3, 5, 4, 2, 3, 3, 3, 2, 1, 0, 1, 1, 1},
  };
  for (const auto& c : configs) {
    const kernels::ConvShape s = conv_shape(c);
    SCOPED_TRACE(
        fmt::format("n={} c_in={} {}x{} c_out={} k={}x{} stride={},{} pad={},{} dil={},{} "
                    "groups={}",
                    s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h,
                    s.pad_w, s.dil_h, s.dil_w, s.groups));
    const int64_t x_n = s.n * s.c_in * s.h * s.w, y_n = s.n * s.c_out * s.oh * s.ow;
    const int64_t w_n = s.c_out * (s.c_in / s.groups) * s.kh * s.kw;
    auto x = random_vector(x_n, gen), w = random_vector(w_n, gen), b = random_vector(s.c_out, gen);
    auto gy = random_vector(y_n, gen);
    const double tol = 1e-5 * static_cast<double>(s.c_in * s.kh * s.kw + s.n * s.oh * s.ow);

    for (bool bias : {false, true}) {
      std::vector<float> want(static_cast<size_t>(y_n)), got(want.size(), 99.0f);
      kernels::reference::conv2d_forward(s, x.data(), w.data(), bias ? b.data() : nullptr,
                                         want.data());
      ASSERT_TRUE(kernels::onednn::conv2d_forward(s, x.data(), w.data(), bias ? b.data() : nullptr,
                                                  got.data()));
      expect_near(got, want, tol, "forward");
    }
    {
      std::vector<float> want(static_cast<size_t>(x_n)), got(want.size(), 99.0f);
      kernels::reference::conv2d_backward_data(s, gy.data(), w.data(), want.data());
      ASSERT_TRUE(kernels::onednn::conv2d_backward_data(s, gy.data(), w.data(), got.data()));
      expect_near(got, want, tol, "backward data");
    }
    for (bool bias : {false, true}) {
      std::vector<float> want(static_cast<size_t>(w_n)), got(want.size(), 99.0f);
      std::vector<float> want_b(static_cast<size_t>(s.c_out)), got_b(want_b.size(), 99.0f);
      kernels::reference::conv2d_backward_weights(s, x.data(), gy.data(), want.data(),
                                                  bias ? want_b.data() : nullptr);
      ASSERT_TRUE(kernels::onednn::conv2d_backward_weights(s, x.data(), gy.data(), got.data(),
                                                           bias ? got_b.data() : nullptr));
      expect_near(got, want, tol, "backward weights");
      if (bias) expect_near(got_b, want_b, tol, "backward bias");
    }
    // Cached primitives: a second call on other data gives fresh results.
    auto x2 = random_vector(x_n, gen);
    std::vector<float> want(static_cast<size_t>(y_n)), got(want.size());
    kernels::reference::conv2d_forward(s, x2.data(), w.data(), nullptr, want.data());
    kernels::conv2d_forward(s, x2.data(), w.data(), nullptr, got.data());
    expect_near(got, want, tol, "second forward");
  }
}

kernels::PoolShape pool_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                              int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  return {.n = n,
          .c = c,
          .h = h,
          .w = w,
          .kh = kh,
          .kw = kw,
          .oh = out_extent(h, kh, sh, ph, 1),
          .ow = out_extent(w, kw, sw, pw, 1),
          .stride_h = sh,
          .stride_w = sw,
          .pad_h = ph,
          .pad_w = pw};
}

TEST(FastConvKernels, PoolingMatchesReference) {
  Generator gen(22);
  const std::vector<kernels::PoolShape> shapes = {
      pool_shape(1, 32, 26, 26, 2, 2, 2, 2, 0, 0),
      pool_shape(5, 64, 11, 11, 2, 2, 2, 2, 0, 0),
      pool_shape(1, 3, 7, 5, 3, 3, 2, 2, 1, 1),
      pool_shape(2, 2, 9, 8, 3, 2, 1, 2, 1, 1),
      pool_shape(3, 1, 5, 5, 5, 5, 1, 1, 2, 2),
      pool_shape(1, 4, 1, 1, 1, 1, 1, 1, 0, 0),
      pool_shape(2, 3, 6, 9, 4, 3, 3, 1, 2, 0),
      // Windows that do not overlap: with rows and columns in no window, padding, gaps.
      pool_shape(3, 5, 27, 27, 2, 2, 2, 2, 0, 0),
      pool_shape(2, 3, 8, 7, 3, 3, 3, 3, 1, 1),
      pool_shape(1, 2, 9, 13, 2, 3, 2, 4, 1, 1),
      pool_shape(2, 2, 5, 6, 1, 2, 3, 2, 0, 1),
  };
  for (const auto& s : shapes) {
    SCOPED_TRACE(fmt::format("n={} c={} {}x{} k={}x{} stride={},{} pad={},{}", s.n, s.c, s.h, s.w,
                             s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w));
    const int64_t x_n = s.n * s.c * s.h * s.w, y_n = s.n * s.c * s.oh * s.ow;
    auto x = random_vector(x_n, gen), gy = random_vector(y_n, gen);

    // Max pooling: the same values and the same workspace, with and without one.
    std::vector<float> want(static_cast<size_t>(y_n)), got(want.size(), 99.0f);
    std::vector<int32_t> ref_ws(static_cast<size_t>(y_n)), fast_ws(ref_ws.size(), -7);
    kernels::reference::max_pool2d_forward(s, x.data(), want.data(), ref_ws.data());
    kernels::simd::max_pool2d_forward(s, x.data(), got.data(), fast_ws.data());
    expect_near(got, want, 0, "max forward");
    EXPECT_EQ(fast_ws, ref_ws);
    std::fill(got.begin(), got.end(), 99.0f);
    kernels::simd::max_pool2d_forward(s, x.data(), got.data(), nullptr);
    expect_near(got, want, 0, "max forward (inference)");
    std::vector<float> want_gx(static_cast<size_t>(x_n)), got_gx(want_gx.size(), 99.0f);

    // Max pooling backward from the workspace: the reference's values bit for bit (-0 in gy
    // included) where the windows do not overlap; left to the reference, untouched, where they do.
    gy[0] = -0.0f;
    kernels::reference::max_pool2d_backward(s, gy.data(), ref_ws.data(), want_gx.data());
    const bool disjoint = s.stride_h >= s.kh && s.stride_w >= s.kw;
    EXPECT_EQ(kernels::simd::max_pool2d_backward(s, gy.data(), ref_ws.data(), got_gx.data()),
              disjoint);
    if (disjoint) {
      for (size_t i = 0; i < got_gx.size(); ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(got_gx[i]), std::bit_cast<uint32_t>(want_gx[i]))
            << "max backward at " << i;
    } else {
      EXPECT_EQ(got_gx, std::vector<float>(got_gx.size(), 99.0f));
    }

    for (bool include_pad : {true, false}) {
      SCOPED_TRACE(include_pad ? "avg include pad" : "avg exclude pad");
      std::fill(got.begin(), got.end(), 99.0f);
      kernels::reference::avg_pool2d_forward(s, include_pad, x.data(), want.data());
      ASSERT_TRUE(kernels::onednn::avg_pool2d_forward(s, include_pad, x.data(), got.data()));
      expect_near(got, want, 1e-6, "avg forward");
      std::fill(got_gx.begin(), got_gx.end(), 99.0f);
      kernels::reference::avg_pool2d_backward(s, include_pad, gy.data(), want_gx.data());
      ASSERT_TRUE(kernels::onednn::avg_pool2d_backward(s, include_pad, gy.data(), got_gx.data()));
      expect_near(got_gx, want_gx, 1e-6, "avg backward");
    }
  }
}

struct BackendScope {
  Backend saved = backend();
  explicit BackendScope(Backend b) { set_backend(b); }
  ~BackendScope() { set_backend(saved); }
};

// The ops composed from the kernels (transposed convolution in particular) agree across backends,
// values and gradients, including configurations oneDNN refuses and the reference serves.
TEST(FastConvKernels, OpsAgreeAcrossBackends) {
  struct Config {
    Shape x, w;
    Size2d stride, pad, opad, dil;
    int64_t groups;
  };
  const std::vector<Config> configs = {
      {{1, 3, 5, 7}, {3, 4, 3, 3}, 2, 1, 1, 1, 1},
      {{2, 4, 4, 3}, {4, 3, 2, 3}, {1, 2}, {0, 1}, {0, 1}, {2, 1}, 2},
      {{1, 1, 3, 3}, {1, 2, 2, 2}, 1, 0, 1, 2, 1}};
  for (const Config& c : configs) {
    SCOPED_TRACE(to_string(c.x) + " with " + to_string(c.w));
    auto run = [&](Backend b) {
      BackendScope scope(b);
      Generator gen(9);
      Tensor x = Tensor::uniform(c.x, -1, 1, gen, true);
      Tensor w = Tensor::uniform(c.w, -1, 1, gen, true);
      Tensor bias = Tensor::uniform({c.w[1] * c.groups}, -1, 1, gen, true);
      Tensor y = conv_transpose2d(x, w, bias, c.stride, c.pad, c.opad, c.dil, c.groups);
      Tensor pooled = max_pool2d(y, 2, Size2d(1));
      Tensor loss = sum(mul(pooled, pooled)) + sum(avg_pool2d(y, 2, Size2d(1), 1, false));
      loss.backward();
      return std::vector<Tensor>{y, x.grad(), w.grad(), bias.grad()};
    };
    auto fast = run(Backend::fast), reference = run(Backend::reference);
    for (size_t i = 0; i < fast.size(); ++i)
      EXPECT_TRUE(allclose(fast[i], reference[i], 1e-4f, 1e-5f)) << "tensor " << i;
  }
}

TEST(FastConvKernels, UnsupportedConfigurationFallsBack) {
  // Transposed convolution with output_padding >= stride (allowed because it is below the
  // dilation) is a convolution whose size formula oneDNN does not accept.
  const kernels::ConvShape s{.n = 1,
                             .c_in = 2,
                             .h = 6,
                             .w = 6,
                             .c_out = 1,
                             .kh = 2,
                             .kw = 2,
                             .oh = 3,
                             .ow = 3,
                             .dil_h = 2,
                             .dil_w = 2};
  std::vector<float> gy(9, 1.0f), w(8, 1.0f), gx(72, 5.0f);
  EXPECT_FALSE(kernels::onednn::conv2d_backward_data(s, gy.data(), w.data(), gx.data()));
  EXPECT_EQ(gx[0], 5.0f);  // untouched
}

}  // namespace
}  // namespace bp
