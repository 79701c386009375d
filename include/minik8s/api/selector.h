// Label and field selectors, in Kubernetes string syntax and (labels) in the
// LabelSelector object form (matchLabels / matchExpressions).
//
// Label syntax: "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a",
// comma-separated (AND). Field syntax: "f=v", "f==v", "f!=v", comma-separated.
// Parsers return kBadRequest naming the bad term. Value types, thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace minik8s::api {

struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

class LabelSelector {
 public:
  // Empty selector: matches everything.
  LabelSelector() = default;
  static Result<LabelSelector> parse(const std::string& text);
  // From a metav1.LabelSelector JSON object ({matchLabels, matchExpressions}).
  // A null/absent selector matches nothing when nothing_if_null, else everything.
  static Result<LabelSelector> from_json(const Json& selector, bool nothing_if_null = false);
  // From a plain map (Service/RC style selector); empty map matches everything.
  static LabelSelector from_map(const std::map<std::string, std::string>& labels);

  bool matches(const std::map<std::string, std::string>& labels) const;
  // labels: the metadata.labels JSON object (or null).
  bool matches_json(const Json& labels) const;
  bool empty() const { return reqs_.empty() && !match_nothing_; }
  std::string to_string() const;
  const std::vector<LabelRequirement>& requirements() const { return reqs_; }

 private:
  std::vector<LabelRequirement> reqs_;
  bool match_nothing_ = false;
};

struct FieldRequirement {
  std::string field;
  bool equals = true;  // false: !=
  std::string value;
};

class FieldSelector {
 public:
  static Result<FieldSelector> parse(const std::string& text);
  const std::vector<FieldRequirement>& requirements() const { return reqs_; }
  bool empty() const { return reqs_.empty(); }
  // Matches against an object by looking the dotted field path up in it
  // (missing fields read as ""; numbers/bools as their JSON text).
  bool matches(const Json& object) const;

 private:
  std::vector<FieldRequirement> reqs_;
};

// Looks a dotted path ("spec.nodeName", "involvedObject.kind") up in an
// object; returns "" when absent, strings verbatim, other scalars as JSON text.
std::string field_value(const Json& object, const std::string& dotted_path);

// Label key/value syntax checks (qualified name; value ≤ 63 chars of
// [A-Za-z0-9._-] beginning and ending alphanumeric). Return "" when valid,
// else a message.
std::string check_label_key(const std::string& key);
std::string check_label_value(const std::string& value);

}  // namespace minik8s::api
