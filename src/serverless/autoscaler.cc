#include "minik8s/serverless/autoscaler.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace minik8s::serverless {

namespace {

using std::chrono::milliseconds;

// No decision asks for more instances than this, whatever the load says:
// keeps every double → int conversion defined.
constexpr double kMaxInstances = 1e6;

int to_count(double v) {
  if (std::isnan(v) || v <= 0) return 0;
  return static_cast<int>(std::min(v, kMaxInstances));
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Makes a config usable: the rates and threshold must be ≥ 1 / > 0 to mean
// anything, the windows at least one sample wide, the panic window no wider
// than the stable one.
KpaConfig sanitize(KpaConfig c) {
  if (c.sample_period.count() <= 0) c.sample_period = milliseconds(1000);
  if (c.tick_period.count() <= 0) c.tick_period = milliseconds(2000);
  if (c.stable_window.count() <= 0) c.stable_window = std::chrono::seconds(60);
  if (c.panic_window.count() <= 0 || c.panic_window > c.stable_window) {
    c.panic_window = c.stable_window;
  }
  if (!(c.panic_threshold > 0) || !std::isfinite(c.panic_threshold)) c.panic_threshold = 2.0;
  if (!(c.max_scale_up_rate >= 1) || !std::isfinite(c.max_scale_up_rate)) {
    c.max_scale_up_rate = 1;
  }
  if (!(c.max_scale_down_rate >= 1) || !std::isfinite(c.max_scale_down_rate)) {
    c.max_scale_down_rate = 1;
  }
  return c;
}

}  // namespace

// ---------------------------------------------------------------- Kpa

Kpa::Kpa(KpaConfig cfg) : cfg_(sanitize(cfg)) {}

void Kpa::note_time(SteadyClock::time_point now) {
  if (!seen_) {
    seen_ = true;
    first_seen_ = now;
  }
}

void Kpa::record(SteadyClock::time_point now, double concurrency) {
  note_time(now);
  if (std::isnan(concurrency)) return;
  concurrency = std::clamp(concurrency, 0.0, kMaxConcurrency);
  if (concurrency > 0) last_busy_ = std::max(last_busy_, now);
  auto ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  int64_t index = floor_div(ms, cfg_.sample_period.count());
  if (!buckets_.empty() && index < buckets_.back().index) return;  // time went back
  if (!buckets_.empty() && index == buckets_.back().index) {
    buckets_.back().sum += concurrency;
    buckets_.back().count++;
  } else {
    buckets_.push_back({index, concurrency, 1});
  }
  int64_t width = std::max<int64_t>(1, milliseconds(cfg_.stable_window) / cfg_.sample_period);
  while (buckets_.front().index <= index - width) buckets_.pop_front();
}

// The average of the per-bucket averages over the buckets of the last
// `window` that hold a sample: a sampler that ran late or a function younger
// than the window is averaged over what was seen, not diluted by zeros.
double Kpa::average(SteadyClock::time_point now, milliseconds window) const {
  auto ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  int64_t index = floor_div(ms, cfg_.sample_period.count());
  int64_t width = std::max<int64_t>(1, window / cfg_.sample_period);
  double sum = 0;
  int n = 0;
  for (const Bucket& b : buckets_) {
    if (b.index <= index - width || b.index > index) continue;
    sum += b.sum / b.count;
    n++;
  }
  return n == 0 ? 0 : sum / n;
}

KpaDecision Kpa::decide(SteadyClock::time_point now, int ready, bool busy,
                        SteadyClock::time_point last_request, const ScaleSettings& s) {
  note_time(now);
  if (busy) last_busy_ = std::max(last_busy_, now);
  const double target =
      std::isfinite(s.target_concurrency) && s.target_concurrency > 0 ? s.target_concurrency : 1;
  const int min_scale = std::max(s.min_scale, 0);
  const double ready_f = std::max(1, ready);

  KpaDecision d;
  d.stable_concurrency = average(now, cfg_.stable_window);
  d.panic_concurrency = average(now, cfg_.panic_window);

  // Knative's Scale(): the stable and panic counts, each held inside the
  // rate bounds relative to the ready count.
  const double want_stable = std::min(std::ceil(d.stable_concurrency / target), kMaxInstances);
  const double want_panic = std::min(std::ceil(d.panic_concurrency / target), kMaxInstances);
  const double up = std::ceil(cfg_.max_scale_up_rate * ready_f);
  const double down = std::floor(ready_f / cfg_.max_scale_down_rate);
  const int stable_count = to_count(std::min(std::max(want_stable, down), up));
  const int panic_count = to_count(std::min(std::max(want_panic, down), up));

  // Knative starts a decider in panic mode when more than one instance is
  // ready: without history it would otherwise scale a running function
  // down (after a server restart, say) before it has seen the load.
  if (!decided_) {
    decided_ = true;
    if (ready > 1) {
      panicking_ = true;
      last_over_threshold_ = now;
      max_panic_desired_ = ready;
    }
  }
  // Panic starts (or is extended) whenever the panic window asks for
  // threshold × ready; it ends once that has not happened for a stable window.
  if (want_panic / ready_f >= cfg_.panic_threshold) {
    panicking_ = true;
    last_over_threshold_ = now;
  } else if (panicking_ && now - last_over_threshold_ > cfg_.stable_window) {
    panicking_ = false;
    max_panic_desired_ = 0;
  }
  int desired = stable_count;
  if (panicking_) {  // never down while panicking
    max_panic_desired_ = std::max({max_panic_desired_, stable_count, panic_count});
    desired = max_panic_desired_;
  }

  // Scale to zero: only with nothing in flight or queued now, and no request
  // arriving, none in flight or queued (as far as samples saw) and no
  // registration for scale_to_zero_after; then as far down as the rate allows.
  const SteadyClock::time_point quiet_since = std::max({last_request, first_seen_, last_busy_});
  const bool idle = !busy && now - quiet_since >= s.scale_to_zero_after;
  if (idle && !panicking_) desired = to_count(down);
  if (desired == 0) {
    // A request in flight or queued needs an instance now; a function that
    // has (or is getting) one keeps its last instance until idle.
    if (busy || (!idle && (ready > 0 || last_desired_ > 0))) desired = 1;
  }

  desired = std::max(desired, min_scale);
  if (s.max_scale > 0) desired = std::min(desired, std::max(s.max_scale, min_scale));

  d.desired = desired;
  d.panic = panicking_;
  last_desired_ = desired;
  return d;
}

// ---------------------------------------------------------------- Autoscaler

struct Autoscaler::Impl {
  struct Function {
    ScaleSettings settings;
    Kpa kpa;
    int desired = 0;
    KpaDecision last;
  };

