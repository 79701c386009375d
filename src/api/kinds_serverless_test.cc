// The Function kind's table entry: defaults, validation, Table, schema.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/resource.h"
#include "kinds_test_util.h"

namespace minik8s::api {
namespace {

using kinds_test::check;
using kinds_test::dump;
using kinds_test::has_error;
using kinds_test::J;

const ResourceType& fn() { return kinds_test::kind("serverless.minik8s.io/v1", "Function"); }

const std::string kHash = "sha256:" + std::string(64, 'a');

Json minimal() {
  return J(R"({"apiVersion":"serverless.minik8s.io/v1","kind":"Function",
               "metadata":{"name":"hello","namespace":"default"},
               "spec":{"code":{"inline":"def handler(event, context):\n  return 1\n"}}})");
}

FieldErrors check(Json obj, const Json* old = nullptr) { return check(fn(), std::move(obj), old); }

// Applies `patch` (a JSON merge patch) to the minimal object, then checks it.
FieldErrors check_with(const char* patch) {
  Json obj = minimal();
  obj.merge_patch(J(patch));
  return check(obj);
}

TEST(FunctionKindTest, TableEntry) {
  const ResourceType& t = fn();
  EXPECT_TRUE(t.namespaced);
  EXPECT_EQ(t.plural, "functions");
  EXPECT_EQ(t.singular, "function");
  EXPECT_EQ(t.short_names, std::vector<std::string>{"fn"});
  EXPECT_TRUE(t.has_status);
  EXPECT_TRUE(t.bump_generation);
  EXPECT_TRUE(t.clear_status_on_create);
  EXPECT_EQ(find_by_user_name("fn"), &t);
  EXPECT_EQ(find_by_user_name("functions"), &t);
  EXPECT_EQ(find_by_user_name("function"), &t);
  EXPECT_EQ(find_by_user_name("functions.serverless.minik8s.io"), &t);
  EXPECT_EQ(find_resource("serverless.minik8s.io", "v1", "functions"), &t);
}

TEST(FunctionKindTest, Defaults) {
  Json obj = minimal();
  fn().set_defaults(obj);
  const Json& spec = obj["spec"];
  EXPECT_EQ(spec["runtime"], "python3");
  EXPECT_EQ(spec["handler"], "main.handler");
  EXPECT_EQ(spec["timeoutSeconds"], 60);
  EXPECT_EQ(spec["code"]["filename"], "main.py");
  EXPECT_EQ(spec["scale"], J(R"({"minScale":0,"maxScale":10,"targetConcurrency":1,
                                 "scaleToZeroAfterSeconds":30})"));
  EXPECT_TRUE(check(minimal()).empty()) << dump(check(minimal()));

  // Given values stay; a partial scale is completed.
  Json custom = minimal();
  custom["spec"]["handler"] = "pkg.mod.run";
  custom["spec"]["timeoutSeconds"] = 5;
  custom["spec"]["code"]["filename"] = "hello.py";
  custom["spec"]["scale"] = J(R"({"maxScale":3})");
  fn().set_defaults(custom);
  EXPECT_EQ(custom["spec"]["handler"], "pkg.mod.run");
  EXPECT_EQ(custom["spec"]["timeoutSeconds"], 5);
  EXPECT_EQ(custom["spec"]["code"]["filename"], "hello.py");
  EXPECT_EQ(custom["spec"]["scale"]["maxScale"], 3);
  EXPECT_EQ(custom["spec"]["scale"]["minScale"], 0);
  EXPECT_EQ(custom["spec"]["scale"]["scaleToZeroAfterSeconds"], 30);

  // Hash code gets no default filename: the upload's name says .py or .zip.
  Json hashed = minimal();
  hashed["spec"]["code"] = {{"hash", kHash}};
  fn().set_defaults(hashed);
  EXPECT_FALSE(hashed["spec"]["code"].contains("filename"));
}

TEST(FunctionKindTest, GoodObjects) {
  for (
      const char* patch : {
          R"({"spec":{"code":{"inline":null,"hash":"HASH","filename":"pkg.zip"}}})",
          R"({"spec":{"code":{"inline":null,"hash":"HASH","filename":"hello_world-2.py"}}})",
          R"({"spec":{"handler":"a.b.c_d"}})",
          R"({"spec":{"runtime":"python3-ml"}})",
          R"({"spec":{"env":[{"name":"GREETING","value":"hi"},{"name":"X.y-z"},{"name":"E","value":""}]}})",
          R"({"spec":{"resources":{"limits":{"cpu":"500m","memory":"256Mi"}}}})",
          R"({"spec":{"timeoutSeconds":900}})",
          R"({"spec":{"timeoutSeconds":1}})",
          R"({"spec":{"scale":{"minScale":100,"maxScale":100,"targetConcurrency":1000,
                                "scaleToZeroAfterSeconds":3600}}})",
          R"({"spec":{"scale":{"minScale":0,"maxScale":1,"scaleToZeroAfterSeconds":6}}})",
      }) {
    std::string p = patch;
    if (auto at = p.find("HASH"); at != std::string::npos) p.replace(at, 4, kHash);
    FieldErrors errs = check_with(p.c_str());
    EXPECT_TRUE(errs.empty()) << patch << "\n" << dump(errs);
  }
}

