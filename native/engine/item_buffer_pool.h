// ItemBufferPool: recycles the per-item input buffers (Request::input).
//
// Why: Submit allocates one buffer per item on the JavaScript thread and a lane frees it on
// its own thread when the item completes. An image's buffer (3 KiB) is too large for glibc's
// per-thread cache, so with plain new/delete every item took the arena lock twice across
// threads, and the heap was trimmed and regrown under load (page faults, each a hypervisor
// exit on the VMs measured: a visible share of the engine's per-item cost).
//
// Buffers are kept in free lists by size class (powers of two from 64 bytes), up to a cap on
// the bytes held; beyond the cap, and for buffers over the largest class, they are freed.
// Ownership: a buffer is an ItemBuffer (unique_ptr) whose deleter returns it to the pool; the
// deleter holds a shared_ptr to the pool, so a request that outlives its engine is still safe.
// Thread-safety: Take and the deleter may run on any thread; `mu_` guards the lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace cascadeserve {

class ItemBufferPool;

struct ItemBufferDeleter {
  std::shared_ptr<ItemBufferPool> pool;  // null: plain delete[]
  int size_class = -1;                   // -1: not pooled
  void operator()(uint8_t* p) const;
};

using ItemBuffer = std::unique_ptr<uint8_t[], ItemBufferDeleter>;

class ItemBufferPool : public std::enable_shared_from_this<ItemBufferPool> {
 public:
  static constexpr size_t kSmallestBytes = 64;
  static constexpr int kClasses = 20;  // up to 64 B << 19 = 32 MiB

  explicit ItemBufferPool(size_t max_cached_bytes) : max_cached_bytes_(max_cached_bytes) {}
  ~ItemBufferPool();
  ItemBufferPool(const ItemBufferPool&) = delete;
  ItemBufferPool& operator=(const ItemBufferPool&) = delete;

  // A buffer of at least `bytes` bytes, uninitialized (the caller writes every byte it reads).
  ItemBuffer Take(size_t bytes);

  // Bytes held in the free lists now (tests).
  size_t CachedBytes() const;

  // The class whose buffers hold `bytes`, or -1 when none does.
  static int SizeClass(size_t bytes);
  static size_t ClassBytes(int size_class) { return kSmallestBytes << size_class; }

 private:
  friend struct ItemBufferDeleter;
  void Give(uint8_t* p, int size_class);

  const size_t max_cached_bytes_;
  mutable std::mutex mu_;
  std::vector<uint8_t*> free_[kClasses];  // guarded by mu_
  size_t cached_bytes_ = 0;               // guarded by mu_
};

}  // namespace cascadeserve
