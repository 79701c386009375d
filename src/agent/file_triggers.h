// Internal to mk_agent: the fileChange triggers of this node
// (docs/workflows.md "fileChange"), a part of `minik8s agent`.
//
// A controller (client::Controller, own informer factory) over Trigger
// objects: reconcile(trigger key) keeps the trigger in the watch table when
// it has spec.fileChange with node == this node and is not suspended, else
// takes it out. One inotify watch per directory (created with mkdir -p
// semantics; the path grammar is re-validated before the filesystem is
// touched), shared by every trigger on it; the last trigger leaving a
// directory removes its watch. A directory that disappears (deleted, moved)
// is watched again (re-created) a second later.
//
// Events (per directory, on the reader thread): IN_CLOSE_WRITE and
// IN_MOVED_TO → "created" when the name was not in the directory (as last
// seen: listed when the watch began, then followed), else "modified";
// IN_DELETE and IN_MOVED_FROM → "deleted". Only regular files (and deletions)
// fire; subdirectories do not. Each trigger filters by its events and
// pattern; a match is a firing on the firing pool (content read there, when
// includeContent) through serverless::fire_trigger().
//
// Threads: the controller's worker (reconcile), the reader thread (inotify
// and a stop eventfd, no timeouts: it sleeps in poll()), the firing pool.
// The watch table is under Impl::mu; no lock is held while firing.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "minik8s/client/client.h"
#include "minik8s/client/controller.h"
#include "minik8s/util/time.h"

namespace minik8s::agent {

struct FileTriggerOptions {
  std::string node_name;
  // The API server's URL: a gateway advertised on a loopback host (a server
  // listening on 0.0.0.0) is reached at this URL's host instead.
  std::string api_server;
  int fire_threads = 4;
  size_t max_queued = 1024;
  Clock* clock = nullptr;  // event times and status.lastFired; null: real_clock()
};

class FileTriggerWatcher : public client::ControllerHandle {
 public:
  // client is borrowed and outlives the watcher.
  FileTriggerWatcher(client::Client& client, FileTriggerOptions opts);
  // The directories watched now, sorted.
  std::vector<std::string> watched_directories() const;
  // True when the trigger ("ns/name") is in the watch table (its directory watched).
  bool watching(const std::string& trigger_key) const;

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // owned by the handle
};

// url with its host replaced by api_server's when url's host is loopback
// (127.0.0.0/8, ::1, localhost) and api_server's is not; else url.
std::string gateway_url_for_node(const std::string& url, const std::string& api_server);

}  // namespace minik8s::agent
