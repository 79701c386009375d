#include "minik8s/api/json.h"

#include <gtest/gtest.h>

#include <pthread.h>

#include <cstring>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minik8s/api/patch.h"
#include "minik8s/api/resource.h"
#include "minik8s/api/table.h"

namespace minik8s::api {
namespace {

Json yaml(const std::string& text) {
  auto r = yaml_to_json(text);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string() << "\n" << text;
  return r.is_ok() ? *r : Json();
}

TEST(ParseJsonTest, ParsesAndReportsPosition) {
  auto ok = parse_json(R"({"a": [1, 2.5, "x", true, null]})");
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ((*ok)["a"][1], 2.5);
  auto bad = parse_json("{\n  \"a\": 1,\n  \"b\": }");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kBadRequest);
  EXPECT_NE(bad.status().message().find("line 3"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(parse_json("").is_ok());
  EXPECT_FALSE(parse_json("{} x").is_ok());
}

TEST(ParseJsonTest, RejectsDeepNesting) {
  std::string deep(5000, '[');
  deep += std::string(5000, ']');
  auto r = parse_json(deep);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  std::string ok(kMaxJsonDepth, '[');
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(parse_json(ok).is_ok());
}

// {"x":[{"x":[...1...]}]}: depth containers in all, alternating object/array.
std::string deep_text(int depth) {
  std::string open, close;
  for (int i = 0; i < depth; ++i) {
    open += i % 2 == 0 ? "{\"x\":" : "[";
    close += i % 2 == 0 ? "}" : "]";
  }
  return open + "1" + std::string(close.rbegin(), close.rend());
}

TEST(ParseJsonTest, DepthLimitIsExactAndNamed) {
  EXPECT_TRUE(parse_json(deep_text(kMaxJsonDepth)).is_ok());
  auto r = parse_json(deep_text(kMaxJsonDepth + 1));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("nesting deeper than " + std::to_string(kMaxJsonDepth) +
                                      " levels"),
            std::string::npos)
      << r.status().message();
  // Strings that look like brackets do not count.
  EXPECT_TRUE(parse_json("{\"x\":\"" + std::string(5000, '[') + "\"}").is_ok());
  // Responses may wrap a stored object (List items, Table rows, watch events).
  EXPECT_TRUE(parse_json_response(deep_text(kMaxJsonDepth + kJsonEnvelopeDepth)).is_ok());
  EXPECT_FALSE(parse_json_response(deep_text(kMaxJsonDepth + kJsonEnvelopeDepth + 1)).is_ok());
  EXPECT_FALSE(parse_json_response("{\"x\":" + std::string(100000, '[') + "1" +
                                   std::string(100000, ']') + "}")
                   .is_ok());
}

TEST(JsonDepthWithinTest, CountsContainersAndStopsAtTheLimit) {
  EXPECT_TRUE(json_depth_within(Json(1), 0));
  EXPECT_FALSE(json_depth_within(Json::object(), 0));
  EXPECT_TRUE(json_depth_within(Json::parse(R"({"a":[1]})"), 2));
  EXPECT_FALSE(json_depth_within(Json::parse(R"({"a":[1]})"), 1));
  // Far deeper than the limit (built without recursion): answered without
  // walking further than the limit.
  Json deep = 1;
  for (int i = 0; i < 100000; ++i) deep = Json::array({std::move(deep)});
  EXPECT_FALSE(json_depth_within(deep));
  EXPECT_TRUE(json_depth_within(*parse_json(deep_text(kMaxJsonDepth))));
}

TEST(YamlToJsonTest, AliasesCannotNestPastTheLimit) {
  // Each line nests a third of the limit deep around the previous anchor:
  // within the limit line by line, past it after four.
  const size_t third = kMaxJsonDepth / 3;
  auto wrap = [&](const std::string& inner) {
    return std::string(third, '[') + inner + std::string(third, ']');
  };
  std::string doc = "a: &a " + wrap("1") + "\nb: &b " + wrap("*a") + "\nc: &c " + wrap("*b") + "\n";
  auto ok = yaml_to_json(doc);
  EXPECT_TRUE(ok.is_ok()) << ok.status().to_string();
  auto r = yaml_to_json(doc + "d: " + wrap("*c") + "\n");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("nesting deeper than " + std::to_string(kMaxJsonDepth)),
            std::string::npos)
      << r.status().message();
}

// Runs fn on a thread whose stack is a painted buffer of `bytes`; returns the
// bytes of it that fn touched.
size_t stack_used(size_t bytes, const std::function<void()>& fn) {
  std::vector<unsigned char> stack(bytes, 0xA5);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstack(&attr, stack.data(), stack.size());
  pthread_t t;
  auto body = [](void* arg) -> void* {
    (*static_cast<const std::function<void()>*>(arg))();
    return nullptr;
  };
  EXPECT_EQ(pthread_create(&t, &attr, body, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  size_t untouched = 0;
  while (untouched < stack.size() && stack[untouched] == 0xA5) ++untouched;
  return stack.size() - untouched;
}

// Every recursive walk a stored object meets, at the deepest depth accepted
// (plus a response envelope), fits in 1 MiB of stack; connection threads
// have 8 MiB. The figure measured is printed for docs/api.md.
TEST(JsonDepthWithinTest, DeepestAcceptedObjectWalksFitInOneMiBStack) {
  const std::string text = deep_text(kMaxJsonDepth - 2);
  size_t worst = 0;
  auto measure = [&](const char* what, const std::function<void()>& fn) {
    size_t used = stack_used(1 << 20, fn);
    std::printf("stack used by %s at depth %d: %zu bytes\n", what, kMaxJsonDepth, used);
    worst = std::max(worst, used);
  };
  Json obj;
  measure("parse", [&] {
    auto p = parse_json(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"},"x":)" +
                        text + "}");
    ASSERT_TRUE(p.is_ok());
    obj = std::move(*p);
  });
  ASSERT_TRUE(json_depth_within(obj));
  measure("copy, compare and dump", [&] {
    Json copy = obj;
    EXPECT_TRUE(copy == obj);
    EXPECT_FALSE(copy.dump().empty());
    EXPECT_TRUE(json_depth_within(copy));
  });
  measure("to_yaml", [&] { EXPECT_FALSE(to_yaml(obj).empty()); });
  measure("merge patch", [&] {
    EXPECT_TRUE(apply_merge_patch(obj, Json::parse(R"({"x":{"x":[{"y":1}]}})")).is_ok());
  });
  measure("strategic merge patch", [&] {
    Json patch = obj;
    patch["metadata"]["labels"] = {{"a", "b"}};
    EXPECT_TRUE(apply_strategic_merge_patch(obj, patch, "ConfigMap").is_ok());
  });
  measure("JSON patch", [&] {
    auto p = apply_json_patch(obj, Json::parse(R"([{"op":"copy","from":"/x","path":"/y"},
                                                   {"op":"test","path":"/y","value":1}])"));
    EXPECT_FALSE(p.is_ok());
  });
  measure("table", [&] {
    Json t = make_table(*find_kind("v1", "ConfigMap"), {obj}, Json::object());
    EXPECT_FALSE(Json({{"type", "ADDED"}, {"object", t}}).dump().empty());
  });
  EXPECT_LT(worst, size_t{1} << 20);
}

TEST(YamlToJsonTest, CoreSchemaTyping) {
  Json v = yaml(
      "a: 80\n"
      "b: \"80\"\n"
      "c: '80'\n"
      "d: true\n"
      "e: 'true'\n"
      "f: null\n"
      "g: ~\n"
      "h:\n"
      "i: 1.5\n"
      "j: -3\n"
      "k: 1e3\n"
      "l: yes\n"
      "m: 12345678901234567890\n"
      "n: 0x1F\n"
      "o: .inf\n"
      "p: 100m\n"
      "q: !!str 42\n"
      "r: 1.0.0\n"
      "s: 9223372036854775807\n"
      "t: 123456789012345678901234567890\n");
  EXPECT_EQ(v["a"], Json(80));
  EXPECT_TRUE(v["a"].is_number_integer());
  EXPECT_EQ(v["b"], Json("80"));
  EXPECT_EQ(v["c"], Json("80"));
  EXPECT_EQ(v["d"], Json(true));
  EXPECT_EQ(v["e"], Json("true"));
  EXPECT_TRUE(v["f"].is_null());
  EXPECT_TRUE(v["g"].is_null());
  EXPECT_TRUE(v["h"].is_null());
  EXPECT_EQ(v["i"], Json(1.5));
  EXPECT_EQ(v["j"], Json(-3));
  EXPECT_TRUE(v["k"].is_number_float());
  EXPECT_EQ(v["k"].get<double>(), 1000.0);
  EXPECT_EQ(v["l"], Json("yes"));  // YAML 1.2: not a bool
  EXPECT_EQ(v["m"].get<uint64_t>(), 12345678901234567890ULL);
  EXPECT_EQ(v["n"], Json(31));
  EXPECT_EQ(v["o"], Json(".inf"));
  EXPECT_EQ(v["p"], Json("100m"));
  EXPECT_EQ(v["q"], Json("42"));
  EXPECT_EQ(v["r"], Json("1.0.0"));
  EXPECT_EQ(v["s"].get<int64_t>(), INT64_MAX);
  EXPECT_TRUE(v["t"].is_number_float());
}

TEST(YamlToJsonTest, NonStringKeysBecomeStrings) {
  Json v = yaml("1: a\ntrue: b\n~: c\n");
  EXPECT_EQ(v["1"], Json("a"));
  EXPECT_EQ(v["true"], Json("b"));
  EXPECT_TRUE(v.contains("null") || v.contains("~")) << v.dump();
}

TEST(YamlToJsonTest, AnchorsAliasesAndMerge) {
  Json v = yaml(
      "base: &b\n"
      "  x: 1\n"
      "  y: 2\n"
      "copy: *b\n"
      "merged:\n"
      "  <<: *b\n"
      "  y: 3\n"
      "list: [&s hello, *s]\n");
  EXPECT_EQ(v["copy"], v["base"]);
  EXPECT_EQ(v["merged"]["x"], Json(1));
  EXPECT_EQ(v["merged"]["y"], Json(3));
  EXPECT_EQ(v["list"], Json({"hello", "hello"}));
}

// Only a plain << merges; a quoted one is an ordinary key, and a JSON key
// "<<" is written quoted so that it reads back as itself (found by fuzz_json).
TEST(YamlToJsonTest, QuotedMergeKeyIsAnOrdinaryKey) {
  Json v = yaml("a:\n  '<<': {x: 1}\n  \"<<\": [y]\n");
  EXPECT_EQ(v["a"]["<<"], Json({"y"})) << v.dump();
  EXPECT_FALSE(v["a"].contains("x")) << v.dump();
  Json j = Json::parse(R"({"kind":"Pod","metadata":{"<<":[{"name":"c","image":"i"}]}})");
  std::string y = to_yaml(j);
  auto back = yaml_to_json(y);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(*back, j) << y;
}

TEST(YamlToJsonTest, RejectsAliasBomb) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string name(1, c);
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) bomb += (i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = name;
  }
  auto r = yaml_to_json(bomb);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("too large"), std::string::npos) << r.status().message();
}