TEST(FunctionKindTest, ErrorsNameTheirFields) {
  struct Case {
    const char* patch;
    const char* field;
    const char* msg;
  };
  const std::string big(256 * 1024 + 1, 'x');
  const Case cases[] = {
      {R"({"spec":{"runtime":"node18"}})", "spec.runtime", "Unsupported value: \"node18\""},
      {R"({"spec":{"runtime":"python3-gpu"}})", "spec.runtime", "\"python3\", \"python3-ml\""},
      {R"({"spec":{"runtime":3}})", "spec.runtime", "must be a string"},
      {R"({"spec":{"handler":"main"}})", "spec.handler", "module.function"},
      {R"({"spec":{"handler":"main."}})", "spec.handler", "module.function"},
      {R"({"spec":{"handler":"1main.f"}})", "spec.handler", "module.function"},
      {R"({"spec":{"handler":"ma-in.f"}})", "spec.handler", "module.function"},
      {R"({"spec":{"handler":"a..b"}})", "spec.handler", "module.function"},
      {R"({"spec":{"code":null}})", "spec.code", "Required value"},
      {R"({"spec":{"code":{"inline":null}}})", "spec.code", "Required value"},
      {R"({"spec":{"code":"x"}})", "spec.code", "must be an object"},
      {R"({"spec":{"code":{"hash":"HASH","filename":"a.py"}}})", "spec.code",
       "more than one of hash and inline"},
      {R"({"spec":{"code":{"inline":null,"hash":"sha256:abc","filename":"a.py"}}})",
       "spec.code.hash", "64 lower-case hex"},
      {R"({"spec":{"code":{"inline":null,"hash":"HASHUPPER","filename":"a.py"}}})",
       "spec.code.hash", "64 lower-case hex"},
      {R"({"spec":{"code":{"inline":null,"hash":"md5:0123","filename":"a.py"}}})", "spec.code.hash",
       "sha256:"},
      {R"({"spec":{"code":{"inline":null,"hash":"HASH"}}})", "spec.code.filename",
       "Required value"},
      {R"({"spec":{"code":{"inline":""}}})", "spec.code.inline", "Required value"},
      {R"({"spec":{"code":{"inline":7}}})", "spec.code.inline", "must be a string"},
      {R"({"spec":{"code":{"filename":"pkg.zip"}}})", "spec.code.filename",
       "inline code must be a .py file"},
      {R"({"spec":{"code":{"filename":"a/b.py"}}})", "spec.code.filename", "no '/'"},
      {R"({"spec":{"code":{"filename":"main.txt"}}})", "spec.code.filename", ".py"},
      {R"({"spec":{"code":{"filename":".py"}}})", "spec.code.filename", "a name before"},
      {R"({"spec":{"code":{"filename":""}}})", "spec.code.filename", "Required value"},
      {R"({"spec":{"code":{"filename":"LONG.py"}}})", "spec.code.filename", "100 characters"},
      {R"({"spec":{"env":{"A":"b"}}})", "spec.env", "must be an array"},
      {R"({"spec":{"env":[{"value":"x"}]}})", "spec.env[0].name", "Required value"},
      {R"({"spec":{"env":[{"name":"1A"}]}})", "spec.env[0].name", "environment variable name"},
      {R"({"spec":{"env":[{"name":"A b"}]}})", "spec.env[0].name", "environment variable name"},
      {R"({"spec":{"env":[{"name":"A"},{"name":"A"}]}})", "spec.env[1].name", "Duplicate value"},
      {R"({"spec":{"env":[{"name":"A","value":3}]}})", "spec.env[0].value", "must be a string"},
      {R"({"spec":{"env":[5]}})", "spec.env[0]", "must be an object"},
      {R"({"spec":{"resources":{"limits":{"cpu":"lots"}}}})", "spec.resources.limits[cpu]",
       "quantities must match"},
      {R"({"spec":{"resources":{"limits":{"cpu":"1"},"requests":{"cpu":"2"}}}})",
       "spec.resources.requests[cpu]", "less than or equal to cpu limit"},
      {R"({"spec":{"timeoutSeconds":0}})", "spec.timeoutSeconds", "between 1 and 900"},
      {R"({"spec":{"timeoutSeconds":901}})", "spec.timeoutSeconds", "between 1 and 900"},
      {R"({"spec":{"timeoutSeconds":"60"}})", "spec.timeoutSeconds", "must be an integer"},
      {R"({"spec":{"scale":{"minScale":-1}}})", "spec.scale.minScale", "between 0 and 100"},
      {R"({"spec":{"scale":{"maxScale":0}}})", "spec.scale.maxScale", "between 1 and 100"},
      {R"({"spec":{"scale":{"maxScale":101}}})", "spec.scale.maxScale", "between 1 and 100"},
      {R"({"spec":{"scale":{"minScale":5,"maxScale":4}}})", "spec.scale.minScale",
       "less than or equal to spec.scale.maxScale"},
      {R"({"spec":{"scale":{"targetConcurrency":0}}})", "spec.scale.targetConcurrency",
       "between 1 and 1000"},
      {R"({"spec":{"scale":{"targetConcurrency":1001}}})", "spec.scale.targetConcurrency",
       "between 1 and 1000"},
      {R"({"spec":{"scale":{"scaleToZeroAfterSeconds":5}}})", "spec.scale.scaleToZeroAfterSeconds",
       "between 6 and 3600"},
      {R"({"spec":{"scale":{"scaleToZeroAfterSeconds":3601}}})",
       "spec.scale.scaleToZeroAfterSeconds", "between 6 and 3600"},
      {R"({"spec":{"scale":[1]}})", "spec.scale", "must be an object"},
      {R"({"spec":7})", "spec", "must be an object"},
      {R"({"metadata":{"name":"Hello"}})", "metadata.name", "RFC 1123 label"},
      {R"({"metadata":{"name":"a.b"}})", "metadata.name", "RFC 1123 label"},
  };
  for (const Case& c : cases) {
    std::string p = c.patch;
    if (auto at = p.find("HASHUPPER"); at != std::string::npos) {
      p.replace(at, 9, "sha256:" + std::string(64, 'A'));
    } else if (auto at2 = p.find("HASH"); at2 != std::string::npos) {
      p.replace(at2, 4, kHash);
    }
    if (auto at = p.find("LONG"); at != std::string::npos) p.replace(at, 4, std::string(98, 'a'));
    FieldErrors errs = check_with(p.c_str());
    EXPECT_TRUE(has_error(errs, c.field, c.msg)) << c.patch << "\n" << dump(errs);
  }
  // Inline code over 256 KiB.
  Json obj = minimal();
  obj["spec"]["code"]["inline"] = big;
  FieldErrors errs = check(obj);
  EXPECT_TRUE(has_error(errs, "spec.code.inline", "262144")) << dump(errs);
  // Exactly 256 KiB is fine; a 100-character file name too.
  obj["spec"]["code"]["inline"] = std::string(256 * 1024, 'x');
  obj["spec"]["code"]["filename"] = std::string(97, 'a') + ".py";
  errs = check(obj);
  EXPECT_TRUE(errs.empty()) << dump(errs);
  // No spec at all: defaults make one, code is still required.
  errs = check(J(R"({"metadata":{"name":"a","namespace":"d"}})"));
  EXPECT_TRUE(has_error(errs, "spec.code", "Required value")) << dump(errs);
  // Namespaced.
  errs = check(J(R"({"metadata":{"name":"a"},"spec":{"code":{"inline":"x=1"}}})"));
  EXPECT_TRUE(has_error(errs, "metadata.namespace", "Required value")) << dump(errs);
}

