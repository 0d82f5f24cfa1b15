// Data-parallel training across processes with MPI: every process (a rank) holds the whole model,
// trains on its own part of every batch, and the ranks average their gradients so that all of them
// make the same update. train::Trainer does this when TrainerOptions::communicator has more than
// one rank; docs/distributed.md explains how it works and how to launch it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "backprop/export.hpp"
#include "backprop/tensor.hpp"

namespace bp::nn {
class Module;
}

namespace bp::distributed {

// True when this build has MPI (CMake option BP_MPI).
BP_API bool mpi_available();

// True when the environment shows that an MPI launcher (mpirun/mpiexec, or srun) started this
// process as part of a job.
BP_API bool launched_by_mpi();

// The processes of one job. All collective calls (broadcast, sum, GradientReducer) must be made
// by every rank, in the same order, with the same lengths; the calling thread must be the one that
// created the communicator.
class BP_API Communicator {
 public:
  // The job this process belongs to. Started by an MPI launcher: initialises MPI the first time
  // (it is finalized at exit); otherwise a job of one process (rank 0 of 1) that needs no MPI.
  // Throws bp::Error when an MPI launcher started several processes but this build has no MPI.
  static Communicator& world();
  // The world if world() has been called and has more than one rank; nullptr otherwise.
  static Communicator* active();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ranks on this machine (sharing its cores), this one included.
  int local_size() const { return local_size_; }

  // Copies `root`'s values into `values` on every rank.
  void broadcast(std::span<float> values, int root = 0);
  // Replaces `values` by their element-wise sum over the ranks (the same result on every rank).
  void sum(std::span<float> values);
  void sum(std::span<double> values);
  void sum(std::span<int64_t> values);

  // Seconds this rank has spent blocked in MPI calls (waiting for other ranks and for data) since
  // the communicator was created.
  double wait_seconds() const { return wait_seconds_; }
  void add_wait_seconds(double s) { wait_seconds_ += s; }

  // Prints "error: rank R: <message>" on stderr and ends every process of the job (MPI_Abort;
  // the launcher then exits non-zero). Requires an MPI job (size() > 1).
  [[noreturn]] void abort(std::string_view message);

  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

 private:
  Communicator() = default;
  int rank_ = 0, size_ = 1, local_size_ = 1;
  double wait_seconds_ = 0;
};

// Makes every rank's parameters and buffers equal to rank 0's (collective).
BP_API void broadcast_module(Communicator& comm, nn::Module& module);
// Replaces every buffer (batch-norm running statistics) by its average over the ranks.
BP_API void average_buffers(Communicator& comm, nn::Module& module);
// A hash of the bytes of every parameter (and buffer, with `buffers`): equal on all ranks iff they
// hold the same model (up to hash collisions).
BP_API uint64_t checksum(const nn::Module& module, bool buffers = true);

// Threads for each of the ranks on this machine when the user chose none: `wanted`, but no more
// than the cores this process may use divided by the ranks on the machine (when the launcher bound
// the process to some cores, those cores), and at least 1.
BP_API int threads_per_rank(const Communicator& comm, int wanted);

// Averages the gradients of `params` across the ranks after each backward pass. Gradients go into
// buckets of about `bucket_bytes`, in the reverse order of `params` (roughly the order in which
// backward finishes them); a bucket's MPI_Iallreduce starts as soon as all its gradients are
// final (autograd::GradReadyHook), while backward goes on with the layers below.
//
//   reducer.begin(local_samples / global_samples);  // this rank's share of the global batch
//   loss.backward();
//   reducer.finish();  // every .grad is now Σ_ranks share·grad, identical on every rank
class BP_API GradientReducer {
 public:
  // Requires: the same params (shapes, order) on every rank; bucket_bytes > 0.
  GradientReducer(Communicator& comm, std::vector<Tensor> params,
                  int64_t bucket_bytes = int64_t{1} << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Starts a pass in which this rank's gradients count with `weight` (finite, >= 0). A rank with
  // no samples calls begin(0) and finish() without a backward pass.
  void begin(double weight);
  // Reduces whatever backward did not start, waits for every bucket and writes the averaged
  // gradients into the parameters' .grad (creating it where backward left none).
  void finish();
  int64_t bucket_count() const;
  // Buckets of the last pass whose reduction started during backward, before finish().
  int64_t buckets_started_early() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace bp::distributed
