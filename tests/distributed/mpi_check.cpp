// Data-parallel training under a real MPI launcher (tests/CMakeLists.txt runs it with
// `mpirun -np 2`); each mode exits non-zero when a check fails.
//
//   mpi_check equivalence   the ranks' parameters are identical after every step, and equal (within
//                           float rounding) to one process training on the global batch
//   mpi_check nan RANK      RANK's data is NaN: the job must end with "error: rank RANK: ..."
//   mpi_check kill RANK     RANK kills itself at its third step: the launcher must end the job
//   mpi_check mismatch RANK RANK has fewer samples than the others: a clear error, not a hang
#include <signal.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "backprop/backprop.hpp"

namespace {

using namespace bp;

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++failures;
  }
}

// n samples of (1, 6, 6) images in 3 classes: class c is a bright column at 2c plus noise.
data::Dataset images(int64_t n, uint64_t seed) {
  Generator gen(seed);
  data::Dataset d;
  d.feature_shape = {1, 6, 6};
  d.num_classes = 3;
  d.features = Tensor::uniform({n, 1, 6, 6}, 0.0f, 0.3f, gen);
  for (int64_t i = 0; i < n; ++i) {
    const auto c = static_cast<int64_t>(gen.below(3));
    d.labels.push_back(c);
    for (int64_t y = 0; y < 6; ++y) d.features.data()[i * 36 + y * 6 + 2 * c] += 1.0f;
  }
  return d;
}

// Every rank's checksum of `model`; true when all are equal.
bool same_on_all_ranks(distributed::Communicator& comm, const nn::Module& model,
                       bool buffers = true) {
  std::vector<int64_t> sums(static_cast<size_t>(comm.size()), 0);
  sums[static_cast<size_t>(comm.rank())] =
      static_cast<int64_t>(distributed::checksum(model, buffers));
  comm.sum(sums);
  for (int64_t s : sums)
    if (s != sums[0]) return false;
  return true;
}

// Checks after every update that all ranks hold the same parameters. (Batch-norm buffers follow
// each rank's own batches until the end of the epoch.)
class ChecksumEveryStep : public train::Callback {
 public:
  explicit ChecksumEveryStep(distributed::Communicator& comm) : comm_(comm) {}
  void on_batch_end(train::Trainer& trainer, int64_t, int64_t, double, int64_t) override {
    ++steps;
    if (!same_on_all_ranks(comm_, trainer.model(), false))
      check(false, fmt::format("rank {}: parameters differ between ranks after step {}",
                               comm_.rank(), steps));
  }
  int64_t steps = 0;

 private:
  distributed::Communicator& comm_;
};

struct Run {
  Model model;
  std::vector<train::EpochStats> stats;
};

// Trains `spec` for 3 epochs: data-parallel over `comm` with `batch` per rank, or in one process
// (comm nullptr) with `batch`.
Run train_model(const std::string& spec, const data::Dataset& train, const data::Dataset& test,
                int64_t batch, distributed::Communicator* comm, bool augment,
                std::shared_ptr<train::Callback> callback = nullptr) {
  Generator gen(7);
  Run r{Model::create(nn::parse_model_spec(spec), train.feature_shape, gen), {}};
  optim::SGD sgd(r.model.network->parameters(), {.lr = 0.1f, .momentum = 0.9f});
  train::Trainer trainer(*r.model.network, sgd,
                         {.epochs = 3,
                          .batch_size = batch,
                          .seed = 5,
                          .random_crop_padding = augment ? 1 : 0,
                          .random_flip = augment,
                          .communicator = comm});
  if (callback) trainer.add_callback(callback);
  trainer.add_callback(std::make_shared<train::GradientClipping>(5.0));
  r.stats = trainer.fit(train, {{"test", &test}});
  return r;
}

