#include "minik8s/api/selector.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace minik8s::api {
namespace {

LabelSelector sel(const std::string& s) {
  auto r = LabelSelector::parse(s);
  EXPECT_TRUE(r.is_ok()) << s << ": " << r.status().to_string();
  return r.is_ok() ? *r : LabelSelector();
}

using Labels = std::map<std::string, std::string>;

TEST(LabelSelectorTest, ParsesAllOperators) {
  Labels web{{"app", "web"}, {"tier", "front"}, {"env", "prod"}};
  Labels db{{"app", "db"}, {"env", "dev"}};
  EXPECT_TRUE(sel("app=web").matches(web));
  EXPECT_FALSE(sel("app=web").matches(db));
  EXPECT_TRUE(sel("app==web").matches(web));
  EXPECT_TRUE(sel("app!=web").matches(db));
  EXPECT_TRUE(sel("missing!=x").matches(db));  // absent key satisfies !=
  EXPECT_TRUE(sel("env in (prod, staging)").matches(web));
  EXPECT_FALSE(sel("env in (prod,staging)").matches(db));
  EXPECT_TRUE(sel("env notin (prod)").matches(db));
  EXPECT_TRUE(sel("nokey notin (prod)").matches(db));
  EXPECT_TRUE(sel("tier").matches(web));
  EXPECT_FALSE(sel("tier").matches(db));
  EXPECT_TRUE(sel("!tier").matches(db));
  EXPECT_FALSE(sel("!tier").matches(web));
  EXPECT_TRUE(sel(" app = web ,  tier , env in(prod) ").matches(web));
  EXPECT_FALSE(sel("app=web,env=dev").matches(web));
  EXPECT_TRUE(sel("").matches(db));
  EXPECT_TRUE(sel("").empty());
  EXPECT_TRUE(sel("app=").matches({{"app", ""}}));
  EXPECT_TRUE(sel("example.com/role=x").matches({{"example.com/role", "x"}}));
}

TEST(LabelSelectorTest, RejectsBadTerms) {
  // Named: a temporary's c_str() in the list would dangle inside the loop
  // (range-for extends only the initializer_list, not the string).
  const std::string long_key(64, 'k');
  for (const char* s : {"app=web,", ",", "a b", "a in", "a in (x", "a in ()", "a=b=c", "=x",
                        "a>1", "bad key=x", "a=-x", "a/b/c=x", "UPPER.com/x=y", "!",
                        "a in x", "a notin (x y)", long_key.c_str()}) {
    auto r = LabelSelector::parse(s);
    EXPECT_FALSE(r.is_ok()) << s;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kBadRequest) << s;
    }
  }
  auto r = LabelSelector::parse("ok=1,bad key=x");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("bad key=x"), std::string::npos) << r.status().message();
}

TEST(LabelSelectorTest, CanonicalString) {
  EXPECT_EQ(sel("tier,app=web, env in (staging,prod),!old,x!=y").to_string(),
            "app=web,env in (prod,staging),!old,tier,x!=y");  // by key, not by text
  EXPECT_EQ(sel("a notin (z, b)").to_string(), "a notin (b,z)");
  // Found by fuzz_selector: the empty value alone must stay parseable.
  EXPECT_EQ(sel("exa notin (, )").to_string(), "exa notin (,)");
  EXPECT_EQ(sel("exa notin (,)").to_string(), "exa notin (,)");
  EXPECT_TRUE(sel("a in (,)").matches({{"a", ""}}));
  EXPECT_EQ(LabelSelector::from_map({{"b", "2"}, {"a", "1"}}).to_string(), "a=1,b=2");
  // to_string parses back to an equivalent selector.
  std::string s = sel("tier,app=web,env in (staging,prod),!old").to_string();
  EXPECT_EQ(sel(s).to_string(), s);
}