TEST(FunctionKindTest, Table) {
  const ResourceType& t = fn();
  auto cols = t.table_columns();
  ASSERT_EQ(cols.size(), 5u);
  EXPECT_EQ(cols[0].name, "READY");
  EXPECT_EQ(cols[1].name, "URL");
  EXPECT_EQ(cols[2].name, "AGE");
  EXPECT_EQ(cols[3].name, "REVISION");
  EXPECT_EQ(cols[3].priority, 1);
  EXPECT_EQ(cols[4].name, "HANDLER");
  EXPECT_EQ(cols[4].priority, 1);
  EXPECT_EQ(cols[0].priority, 0);

  Json obj = minimal();
  fn().set_defaults(obj);
  Json cells = t.table_cells(obj);
  ASSERT_EQ(cells.size(), 5u);
  EXPECT_EQ(cells[0], "0/0");
  EXPECT_EQ(cells[1], "<none>");
  EXPECT_EQ(cells[2], "<unknown>");
  EXPECT_EQ(cells[3], "<none>");
  EXPECT_EQ(cells[4], "main.handler");

  obj["status"] = J(R"({"readyInstances":2,"desiredInstances":3,"revision":"4",
                        "url":"http://10.0.0.1:31080/functions/default/hello"})");
  cells = t.table_cells(obj);
  EXPECT_EQ(cells[0], "2/3");
  EXPECT_EQ(cells[1], "http://10.0.0.1:31080/functions/default/hello");
  EXPECT_EQ(cells[3], "4");
}