void equivalence(distributed::Communicator& comm) {
  // 103 samples in global batches of 8 (or 32) × ranks: the last, short one is split unevenly.
  const data::Dataset train = images(103, 1), test = images(41, 2);
  int64_t per_rank = 8;
  struct Case {
    std::string spec;
    bool augment;
    int threads;  // 2: the trainer splits each rank's batch of 32 across 2 threads
  };
  for (const Case& c : {Case{"flatten,dense(16),tanh,dense(3)", false, 1},
                        Case{"conv(4,3),relu,flatten,dense(3)", true, 1},
                        Case{"flatten,dense(16),tanh,dense(3)", false, 2}}) {
    set_num_threads(c.threads);
    per_rank = c.threads == 1 ? 8 : 32;
    {
      Generator gen(7);
      Model probe = Model::create(nn::parse_model_spec(c.spec), train.feature_shape, gen);
      optim::SGD sgd(probe.network->parameters(), {.lr = 0.1f});
      train::Trainer t(*probe.network, sgd, {.batch_size = per_rank});
      check(t.batch_threads(per_rank) == c.threads,
            fmt::format("{}: batches split across {} threads, expected {}", c.spec,
                        t.batch_threads(per_rank), c.threads));
    }
    auto every_step = std::make_shared<ChecksumEveryStep>(comm);
    Run dist = train_model(c.spec, train, test, per_rank, &comm, c.augment, every_step);
    Run single = train_model(c.spec, train, test, per_rank * comm.size(), nullptr, c.augment);
    const int64_t steps = 3 * ((103 + per_rank * comm.size() - 1) / (per_rank * comm.size()));
    check(every_step->steps == steps,
          fmt::format("{}: {} steps, expected {}", c.spec, every_step->steps, steps));
    auto dp = dist.model.network->named_parameters(), sp = single.model.network->named_parameters();
    for (size_t i = 0; i < dp.size(); ++i) {
      double worst = 0;
      for (int64_t k = 0; k < dp[i].second.numel(); ++k)
        worst = std::max(
            worst, std::fabs(static_cast<double>(dp[i].second.data()[k]) - sp[i].second.data()[k]));
      check(worst < 1e-4, fmt::format("{}: {} differs from single-process training by {}", c.spec,
                                      dp[i].first, worst));
    }
    for (size_t e = 0; e < dist.stats.size(); ++e) {
      const auto &d = dist.stats[e], &s = single.stats[e];
      check(std::fabs(d.train_loss - s.train_loss) < 1e-4,
            fmt::format("{}: epoch {} train loss {} vs {}", c.spec, e + 1, d.train_loss,
                        s.train_loss));
      const train::Metrics &dt = *d.eval("test"), &st = *s.eval("test");
      check(dt.samples == 41 && std::fabs(dt.loss - st.loss) < 1e-4 && dt.confusion == st.confusion,
            fmt::format("{}: epoch {} test metrics differ ({} samples, loss {} vs {})", c.spec,
                        e + 1, dt.samples, dt.loss, st.loss));
    }
  }
  set_num_threads(1);
  // Batch norm: the running statistics (buffers) are averaged after each epoch, so the whole
  // model, buffers included, is the same on every rank.
  {
    auto every_step = std::make_shared<ChecksumEveryStep>(comm);
    Run dist = train_model("conv(4,3),batchnorm,relu,flatten,dense(3)", train, test, per_rank,
                           &comm, false, every_step);
    check(same_on_all_ranks(comm, *dist.model.network),
          "batch norm: buffers differ between ranks after training");
  }
}

// Trains on data that is NaN on rank `bad` (or dies there at the third step) until the job ends.
void fault(distributed::Communicator& comm, int bad, bool kill, bool mismatch = false) {
  data::Dataset train = images(comm.rank() == bad && mismatch ? 399 : 400, 1);
  if (comm.rank() == bad && !kill && !mismatch) train.features.fill_(std::nanf(""));
  Generator gen(7);
  Model model = Model::create(nn::parse_model_spec("flatten,dense(16),tanh,dense(3)"),
                              train.feature_shape, gen);
  optim::SGD sgd(model.network->parameters(), {.lr = 0.1f});
  train::Trainer trainer(*model.network, sgd,
                         {.epochs = 1000000, .batch_size = 8, .communicator = &comm});
  struct KillAtThirdStep : train::Callback {
    bool armed = false;
    void on_batch_end(train::Trainer&, int64_t batch, int64_t, double, int64_t) override {
      if (armed && batch == 3) ::raise(SIGKILL);
    }
  };
  auto killer = std::make_shared<KillAtThirdStep>();
  killer->armed = kill && comm.rank() == bad;
  trainer.add_callback(killer);
  trainer.fit(train, {});
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  distributed::Communicator* comm = nullptr;
  try {
    set_num_threads(1);
    comm = &distributed::Communicator::world();
    if (comm->size() < 2) {
      std::fprintf(stderr, "mpi_check: run me under mpirun with at least 2 processes\n");
      return 2;
    }
    if (mode == "equivalence") {
      equivalence(*comm);
    } else if ((mode == "nan" || mode == "kill" || mode == "mismatch") && argc > 2) {
      fault(*comm, std::atoi(argv[2]), mode == "kill", mode == "mismatch");
      check(false, "the faulty run ended normally");
    } else {
      std::fprintf(stderr, "usage: mpi_check equivalence | nan|kill|mismatch RANK\n");
      return 2;
    }
  } catch (const std::exception& e) {
    if (comm && comm->size() > 1) comm->abort(e.what());
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  // A failure on any rank fails the job.
  std::vector<int64_t> failed{failures};
  comm->sum(failed);
  if (comm->rank() == 0) std::printf("%s\n", failed[0] ? "FAILED" : "all checks passed");
  return failed[0] ? 1 : 0;
}
