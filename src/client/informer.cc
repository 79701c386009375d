#include "minik8s/client/informer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace minik8s::client {

using api::Json;
using Clock = std::chrono::steady_clock;

// ---- Indexer ----

Indexer::Indexer() {
  index_funcs_[kNamespaceIndex] = [](const Json& obj) {
    return std::vector<std::string>{api::meta_string(obj, "namespace")};
  };
}

void Indexer::add_index(const std::string& name, IndexFunc fn) {
  std::lock_guard lock(mu_);
  index_funcs_[name] = std::move(fn);
  auto& idx = indexes_[name];
  idx.clear();
  for (const auto& [key, obj] : items_) {
    for (auto& v : index_funcs_[name](*obj)) idx[v].insert(key);
  }
}

void Indexer::index_locked(const std::string& key, const Json& obj, bool add) {
  for (const auto& [name, fn] : index_funcs_) {
    auto& idx = indexes_[name];
    for (auto& v : fn(obj)) {
      if (add) {
        idx[v].insert(key);
      } else if (auto it = idx.find(v); it != idx.end()) {
        it->second.erase(key);
        if (it->second.empty()) idx.erase(it);
      }
    }
  }
}

ObjectPtr Indexer::get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : it->second;
}

ObjectPtr Indexer::get(const std::string& ns, const std::string& name) const {
  return get(ns.empty() ? name : ns + "/" + name);
}

std::vector<ObjectPtr> Indexer::list() const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

std::vector<ObjectPtr> Indexer::list(const std::string& ns, const api::LabelSelector& selector) const {
  std::vector<ObjectPtr> candidates = ns.empty() ? list() : by_index(kNamespaceIndex, ns);
  if (selector.empty()) return candidates;
  std::vector<ObjectPtr> out;
  static const Json kNull;
  for (auto& obj : candidates) {
    const Json* labels = &kNull;
    if (auto m = obj->find("metadata"); m != obj->end() && m->is_object()) {
      if (auto l = m->find("labels"); l != m->end()) labels = &*l;
    }
    if (selector.matches_json(*labels)) out.push_back(obj);
  }
  return out;
}

std::vector<ObjectPtr> Indexer::by_index(const std::string& index, const std::string& value) const {
  std::lock_guard lock(mu_);
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  auto keys = idx->second.find(value);
  if (keys == idx->second.end()) return out;
  for (const auto& k : keys->second) {
    if (auto it = items_.find(k); it != items_.end()) out.push_back(it->second);
  }
  return out;
}

std::vector<std::string> Indexer::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : items_) out.push_back(k);
  return out;
}

size_t Indexer::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

ObjectPtr Indexer::upsert(ObjectPtr obj) {
  std::string key = object_key(*obj);
  std::lock_guard lock(mu_);
  ObjectPtr old;
  if (auto it = items_.find(key); it != items_.end()) {
    old = it->second;
    index_locked(key, *old, false);
  }
  index_locked(key, *obj, true);
  items_[key] = std::move(obj);
  return old;
}

ObjectPtr Indexer::erase(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return nullptr;
  ObjectPtr old = it->second;
  index_locked(key, *old, false);
  items_.erase(it);
  return old;
}

// ---- Informer ----

Informer::Informer(Client& client, const api::ResourceType& type, InformerOptions opts)
    : client_(client), type_(type), opts_(std::move(opts)), resync_ms_(opts_.resync.count()) {}

Informer::~Informer() { stop(); }

HandlerId Informer::add_event_handlers(EventHandlers handlers) {
  std::lock_guard lock(handlers_mu_);
  HandlerId id = next_handler_id_++;
  // Late joiners catch up on the cache; the lock keeps the informer thread's
  // deliveries from interleaving with the replay.
  if (started_.load() && handlers.on_add) {
    for (const auto& obj : indexer_.list()) handlers.on_add(obj);
  }
  handlers_.emplace_back(id, std::move(handlers));
  return id;
}

void Informer::remove_event_handlers(HandlerId id) {
  std::lock_guard lock(handlers_mu_);
  std::erase_if(handlers_, [id](const auto& h) { return h.first == id; });
}

void Informer::request_resync(std::chrono::milliseconds d) {
  if (d.count() <= 0) return;
  int64_t cur = resync_ms_.load();
  while ((cur <= 0 || d.count() < cur) && !resync_ms_.compare_exchange_weak(cur, d.count())) {
  }
}

void Informer::start() {
  if (thread_.joinable()) return;
  started_ = true;
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void Informer::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  {
    std::lock_guard lock(mu_);
    if (current_watch_) current_watch_->close();
  }
  cv_.notify_all();
  thread_.join();
}

