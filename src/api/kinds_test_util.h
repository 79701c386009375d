// Helpers shared by the api_test files that validate objects through the
// kind table (resource_test.cc, kinds_*_test.cc). Test-only; header-only.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "minik8s/api/resource.h"

namespace minik8s::api::kinds_test {

inline Json J(const char* text) { return Json::parse(text); }

// The table entry of api_version/kind (a test failure when missing).
inline const ResourceType& kind(const char* api_version, const char* k) {
  const ResourceType* t = find_kind(api_version, k);
  EXPECT_NE(t, nullptr) << api_version << " " << k;
  if (!t) throw std::runtime_error(std::string("no kind ") + k);
  return *t;
}

// "field: message\n" per error ("" when none).
inline std::string dump(const FieldErrors& errs) {
  std::string s;
  for (const auto& e : errs) s += e.field + ": " + e.message + "\n";
  return s;
}

// True when some error has exactly this field and a message containing `msg`.
inline bool has_error(const FieldErrors& errs, const std::string& field, const std::string& msg) {
  for (const auto& e : errs) {
    if (e.field == field && e.message.find(msg) != std::string::npos) return true;
  }
  return false;
}

// Exactly one error, on `field`, containing `msg`.
inline ::testing::AssertionResult only_error(const FieldErrors& errs, const std::string& field,
                                             const std::string& msg) {
  if (errs.size() == 1 && has_error(errs, field, msg)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "want one error on " << field << " (\"" << msg << "\"), got:\n"
         << dump(errs);
}

// Defaults obj as the API server would, then validates it (old: an update).
inline FieldErrors check(const ResourceType& t, Json obj, const Json* old = nullptr) {
  if (t.set_defaults) t.set_defaults(obj);
  FieldErrors errs;
  t.validate(obj, old, errs);
  return errs;
}

}  // namespace minik8s::api::kinds_test

#define EXPECT_ERROR(errs, field, msg)                                        \
  do {                                                                        \
    auto e_ = (errs);                                                         \
    EXPECT_TRUE(::minik8s::api::kinds_test::has_error(e_, field, msg))        \
        << ::minik8s::api::kinds_test::dump(e_);                              \
  } while (0)
#define EXPECT_ONLY_ERROR(errs, field, msg) \
  EXPECT_TRUE(::minik8s::api::kinds_test::only_error(errs, field, msg))
