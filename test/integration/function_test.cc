// The Function kind and the code store through the real API server over HTTP
// (docs/serverless.md "The object", "The code store").
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/apiserver/code_store.h"
#include "minik8s/client/code.h"
#include "minik8s/client/rest_client.h"
#include "test/fakes/local_api.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;
using testing::ApiServerFixture;
using testing::Resp;

const std::string kFns = "/apis/serverless.minik8s.io/v1/namespaces/default/functions";
const std::string kCode = "/apis/serverless.minik8s.io/v1/code";
const std::string kTable = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

json inline_fn(const std::string& name) {
  return {{"apiVersion", "serverless.minik8s.io/v1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}}},
          {"spec", {{"code", {{"inline", "def handler(event, context):\n    return event\n"}}}}}};
}

json hash_fn(const std::string& name, const std::string& hash) {
  return {{"apiVersion", "serverless.minik8s.io/v1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}}},
          {"spec", {{"code", {{"hash", hash}, {"filename", "hello.py"}}}}}};
}

// The fields of a 422's causes, joined ("spec.a,spec.b").
std::string cause_fields(const Resp& r) {
  std::string out;
  json j = r.j();
  if (!j.is_object() || !j.contains("details") || !j["details"].contains("causes")) return out;
  for (const json& c : j["details"]["causes"]) {
    out += (out.empty() ? "" : ",") + c.value("field", std::string());
  }
  return out;
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

class FunctionApiTest : public ApiServerFixture {
 protected:
  void configure(ApiServerOptions& opts) override { opts.code_dir = code_dir_.path() + "/code"; }

  Resp upload(const std::string& bytes) {
    return req("POST", kCode, bytes, "application/octet-stream");
  }
  bool blob_on_disk(const std::string& hash) {
    return std::filesystem::exists(code_dir_.path() + "/code/sha256/" + hash.substr(7));
  }
  std::unique_ptr<client::RestClient> rest() {
    client::HttpRestClientOptions o;
    o.server = local_.url();
    auto r = client::make_http_rest_client(o);
    EXPECT_TRUE(r.is_ok());
    return r ? std::move(*r) : nullptr;
  }

  testing::TempDir code_dir_{"fn-code"};
};

TEST_F(FunctionApiTest, DiscoveryListsFunctionsWithShortName) {
  auto groups = req("GET", "/apis").j();
  bool found = false;
  for (auto& g : groups["groups"]) {
    if (g["name"] == "serverless.minik8s.io") {
      found = true;
      EXPECT_EQ(g["preferredVersion"]["groupVersion"], "serverless.minik8s.io/v1");
    }
  }
  EXPECT_TRUE(found) << groups.dump();
  auto list = req("GET", "/apis/serverless.minik8s.io/v1");
  ASSERT_EQ(list.code, 200) << list.body;
  json j = list.j();
  EXPECT_EQ(j["kind"], "APIResourceList");
  EXPECT_EQ(j["groupVersion"], "serverless.minik8s.io/v1");
  bool fns = false, status = false;
  for (auto& r : j["resources"]) {
    EXPECT_NE(r["name"], "code");  // the code store is no resource
    if (r["name"] == "functions") {
      fns = true;
      EXPECT_EQ(r["kind"], "Function");
      EXPECT_EQ(r["singularName"], "function");
      EXPECT_EQ(r["namespaced"], true);
      EXPECT_EQ(r["shortNames"], json::array({"fn"}));
      EXPECT_NE(r["verbs"].dump().find("create"), std::string::npos);
    }
    status = status || r["name"] == "functions/status";
  }
  EXPECT_TRUE(fns && status) << j.dump();
}

TEST_F(FunctionApiTest, CreateGetListTableWithDefaults) {
  auto c = post(kFns, inline_fn("hello"));
  ASSERT_EQ(c.code, 201) << c.body;
  json obj = c.j();
  EXPECT_EQ(obj["spec"]["runtime"], "python3");
  EXPECT_EQ(obj["spec"]["handler"], "main.handler");
  EXPECT_EQ(obj["spec"]["timeoutSeconds"], 60);
  EXPECT_EQ(obj["spec"]["code"]["filename"], "main.py");
  EXPECT_EQ(obj["spec"]["scale"], json::parse(R"({"minScale":0,"maxScale":10,"targetConcurrency":1,
                                                  "scaleToZeroAfterSeconds":30})"));
  EXPECT_EQ(obj["metadata"]["generation"], 1);
  // A client cannot set status on create.
  json with_status = inline_fn("st");
  with_status["status"] = {{"readyInstances", 5}, {"url", "http://x"}};
  auto s = post(kFns, with_status);
  ASSERT_EQ(s.code, 201) << s.body;
  EXPECT_FALSE(s.j().contains("status") && s.j()["status"].contains("readyInstances")) << s.body;

  auto g = req("GET", kFns + "/hello");
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.j()["spec"]["handler"], "main.handler");
  auto l = req("GET", kFns).j();
  EXPECT_EQ(l["kind"], "FunctionList");
  EXPECT_EQ(l["items"].size(), 2u);

  // Status through the subresource; the Table shows it.
  json st = g.j();
  st["status"] = {{"readyInstances", 2},
                  {"desiredInstances", 3},
                  {"revision", "1"},
                  {"url", "http://10.0.0.1:31080/functions/default/hello"}};
  auto u = req("PUT", kFns + "/hello/status", st.dump());
  ASSERT_EQ(u.code, 200) << u.body;

  auto t = req("GET", kFns, "", "", kTable).j();
  ASSERT_EQ(t["kind"], "Table") << t.dump();
  std::vector<std::string> cols;
  for (auto& c2 : t["columnDefinitions"]) cols.push_back(c2["name"]);
  EXPECT_EQ(cols, (std::vector<std::string>{"NAME", "READY", "URL", "AGE", "REVISION", "HANDLER"}))
      << t["columnDefinitions"].dump();
  EXPECT_EQ(t["columnDefinitions"][4]["priority"], 1);
  ASSERT_EQ(t["rows"].size(), 2u);
  json hello = t["rows"][0]["cells"][0] == "hello" ? t["rows"][0] : t["rows"][1];
  EXPECT_EQ(hello["cells"][1], "2/3");
  EXPECT_EQ(hello["cells"][2], "http://10.0.0.1:31080/functions/default/hello");
  EXPECT_EQ(hello["cells"][4], "1");
  EXPECT_EQ(hello["cells"][5], "main.handler");
  json other = t["rows"][0]["cells"][0] == "st" ? t["rows"][0] : t["rows"][1];
  EXPECT_EQ(other["cells"][1], "0/0");
  EXPECT_EQ(other["cells"][2], "<none>");

  // A spec change bumps the generation; a status write does not.
  json upd = req("GET", kFns + "/hello").j();
  EXPECT_EQ(upd["metadata"]["generation"], 1);
  upd["spec"]["handler"] = "main.other";
  auto u2 = req("PUT", kFns + "/hello", upd.dump());
  ASSERT_EQ(u2.code, 200) << u2.body;
  EXPECT_EQ(u2.j()["metadata"]["generation"], 2);
  EXPECT_EQ(u2.j()["status"]["readyInstances"], 2);  // main-resource writes keep status
}

TEST_F(FunctionApiTest, ValidationErrorsNameFields) {
  json bad = inline_fn("bad");
  bad["spec"]["runtime"] = "node";
  bad["spec"]["handler"] = "nohandler";
  bad["spec"]["timeoutSeconds"] = 0;
  bad["spec"]["scale"] = {{"minScale", 5}, {"maxScale", 2}, {"scaleToZeroAfterSeconds", 1}};
  bad["spec"]["env"] = json::array({{{"name", "A"}}, {{"name", "A"}}});
  auto r = post(kFns, bad);
  ASSERT_EQ(r.code, 422) << r.body;
  EXPECT_EQ(r.j()["reason"], "Invalid");
  std::string fields = cause_fields(r);
  for (const char* f :
       {"spec.runtime", "spec.handler", "spec.timeoutSeconds", "spec.scale.minScale",
        "spec.scale.scaleToZeroAfterSeconds", "spec.env[1].name"}) {
    EXPECT_NE(fields.find(f), std::string::npos) << f << " in " << fields;
  }
  json both = inline_fn("both");
  both["spec"]["code"]["hash"] = "sha256:" + std::string(64, 'a');
  auto b = post(kFns, both);
  EXPECT_EQ(b.code, 422);
  EXPECT_EQ(cause_fields(b), "spec.code") << b.body;
  json none = inline_fn("none");
  none["spec"].erase("code");
  auto n = post(kFns, none);
  EXPECT_EQ(n.code, 422);
  EXPECT_EQ(cause_fields(n), "spec.code") << n.body;
  // Strict field validation knows the kind's fields.
  json typo = inline_fn("typo");
  typo["spec"]["handlr"] = "x.y";
  auto t = req("POST", kFns + "?fieldValidation=Strict", typo.dump());
  EXPECT_EQ(t.code, 400) << t.body;
  EXPECT_NE(t.body.find("spec.handlr"), std::string::npos) << t.body;
}

TEST_F(FunctionApiTest, UploadCreateAndDownload) {
  const std::string src = "def handler(event, context):\n    return {'hi': event.get('name')}\n";
  auto up = upload(src);
  ASSERT_EQ(up.code, 201) << up.body;
  std::string hash = up.j()["hash"];
  EXPECT_EQ(hash, CodeStore::hash_of(src));
  EXPECT_EQ(up.j()["size"], src.size());
  EXPECT_TRUE(blob_on_disk(hash));
  auto again = upload(src);
  EXPECT_EQ(again.code, 200) << again.body;
  EXPECT_EQ(again.j()["hash"], hash);

  auto c = post(kFns, hash_fn("hello", hash));
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_EQ(c.j()["spec"]["code"]["hash"], hash);

  auto g = req("GET", kCode + "/" + hash);
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.content_type, "application/octet-stream");
  EXPECT_EQ(g.body, src);

  // A hash nobody uploaded: 422 on spec.code.hash, on create and on update.
  const std::string unknown = "sha256:" + std::string(64, 'e');
  auto m = post(kFns, hash_fn("missing", unknown));
  ASSERT_EQ(m.code, 422) << m.body;
  EXPECT_EQ(cause_fields(m), "spec.code.hash");
  EXPECT_NE(m.j()["message"].get<std::string>().find(unknown), std::string::npos) << m.body;
  json upd = c.j();
  upd["spec"]["code"]["hash"] = unknown;
  auto u = req("PUT", kFns + "/hello", upd.dump());
  EXPECT_EQ(u.code, 422) << u.body;
  EXPECT_EQ(cause_fields(u), "spec.code.hash");

  // Downloads: absent 404, malformed 400, wrong methods 405; all Status bodies.
  auto absent = req("GET", kCode + "/" + unknown);
  EXPECT_EQ(absent.code, 404);
  EXPECT_EQ(absent.j()["kind"], "Status");
  EXPECT_EQ(req("GET", kCode + "/sha256:xyz").code, 400);
  EXPECT_EQ(req("GET", kCode + "/..%2f..%2fetc").code, 400);
  EXPECT_EQ(req("GET", kCode).code, 405);
  EXPECT_EQ(req("DELETE", kCode + "/" + hash).code, 405);
  EXPECT_TRUE(blob_on_disk(hash));
}

TEST_F(FunctionApiTest, BinaryUploadsUpToEightMiB) {
  // Exactly 8 MiB (over the server's 64 KiB body limit in this suite): accepted.
  const std::string max = random_bytes(kMaxCodeBytes, 7);
  auto up = upload(max);
  ASSERT_EQ(up.code, 201) << up.body.substr(0, 300);
  EXPECT_EQ(up.j()["size"], kMaxCodeBytes);
  auto g = req("GET", kCode + "/" + up.j()["hash"].get<std::string>());
  ASSERT_EQ(g.code, 200);
  EXPECT_TRUE(g.body == max) << "download differs from the upload";

  // One byte more: 413 naming the size and the limit.
  auto big = upload(random_bytes(kMaxCodeBytes + 1, 8));
  ASSERT_EQ(big.code, 413) << big.body;
  EXPECT_EQ(big.j()["kind"], "Status");
  EXPECT_EQ(big.j()["message"], "code upload is 8388609 bytes; the limit is 8388608 bytes (8 MiB)");

  // Other paths keep the server's own limit.
  auto pod = req("POST", "/api/v1/namespaces/default/configmaps",
                 json{{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"metadata", {{"name", "big"}}},
                      {"data", {{"a", std::string(100 * 1024, 'x')}}}}
                     .dump());
  EXPECT_EQ(pod.code, 413);
  EXPECT_NE(pod.body.find("the request body is larger than the limit of 65536 bytes"),
            std::string::npos)
      << pod.body;
  // The server is still serving.
  EXPECT_EQ(req("GET", "/readyz").body, "ok");
}

TEST_F(FunctionApiTest, ClientHelpers) {
  auto r = rest();
  ASSERT_TRUE(r);
  const std::string bytes = random_bytes(300 * 1024, 3);  // binary, over the body limit
  auto hash = client::upload_code(*r, bytes);
  ASSERT_TRUE(hash.is_ok()) << hash.status().to_string();
  EXPECT_EQ(*hash, CodeStore::hash_of(bytes));
  auto back = client::download_code(*r, *hash);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_TRUE(*back == bytes);
  auto missing = client::download_code(*r, "sha256:" + std::string(64, '0'));
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(client::download_code(*r, "sha256:nope").status().code(), Code::kBadRequest);
  EXPECT_EQ(client::download_code(*r, "../../x").status().code(), Code::kBadRequest);
  auto big = client::upload_code(*r, std::string(kMaxCodeBytes + 1, 'b'));
  ASSERT_EQ(big.status().code(), Code::kTooLarge) << big.status().to_string();
  EXPECT_NE(big.status().message().find("8388608"), std::string::npos) << big.status().message();
}

TEST_F(FunctionApiTest, BlobsGoWithTheirLastFunction) {
  ASSERT_EQ(
      post("/api/v1/namespaces",
           json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "other"}}}})
          .code,
      201);
  const std::string kOther = "/apis/serverless.minik8s.io/v1/namespaces/other/functions";
  std::string shared = upload("shared = 1\n").j()["hash"];
  ASSERT_EQ(post(kFns, hash_fn("a", shared)).code, 201);
  ASSERT_EQ(post(kOther, hash_fn("b", shared)).code, 201);
  ASSERT_EQ(req("DELETE", kFns + "/a").code, 200);
  EXPECT_TRUE(blob_on_disk(shared)) << "b (another namespace) still uses it";
  EXPECT_EQ(req("GET", kCode + "/" + shared).code, 200);
  ASSERT_EQ(req("DELETE", kOther + "/b").code, 200);
  EXPECT_FALSE(blob_on_disk(shared));
  EXPECT_EQ(req("GET", kCode + "/" + shared).code, 404);

  // A hash dropped by an update goes at the next check of another hash.
  std::string v1 = upload("v = 1\n").j()["hash"];
  std::string v2 = upload("v = 2\n").j()["hash"];
  std::string v3 = upload("v = 3\n").j()["hash"];
  auto c = post(kFns, hash_fn("up", v1));
  ASSERT_EQ(c.code, 201) << c.body;
  json upd = c.j();
  upd["spec"]["code"]["hash"] = v2;
  ASSERT_EQ(req("PUT", kFns + "/up", upd.dump()).code, 200);
  EXPECT_TRUE(blob_on_disk(v1));  // noted, not yet collected
  ASSERT_EQ(post(kFns, hash_fn("next", v3)).code, 201);
  EXPECT_FALSE(blob_on_disk(v1));
  EXPECT_TRUE(blob_on_disk(v2));
  EXPECT_TRUE(blob_on_disk(v3));

  // Inline functions and unused uploads are left alone by deletes.
  std::string unused = upload("unused = 1\n").j()["hash"];
  ASSERT_EQ(post(kFns, inline_fn("inl")).code, 201);
  ASSERT_EQ(req("DELETE", kFns + "/inl").code, 200);
  EXPECT_TRUE(blob_on_disk(unused));

  // Status writes pass even when the blob went missing behind the server's back.
  std::filesystem::remove(code_dir_.path() + "/code/sha256/" + v2.substr(7));
  json st = req("GET", kFns + "/up").j();
  st["status"] = {{"readyInstances", 1}};
  EXPECT_EQ(req("PUT", kFns + "/up/status", st.dump()).code, 200);
  json meta = req("GET", kFns + "/up").j();
  meta["metadata"]["labels"] = {{"a", "b"}};
  EXPECT_EQ(req("PUT", kFns + "/up", meta.dump()).code, 200);
}

// Without a code store (code_dir empty) the endpoints are not served and
// hashes are not checked.
class FunctionNoStoreTest : public ApiServerFixture {};

TEST_F(FunctionNoStoreTest, EndpointsAbsentAndHashesUnchecked) {
  EXPECT_EQ(req("POST", kCode, "x", "application/octet-stream").code, 404);
  EXPECT_EQ(req("GET", kCode + "/sha256:" + std::string(64, 'a')).code, 404);
  auto c = post(kFns, hash_fn("h", "sha256:" + std::string(64, 'a')));
  EXPECT_EQ(c.code, 201) << c.body;
  EXPECT_EQ(req("DELETE", kFns + "/h").code, 200);
}

}  // namespace
}  // namespace minik8s::apiserver
