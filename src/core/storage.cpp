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

size_t padded_bytes(size_t n, size_t element = sizeof(float)) {
  // aligned_alloc needs a non-zero multiple of the alignment.
  size_t bytes = (n * element + kAlignment - 1) / kAlignment * kAlignment;
  return bytes == 0 ? kAlignment : bytes;
}

// The entry of `storage` for elements [offset, offset + count) at `version`, added if missing
// (the caller converts it, once, outside the lock).
std::shared_ptr<Bf16Copy> find_or_add_copy(Storage& storage, int64_t offset, int64_t count,
                                           uint64_t version) {
  std::lock_guard<std::mutex> lock(storage.bf16_mutex);
  auto& copies = storage.bf16_copies;
  for (const auto& c : copies)
    if (c->version == version && c->offset == offset && c->count == count) return c;
  std::erase_if(copies, [&](const auto& c) { return c->version != version; });
  if (copies.size() >= kMaxBf16Copies) copies.erase(copies.begin());
  return copies.emplace_back(std::make_shared<Bf16Copy>(offset, count, version));
}

}  // namespace

Storage::Storage(size_t n) : size(n) {
  data = static_cast<float*>(allocator().allocate(padded_bytes(n)));
}

Storage::~Storage() {
  allocator().deallocate(data, padded_bytes(size));
}

Bf16Copy::Bf16Copy(int64_t offset_, int64_t count_, uint64_t version_)
    : offset(offset_), count(count_), version(version_) {
  data = static_cast<uint16_t*>(
      allocator().allocate(padded_bytes(static_cast<size_t>(count), sizeof(uint16_t))));
}

Bf16Copy::~Bf16Copy() {
  allocator().deallocate(data, padded_bytes(static_cast<size_t>(count), sizeof(uint16_t)));
}

std::shared_ptr<const Bf16Copy> bf16_copy(const Tensor& t, Bf16Convert* convert) {
  const TensorImpl& impl = *t.impl();
  std::shared_ptr<Bf16Copy> copy =
      find_or_add_copy(*impl.storage, impl.offset, impl.count, impl.storage->version);
  std::call_once(copy->made, [&] { convert(impl.data(), copy->data, impl.count); });
  return copy;
}

void release_cached_memory() {
  allocator().release_all();
}

MemoryStats memory_stats() {
  return allocator().stats();
}

}  // namespace bp