TEST(YamlToJsonTest, RejectsDeepNesting) {
  std::string deep(1500, '[');
  deep += std::string(1500, ']');
  auto r = yaml_to_json(deep);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  std::string deeper(100000, '[');
  EXPECT_FALSE(yaml_to_json(deeper).is_ok());
}

TEST(YamlToJsonTest, SyntaxErrorNamesLine) {
  auto r = yaml_to_json("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("line"), std::string::npos);
  EXPECT_FALSE(yaml_to_json("a: 1\n---\nb: 2\n").is_ok());  // two documents
}

TEST(YamlToJsonTest, MalformedInputThatStallsYamlCppIsAnError) {
  // Found by fuzz_yaml: yaml-cpp 0.7 yields endless empty documents here.
  const std::string input(",p    piV)ersioiVe\xff""\xff""\xff""\xff""\xff""\xff""\xff""5web\n  labejs: tor(   .1\n5 \xff""\xff""\xff""\xff""\xff""\xff""\xff""\xff""\xff""\xff""\xff"" ports\xd4""\n    , \"80tainepr", 87);
  auto r = yaml_to_json(input);
  EXPECT_FALSE(r.is_ok());
  EXPECT_FALSE(parse_manifests(input).is_ok());
}

TEST(ParseManifestsTest, MultiDocSkipsEmptyAndFlattensLists) {
  auto r = parse_manifests(
      "---\n"
      "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
      "---\n"
      "# only a comment\n"
      "---\n"
      "apiVersion: v1\nkind: List\nitems:\n"
      "- {kind: Service, metadata: {name: s1}}\n"
      "- {kind: Service, metadata: {name: s2}}\n"
      "---\n"
      "kind: PodList\nitems: []\n");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0]["metadata"]["name"], Json("a"));
  EXPECT_EQ((*r)[1]["metadata"]["name"], Json("s1"));
  EXPECT_EQ((*r)[2]["metadata"]["name"], Json("s2"));
}

