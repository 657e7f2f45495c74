#include "engine/stage_queue.h"

#include <algorithm>
#include <utility>

namespace cascadeserve {

std::deque<RequestPtr>& StageQueue::LevelFor(int32_t priority) {
  auto it = std::lower_bound(levels_.begin(), levels_.end(), priority,
                             [](const std::unique_ptr<Level>& level, int32_t p) { return level->priority < p; });
  if (it == levels_.end() || (*it)->priority != priority) {
    it = levels_.insert(it, std::make_unique<Level>(Level{priority, {}}));
  }
  return (*it)->items;
}

bool StageQueue::TryAdmit(RequestPtr* request) {
  if (size_ >= max_size_) return false;
  Push(std::move(*request));
  return true;
}

void StageQueue::Push(RequestPtr request) {
  request->state = RequestState::kQueued;
  if (request->deadline_us > 0) {
    earliest_deadline_bound_us_ = std::min(earliest_deadline_bound_us_, request->deadline_us);
  }
  LevelFor(request->priority).push_back(std::move(request));
  ++size_;
}

int64_t StageQueue::OldestEnqueueUs() const {
  int64_t oldest = INT64_MAX;
  for (const auto& level : levels_) {
    if (!level->items.empty()) oldest = std::min(oldest, level->items.front()->enqueue_us);
  }
  return oldest;
}

const Request* StageQueue::Head() const {
  for (const auto& level : levels_) {
    if (!level->items.empty()) return level->items.front().get();
  }
  return nullptr;
}

void StageQueue::PopBatch(int64_t max_items, std::vector<RequestPtr>* out) {
  for (auto& level : levels_) {
    while (max_items > 0 && !level->items.empty()) {
      out->push_back(std::move(level->items.front()));
      level->items.pop_front();
      --size_;
      --max_items;
    }
    if (max_items == 0) break;
  }
  if (size_ == 0) earliest_deadline_bound_us_ = INT64_MAX;
}

int64_t StageQueue::CountWithLength(int32_t length, int64_t cap) const {
  int64_t count = 0;
  for (const auto& level : levels_) {
    for (const RequestPtr& request : level->items) {
      if (request->length == length && ++count >= cap) return count;
    }
  }
  return count;
}

void StageQueue::PopBatchWithLength(int32_t length, int64_t max_items, std::vector<RequestPtr>* out) {
  for (auto& level : levels_) {
    if (max_items == 0) break;
    std::deque<RequestPtr>& items = level->items;
    // Stable partition by hand, stopping once max_items are taken: the rest keep their order.
    size_t kept = 0;
    size_t i = 0;
    for (; i < items.size() && max_items > 0; ++i) {
      if (items[i]->length == length) {
        out->push_back(std::move(items[i]));
        --size_;
        --max_items;
      } else {
        if (kept != i) items[kept] = std::move(items[i]);
        ++kept;
      }
    }
    if (kept != i) {
      for (; i < items.size(); ++i) items[kept++] = std::move(items[i]);
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(kept), items.end());
    }
  }
  if (size_ == 0) earliest_deadline_bound_us_ = INT64_MAX;
}

void StageQueue::RemoveExpired(int64_t now_us, std::vector<RequestPtr>* out) {
  if (now_us < earliest_deadline_bound_us_) return;
  int64_t bound = INT64_MAX;
  for (auto& level : levels_) {
    std::deque<RequestPtr>& items = level->items;
    // Stable partition by hand: expired requests go to *out, the rest keep their order.
    size_t kept = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      const int64_t deadline = items[i]->deadline_us;
      if (deadline > 0 && deadline <= now_us) {
        out->push_back(std::move(items[i]));
        --size_;
      } else {
        if (deadline > 0) bound = std::min(bound, deadline);
        if (kept != i) items[kept] = std::move(items[i]);
        ++kept;
      }
    }
    items.erase(items.begin() + static_cast<std::ptrdiff_t>(kept), items.end());
  }
  earliest_deadline_bound_us_ = bound;
}

void StageQueue::DrainAll(std::vector<RequestPtr>* out) {
  PopBatch(size_, out);
}

}  // namespace cascadeserve