TEST(LabelSelectorTest, FromJson) {
  Json j = Json::parse(R"({"matchLabels":{"app":"web"},
      "matchExpressions":[{"key":"env","operator":"In","values":["prod","qa"]},
                          {"key":"legacy","operator":"DoesNotExist"},
                          {"key":"tier","operator":"Exists"},
                          {"key":"zone","operator":"NotIn","values":["b"]}]})");
  auto r = LabelSelector::from_json(j);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->matches({{"app", "web"}, {"env", "qa"}, {"tier", "1"}}));
  EXPECT_FALSE(r->matches({{"app", "web"}, {"env", "qa"}, {"tier", "1"}, {"legacy", "y"}}));
  EXPECT_FALSE(r->matches({{"app", "web"}, {"env", "qa"}, {"tier", "1"}, {"zone", "b"}}));
  EXPECT_FALSE(r->matches({{"app", "web"}, {"env", "dev"}, {"tier", "1"}}));
  EXPECT_EQ(r->to_string(), "app=web,env in (prod,qa),!legacy,tier,zone notin (b)");

  EXPECT_TRUE(Json::parse(R"({"app":"web","env":"qa","tier":"x"})").is_object());
  EXPECT_TRUE(r->matches_json(Json::parse(R"({"app":"web","env":"qa","tier":"x"})")));
  EXPECT_FALSE(r->matches_json(nullptr));

  auto empty = LabelSelector::from_json(Json::object());
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->matches({}));
  auto null_all = LabelSelector::from_json(nullptr);
  ASSERT_TRUE(null_all.is_ok());
  EXPECT_TRUE(null_all->matches({{"a", "b"}}));
  auto null_none = LabelSelector::from_json(nullptr, true);
  ASSERT_TRUE(null_none.is_ok());
  EXPECT_FALSE(null_none->matches({{"a", "b"}}));
  EXPECT_FALSE(null_none->empty());

  for (const char* bad : {
           R"({"matchExpressions":[{"key":"a","operator":"Gt","values":["1"]}]})",
           R"({"matchExpressions":[{"key":"a","operator":"In","values":[]}]})",
           R"({"matchExpressions":[{"key":"a","operator":"In"}]})",
           R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})",
           R"({"matchExpressions":[{"operator":"Exists"}]})",
           R"({"matchLabels":{"a":1}})", R"({"matchLabels":{"bad key":"x"}})", R"([1])"}) {
    auto b = LabelSelector::from_json(Json::parse(bad));
    EXPECT_FALSE(b.is_ok()) << bad;
    if (!b.is_ok()) {
      EXPECT_EQ(b.status().code(), Code::kBadRequest);
    }
  }
}

TEST(LabelKeyValueTest, Checks) {
  EXPECT_EQ(check_label_key("app"), "");
  EXPECT_EQ(check_label_key("app.kubernetes.io/name"), "");
  EXPECT_EQ(check_label_key("a_b.c-d"), "");
  EXPECT_NE(check_label_key(""), "");
  EXPECT_NE(check_label_key("-a"), "");
  EXPECT_NE(check_label_key("a/"), "");
  EXPECT_NE(check_label_key("/a"), "");
  EXPECT_NE(check_label_key("Example.com/a"), "");
  EXPECT_NE(check_label_key("ex..com/a"), "");
  EXPECT_NE(check_label_key(std::string(64, 'a')), "");
  EXPECT_EQ(check_label_key(std::string(63, 'a')), "");
  EXPECT_EQ(check_label_value(""), "");
  EXPECT_EQ(check_label_value("v1.2_3-x"), "");
  EXPECT_NE(check_label_value("a b"), "");
  EXPECT_NE(check_label_value("x-"), "");
  EXPECT_NE(check_label_value(std::string(64, 'v')), "");
}

TEST(FieldSelectorTest, ParseAndMatch) {
  Json pod = Json::parse(R"({"metadata":{"name":"p1","namespace":"default",
      "labels":{"app.kubernetes.io/name":"web"}},
      "spec":{"nodeName":"n1","replicas":3,"hostNetwork":true},"status":{"phase":"Running"}})");
  auto r = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed,metadata.name==p1");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->requirements().size(), 3u);
  EXPECT_FALSE(r->requirements()[1].equals);
  EXPECT_TRUE(r->matches(pod));
  auto unsched = FieldSelector::parse("spec.nodeName=");
  ASSERT_TRUE(unsched.is_ok());
  ASSERT_EQ(unsched->requirements().size(), 1u);
  EXPECT_EQ(unsched->requirements()[0].value, "");
  EXPECT_FALSE(unsched->matches(pod));
  EXPECT_TRUE(unsched->matches(Json::parse(R"({"spec":{}})")));
  auto esc = FieldSelector::parse(R"(metadata.name=a\,b)");
  ASSERT_TRUE(esc.is_ok());
  ASSERT_EQ(esc->requirements().size(), 1u);
  EXPECT_EQ(esc->requirements()[0].value, "a,b");
  EXPECT_TRUE(FieldSelector::parse("")->empty());
  for (const char* bad : {"spec.nodeName", "=x", "a=b,c"}) {
    auto b = FieldSelector::parse(bad);
    EXPECT_FALSE(b.is_ok()) << bad;
    if (!b.is_ok()) {
      EXPECT_EQ(b.status().code(), Code::kBadRequest);
    }
  }
}

TEST(FieldValueTest, Lookup) {
  Json o = Json::parse(R"({"spec":{"replicas":3,"on":true,"x":null,"s":"str"},
                           "metadata":{"labels":{"app.kubernetes.io/name":"web"}}})");
  EXPECT_EQ(field_value(o, "spec.replicas"), "3");
  EXPECT_EQ(field_value(o, "spec.on"), "true");
  EXPECT_EQ(field_value(o, "spec.x"), "");
  EXPECT_EQ(field_value(o, "spec.s"), "str");
  EXPECT_EQ(field_value(o, "spec.missing.deeper"), "");
  EXPECT_EQ(field_value(o, "spec.s.deeper"), "");
  EXPECT_EQ(field_value(o, "metadata.labels.app.kubernetes.io/name"), "web");
  EXPECT_EQ(field_value(Json(5), "a"), "");
}

}  // namespace
}  // namespace minik8s::api
