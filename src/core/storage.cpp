#include <cstdlib>
#include <new>

#include "core/tensor_impl.hpp"

namespace bp {

namespace {
constexpr size_t kAlignment = 64;
}

Storage::Storage(size_t n) : size(n) {
  // aligned_alloc needs a size that is a multiple of the alignment (and non-zero).
  size_t bytes = (n * sizeof(float) + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes == 0) bytes = kAlignment;
  data = static_cast<float*>(std::aligned_alloc(kAlignment, bytes));
  if (data == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { std::free(data); }

}  // namespace bp