  LoadSource load;
  KpaConfig cfg;
  OnChange on_change;

  mutable std::mutex mu;  // guards functions
  std::map<std::string, Function> functions;

  std::mutex thread_mu;  // guards run_id and thread
  std::condition_variable cv;
  uint64_t run_id = 0;  // a thread runs while this is the id it was started with
  std::thread thread;

  std::vector<std::string> keys() const {
    std::lock_guard<std::mutex> lk(mu);
    std::vector<std::string> out;
    out.reserve(functions.size());
    for (const auto& [key, f] : functions) out.push_back(key);
    return out;
  }

  // Loads are read without mu held: the source takes its own locks.
  std::vector<std::pair<std::string, Load>> loads() const {
    std::vector<std::pair<std::string, Load>> out;
    for (auto& key : keys()) {
      Load l = load ? load(key) : Load{};
      out.emplace_back(std::move(key), l);
    }
    return out;
  }

  void run(Autoscaler& self, uint64_t id) {
    auto next_sample = SteadyClock::now();
    auto next_tick = next_sample + cfg.tick_period;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(thread_mu);
        if (cv.wait_until(lk, std::min(next_sample, next_tick), [&] { return run_id != id; })) {
          return;
        }
      }
      auto now = SteadyClock::now();
      if (now >= next_sample) {
        self.sample(now);
        next_sample = std::max(next_sample + cfg.sample_period, now);
      }
      if (now >= next_tick) {
        self.tick(now);
        next_tick = std::max(next_tick + cfg.tick_period, now);
      }
    }
  }
};

Autoscaler::Autoscaler(LoadSource load, KpaConfig cfg, OnChange on_change)
    : impl_(std::make_unique<Impl>()) {
  impl_->load = std::move(load);
  impl_->cfg = sanitize(cfg);
  impl_->on_change = std::move(on_change);
}

Autoscaler::~Autoscaler() { stop(); }

void Autoscaler::start() {
  std::lock_guard<std::mutex> lk(impl_->thread_mu);
  if (impl_->thread.joinable()) return;
  uint64_t id = ++impl_->run_id;
  impl_->thread = std::thread([this, id] { impl_->run(*this, id); });
}

void Autoscaler::stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lk(impl_->thread_mu);
    ++impl_->run_id;
    t = std::move(impl_->thread);
  }
  impl_->cv.notify_all();
  if (t.joinable()) t.join();
}

void Autoscaler::set_function(const std::string& key, const ScaleSettings& s) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto it = impl_->functions.find(key);
  if (it == impl_->functions.end()) {
    Impl::Function f{s, Kpa(impl_->cfg), std::max(s.min_scale, 0), {}};
    f.last.desired = f.desired;
    impl_->functions.emplace(key, std::move(f));
  } else {
    it->second.settings = s;
  }
}

void Autoscaler::remove_function(const std::string& key) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->functions.erase(key);
}

int Autoscaler::desired(const std::string& key) const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto it = impl_->functions.find(key);
  return it == impl_->functions.end() ? 0 : it->second.desired;
}

KpaDecision Autoscaler::last(const std::string& key) const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  auto it = impl_->functions.find(key);
  return it == impl_->functions.end() ? KpaDecision{} : it->second.last;
}

void Autoscaler::sample(SteadyClock::time_point now) {
  auto loads = impl_->loads();
  std::lock_guard<std::mutex> lk(impl_->mu);
  for (const auto& [key, l] : loads) {
    auto it = impl_->functions.find(key);
    if (it == impl_->functions.end()) continue;  // removed meanwhile
    it->second.kpa.record(now, static_cast<double>(l.in_flight) + static_cast<double>(l.queued));
  }
}

void Autoscaler::tick(SteadyClock::time_point now) {
  auto loads = impl_->loads();
  std::vector<std::string> changed;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    for (const auto& [key, l] : loads) {
      auto it = impl_->functions.find(key);
      if (it == impl_->functions.end()) continue;
      Impl::Function& f = it->second;
      bool busy = l.in_flight > 0 || l.queued > 0;
      f.last = f.kpa.decide(now, l.ready, busy, l.last_request, f.settings);
      if (f.last.desired != f.desired) {
        f.desired = f.last.desired;
        changed.push_back(key);
      }
    }
  }
  if (impl_->on_change) {
    for (const auto& key : changed) impl_->on_change(key);
  }
}

}  // namespace minik8s::serverless
