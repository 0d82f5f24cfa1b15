// The job's processes: MPI when this build has it and a launcher started us, else one process.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "backprop/distributed.hpp"
#include "backprop/error.hpp"
#include "backprop/nn.hpp"
#include "core/clock.hpp"

#if BP_HAVE_MPI
#include <mpi.h>
#endif

namespace bp::distributed {

namespace {

#if !BP_HAVE_MPI
// The job size the launcher announced in the environment (OpenMPI, PMI, Slurm); 0 if none.
int launcher_job_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"})
    if (const char* v = std::getenv(name)) return std::max(0, std::atoi(v));
  return 0;
}
#endif

Communicator* world_ptr = nullptr;

#if BP_HAVE_MPI
// MPI counts are ints: large arrays go in pieces.
constexpr int64_t kMaxCount = int64_t{1} << 30;

// An MPI call's failure as a bp::Error naming the operation. MPI_ERRORS_RETURN is set once MPI
// starts, so that calls return their error instead of aborting the job with MPI's own message.
void check_mpi(int rc, const char* operation) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, text, &length) != MPI_SUCCESS) length = 0;
  fail("data-parallel training: {} failed (MPI error {}{}{})", operation, rc, length ? ": " : "",
       std::string(text, static_cast<size_t>(length)));
}

template <class T>
void allreduce_sum(Communicator& comm, T* data, int64_t n, MPI_Datatype type) {
  const double start = now_seconds();
  for (int64_t done = 0; done < n; done += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, n - done));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + done, count, type, MPI_SUM, MPI_COMM_WORLD),
              "summing over the ranks");
  }
  comm.add_wait_seconds(now_seconds() - start);
}

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
#endif

}  // namespace

bool mpi_available() {
#if BP_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

Communicator& Communicator::world() {
  static Communicator* world = [] {
    auto* c = new Communicator();  // never destroyed: MPI is finalized at exit
    if (!launched_by_mpi()) return c;
#if BP_HAVE_MPI
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      // OpenMPI busy-polls while it waits for other ranks. On a machine shared with other work
      // that steals the cores our ranks need (like OpenMP's spinning, see main.cpp): let a waiting
      // rank yield the core, unless the user chose otherwise.
      ::setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
      // Only this thread calls MPI; OpenMP threads do the arithmetic in between.
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "starting MPI");
      std::atexit(finalize_mpi);
    }
    check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "setting up MPI");
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_), "finding this rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &c->size_), "counting the ranks");
    MPI_Comm local;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local),
              "grouping the ranks by machine");
    check_mpi(MPI_Comm_size(local, &c->local_size_), "counting the ranks on this machine");
    MPI_Comm_free(&local);
#else
    const int size = launcher_job_size();
    if (size > 1) {
      delete c;
      fail(
          "this backprop was built without MPI (cmake -DBP_MPI=OFF, or no libopenmpi-dev), so "
          "it cannot train as one of {} processes; rebuild with MPI or run one process",
          size);
    }
#endif
    return c;
  }();
  world_ptr = world;
  return *world;
}

Communicator* Communicator::active() {
  return world_ptr != nullptr && world_ptr->size() > 1 ? world_ptr : nullptr;
}

void Communicator::broadcast([[maybe_unused]] std::span<float> values, int root) {
  BP_CHECK(root >= 0 && root < size_, "broadcast: root {} is not a rank of {}", root, size_);
  if (size_ == 1) return;
#if BP_HAVE_MPI
  const double start = now_seconds();
  for (size_t done = 0; done < values.size(); done += kMaxCount) {
    const int count = static_cast<int>(std::min<size_t>(kMaxCount, values.size() - done));
    check_mpi(MPI_Bcast(values.data() + done, count, MPI_FLOAT, root, MPI_COMM_WORLD),
              "broadcasting the parameters");
  }
  add_wait_seconds(now_seconds() - start);
#endif
}

void Communicator::sum([[maybe_unused]] std::span<float> values) {
  if (size_ == 1) return;
#if BP_HAVE_MPI
  allreduce_sum(*this, values.data(), static_cast<int64_t>(values.size()), MPI_FLOAT);
#endif
}

void Communicator::sum([[maybe_unused]] std::span<double> values) {
  if (size_ == 1) return;
#if BP_HAVE_MPI
  allreduce_sum(*this, values.data(), static_cast<int64_t>(values.size()), MPI_DOUBLE);
#endif
}

void Communicator::sum([[maybe_unused]] std::span<int64_t> values) {
  if (size_ == 1) return;
#if BP_HAVE_MPI
  allreduce_sum(*this, values.data(), static_cast<int64_t>(values.size()), MPI_INT64_T);
#endif
}

void Communicator::abort(std::string_view message) {
  // One write, so that lines of several ranks do not interleave.
  const std::string line = fmt::format("error: rank {}: {}\n", rank_, message);
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
  std::fflush(stdout);
#if BP_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  std::_Exit(1);
}

void broadcast_module(Communicator& comm, nn::Module& module) {
  if (comm.size() == 1) return;
  for (auto& [name, p] : module.named_parameters()) {
    comm.broadcast(p.values());
    p.bump_version();
  }
  for (auto& [name, b] : module.named_buffers()) {
    comm.broadcast(b.values());
    b.bump_version();
  }
}

void average_buffers(Communicator& comm, nn::Module& module) {
  if (comm.size() == 1) return;
  auto buffers = module.named_buffers();
  std::vector<float> packed;
  for (auto& [name, b] : buffers) packed.insert(packed.end(), b.values().begin(), b.values().end());
  if (packed.empty()) return;
  comm.sum(packed);
  const float scale = 1.0f / static_cast<float>(comm.size());
  size_t at = 0;
  for (auto& [name, b] : buffers)
    for (float& v : b.values()) v = packed[at++] * scale;
}

uint64_t checksum(const nn::Module& module, bool buffers) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  auto mix = [&](const Tensor& t) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
    for (size_t i = 0; i < static_cast<size_t>(t.numel()) * sizeof(float); ++i)
      h = (h ^ bytes[i]) * 0x100000001b3ULL;
  };
  for (const auto& [name, p] : module.named_parameters()) mix(p);
  if (buffers)
    for (const auto& [name, b] : module.named_buffers()) mix(b);
  return h;
}

int threads_per_rank(const Communicator& comm, int wanted) {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  int cores = online > 0 ? static_cast<int>(online) : 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  const int allowed = ::sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : cores;
  // Bound by the launcher to fewer cores than the machine has: those are this rank's. Otherwise the
  // ranks on this machine share all of them.
  const int per_rank = allowed < cores ? allowed : cores / std::max(1, comm.local_size());
  if (wanted <= 0) return std::max(1, per_rank);
  return std::max(1, std::min(wanted, per_rank));
}

}  // namespace bp::distributed