TEST(ParseManifestsTest, JsonInput) {
  auto one = parse_manifests("  {\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}");
  ASSERT_TRUE(one.is_ok());
  ASSERT_EQ(one->size(), 1u);
  auto list = parse_manifests(R"({"kind":"List","items":[{"kind":"Pod"},{"kind":"Node"}]})");
  ASSERT_TRUE(list.is_ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1]["kind"], Json("Node"));
  auto stream = parse_manifests("{\"kind\":\"Pod\"}\n{\"kind\":\"Service\"} {\"kind\":\"Node\"}\n");
  ASSERT_TRUE(stream.is_ok()) << stream.status().to_string();
  ASSERT_EQ(stream->size(), 3u);
  EXPECT_EQ((*stream)[2]["kind"], Json("Node"));
  auto arr = parse_manifests(R"([{"kind":"Pod"}, 3])");
  ASSERT_FALSE(arr.is_ok());
  EXPECT_NE(arr.status().message().find("document 1"), std::string::npos)
      << arr.status().message();
}

TEST(ParseManifestsTest, YamlFlowStyleAndBadJson) {
  auto flow = parse_manifests("{kind: Pod, metadata: {name: p}}\n");
  ASSERT_TRUE(flow.is_ok()) << flow.status().to_string();
  ASSERT_EQ(flow->size(), 1u);
  EXPECT_EQ((*flow)[0]["metadata"]["name"], Json("p"));
  auto bad = parse_manifests("{\"kind\": \"Pod\",\n \"x\": [}");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kBadRequest);
  EXPECT_NE(bad.status().message().find("JSON"), std::string::npos) << bad.status().message();
}

