// ItemBufferPool (native/engine/item_buffer_pool.h): buffers come back to their size class and
// are handed out again, the cap bounds what is kept, oversized buffers bypass the pool, and a
// buffer that outlives every other owner of the pool still frees safely (the sanitizer builds
// check the memory side).
#include <cstring>

#include "engine/item_buffer_pool.h"
#include "test_harness.h"

using namespace cascadeserve;

TEST(ItemBufferPoolSizeClassesArePowersOfTwoFrom64Bytes) {
  CHECK(ItemBufferPool::SizeClass(0) == 0);
  CHECK(ItemBufferPool::SizeClass(64) == 0);
  CHECK(ItemBufferPool::SizeClass(65) == 1);
  CHECK(ItemBufferPool::SizeClass(3136) == 6);  // a 28x28 float image: 4 KiB buffers
  CHECK(ItemBufferPool::ClassBytes(6) == 4096);
  CHECK(ItemBufferPool::SizeClass(ItemBufferPool::ClassBytes(ItemBufferPool::kClasses - 1)) == ItemBufferPool::kClasses - 1);
  CHECK(ItemBufferPool::SizeClass(ItemBufferPool::ClassBytes(ItemBufferPool::kClasses - 1) + 1) == -1);
}

TEST(ItemBufferPoolReusesFreedBuffersOfTheSameClass) {
  auto pool = std::make_shared<ItemBufferPool>(1 << 20);
  uint8_t* first = nullptr;
  {
    ItemBuffer a = pool->Take(3136);
    std::memset(a.get(), 7, 4096);  // the whole class is usable
    first = a.get();
  }
  CHECK(pool->CachedBytes() == 4096);
  ItemBuffer b = pool->Take(4000);  // same class
  CHECK(b.get() == first);
  CHECK(pool->CachedBytes() == 0);
  ItemBuffer c = pool->Take(100);  // another class: a new buffer
  CHECK(c.get() != first);
}

TEST(ItemBufferPoolKeepsAtMostItsCap) {
  auto pool = std::make_shared<ItemBufferPool>(3 * 4096);
  {
    std::vector<ItemBuffer> held;
    for (int i = 0; i < 10; ++i) held.push_back(pool->Take(4096));
  }
  CHECK(pool->CachedBytes() == 3 * 4096);
}

TEST(ItemBufferPoolOversizedBuffersBypassIt) {
  auto pool = std::make_shared<ItemBufferPool>(size_t{1} << 30);
  const size_t huge = ItemBufferPool::ClassBytes(ItemBufferPool::kClasses - 1) + 1;
  { ItemBuffer big = pool->Take(huge); big[huge - 1] = 1; }
  CHECK(pool->CachedBytes() == 0);
}

TEST(ItemBufferPoolABufferMayOutliveTheEngineOwner) {
  ItemBuffer survivor;
  {
    auto pool = std::make_shared<ItemBufferPool>(1 << 20);
    survivor = pool->Take(128);
  }  // the last other owner is gone: the buffer's deleter keeps the pool alive
  survivor[127] = 3;
  survivor.reset();  // back to the pool; pool and buffer go with the deleter's last reference
  CHECK(!survivor);
}
