#include "status_manager.h"

#include "minik8s/kubelet/parts.h"

namespace minik8s::kubelet {

namespace {

const cri::ContainerStatus* find_status(const PodRuntimeState& rt, const std::string& id) {
  auto it = rt.statuses.find(id);
  return it == rt.statuses.end() ? nullptr : &it->second;
}

const ContainerView& view_of(const PodRuntimeState& rt, const std::string& name) {
  static const ContainerView kNone;
  auto it = rt.views.find(name);
  return it == rt.views.end() ? kNone : it->second;
}

std::string terminated_reason(const cri::ContainerStatus& st) {
  if (!st.reason.empty()) return st.reason;
  return st.exit_code == 0 ? "Completed" : "Error";
}

json terminated_json(const cri::ContainerStatus& st) {
  json t = {{"exitCode", st.exit_code},
            {"reason", terminated_reason(st)},
            {"startedAt", st.started_at ? json(rfc3339_ns(st.started_at)) : json(nullptr)},
            {"finishedAt", st.finished_at ? json(rfc3339_ns(st.finished_at)) : json(nullptr)},
            {"containerID", "containerd://" + st.container.id}};
  if (!st.message.empty()) t["message"] = st.message;
  return t;
}

json waiting_json(const std::string& reason, const std::string& message) {
  json w = {{"reason", reason}};
  if (!message.empty()) w["message"] = message;
  return {{"waiting", w}};
}

// state/lastState of a container whose latest instance exited.
void exited_state(bool init, const std::string& policy, const ContainerView& cv,
                  const cri::ContainerStatus& st, const cri::ContainerStatus* prev, json& out,
                  ContainerProgress& progress) {
  bool restart = cv.restart_requested || want_restart(policy, st.exit_code, init);
  if (init && st.exit_code == 0) {
    out["state"] = {{"terminated", terminated_json(st)}};
    if (prev) out["lastState"] = {{"terminated", terminated_json(*prev)}};
    return;
  }
  if (init) {
    progress.init_done = false;
    if (!restart) progress.init_failed = true;
  }
  if (restart && !cv.waiting_reason.empty()) {
    out["state"] = waiting_json(cv.waiting_reason, cv.waiting_message);
    out["lastState"] = {{"terminated", terminated_json(st)}};
  } else {
    out["state"] = {{"terminated", terminated_json(st)}};
    if (prev) out["lastState"] = {{"terminated", terminated_json(*prev)}};
  }
}

}  // namespace

std::vector<std::string> status_ids_needed(const json& pod, const ContainersByName& containers) {
  std::vector<std::string> ids;
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& c : at(spec(pod), list)) {
      auto it = containers.find(sget(c, "name"));
      if (it == containers.end()) continue;
      for (size_t i = 0; i < it->second.size() && i < 2; ++i) ids.push_back(it->second[i].id);
    }
  }
  return ids;
}

json container_status(const json& c, bool init, bool blocked, const std::string& policy, const PodRuntimeState& rt,
                      SysTime now, ContainerProgress& progress) {
  std::string name = sget(c, "name");
  const ContainerView& cv = view_of(rt, name);
  json out = {{"name", name},         {"image", sget(c, "image")}, {"imageID", ""}, {"lastState", json::object()},
              {"ready", false},       {"restartCount", 0},         {"started", false}};
  auto it = rt.containers.find(name);
  if (it == rt.containers.end() || it->second.empty()) {
    std::string reason = cv.waiting_reason.empty() ? (blocked ? "PodInitializing" : "ContainerCreating")
                                                   : cv.waiting_reason;
    out["state"] = waiting_json(reason, cv.waiting_reason.empty() ? "" : cv.waiting_message);
    if (init) progress.init_done = false;
    return out;
  }
  const std::vector<cri::Container>& insts = it->second;
  const cri::Container& latest = insts.front();
  const cri::ContainerStatus* st = find_status(rt, latest.id);
  out["restartCount"] = restart_count_of(latest);
  out["containerID"] = "containerd://" + latest.id;
  out["imageID"] = latest.image_ref;
  const cri::ContainerStatus* prev = insts.size() > 1 ? find_status(rt, insts[1].id) : nullptr;
  if (latest.state == cri::ContainerState::kRunning) {
    out["state"] = {{"running", {{"startedAt", st && st->started_at ? rfc3339_ns(st->started_at) : format_rfc3339(now)}}}};
    if (prev) out["lastState"] = {{"terminated", terminated_json(*prev)}};
    bool probed = cv.probe_cid == latest.id;
    bool started = probed ? cv.started : !at(c, "startupProbe").is_object();
    bool ready = probed ? cv.ready : (started && !at(c, "readinessProbe").is_object());
    out["started"] = started;
    out["ready"] = !init && ready;
    if (init) progress.init_done = false;
  } else if (latest.state == cri::ContainerState::kExited && st) {
    exited_state(init, policy, cv, *st, prev, out, progress);
  } else {
    out["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
    if (init) progress.init_done = false;
  }
  return out;
}

std::string pod_phase(const json& statuses, const ContainerProgress& progress, const std::string& policy) {
  int running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const auto& cs : statuses) {
    const json& state = cs["state"];
    if (state.contains("running")) {
      ++running;
    } else if (state.contains("terminated")) {
      ++stopped;
      if (iget(state["terminated"], "exitCode", -1) == 0) ++succeeded;
    } else if (cs["lastState"].contains("terminated")) {
      ++stopped;
    } else {
      ++waiting;
    }
  }
  if (progress.init_failed) return "Failed";
  if (!progress.init_done || waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped > 0) {
    if (policy == "Always") return "Running";
    if (stopped == succeeded) return "Succeeded";
    if (policy == "Never") return "Failed";
    return "Running";
  }
  return "Pending";
}