TEST(FunctionKindTest, SchemaKnowsEveryDocumentedField) {
  Json obj = minimal();
  obj["spec"]["env"] = J(R"([{"name":"A","value":"b"}])");
  obj["spec"]["resources"] = J(R"({"limits":{"cpu":"1"}})");
  obj["status"] = J(R"({"revision":"3","revisionHash":"5d8c","codeHash":"sha256:x","url":"u",
                        "readyInstances":2,"desiredInstances":2,"observedGeneration":4,
                        "conditions":[{"type":"Ready","status":"True","reason":"r","message":"m",
                                       "lastTransitionTime":"t"}]})");
  fn().set_defaults(obj);
  std::vector<std::string> paths;
  fn().unknown_fields(obj, paths);
  EXPECT_TRUE(paths.empty()) << Json(paths).dump();
  obj["spec"]["handlr"] = "x";
  obj["spec"]["code"]["inlin"] = "x";
  obj["spec"]["scale"]["max"] = 1;
  paths.clear();
  fn().unknown_fields(obj, paths);
  EXPECT_EQ(paths, (std::vector<std::string>{"spec.code.inlin", "spec.handlr", "spec.scale.max"}));
}

TEST(FunctionKindTest, HooksSurviveGarbage) {
  const char* bodies[] = {
      "{}",
      "[]",
      "null",
      "7",
      R"({"spec":null})",
      R"({"spec":[]})",
      R"({"spec":{"code":[],"scale":"x","env":[null,1,{"name":7}]}})",
      R"({"spec":{"scale":{"minScale":1.5,"maxScale":"x"},"timeoutSeconds":1e30}})",
      R"({"spec":{"code":{"hash":7,"inline":{},"filename":[]}}})",
      R"({"status":{"readyInstances":"x","url":7,"revision":[]}})",
      R"({"status":7,"spec":{"handler":7}})"};
  for (const char* b : bodies) {
    Json obj = J(b);
    Json copy = obj;
    EXPECT_NO_THROW({
      fn().set_defaults(obj);
      FieldErrors errs;
      fn().validate(obj, nullptr, errs);
      fn().validate(obj, &copy, errs);
      fn().table_cells(obj);
      fn().table_cells(copy);
      std::vector<std::string> paths;
      fn().unknown_fields(obj, paths);
    }) << b;
  }
}

}  // namespace
}  // namespace minik8s::api