bool Informer::wait_for_sync(std::chrono::milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  while (!has_synced()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::string Informer::last_resource_version() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

void Informer::deliver_add(const ObjectPtr& obj) {
  std::lock_guard lock(handlers_mu_);
  for (auto& [id, h] : handlers_) {
    if (h.on_add) h.on_add(obj);
  }
}
void Informer::deliver_update(const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
  std::lock_guard lock(handlers_mu_);
  for (auto& [id, h] : handlers_) {
    if (h.on_update) h.on_update(old_obj, new_obj);
  }
}
void Informer::deliver_delete(const ObjectPtr& obj) {
  std::lock_guard lock(handlers_mu_);
  for (auto& [id, h] : handlers_) {
    if (h.on_delete) h.on_delete(obj);
  }
}

bool Informer::wait_backoff(std::stop_token& stop, std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

Status Informer::relist() {
  ListOptions lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  auto list = client_.list(type_, opts_.namespace_, lo);
  list_count_++;
  if (!list) return list.status();
  Json& body = *list;
  std::map<std::string, ObjectPtr> fresh;
  if (body.contains("items") && body["items"].is_array()) {
    for (auto& item : body["items"]) {
      // Lists omit kind/apiVersion on items; fill them so cached objects are whole.
      if (item.is_object()) {
        if (!item.contains("kind")) item["kind"] = type_.kind;
        if (!item.contains("apiVersion")) item["apiVersion"] = type_.api_version();
        auto ptr = std::make_shared<const Json>(std::move(item));
        fresh[object_key(*ptr)] = std::move(ptr);
      }
    }
  }
  // Deletions first, then adds/updates, as client-go's Replace does.
  for (const auto& key : indexer_.keys()) {
    if (!fresh.count(key)) {
      if (auto old = indexer_.erase(key)) deliver_delete(old);
    }
  }
  for (auto& [key, obj] : fresh) {
    ObjectPtr old = indexer_.upsert(obj);
    if (!old) {
      deliver_add(obj);
    } else if (api::meta_string(*old, "resourceVersion") != api::meta_string(*obj, "resourceVersion")) {
      deliver_update(old, obj);
    }
  }
  std::string rv;
  if (body.contains("metadata") && body["metadata"].is_object()) {
    auto& m = body["metadata"];
    if (m.contains("resourceVersion") && m["resourceVersion"].is_string()) rv = m["resourceVersion"].get<std::string>();
  }
  {
    std::lock_guard lock(mu_);
    resource_version_ = rv;
  }
  need_relist_ = false;
  synced_ = true;
  return Status::ok();
}

void Informer::maybe_resync() {
  const auto period = resync_period();
  if (period.count() <= 0) return;
  auto now = Clock::now();
  // A period lowered since the last resync takes effect from now.
  if (now < next_resync_ && next_resync_ - now <= period) return;
  if (now < next_resync_) {
    next_resync_ = now + period;
    return;
  }
  next_resync_ = now + period;
  for (auto& obj : indexer_.list()) deliver_update(obj, obj);
}

Status Informer::watch_once(std::stop_token stop) {
  ListOptions lo;
  lo.label_selector = opts_.label_selector;
  lo.field_selector = opts_.field_selector;
  lo.resource_version = last_resource_version();
  lo.timeout_seconds = opts_.watch_timeout_seconds;
  lo.allow_bookmarks = true;
  auto stream = client_.watch(type_, opts_.namespace_, lo);
  if (!stream) {
    if (stream.status().code() == Code::kGone) need_relist_ = true;
    return stream.status();
  }
  {
    std::lock_guard lock(mu_);
    if (stop.stop_requested()) return Status::ok();
    current_watch_ = stream->get();
  }
  Status result;
  while (!stop.stop_requested()) {
    auto wait = resync_period().count() > 0
                    ? std::max(std::chrono::milliseconds(1),
                               std::chrono::duration_cast<std::chrono::milliseconds>(next_resync_ - Clock::now()))
                    : std::chrono::milliseconds(1000);
    auto ev = (*stream)->next(std::min(wait, std::chrono::milliseconds(1000)));
    maybe_resync();
    if (!ev) {
      if ((*stream)->ended()) {
        result = (*stream)->status();
        if (result.code() == Code::kGone) need_relist_ = true;
        break;
      }
      continue;
    }
    std::string rv = api::meta_string(*ev->object, "resourceVersion");
    if (ev->type == "BOOKMARK") {
      if (!rv.empty()) {
        std::lock_guard lock(mu_);
        resource_version_ = rv;
      }
      continue;
    }
    std::string key = object_key(*ev->object);
    if (ev->type == "ADDED" || ev->type == "MODIFIED") {
      ObjectPtr old = indexer_.upsert(ev->object);
      if (old) {
        deliver_update(old, ev->object);
      } else {
        deliver_add(ev->object);
      }
    } else if (ev->type == "DELETED") {
      ObjectPtr old = indexer_.erase(key);
      deliver_delete(ev->object ? ev->object : old);
    }
    if (!rv.empty()) {
      std::lock_guard lock(mu_);
      resource_version_ = rv;
    }
  }
  {
    std::lock_guard lock(mu_);
    current_watch_ = nullptr;
  }
  return result;
}

void Informer::run(std::stop_token stop) {
  auto backoff = opts_.min_backoff;
  next_resync_ = Clock::now() + resync_period();
  while (!stop.stop_requested()) {
    if (need_relist_) {
      if (Status s = relist(); !s) {
        if (!wait_backoff(stop, backoff)) return;
        backoff = std::min(backoff * 2, opts_.max_backoff);
        continue;
      }
      backoff = opts_.min_backoff;
    }
    Status s = watch_once(stop);
    if (stop.stop_requested()) return;
    if (!s && !need_relist_) {
      if (!wait_backoff(stop, backoff)) return;
      backoff = std::min(backoff * 2, opts_.max_backoff);
    } else if (s) {
      backoff = opts_.min_backoff;
    }
  }
}

}  // namespace minik8s::client
