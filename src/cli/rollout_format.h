// The pure parts of mkctl rollout (kubectl/pkg/polymorphichelpers:
// rollout_status.go, history.go, rollback.go): the status line of a
// Deployment, the history table, the template of a revision and the JSON
// patch of an undo. No I/O; rollout_cmds.cc fetches the objects.
#pragma once

#include <string>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::cli::rollout {

struct StatusLine {
  std::string text;   // with the trailing newline, as kubectl prints it
  bool done = false;  // rollout finished
  std::string error;  // non-empty: "deployment \"x\" exceeded its progress deadline"
};
StatusLine deployment_status(const api::Json& deployment);

// The ReplicaSets of rs_list whose controller ownerReference is deployment's uid.
std::vector<api::Json> owned_replica_sets(const api::Json& deployment, const std::vector<api::Json>& rs_list);

// "REVISION  CHANGE-CAUSE\n1         <none>\n..." sorted by revision.
std::string history_table(const std::vector<api::Json>& owned);
// "Pod Template:\n  Labels: ..." for the revision's ReplicaSet; false when
// there is no such revision.
bool revision_template(const std::vector<api::Json>& owned, long long revision, std::string* out);

struct UndoPlan {
  std::string error;        // "unable to find specified revision 7 in history", ...
  bool skipped = false;     // the template already matches
  long long revision = 0;   // the revision rolled back to
  api::Json patch;          // JSON patch (RFC 6902) as kubectl sends it
};
UndoPlan plan_undo(const api::Json& deployment, const std::vector<api::Json>& owned, long long to_revision);

}  // namespace minik8s::cli::rollout