namespace {

// A condition; lastTransitionTime kept from previous while the status stays.
json condition(const std::string& type, bool ok, const std::string& reason, const std::string& message,
               const json& previous, const std::string& now) {
  json c = {{"type", type}, {"status", ok ? "True" : "False"}, {"lastProbeTime", nullptr}};
  c["lastTransitionTime"] = now;
  for (const auto& o : at(previous, "conditions")) {
    if (sget(o, "type") == type && sget(o, "status") == c["status"].get<std::string>() &&
        !sget(o, "lastTransitionTime").empty()) {
      c["lastTransitionTime"] = sget(o, "lastTransitionTime");
    }
  }
  if (!ok && !reason.empty()) c["reason"] = reason;
  if (!ok && !message.empty()) c["message"] = message;
  return c;
}

std::string bracket_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out + "]";
}

}  // namespace

json pod_conditions(const json& statuses, const json& init_statuses, const std::string& phase, const json& previous,
                    SysTime now) {
  const std::string ts = format_rfc3339(now);
  std::vector<std::string> unready, uninit;
  for (const auto& cs : statuses) {
    if (!cs["ready"].get<bool>()) unready.push_back(cs["name"].get<std::string>());
  }
  for (const auto& cs : init_statuses) {
    if (!cs["state"].contains("terminated") || iget(cs["state"]["terminated"], "exitCode", -1) != 0) {
      uninit.push_back(cs["name"].get<std::string>());
    }
  }
  bool completed = phase == "Succeeded";
  bool containers_ready = unready.empty() && !statuses.empty() && phase != "Failed" && !completed;
  std::string nr_reason = completed ? "PodCompleted" : "ContainersNotReady";
  std::string nr_msg = completed ? "" : "containers with unready status: " + bracket_list(unready);
  json conditions = json::array();
  conditions.push_back(condition("Initialized", uninit.empty() || completed, "ContainersNotInitialized",
                                 "containers with incomplete status: " + bracket_list(uninit), previous, ts));
  conditions.push_back(condition("Ready", containers_ready, nr_reason, nr_msg, previous, ts));
  conditions.push_back(condition("ContainersReady", containers_ready, nr_reason, nr_msg, previous, ts));
  json scheduled = condition("PodScheduled", true, "", "", previous, ts);
  for (const auto& o : at(previous, "conditions")) {
    if (sget(o, "type") == "PodScheduled" && sget(o, "status") == "True") scheduled = o;
  }
  conditions.push_back(scheduled);
  return conditions;
}

json compute_status(const json& pod, const PodRuntimeState& rt, const StatusContext& ctx) {
  const json& s = spec(pod);
  const std::string policy = restart_policy(pod);
  ContainerProgress progress;
  json init_statuses = json::array();
  for (const auto& c : at(s, "initContainers")) {
    init_statuses.push_back(container_status(c, true, false, policy, rt, ctx.now, progress));
  }
  json statuses = json::array();
  for (const auto& c : at(s, "containers")) {
    statuses.push_back(container_status(c, false, !progress.init_done, policy, rt, ctx.now, progress));
  }
  std::string phase = pod_phase(statuses, progress, policy);
  json status = {{"phase", phase},
                 {"conditions", pod_conditions(statuses, init_statuses, phase, ctx.previous, ctx.now)},
                 {"hostIP", ctx.node_ip},
                 {"startTime", ctx.start_time},
                 {"qosClass", qos_class(pod)},
                 {"containerStatuses", statuses}};
  if (!ctx.node_ip.empty()) status["hostIPs"] = json::array({{{"ip", ctx.node_ip}}});
  std::string ip = ctx.host_network ? ctx.node_ip : ctx.pod_ip;
  if (!ip.empty()) {
    status["podIP"] = ip;
    status["podIPs"] = json::array({{{"ip", ip}}});
  }
  if (!init_statuses.empty()) status["initContainerStatuses"] = init_statuses;
  return status;
}

json rejected_status(const json& pod, const std::string& reason, const std::string& message) {
  return {{"phase", "Failed"},
          {"reason", reason},
          {"message", "Pod was rejected: " + message},
          {"qosClass", qos_class(pod)}};
}

json status_essence(const json& status) {
  json conds = json::object();
  for (const auto& c : at(status, "conditions")) conds[sget(c, "type")] = sget(c, "status");
  return {{"phase", sget(status, "phase")}, {"podIP", sget(status, "podIP")}, {"conditions", conds}};
}

}  // namespace minik8s::kubelet
