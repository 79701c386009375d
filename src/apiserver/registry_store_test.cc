// The generic registry store's contract with a kind's strategy, with a
// recording strategy on ConfigMap over an in-memory store (no HTTP): which
// hooks run, in what order, and that an Allocation is committed exactly when
// the write happened and given back otherwise.
#include "registry_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "test/fakes/mem_storage.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

// Every hook call, in order; allocations counted by what happened to them.
struct Journal {
  std::vector<std::string> calls;
  int committed = 0, rolled_back = 0;
};

class RecordingAllocation final : public Allocation {
 public:
  explicit RecordingAllocation(Journal& j) : j_(j) {}
  ~RecordingAllocation() override { ++(committed() ? j_.committed : j_.rolled_back); }

 private:
  Journal& j_;
};

class RecordingStrategy final : public KindStrategy {
 public:
  explicit RecordingStrategy(Journal& j) : j_(j) {}
  void prepare_for_create(json& obj) override {
    j_.calls.push_back("prepare_for_create");
    obj["data"]["prepared"] = "yes";
  }
  void prepare_for_update(json&, const json&) override { j_.calls.push_back("prepare_for_update"); }
  std::unique_ptr<Allocation> allocate(json&, const json*, api::FieldErrors&) override {
    j_.calls.push_back("allocate");
    return std::make_unique<RecordingAllocation>(j_);
  }
  Status admit(const json& obj, const json*, api::FieldErrors& errs, AdmissionHold&) override {
    j_.calls.push_back("admit");
    std::string verdict = api::sfield(api::field(obj, "data"), "verdict");
    if (verdict == "invalid")
      errs.push_back({"data.verdict", "Invalid value: \"invalid\": refused"});
    if (verdict == "conflict") return conflict("refused");
    return Status::ok();
  }
  void release(const json&, const json* now) override {
    j_.calls.push_back(now ? "release(old, now)" : "release(old)");
  }
  DeleteMark mark_for_deletion(const json& cur, json& desired) override {
    j_.calls.push_back("mark_for_deletion");
    if (api::sfield(api::field(cur, "data"), "mark") != "yes") return DeleteMark::kGeneric;
    desired["data"]["marked"] = "yes";
    return DeleteMark::kMarked;
  }

 private:
  Journal& j_;
};

class RegistryStoreTest : public ::testing::Test {
 protected:
  RegistryStoreTest() : cm_(*api::find_kind("v1", "ConfigMap")), objects_(store_, kinds_) {
    kinds_.add(cm_, std::make_unique<RecordingStrategy>(journal_));
  }

  static json config_map(const std::string& name, json data = json::object()) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}}},
            {"data", data}};
  }
  RegistryStore::Outcome create(json obj, bool dry_run = false) {
    return objects_.create(cm_, "default", std::move(obj), "", dry_run, nullptr);
  }
  RegistryStore::Outcome set_data(const std::string& name, const json& data) {
    return objects_.update(
        cm_, "default", name, RegistryStore::UpdateMode::kMain, "",
        [&](const json& cur, json& desired) {
          desired = cur;
          desired["data"] = data;
          return Status::ok();
        },
        "", false, nullptr);
  }

  testing::MemStorage store_;
  KindRegistry kinds_;
  const api::ResourceType& cm_;
  Journal journal_;
  RegistryStore objects_;
};

TEST_F(RegistryStoreTest, CreateRunsTheHooksInOrderAndCommitsOnlyWritten) {
  auto ok = create(config_map("a"));
  ASSERT_TRUE(ok.status.is_ok()) << ok.status.message();
  EXPECT_EQ(ok.code, 201);
  EXPECT_EQ(ok.object["data"]["prepared"], "yes");
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"prepare_for_create", "allocate", "admit"}));
  EXPECT_EQ(journal_.committed, 1);
  EXPECT_EQ(journal_.rolled_back, 0);

  // Refused by admission (422 with the cause, or the hook's own Status):
  // nothing written, the allocation given back.
  auto invalid = create(config_map("b", {{"verdict", "invalid"}}));
  EXPECT_EQ(invalid.status.code(), Code::kInvalid);
  ASSERT_EQ(invalid.causes.size(), 1u);
  EXPECT_EQ(invalid.causes[0].field, "data.verdict");
  auto refused = create(config_map("c", {{"verdict", "conflict"}}));
  EXPECT_EQ(refused.status.code(), Code::kConflict);
  EXPECT_EQ(journal_.rolled_back, 2);
  // The store refuses a duplicate: given back too.
  auto dup = create(config_map("a"));
  EXPECT_EQ(dup.status.code(), Code::kAlreadyExists);
  EXPECT_EQ(journal_.rolled_back, 3);
  EXPECT_EQ(journal_.committed, 1);
  EXPECT_FALSE(store_.get("/registry/configmaps/default/b").is_ok());

  // A dry run allocates nothing.
  journal_.calls.clear();
  auto dry = create(config_map("d"), true);
  ASSERT_TRUE(dry.status.is_ok());
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"prepare_for_create", "admit"}));
  EXPECT_FALSE(store_.get("/registry/configmaps/default/d").is_ok());
}

TEST_F(RegistryStoreTest, UpdateReleasesAfterTheWriteAndRollsBackARefusal) {
  ASSERT_TRUE(create(config_map("a")).status.is_ok());
  journal_.calls.clear();
  auto ok = set_data("a", {{"k", "v"}});
  ASSERT_TRUE(ok.status.is_ok()) << ok.status.message();
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"prepare_for_update", "allocate", "admit",
                                                      "release(old, now)"}));
  EXPECT_EQ(journal_.committed, 2);

  journal_.calls.clear();
  auto refused = set_data("a", {{"verdict", "invalid"}});
  EXPECT_EQ(refused.status.code(), Code::kInvalid);
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"prepare_for_update", "allocate", "admit"}));
  EXPECT_EQ(journal_.rolled_back, 1);

  // Status writes are not main-resource updates: no prepare_for_update.
  journal_.calls.clear();
  (void)objects_.update(
      cm_, "default", "a", RegistryStore::UpdateMode::kStatus, "",
      [](const json& cur, json& desired) {
        desired = cur;
        return Status::ok();
      },
      "", false, nullptr);
  EXPECT_EQ(journal_.calls,
            (std::vector<std::string>{"allocate", "admit"}));  // a no-op: nothing released
}

TEST_F(RegistryStoreTest, DeleteMarksOrRemovesAndReleases) {
  ASSERT_TRUE(create(config_map("gone")).status.is_ok());
  ASSERT_TRUE(create(config_map("kept", {{"mark", "yes"}})).status.is_ok());
  journal_.calls.clear();
  auto removed = objects_.remove(cm_, "default", "gone", json::object(), false);
  ASSERT_TRUE(removed.status.is_ok()) << removed.status.message();
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"mark_for_deletion", "release(old)"}));
  EXPECT_FALSE(store_.get("/registry/configmaps/default/gone").is_ok());

  journal_.calls.clear();
  auto marked = objects_.remove(cm_, "default", "kept", json::object(), false);
  ASSERT_TRUE(marked.status.is_ok()) << marked.status.message();
  EXPECT_EQ(marked.object["data"]["marked"], "yes");
  EXPECT_EQ(journal_.calls, (std::vector<std::string>{"mark_for_deletion"}));
  EXPECT_TRUE(store_.get("/registry/configmaps/default/kept").is_ok());
}

}  // namespace
}  // namespace minik8s::apiserver
