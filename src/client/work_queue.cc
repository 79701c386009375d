#include "minik8s/client/work_queue.h"

#include <algorithm>

namespace minik8s::client {

std::chrono::nanoseconds ExponentialBackoff::when(const std::string& key) {
  std::lock_guard lock(mu_);
  int n = failures_[key]++;
  // Double without overflow: stop once past max.
  auto delay = base_;
  for (int i = 0; i < n && delay < max_; ++i) delay *= 2;
  return std::min(delay, max_);
}

void ExponentialBackoff::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int ExponentialBackoff::failures(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

WorkQueue::WorkQueue(WorkQueueOptions opts)
    : backoff_(opts.base_delay, opts.max_delay),
      clock_(opts.clock),
      poll_clock_(opts.clock != nullptr && opts.clock != &real_clock()),
      timer_([this](std::stop_token st) { timer_loop(st); }) {}

WorkQueue::SteadyClock::time_point WorkQueue::now() const { return clock_ ? clock_->monotonic() : SteadyClock::now(); }

WorkQueue::~WorkQueue() {
  shutdown();
  timer_.request_stop();
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void WorkQueue::add_locked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (processing_.count(key)) return;  // re-queued by done()
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  add_locked(key);
}

void WorkQueue::add_after(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  if (delay <= std::chrono::nanoseconds::zero()) {
    add_locked(key);
    return;
  }
  auto at = now() + std::chrono::duration_cast<SteadyClock::duration>(delay);
  // Keep only the earliest pending deadline per key.
  for (auto it = delayed_.begin(); it != delayed_.end(); ++it) {
    if (it->second == key) {
      if (it->first <= at) return;
      delayed_.erase(it);
      break;
    }
  }
  delayed_.emplace(at, key);
  timer_cv_.notify_all();
}

void WorkQueue::add_rate_limited(const std::string& key) { add_after(key, backoff_.when(key)); }

void WorkQueue::forget(const std::string& key) { backoff_.forget(key); }

int WorkQueue::num_requeues(const std::string& key) const { return backoff_.failures(key); }

bool WorkQueue::get(std::string& key) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return shutting_down_ || !queue_.empty(); });
  if (shutting_down_) return false;
  key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return true;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  processing_.erase(key);
  if (dirty_.count(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void WorkQueue::shutdown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
    queue_.clear();
    delayed_.clear();
  }
  cv_.notify_all();
  timer_cv_.notify_all();
}

bool WorkQueue::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t WorkQueue::delayed() const {
  std::lock_guard lock(mu_);
  return delayed_.size();
}

void WorkQueue::timer_loop(std::stop_token stop) {
  std::unique_lock lock(mu_);
  while (!stop.stop_requested() && !shutting_down_) {
    auto t = now();
    while (!delayed_.empty() && delayed_.begin()->first <= t) {
      std::string key = delayed_.begin()->second;
      delayed_.erase(delayed_.begin());
      add_locked(key);
    }
    if (delayed_.empty()) {
      timer_cv_.wait(lock, stop, [&] { return shutting_down_ || !delayed_.empty(); });
    } else if (poll_clock_) {
      auto next = delayed_.begin()->first;
      timer_cv_.wait_for(lock, stop, std::chrono::milliseconds(1),
                         [&] { return shutting_down_ || delayed_.empty() || delayed_.begin()->first < next; });
    } else {
      auto next = delayed_.begin()->first;
      timer_cv_.wait_until(lock, stop, next, [&] { return shutting_down_ || delayed_.empty() || delayed_.begin()->first < next; });
    }
  }
}

}  // namespace minik8s::client