TEST(ParseManifestsTest, NonObjectDocumentIsError) {
  auto r = parse_manifests("kind: Pod\n---\n- a\n- b\n");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kBadRequest);
  EXPECT_NE(r.status().message().find("document 1"), std::string::npos) << r.status().message();
  EXPECT_FALSE(parse_manifests("just a string\n").is_ok());
  auto empty = parse_manifests("");
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ToYamlTest, KubectlBlockStyle) {
  Json v = Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25",
                             "ports": [{"containerPort": 80}], "args": []}],
             "nodeSelector": {}}
  })");
  std::string expected =
      "apiVersion: v1\n"
      "kind: Pod\n"
      "metadata:\n"
      "  annotations: {}\n"
      "  labels:\n"
      "    app: web\n"
      "  name: web\n"
      "spec:\n"
      "  containers:\n"
      "  - args: []\n"
      "    image: nginx:1.25\n"
      "    name: nginx\n"
      "    ports:\n"
      "    - containerPort: 80\n"
      "  nodeSelector: {}\n";
  EXPECT_EQ(to_yaml(v), expected);
}

TEST(ToYamlTest, QuotesAmbiguousStrings) {
  Json v = {{"a", "80"}, {"b", "true"}, {"c", ""}, {"d", "yes"}, {"e", "null"},
            {"f", "x: y"}, {"g", "- x"}, {"h", "it's"}, {"i", "plain"}, {"j", "tab\there"}};
  std::string y = to_yaml(v);
  EXPECT_NE(y.find("a: '80'\n"), std::string::npos) << y;
  EXPECT_NE(y.find("b: 'true'\n"), std::string::npos) << y;
  EXPECT_NE(y.find("c: ''\n"), std::string::npos) << y;
  EXPECT_NE(y.find("i: plain\n"), std::string::npos) << y;
  EXPECT_NE(y.find("g: '- x'\n"), std::string::npos) << y;
  Json args = {{"args", {"-c", "--port=80", "-", "-1", "--", "---x"}}};
  std::string ya = to_yaml(args);
  EXPECT_EQ(ya, "args:\n- -c\n- --port=80\n- '-'\n- '-1'\n- --\n- '---x'\n");
  auto args_back = yaml_to_json(ya);
  ASSERT_TRUE(args_back.is_ok()) << ya;
  EXPECT_EQ(*args_back, args);
  EXPECT_NE(y.find("j: \"tab\\there\"\n"), std::string::npos) << y;
  auto back = yaml_to_json(y);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string() << "\n" << y;
  EXPECT_EQ(*back, v);
}

