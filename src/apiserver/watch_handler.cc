// RestHandler: watch streams (handler.h lists the other parts). A watch
// reads from the watch cache's ring from its resourceVersion, filters by
// label/field selector (an update that leaves the selection is DELETED, one
// that enters it ADDED), writes one JSON event per line (or Table rows), and
// sends BOOKMARKs every ~10 s when asked.
#include "handler.h"

#include <chrono>

#include "minik8s/api/table.h"

namespace minik8s::apiserver {

namespace {

constexpr auto kBookmarkEvery = std::chrono::seconds(10);

}  // namespace

void RestHandler::handle_watch(HttpRequest req, StreamWriter& out,
                               const std::atomic<bool>& stopping) {
  auto start = std::chrono::steady_clock::now();
  RequestInfo ri = parse_path(req.path);
  auto fail = [&](const Status& st) {
    HttpResponse r = error_response(st);
    out.begin(r.code, "application/json");
    out.write(r.body);
    metrics_.observe("watch", ri.type ? ri.type->plural : "", r.code, 0);
  };
  if (auto refused = admit(req)) {
    out.begin(refused->code, "application/json");
    out.write(refused->body);
    metrics_.observe("watch", ri.type ? ri.type->plural : "", refused->code, 0);
    return;
  }
  if (Status utf8 = check_utf8(req); !utf8.is_ok()) {
    fail(utf8);
    return;
  }
  if (ri.path != PathKind::kResource || !ri.type || !ri.subresource.empty() ||
      (!ri.name.empty() && ri.ns.empty() && ri.type->namespaced)) {
    fail(not_found("the server could not find the requested resource"));
    return;
  }
  const api::ResourceType& t = *ri.type;
  auto filter = make_filter(t, req);
  if (!filter) {
    fail(filter.status());
    return;
  }
  if (!ri.name.empty()) {
    // Watching one object: /pods/NAME?watch=1 → a metadata.name field selector.
    auto fs = api::FieldSelector::parse("metadata.name=" + ri.name);
    if (fs) {
      if (filter->fields) {
        auto both =
            api::FieldSelector::parse(query(req, "fieldSelector") + ",metadata.name=" + ri.name);
        if (both) filter->fields = std::move(both.value());
      } else {
        filter->fields = std::move(fs.value());
      }
    }
  }
  auto rvr = parse_rv_query(query(req, "resourceVersion"));
  if (!rvr) {
    fail(rvr.status());
    return;
  }
  int64_t rv = *rvr;
  int64_t timeout_s = 0;
  if (std::string ts = query(req, "timeoutSeconds"); !ts.empty()) {
    auto v = parse_int(ts, true);
    if (!v) {
      fail(bad_request("Invalid value for timeoutSeconds: \"" + ts + "\": must be an integer"));
      return;
    }
    timeout_s = *v;
  }
  bool bookmarks = query_bool(query(req, "allowWatchBookmarks"));
  bool table = wants_table(req.accept);
  metrics_.watch_opened();
  metrics_.observe("watch", t.plural, 200, 0);
  struct Done {
    Metrics& m;
    ~Done() { m.watch_closed(); }
  } done{metrics_};
  (void)start;
  // Register with the cache before the 200 goes out: a client that acts as
  // soon as it sees the headers must find its change in this watch (from
  // resourceVersion=0 the snapshot is taken here, too).
  auto w = cache_.watch(collection_prefix(t, ri.ns), rv);
  if (!w) {
    if (!out.begin(200, "application/json")) return;
    Status st = w.status();
    json ev = {{"type", "ERROR"}, {"object", json::parse(status_body(st, "", "", ""))}};
    out.write(ev.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    return;
  }
  std::shared_ptr<CacheWatcher> watcher = std::move(w.value());
  struct Unreg {
    WatchCache& c;
    std::shared_ptr<CacheWatcher>& w;
    ~Unreg() { c.unregister(w); }
  } unreg{cache_, watcher};
  if (!out.begin(200, "application/json")) return;
  auto deadline = timeout_s > 0 ? std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s)
                                : std::chrono::steady_clock::time_point::max();
  auto last_bookmark = std::chrono::steady_clock::now();
  // Bookmarks every ~10 s when asked for, on idle and busy watches alike.
  auto maybe_bookmark = [&]() {
    if (!bookmarks || std::chrono::steady_clock::now() - last_bookmark < kBookmarkEvery)
      return true;
    last_bookmark = std::chrono::steady_clock::now();
    json b = {
        {"type", "BOOKMARK"},
        {"object",
         {{"kind", t.kind},
          {"apiVersion", t.api_version()},
          {"metadata", {{"resourceVersion", std::to_string(watcher->bookmark_revision())}}}}}};
    return out.write(b.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
  };
  auto encode = [&](const char* type, const ObjectPtr& o) {
    std::string s = "{\"type\":\"";
    s += type;
    s += "\",\"object\":";
    if (table) {
      s += api::make_table(t, {o->object},
                           json{{"resourceVersion", std::to_string(o->mod_revision)}})
               .dump(-1, ' ', false, json::error_handler_t::replace);
    } else {
      s += o->wire;
    }
    s += "}\n";
    return s;
  };
  while (!stopping) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto wait =
        std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::seconds(1));
    auto ev = watcher->next(std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    if (!ev) {
      if (watcher->closed()) {
        if (watcher->overflowed()) {
          json e = {{"type", "ERROR"},
                    {"object",
                     json::parse(status_body(
                         Status(Code::kGone, "watch fell behind; please re-list"), "", "", ""))}};
          out.write(e.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
        }
        break;
      }
      if (out.peer_closed()) break;
      if (!maybe_bookmark()) break;
      continue;
    }
    const char* type = nullptr;
    ObjectPtr obj = ev->object;
    if (filter->empty()) {
      type = ev->type == storage::Event::Type::kCreated   ? "ADDED"
             : ev->type == storage::Event::Type::kUpdated ? "MODIFIED"
                                                          : "DELETED";
    } else {
      bool cur = obj && filter->matches(obj->object);
      bool prev = ev->prev && filter->matches(ev->prev->object);
      switch (ev->type) {
        case storage::Event::Type::kCreated:
          if (cur) type = "ADDED";
          break;
        case storage::Event::Type::kUpdated:
          if (cur && prev)
            type = "MODIFIED";
          else if (cur)
            type = "ADDED";
          else if (prev)
            type = "DELETED";
          break;
        case storage::Event::Type::kDeleted:
          if (prev || cur) type = "DELETED";
          break;
      }
    }
    if (type && obj && !out.write(encode(type, obj))) break;
    if (!maybe_bookmark()) break;
  }
}

}  // namespace minik8s::apiserver
