// Data-parallel training speed: samples/s of one training epoch, and the share of each step spent
// waiting inside MPI (gradient allreduce, and waiting for the slower rank). Run it alone (one
// process) or under mpirun; bench/distributed.sh compares 1 rank × 2 threads with 2 ranks × 1
// thread. Prints one JSON object on rank 0.
//
//   bench_distributed --model mlp|cnn [--batch GLOBAL] [--samples N] [--threads T]
//                     [--bucket-kb K] [--data DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backprop/backprop.hpp"

namespace {

using namespace bp;

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Step times after a few warm-up steps, and the MPI wait inside them.
class StepTimer : public train::Callback {
 public:
  explicit StepTimer(distributed::Communicator& comm) : comm_(comm) {}
  void on_batch_begin(train::Trainer&, int64_t) override {
    start_ = now_seconds();
    wait_start_ = comm_.wait_seconds();
  }
  void on_batch_end(train::Trainer&, int64_t batch, int64_t, double, int64_t) override {
    if (batch <= kWarmup) return;
    seconds += now_seconds() - start_;
    wait += comm_.wait_seconds() - wait_start_;
    ++steps;
  }
  static constexpr int64_t kWarmup = 5;
  double seconds = 0, wait = 0;
  int64_t steps = 0;

 private:
  distributed::Communicator& comm_;
  double start_ = 0, wait_start_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string model = "mlp", dir = data::kFashionMnistDir;
  int64_t global_batch = 128, samples = 0, bucket_kb = 1024;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--model")
      model = value;
    else if (flag == "--batch")
      global_batch = std::atoll(value.c_str());
    else if (flag == "--samples")
      samples = std::atoll(value.c_str());
    else if (flag == "--threads")
      threads = std::atoi(value.c_str());
    else if (flag == "--bucket-kb")
      bucket_kb = std::atoll(value.c_str());
    else if (flag == "--data")
      dir = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  distributed::Communicator* comm = nullptr;
  try {
    comm = &distributed::Communicator::world();
    set_num_threads(threads);
    const std::string spec = model == "cnn"
                                 ? "conv(32,3),relu,maxpool(2),conv(64,3),relu,maxpool(2),flatten,"
                                   "dense(128),relu,dense(10)"
                                 : "flatten,dense(256),relu,dense(128),relu,dense(10)";
    BP_CHECK(global_batch % comm->size() == 0, "--batch {} is not a multiple of {} ranks",
             global_batch, comm->size());
    data::Dataset train = data::load_mnist_dir(dir, data::Split::train);
    if (samples == 0) samples = model == "cnn" ? 12800 : train.size();
    if (samples < train.size()) {
      std::vector<int64_t> rows(static_cast<size_t>(samples));
      for (int64_t i = 0; i < samples; ++i) rows[static_cast<size_t>(i)] = i;
      train = data::subset(train, rows);
    }
    Generator gen(1);
    Model m = Model::create(nn::parse_model_spec(spec), train.feature_shape, gen);
    optim::SGD sgd(m.network->parameters(), {.lr = 0.05f, .momentum = 0.9f});
    train::Trainer trainer(*m.network, sgd,
                           {.epochs = 1,
                            .batch_size = global_batch / comm->size(),
                            .communicator = comm,
                            .bucket_bytes = bucket_kb * 1024});
    auto timer = std::make_shared<StepTimer>(*comm);
    trainer.add_callback(timer);
    trainer.fit(train, {});

    // A bare allreduce of the gradients' size, for the communication cost alone.
    const int64_t params = m.network->parameter_count();
    std::vector<float> grads(static_cast<size_t>(params), 1.0f);
    double allreduce_ms = 0;
    if (comm->size() > 1) {
      for (int i = 0; i < 5; ++i) comm->sum(grads);
      const double w0 = comm->wait_seconds();
      const int reps = 50;
      for (int i = 0; i < reps; ++i) comm->sum(grads);
      allreduce_ms = 1e3 * (comm->wait_seconds() - w0) / reps;
    }
    // The slowest rank sets the pace: take the largest step time and each rank's wait.
    std::vector<double> t{timer->seconds, timer->wait};
    std::vector<double> all(2 * static_cast<size_t>(comm->size()), 0.0);
    all[2 * static_cast<size_t>(comm->rank())] = t[0];
    all[2 * static_cast<size_t>(comm->rank()) + 1] = t[1];
    comm->sum(all);
    double seconds = 0, wait = 0;
    for (int r = 0; r < comm->size(); ++r) {
      seconds = std::max(seconds, all[2 * static_cast<size_t>(r)]);
      wait += all[2 * static_cast<size_t>(r) + 1] / comm->size();
    }
    if (comm->rank() == 0) {
      const double steps = static_cast<double>(timer->steps);
      std::printf(
          "{\"model\": \"%s\", \"ranks\": %d, \"threads\": %d, \"global_batch\": %lld, "
          "\"bucket_kb\": %lld, \"parameters\": %lld, \"steps\": %lld, "
          "\"samples_per_sec\": %.0f, \"step_ms\": %.3f, \"wait_ms\": %.3f, "
          "\"wait_share\": %.4f, \"allreduce_ms\": %.3f}\n",
          model.c_str(), comm->size(), num_threads(), static_cast<long long>(global_batch),
          static_cast<long long>(bucket_kb), static_cast<long long>(params),
          static_cast<long long>(timer->steps), steps * static_cast<double>(global_batch) / seconds,
          1e3 * seconds / steps, 1e3 * wait / steps, wait / seconds, allreduce_ms);
    }
  } catch (const std::exception& e) {
    if (comm && comm->size() > 1) comm->abort(e.what());
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
