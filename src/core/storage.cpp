// Storage and the caching allocator behind it. A training step allocates the same buffer sizes
// every time; handing freed buffers back out by exact size means a steady-state step makes no
// system allocation (and no page faults on fresh memory).
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/tensor_impl.hpp"

namespace bp {

namespace {

constexpr size_t kAlignment = 64;
// Freed buffers kept for reuse, in bytes; beyond this they go back to the system.
constexpr size_t kCacheLimit = size_t{2} << 30;

class CachingAllocator {
 public:
  void* allocate(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= bytes;
        return p;
      }
    }
    system_allocations_.fetch_add(1, std::memory_order_relaxed);
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (p == nullptr) {
      release_all();
      p = std::aligned_alloc(kAlignment, bytes);
      if (p == nullptr) throw std::bad_alloc();
    }
    return p;
  }

  void deallocate(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > kCacheLimit) {
      std::free(p);
      return;
    }
    free_[bytes].push_back(p);
    cached_ += bytes;
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, list] : free_)
      for (void* p : list) std::free(p);
    free_.clear();
    cached_ = 0;
  }

  ~CachingAllocator() { release_all(); }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {system_allocations_.load(std::memory_order_relaxed), static_cast<int64_t>(cached_)};
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  std::atomic<int64_t> system_allocations_{0};
};

CachingAllocator& allocator() {
  // Never destroyed: tensors in static objects may be freed after main() returns.
  static auto* instance = new CachingAllocator();
  return *instance;
}

size_t padded_bytes(size_t n) {
  // aligned_alloc needs a non-zero multiple of the alignment.
  size_t bytes = (n * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
  return bytes == 0 ? kAlignment : bytes;
}

}  // namespace

Storage::Storage(size_t n) : size(n) {
  data = static_cast<float*>(allocator().allocate(padded_bytes(n)));
}

Storage::~Storage() {
  allocator().deallocate(data, padded_bytes(size));
}

void release_cached_memory() {
  allocator().release_all();
}

MemoryStats memory_stats() {
  return allocator().stats();
}

}  // namespace bp
