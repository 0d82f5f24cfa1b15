// Batch-1 inference latency of the Fashion-MNIST MLP (784-256-128-10, ReLU), the model that
// bench/compare_pytorch.py also times in PyTorch.
//
//   ./build/bench/bench_inference [--bp_threads=N] [benchmark flags, e.g. --benchmark_format=json]
//
// One iteration is one forward pass of a 1×784 input in evaluation mode under NoGradGuard, the
// way a deployed model answers one request, in fp32 (bf16:0, the first) and under bf16 precision
// (bf16:1). Threads come from --bp_threads, else OMP_NUM_THREADS, else all cores.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backprop/backprop.hpp"

namespace {

void BM_mlp_forward_batch1(benchmark::State& state) {
  bp::Generator gen(7);
  bp::nn::Sequential net(
      {std::make_shared<bp::nn::Linear>(784, 256, gen), std::make_shared<bp::nn::ReLU>(),
       std::make_shared<bp::nn::Linear>(256, 128, gen), std::make_shared<bp::nn::ReLU>(),
       std::make_shared<bp::nn::Linear>(128, 10, gen)});
  net.eval();
  bp::NoGradGuard no_grad;
  const bp::PrecisionGuard precision(state.range(0) ? bp::Precision::bf16 : bp::Precision::fp32);
  bp::Tensor x = bp::Tensor::uniform({1, 784}, 0.0f, 1.0f, gen);
  for (auto _ : state) {
    bp::Tensor y = net(x);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["threads"] = bp::num_threads();
}
BENCHMARK(BM_mlp_forward_batch1)
    ->ArgName("bf16")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest;
  const char* flag = "--bp_threads=";
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strncmp(argv[i], flag, std::strlen(flag)) == 0)
      bp::set_num_threads(std::atoi(argv[i] + std::strlen(flag)));
    else
      rest.push_back(argv[i]);
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 1;
  benchmark::AddCustomContext("bp_threads", std::to_string(bp::num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
