#include "engine/item_buffer_pool.h"

namespace cascadeserve {

void ItemBufferDeleter::operator()(uint8_t* p) const {
  if (p == nullptr) return;
  if (pool && size_class >= 0) {
    pool->Give(p, size_class);
  } else {
    delete[] p;
  }
}

ItemBufferPool::~ItemBufferPool() {
  for (auto& list : free_) {
    for (uint8_t* p : list) delete[] p;
  }
}

int ItemBufferPool::SizeClass(size_t bytes) {
  for (int c = 0; c < kClasses; ++c) {
    if (bytes <= ClassBytes(c)) return c;
  }
  return -1;
}

ItemBuffer ItemBufferPool::Take(size_t bytes) {
  const int c = SizeClass(bytes);
  if (c < 0) return ItemBuffer(new uint8_t[bytes], ItemBufferDeleter{});
  uint8_t* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_[c].empty()) {
      p = free_[c].back();
      free_[c].pop_back();
      cached_bytes_ -= ClassBytes(c);
    }
  }
  if (p == nullptr) p = new uint8_t[ClassBytes(c)];
  return ItemBuffer(p, ItemBufferDeleter{shared_from_this(), c});
}

void ItemBufferPool::Give(uint8_t* p, int size_class) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_bytes_ + ClassBytes(size_class) <= max_cached_bytes_) {
      free_[size_class].push_back(p);
      cached_bytes_ += ClassBytes(size_class);
      return;
    }
  }
  delete[] p;
}

size_t ItemBufferPool::CachedBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_bytes_;
}

}  // namespace cascadeserve
