// Kernel and training-step benchmarks.
//
//   ./build/bench/bench_kernels [--peak_gflops_per_thread=210] [--bp_threads=N] [benchmark flags]
//
// Matmul benchmarks report FLOP/s (2·M·N·K floating-point operations per product; the console shows
// "FLOP=49.2G/s" for 49.2 GFLOP/s) and "peak%", the share of the machine's peak,
// peak_gflops_per_thread × threads. The default, 210 GFLOP/s per thread, is the measured
// single-precision AVX-512 FMA peak of the 2-core machine this project is benchmarked on (each core
// issuing 512-bit FMAs back to back). A lone busy core can boost above it (about 265 GFLOP/s), so
// one-thread runs may show more than 100%. Pass --peak_gflops_per_thread for another machine.
// The training-step benchmark reports samples/s. Threads come from --bp_threads, else
// OMP_NUM_THREADS, else all cores.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backprop/backprop.hpp"

namespace {

double peak_gflops_per_thread = 210.0;

double peak_gflops() {
  return peak_gflops_per_thread * bp::num_threads();
}

// Sets the FLOP/s, peak% and threads counters of a benchmark that made `products` M×K×N products
// (args 0-2) per iteration since `start`.
void report_matmul(benchmark::State& state, double products,
                   std::chrono::steady_clock::time_point start) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = 2.0 * static_cast<double>(state.range(0)) *
                       static_cast<double>(state.range(1)) * static_cast<double>(state.range(2));
  const double total = flops * products * static_cast<double>(state.iterations());
  // Printed with an SI prefix: "FLOP=49.2G/s" is 49.2 GFLOP/s.
  state.counters["FLOP"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  state.counters["peak%"] = 100.0 * total / seconds / (peak_gflops() * 1e9);
  state.counters["threads"] = bp::num_threads();
}

// C(M×N) = A(M×K) · B(K×N) through bp::matmul, outside autograd.
void BM_matmul(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  bp::Generator gen(42);
  bp::Tensor a = bp::Tensor::uniform({m, k}, -1.0f, 1.0f, gen);
  bp::Tensor b = bp::Tensor::uniform({k, n}, -1.0f, 1.0f, gen);
  bp::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    bp::Tensor c = bp::matmul(a, b);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  report_matmul(state, 1, start);
}
// Args are {M, K, N}: the MLP's layer shapes at batch 128 and 256, and a square reference.
BENCHMARK(BM_matmul)
    ->ArgNames({"M", "K", "N"})
    ->Args({128, 784, 256})
    ->Args({256, 784, 256})
    ->Args({128, 256, 128})
    ->Args({128, 128, 10})
    ->Args({512, 512, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// A batch of products through bp::matmul, forward and backward (both inputs' gradients: the
// transposed products): attention's shapes, 4 heads of 16 over 28 steps for 32 samples.
void BM_matmul_batched(benchmark::State& state) {
  const int64_t batch = state.range(0), m = state.range(1), k = state.range(2), n = state.range(3);
  bp::Generator gen(43);
  bp::Tensor a = bp::Tensor::uniform({batch, m, k}, -1.0f, 1.0f, gen, true);
  bp::Tensor b = bp::Tensor::uniform({batch, k, n}, -1.0f, 1.0f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform({batch, m, n}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::Tensor c = bp::matmul(a, b);
    c.backward(gy);
    benchmark::DoNotOptimize(a.grad().data());
    benchmark::ClobberMemory();
  }
  state.counters["products"] = benchmark::Counter(
      3.0 * static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_matmul_batched)
    ->ArgNames({"batch", "M", "K", "N"})
    ->Args({128, 28, 16, 28})
    ->Args({128, 28, 28, 16})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same products as the split training step runs them: each of the bp::num_threads() threads
// multiplies its own share of the M rows by the shared B, with single-threaded kernels, at the
// same time (kRounds products per thread per iteration, so that the one fork/join per iteration
// is amortised). FLOP/s and peak% are of all threads together.
void BM_matmul_split(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const int threads = bp::num_threads();
  constexpr int kRounds = 20;
  bp::Generator gen(42);
  std::vector<bp::Tensor> a;
  for (int t = 0; t < threads; ++t)
    a.push_back(
        bp::Tensor::uniform({m * (t + 1) / threads - m * t / threads, k}, -1.0f, 1.0f, gen));
  bp::Tensor b = bp::Tensor::uniform({k, n}, -1.0f, 1.0f, gen);
  bp::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      omp_set_num_threads(1);
      bp::NoGradGuard thread_no_grad;
      const bp::Tensor& mine = a[static_cast<size_t>(omp_get_thread_num())];
      for (int r = 0; r < kRounds; ++r) {
        bp::Tensor c = bp::matmul(mine, b);
        benchmark::DoNotOptimize(c.data());
      }
    }
    benchmark::ClobberMemory();
  }
  report_matmul(state, kRounds, start);
}
BENCHMARK(BM_matmul_split)
    ->ArgNames({"M", "K", "N"})
    ->Args({128, 784, 256})
    ->Args({128, 256, 128})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// User + system CPU seconds of the whole process (all threads) so far.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// One full training step of a 784-256-128-10 ReLU MLP on a batch of 128: zero_grad, forward,
// cross_entropy, backward, SGD with momentum 0.9; in fp32 (arg 0) or bf16 (1).
void BM_mlp_train_step(benchmark::State& state) {
  constexpr int64_t batch = 128;
  const bp::PrecisionGuard precision(state.range(0) ? bp::Precision::bf16 : bp::Precision::fp32);
  bp::Generator gen(7);
  bp::nn::Sequential net(
      {std::make_shared<bp::nn::Linear>(784, 256, gen), std::make_shared<bp::nn::ReLU>(),
       std::make_shared<bp::nn::Linear>(256, 128, gen), std::make_shared<bp::nn::ReLU>(),
       std::make_shared<bp::nn::Linear>(128, 10, gen)});
  bp::optim::SGD sgd(net.parameters(), {.lr = 0.01f, .momentum = 0.9f});
  bp::Tensor x = bp::Tensor::uniform({batch, 784}, 0.0f, 1.0f, gen);
  std::vector<int64_t> labels(batch);
  for (auto& label : labels) label = static_cast<int64_t>(gen.below(10));

  for (auto _ : state) {
    sgd.zero_grad();
    bp::Tensor loss = bp::cross_entropy(net(x), labels);
    loss.backward();
    sgd.step();
    benchmark::DoNotOptimize(loss.data());
  }
  // Forward 2·B·Σ(in·out) FLOPs; backward twice that (input and weight gradients).
  const double forward_flops = 2.0 * batch * (784.0 * 256 + 256.0 * 128 + 128.0 * 10);
  const double iterations = static_cast<double>(state.iterations());
  state.counters["samples"] =
      benchmark::Counter(static_cast<double>(batch) * iterations, benchmark::Counter::kIsRate);
  state.counters["FLOP"] =
      benchmark::Counter(3.0 * forward_flops * iterations, benchmark::Counter::kIsRate);
  state.counters["threads"] = bp::num_threads();
}
BENCHMARK(BM_mlp_train_step)
    ->ArgNames({"bf16"})
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One epoch of train::Trainer over random samples in batches of 128, with each batch split across
// threads (second arg 1) or run in one pass with threaded kernels (0). First arg: 0 = the MLP
// 784-256-128-10 on 12,800 samples, 1 = the CNN conv32-conv64-128-10 on 1,280 28x28 images.
// Reports samples/s and the CPU time of all threads per sample.
void BM_trainer_epoch(benchmark::State& state) {
  const bool cnn = state.range(0) != 0, split = state.range(1) != 0;
  bp::Generator gen(7);
  const auto spec =
      bp::nn::parse_model_spec(cnn ? "conv(32,3),relu,maxpool(2),conv(64,3),relu,maxpool(2),"
                                     "flatten,dense(128),relu,dense(10)"
                                   : "flatten,dense(256),relu,dense(128),relu,dense(10)");
  const bp::Shape sample = cnn ? bp::Shape{1, 28, 28} : bp::Shape{784};
  auto net = bp::nn::build_model(spec, sample, gen);
  bp::optim::SGD sgd(net->parameters(), {.lr = 0.01f, .momentum = 0.9f});
  bp::data::Dataset data;
  const int64_t samples = cnn ? 1280 : 12800;
  bp::Shape shape = sample;
  shape.insert(shape.begin(), samples);
  data.features = bp::Tensor::uniform(shape, 0.0f, 1.0f, gen);
  data.feature_shape = sample;
  data.num_classes = 10;
  for (int64_t i = 0; i < samples; ++i) data.labels.push_back(static_cast<int64_t>(gen.below(10)));
  bp::train::Trainer trainer(*net, sgd, {.epochs = 1, .batch_size = 128, .split_batch = split});
  trainer.fit(data, {});  // warm-up: primitives, allocator cache
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) trainer.fit(data, {});
  const double total = static_cast<double>(samples) * static_cast<double>(state.iterations());
  state.counters["samples"] = benchmark::Counter(total, benchmark::Counter::kIsRate);
  // CPU time of all threads per sample: the cost of the work itself, which a busy machine
  // changes far less than the wall-clock rate.
  state.counters["cpu_us_per_sample"] = 1e6 * (process_cpu_seconds() - cpu_start) / total;
  state.counters["split_threads"] = trainer.batch_threads(128);
}
BENCHMARK(BM_trainer_epoch)
    ->ArgNames({"cnn", "split"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Args({1, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// One optimizer step() over a single tensor, its gradient fixed: first arg the kind, as listed by
// optim::optimizer_kinds() (0 sgd, 1 adagrad, 2 rmsprop, 3 adam, 4 adamw, 5 adamax, 6 nadam;
// sgd and rmsprop with momentum 0.9), second the element count. Reports elements/s. With
// --bp_threads=2 a tensor's update is shared among the threads from 4M elements for SGD and from
// 1M for the others.
void BM_optimizer_step(benchmark::State& state) {
  const std::string& kind = bp::optim::optimizer_kinds().at(static_cast<size_t>(state.range(0)));
  const int64_t n = state.range(1);
  bp::Generator gen(3);
  bp::Tensor w = bp::Tensor::normal({n}, 0.0f, 1.0f, gen, true);
  bp::sum(w * bp::Tensor::normal({n}, 0.0f, 1.0f, gen)).backward();
  auto opt = bp::optim::make_optimizer(kind, {w}, {.lr = 1e-6f, .momentum = 0.9f});
  for (auto _ : state) {
    opt->step();
    benchmark::ClobberMemory();
  }
  state.SetLabel(kind);
  state.counters["elements"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_optimizer_step)
    ->ArgNames({"kind", "n"})
    ->ArgsProduct({{0, 1, 2, 3, 4, 5, 6}, {200000, int64_t{1} << 20, int64_t{1} << 22}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// One activation's forward and backward (through autograd) over n elements: first arg the
// function, as listed by bp::activations(), second the backend (0 reference, 1 fast), third n.
// Reports elements/s.
void BM_activation(benchmark::State& state) {
  const bp::ActivationInfo& info = bp::activations()[static_cast<size_t>(state.range(0))];
  const bp::Backend saved = bp::backend();
  bp::set_backend(state.range(1) ? bp::Backend::fast : bp::Backend::reference);
  const int64_t n = state.range(2);
  bp::Generator gen(5);
  bp::Tensor x = bp::Tensor::uniform({n}, -4.0f, 4.0f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform({n}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::Tensor y = bp::activate(x, info.kind);
    y.backward(gy);
    benchmark::DoNotOptimize(x.grad().data());
  }
  bp::set_backend(saved);
  state.SetLabel(std::string(info.name));
  state.counters["elements"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_activation)
    ->ArgNames({"fn", "fast", "n"})
    ->ArgsProduct({benchmark::CreateDenseRange(0, 10, 1), {0, 1}, {8192, 1 << 17, 1 << 20}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Sets the backend for one benchmark (0 reference, 1 fast) and restores the old one after it.
struct BackendFor {
  bp::Backend saved = bp::backend();
  explicit BackendFor(int64_t fast) {
    bp::set_backend(fast ? bp::Backend::fast : bp::Backend::reference);
  }
  ~BackendFor() { bp::set_backend(saved); }
  BackendFor(const BackendFor&) = delete;
  BackendFor& operator=(const BackendFor&) = delete;
};

void count_rows(benchmark::State& state, int64_t rows) {
  state.counters["rows"] =
      benchmark::Counter(static_cast<double>(rows) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// Softmax (first arg 0) or log-softmax (1) of a (rows, cols) tensor over its last axis, forward
// and backward through autograd; second arg the backend (0 reference, 1 fast). Reports rows/s.
void BM_softmax(benchmark::State& state) {
  const bool log = state.range(0) != 0;
  BackendFor backend(state.range(1));
  const int64_t rows = state.range(2), cols = state.range(3);
  bp::Generator gen(9);
  bp::Tensor x = bp::Tensor::uniform({rows, cols}, -4.0f, 4.0f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform({rows, cols}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::Tensor y = log ? bp::log_softmax(x) : bp::softmax(x);
    y.backward(gy);
    benchmark::DoNotOptimize(x.grad().data());
  }
  count_rows(state, rows);
}
BENCHMARK(BM_softmax)
    ->ArgNames({"log", "fast", "rows", "cols"})
    ->ArgsProduct({{0, 1}, {0, 1}, {32, 256}, {10, 100, 1000}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Cross-entropy of (batch, classes) logits, forward and backward, as a training step ends: first
// arg the backend (0 reference, 1 fast). Reports rows (samples)/s.
void BM_cross_entropy(benchmark::State& state) {
  BackendFor backend(state.range(0));
  const int64_t batch = state.range(1), classes = state.range(2);
  bp::Generator gen(10);
  bp::Tensor logits = bp::Tensor::uniform({batch, classes}, -4.0f, 4.0f, gen, true);
  std::vector<int64_t> labels(static_cast<size_t>(batch));
  for (auto& label : labels)
    label = static_cast<int64_t>(gen.below(static_cast<uint64_t>(classes)));
  for (auto _ : state) {
    bp::cross_entropy(logits, labels).backward();
    benchmark::DoNotOptimize(logits.grad().data());
  }
  count_rows(state, batch);
}
BENCHMARK(BM_cross_entropy)
    ->ArgNames({"fast", "batch", "classes"})
    ->ArgsProduct({{0, 1}, {32, 128, 256}, {10, 100, 1000}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Layer norm of (rows, cols) with a learned scale and shift, forward and backward through
// autograd: first arg the backend (0 reference, 1 fast). Reports rows/s.
void BM_layer_norm(benchmark::State& state) {
  BackendFor backend(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2);
  bp::Generator gen(11);
  bp::Tensor x = bp::Tensor::uniform({rows, cols}, -2.0f, 2.0f, gen, true);
  bp::Tensor w = bp::Tensor::uniform({cols}, 0.5f, 1.5f, gen, true);
  bp::Tensor b = bp::Tensor::uniform({cols}, -0.5f, 0.5f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform({rows, cols}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::layer_norm(x, {cols}, w, b).backward(gy);
    benchmark::DoNotOptimize(x.grad().data());
  }
  count_rows(state, rows);
}
BENCHMARK(BM_layer_norm)
    ->ArgNames({"fast", "rows", "cols"})
    ->ArgsProduct({{0, 1}, {32, 64, 256}, {64, 256, 1024}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// One recurrent layer, forward and backward through time: 28 steps of 28 features (an image's
// rows), hidden 128, the last state out; cell 0 RNN (tanh), 2 LSTM, 3 GRU.
void BM_recurrent(benchmark::State& state) {
  BackendFor backend(state.range(0));
  const auto cell = static_cast<bp::RecurrentCell>(state.range(1));
  const int64_t batch = state.range(2), steps = 28, in = 28, hidden = 128;
  const int64_t gates = cell == bp::RecurrentCell::lstm  ? 4
                        : cell == bp::RecurrentCell::gru ? 3
                                                         : 1;
  bp::Generator gen(12);
  auto param = [&](bp::Shape shape) { return bp::Tensor::uniform(shape, -0.1f, 0.1f, gen, true); };
  bp::Tensor x = param({batch, steps, in});
  bp::Tensor w_ih = param({gates * hidden, in}), w_hh = param({gates * hidden, hidden});
  bp::Tensor b_ih = param({gates * hidden}), b_hh = param({gates * hidden});
  bp::Tensor gy = bp::Tensor::uniform({batch, hidden}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::recurrent(cell, x, w_ih, w_hh, b_ih, b_hh, false).backward(gy);
    benchmark::DoNotOptimize(w_hh.grad().data());
  }
  count_rows(state, batch);
}
BENCHMARK(BM_recurrent)
    ->ArgNames({"fast", "cell", "batch"})
    ->ArgsProduct({{0, 1}, {0, 2, 3}, {32, 64}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// a + b forward and backward through autograd (the binary kernel, then the sums of gy over the
// broadcast axes): first arg the broadcast, second the backend (0 reference, 1 fast).
//   0: a residual connection, (64, 16, 28, 28) + the same shape
//   1: a bias over rows, (256, 512) + (512)
//   2: a per-channel value over NCHW, (64, 16, 28, 28) + (1, 16, 1, 1)
//   3: attention's scores times a scalar, (64, 4, 28, 28) · ()
void BM_broadcast(benchmark::State& state) {
  const std::pair<bp::Shape, bp::Shape> shapes[] = {{{64, 16, 28, 28}, {64, 16, 28, 28}},
                                                    {{256, 512}, {512}},
                                                    {{64, 16, 28, 28}, {1, 16, 1, 1}},
                                                    {{64, 4, 28, 28}, {}}};
  const auto& [a_shape, b_shape] = shapes[state.range(0)];
  BackendFor backend(state.range(1));
  bp::Generator gen(13);
  bp::Tensor a = bp::Tensor::uniform(a_shape, -1.0f, 1.0f, gen, true);
  bp::Tensor b = bp::Tensor::uniform(b_shape, -1.0f, 1.0f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform(a_shape, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    (state.range(0) == 3 ? bp::mul(a, b) : bp::add(a, b)).backward(gy);
    benchmark::DoNotOptimize(b.grad().data());
  }
  state.SetLabel(bp::to_string(a_shape) + (state.range(0) == 3 ? " * " : " + ") +
                 bp::to_string(b_shape));
}
BENCHMARK(BM_broadcast)
    ->ArgNames({"case", "fast"})
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Attention's head split, (64, 28, 4, 16) permuted to (64, 4, 28, 16) (first arg 0), or a
// transpose of the last two axes (1), forward and backward: second arg the backend.
void BM_permute(benchmark::State& state) {
  BackendFor backend(state.range(1));
  bp::Generator gen(14);
  bp::Tensor x = bp::Tensor::uniform({64, 28, 4, 16}, -1.0f, 1.0f, gen, true);
  const std::vector<int64_t> order =
      state.range(0) == 0 ? std::vector<int64_t>{0, 2, 1, 3} : std::vector<int64_t>{0, 1, 3, 2};
  bp::Tensor gy = bp::Tensor::uniform(bp::permute(x, order).shape(), -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::permute(x, order).backward(gy);
    benchmark::DoNotOptimize(x.grad().data());
  }
}
BENCHMARK(BM_permute)
    ->ArgNames({"transpose", "fast"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// 2×2 max pooling of (64, 32, 26, 26), the zoo CNN's first pooling, forward and backward: first
// arg the backend.
void BM_max_pool(benchmark::State& state) {
  BackendFor backend(state.range(0));
  bp::Generator gen(15);
  bp::Tensor x = bp::Tensor::uniform({64, 32, 26, 26}, -1.0f, 1.0f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform({64, 32, 13, 13}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::max_pool2d(x, 2).backward(gy);
    benchmark::DoNotOptimize(x.grad().data());
  }
}
BENCHMARK(BM_max_pool)
    ->ArgNames({"fast"})
    ->DenseRange(0, 1)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// An embedding of 64 windows of 64 characters into a (96, dim) table, forward and backward: first
// arg the backend, second dim.
void BM_embedding(benchmark::State& state) {
  BackendFor backend(state.range(0));
  const int64_t dim = state.range(1);
  bp::Generator gen(16);
  bp::Tensor indices = bp::Tensor::empty({64, 64});
  for (float& v : indices.values()) v = static_cast<float>(gen.below(96));
  bp::Tensor weight = bp::Tensor::uniform({96, dim}, -1.0f, 1.0f, gen, true);
  bp::Tensor gy = bp::Tensor::uniform({64, 64, dim}, -1.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::embedding(indices, weight).backward(gy);
    benchmark::DoNotOptimize(weight.grad().data());
  }
}
BENCHMARK(BM_embedding)
    ->ArgNames({"fast", "dim"})
    ->ArgsProduct({{0, 1}, {32, 256}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Consumes our own flags (--name=value) and leaves the rest for Google Benchmark.
bool take_flag(const char* arg, const char* name, std::string& value) {
  const size_t len = std::strlen(name);
  if (std::strncmp(arg, name, len) != 0 || arg[len] != '=') return false;
  value = arg + len + 1;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string value;
    if (i > 0 && take_flag(argv[i], "--peak_gflops_per_thread", value)) {
      peak_gflops_per_thread = std::strtod(value.c_str(), nullptr);
      if (!(peak_gflops_per_thread > 0)) {
        std::fprintf(stderr, "bench_kernels: --peak_gflops_per_thread must be positive, got %s\n",
                     value.c_str());
        return 2;
      }
    } else if (i > 0 && take_flag(argv[i], "--bp_threads", value)) {
      bp::set_num_threads(std::atoi(value.c_str()));
    } else {
      rest.push_back(argv[i]);
    }
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::AddCustomContext("bp_threads", std::to_string(bp::num_threads()));
  benchmark::AddCustomContext("peak_gflops", std::to_string(peak_gflops()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
