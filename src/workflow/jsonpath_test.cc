#include "minik8s/workflow/jsonpath.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace minik8s::workflow {
namespace {

using api::Json;

JsonPath p(const std::string& text) {
  auto r = parse_path(text);
  EXPECT_TRUE(r.is_ok()) << text << ": " << r.status().message();
  return r.is_ok() ? *r : JsonPath{};
}

std::string bad(const std::string& text) {
  auto r = parse_path(text);
  EXPECT_FALSE(r.is_ok()) << text;
  if (r.is_ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  return r.status().message();
}

TEST(JsonPathTest, ParsesEverySegmentKind) {
  JsonPath root = p("$");
  EXPECT_TRUE(root.segments.empty());
  EXPECT_EQ(root.text, "$");

  JsonPath a = p("$.a_b-c.D9[12]['x y'][0]");
  ASSERT_EQ(a.segments.size(), 5u);
  EXPECT_EQ(std::get<std::string>(a.segments[0]), "a_b-c");
  EXPECT_EQ(std::get<std::string>(a.segments[1]), "D9");
  EXPECT_EQ(std::get<size_t>(a.segments[2]), 12u);
  EXPECT_EQ(std::get<std::string>(a.segments[3]), "x y");
  EXPECT_EQ(std::get<size_t>(a.segments[4]), 0u);

  JsonPath q = p(R"($['it\'s']['back\\slash']['']['$.[]'])");
  ASSERT_EQ(q.segments.size(), 4u);
  EXPECT_EQ(std::get<std::string>(q.segments[0]), "it's");
  EXPECT_EQ(std::get<std::string>(q.segments[1]), "back\\slash");
  EXPECT_EQ(std::get<std::string>(q.segments[2]), "");
  EXPECT_EQ(std::get<std::string>(q.segments[3]), "$.[]");
  EXPECT_EQ(std::get<std::string>(p("$._x").segments[0]), "_x");
}

TEST(JsonPathTest, RejectsEverythingElseNamingThePosition) {
  EXPECT_EQ(bad(""), "at offset 0: a path starts with '$'");
  EXPECT_EQ(bad("a.b"), "at offset 0: a path starts with '$'");
  EXPECT_EQ(bad("$."), "at offset 2: expected a name ([A-Za-z_][A-Za-z0-9_-]*) after '.'");
  EXPECT_EQ(bad("$.9a"), "at offset 2: expected a name ([A-Za-z_][A-Za-z0-9_-]*) after '.'");
  EXPECT_EQ(bad("$..a"), "at offset 2: expected a name ([A-Za-z_][A-Za-z0-9_-]*) after '.'");
  EXPECT_NE(bad("$.a[").find("at offset 4: expected an index"), std::string::npos);
  EXPECT_NE(bad("$.a[*]").find("no wildcards"), std::string::npos);
  EXPECT_NE(bad("$.a[-1]").find("at offset 4"), std::string::npos);
  EXPECT_NE(bad("$.a[1:2]").find("at offset 5: expected ']'"), std::string::npos);
  EXPECT_NE(bad("$.a[?(@.x)]").find("at offset 4"), std::string::npos);
  EXPECT_EQ(bad("$.a['x"), "at offset 3: unterminated quoted name");
  EXPECT_EQ(bad("$.a['x'"), "at offset 7: expected ']' after the quoted name");
  EXPECT_EQ(bad(R"($['a\n'])"), "at offset 4: only \\' and \\\\ are escapes in a quoted name");
  EXPECT_EQ(bad("$.a b"), "at offset 3: unexpected ' ': expected '.name', '[N]' or ['name']");
  EXPECT_EQ(bad("$a"), "at offset 1: unexpected 'a': expected '.name', '[N]' or ['name']");
  EXPECT_EQ(bad("$[99999999999]"), "at offset 2: array index too large");
  EXPECT_EQ(bad("$." + std::string(1100, 'a')), "must be at most 1024 bytes");
}

TEST(JsonPathTest, LookupFollowsMembersAndIndexes) {
  Json doc = {{"a", {{"b", Json::array({10, {{"c", "x"}}})}}}, {"n", nullptr}, {"k y", 1}};
  EXPECT_EQ(*lookup(doc, p("$")), doc);
  EXPECT_EQ(*lookup(doc, p("$.a.b[0]")), 10);
  EXPECT_EQ(*lookup(doc, p("$.a.b[1].c")), "x");
  EXPECT_EQ(*lookup(doc, p("$['k y']")), 1);
  ASSERT_NE(lookup(doc, p("$.n")), nullptr);
  EXPECT_TRUE(lookup(doc, p("$.n"))->is_null());
  EXPECT_EQ(lookup(doc, p("$.missing")), nullptr);
  EXPECT_EQ(lookup(doc, p("$.a.b[2]")), nullptr);    // out of range
  EXPECT_EQ(lookup(doc, p("$.a[0]")), nullptr);      // index into an object
  EXPECT_EQ(lookup(doc, p("$.a.b.c")), nullptr);     // name into an array
  EXPECT_EQ(lookup(doc, p("$.a.b[0].x")), nullptr);  // name into a number
  EXPECT_EQ(lookup(Json("s"), p("$[0]")), nullptr);  // index into a string
}

TEST(JsonPathTest, AssignCreatesObjectsAndReplaces) {
  Json doc = {{"keep", 1}};
  ASSERT_TRUE(assign(doc, p("$.a.b.c"), 5).is_ok());
  EXPECT_EQ(doc, Json::parse(R"({"keep":1,"a":{"b":{"c":5}}})"));
  ASSERT_TRUE(assign(doc, p("$.a.b"), "x").is_ok());
  EXPECT_EQ(doc["a"]["b"], "x");
  ASSERT_TRUE(assign(doc, p("$['odd key']"), true).is_ok());
  EXPECT_EQ(doc["odd key"], true);

  Json arr = {{"list", {1, 2, 3}}};
  ASSERT_TRUE(assign(arr, p("$.list[1]"), {{"z", 0}}).is_ok());
  EXPECT_EQ(arr["list"][1]["z"], 0);
  ASSERT_TRUE(assign(arr, p("$.list[1].y"), 2).is_ok());
  EXPECT_EQ(arr["list"][1]["y"], 2);

  Json whole = {{"x", 1}};
  ASSERT_TRUE(assign(whole, p("$"), {1, 2}).is_ok());
  EXPECT_EQ(whole, Json({1, 2}));

  Json null_doc;  // null becomes an object when a member is set in it
  ASSERT_TRUE(assign(null_doc, p("$.r"), 1).is_ok());
  EXPECT_EQ(null_doc, Json({{"r", 1}}));
}

TEST(JsonPathTest, AssignThroughNonObjectsIsAnError) {
  Json doc = {{"s", "text"}, {"list", {1, 2}}, {"o", Json::object()}};
  Status st = assign(doc, p("$.s.x"), 1);
  EXPECT_EQ(st.code(), Code::kInvalid);
  EXPECT_EQ(st.message(), "cannot set $.s.x: $.s is a string, not an object");
  st = assign(doc, p("$.list.x"), 1);
  EXPECT_EQ(st.message(), "cannot set $.list.x: $.list is an array, not an object");
  st = assign(doc, p("$.list[5]"), 1);
  EXPECT_EQ(st.message(), "cannot set $.list[5]: $.list has 2 items");
  st = assign(doc, p("$.o[0]"), 1);
  EXPECT_EQ(st.message(), "cannot set $.o[0]: $.o is an object, not an array");
  st = assign(doc, p("$.list[0].x"), 1);
  EXPECT_EQ(st.message(), "cannot set $.list[0].x: $.list[0] is a number, not an object");
  Json num = 3;
  EXPECT_FALSE(assign(num, p("$.a"), 1).is_ok());
  EXPECT_EQ(num, 3);
}

}  // namespace
}  // namespace minik8s::workflow
