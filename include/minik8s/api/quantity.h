// Kubernetes resource quantities: "100m", "0.5", "128Mi", "1Gi", "2e3", "1k".
// Value type, thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "minik8s/util/status.h"

namespace minik8s::api {

class Quantity {
 public:
  // kInvalid with a message for malformed text (e.g. "12Qi", "", "-").
  static Result<Quantity> parse(const std::string& text);
  // The value times 1000, rounded up (cpu "100m" → 100, "1" → 1000, "1Ki" → 1024000).
  int64_t milli_value() const { return milli_; }
  // The value rounded up to an integer ("128Mi" → 134217728, "100m" → 1).
  int64_t value() const;
  static Quantity from_milli(int64_t milli);
  // Canonical text as Kubernetes would print it: "100m", "1", "128Mi", "1500m".
  std::string to_string() const;

 private:
  int64_t milli_ = 0;
  bool binary_ = false;  // printed with binary suffixes when exact
};

// Kubernetes' IsExtendedResourceName: a name with a domain ("nvidia.com/gpu",
// "example.com/foo") outside kubernetes.io and not a quota "requests.*"
// name. Extended resources are whole numbers, never overcommitted
// (requests == limits), and fit on nodes like cpu and memory.
bool is_extended_resource_name(const std::string& name);

}  // namespace minik8s::api