TEST(ToYamlTest, MultiLineStringsUseLiteralBlocks) {
  Json v = {{"script", "echo a\necho b\n"}, {"nofinal", "x\ny"}, {"many", "x\n\n"},
            {"lead", " indented\nline"}, {"list", {"one\ntwo\n"}}};
  std::string y = to_yaml(v);
  EXPECT_NE(y.find("script: |\n  echo a\n  echo b\n"), std::string::npos) << y;
  EXPECT_NE(y.find("nofinal: |-\n  x\n  y\n"), std::string::npos) << y;
  auto back = yaml_to_json(y);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string() << "\n" << y;
  EXPECT_EQ(*back, v) << y;
}

// A reader drops U+FEFF where a stream starts (found by fuzz_yaml: a
// top-level string that began with one lost it on the way back).
TEST(ToYamlTest, ByteOrderMarkInTextIsEscaped) {
  const std::string bom = "\xEF\xBB\xBF";
  for (const std::string& s : {bom + "x", "a" + bom + "b", bom + "line\nline2\n"}) {
    Json v = s;
    std::string y = to_yaml(v);
    EXPECT_NE(y.find("\\ufeff"), std::string::npos) << y;
    auto back = yaml_to_json(y);
    ASSERT_TRUE(back.is_ok()) << back.status().message();
    EXPECT_EQ(*back, v) << y;
    Json obj = {{"k", s}};
    auto back_obj = yaml_to_json(to_yaml(obj));
    ASSERT_TRUE(back_obj.is_ok());
    EXPECT_EQ(*back_obj, obj);
  }
}

TEST(ToYamlTest, RoundTrip) {
  const std::string src =
      "apiVersion: apps/v1\n"
      "kind: Deployment\n"
      "metadata:\n"
      "  name: web\n"
      "  annotations:\n"
      "    note: \"multi\\nline\"\n"
      "    port: \"8080\"\n"
      "spec:\n"
      "  replicas: 3\n"
      "  template:\n"
      "    spec:\n"
      "      containers:\n"
      "      - name: app\n"
      "        command: [\"sh\", \"-c\", \"echo hi: there # not a comment\"]\n"
      "        env:\n"
      "        - {name: A, value: \"1\"}\n"
      "        - name: B\n"
      "          value: 'true'\n"
      "        resources: {limits: {cpu: 500m, memory: 128Mi}}\n"
      "      nested: [[1, 2], [], {}, [{a: b}]]\n"
      "      ratio: 0.25\n"
      "      weird: ['', ' lead', 'trail ', '[x]', '{y}', '@at', '%p', '`b', '#c', 'a,b', '*s', "
      "'&a', '!t', '|p', '>q', '?q', ':c', '---', '...', '0x10', '1_000', '012', '.5', "
      "'+1', '1:20', 'Yes', 'ON', 'NULL', '~']\n";
  Json first = yaml(src);
  std::string rendered = to_yaml(first);
  auto second = yaml_to_json(rendered);
  ASSERT_TRUE(second.is_ok()) << second.status().to_string() << "\n" << rendered;
  EXPECT_EQ(*second, first) << rendered;
  // Top-level scalars and arrays render and come back too.
  for (const Json& v : {Json(1), Json("x"), Json::array({1, "2", nullptr}), Json::object(),
                        Json::array(), Json(nullptr), Json("two\nlines")}) {
    auto r = yaml_to_json(to_yaml(v));
    ASSERT_TRUE(r.is_ok()) << to_yaml(v);
    EXPECT_EQ(*r, v) << to_yaml(v);
  }
}

}  // namespace
}  // namespace minik8s::api
