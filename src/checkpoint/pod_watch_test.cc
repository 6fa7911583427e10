#include "checkpoint/pod_watch.h"

#include "gtest/gtest.h"

namespace lifeboat::checkpoint {
namespace {

Json Pod(const std::string& name, bool parent, const std::string& image = "img",
         const std::string& uid = "u1", const std::string& rv = "5") {
  Json annotations = Json::object();
  if (parent) annotations["checkpointer.alpha.coreos.com/checkpoint"] = "true";
  return {{"metadata",
           {{"name", name},
            {"namespace", "kube-system"},
            {"uid", uid},
            {"resourceVersion", rv},
            {"annotations", annotations}}},
          {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}},
          {"status", {{"phase", "Running"}, {"message", "has ] and } and \" in it"}}}};
}

std::string List(std::vector<Json> pods, const std::string& rv = "10") {
  return Json{{"kind", "PodList"}, {"items", pods}, {"metadata", {{"resourceVersion", rv}}}}.dump();
}

std::string Event(const std::string& type, const Json& object) {
  return Json{{"type", type}, {"object", object}}.dump();
}

const PodId kA{"kube-system", "a"};

TEST(ParentWatchTest, ListThenEvents) {
  ParentWatch w("kube-system");
  ASSERT_TRUE(w.Replace(List({Pod("a", true), Pod("b", false)}, "10")).ok());
  EXPECT_EQ(w.resource_version(), "10") << "the list's metadata comes after its items here";
  ASSERT_EQ(w.parents()->size(), 1u);
  EXPECT_EQ(w.parents()->count(kA), 1u);
  auto pod = kube::ParseJson(w.parents()->at(kA)->text);
  ASSERT_TRUE(pod.ok());
  EXPECT_FALSE(pod->contains("status"));
  EXPECT_EQ((*pod)["spec"]["containers"][0]["image"], "img");

  uint64_t v = w.version();
  auto before = w.parents();
  // A status update: same spec, nothing changes but the resourceVersion.
  ASSERT_TRUE(w.Apply(Event("MODIFIED", Pod("a", true, "img", "u1", "11"))).ok());
  EXPECT_EQ(w.version(), v);
  EXPECT_EQ(w.resource_version(), "11");
  // A new image: a new map; the old one is left as it was.
  ASSERT_TRUE(w.Apply(Event("MODIFIED", Pod("a", true, "img2", "u1", "12"))).ok());
  EXPECT_GT(w.version(), v);
  EXPECT_NE(before->at(kA)->spec_hash, w.parents()->at(kA)->spec_hash);
  EXPECT_NE(w.parents()->at(kA)->text.find("img2"), std::string::npos);
  // Another pod gains the annotation, then loses it.
  ASSERT_TRUE(w.Apply(Event("MODIFIED", Pod("b", true, "img", "u2", "13"))).ok());
  EXPECT_EQ(w.parents()->size(), 2u);
  ASSERT_TRUE(w.Apply(Event("MODIFIED", Pod("b", false, "img", "u2", "14"))).ok());
  EXPECT_EQ(w.parents()->size(), 1u);
  // Bookmarks move the resourceVersion only.
  v = w.version();
  ASSERT_TRUE(
      w.Apply(R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"20"}}})")
          .ok());
  EXPECT_EQ(w.resource_version(), "20");
  EXPECT_EQ(w.version(), v);
  // Other namespaces are not ours.
  Json other = Pod("c", true);
  other["metadata"]["namespace"] = "default";
  ASSERT_TRUE(w.Apply(Event("ADDED", other)).ok());
  EXPECT_EQ(w.parents()->size(), 1u);
}

TEST(ParentWatchTest, DeletedAndRecreatedWithTheSameNameIsANewParent) {
  ParentWatch w("kube-system");
  ASSERT_TRUE(w.Replace(List({Pod("a", true, "img", "u1")})).ok());
  size_t old_hash = w.parents()->at(kA)->spec_hash;
  ASSERT_TRUE(w.Apply(Event("DELETED", Pod("a", true, "img", "u1", "30"))).ok());
  EXPECT_TRUE(w.parents()->empty());
  EXPECT_EQ(w.resource_version(), "30");
  ASSERT_TRUE(w.Apply(Event("ADDED", Pod("a", true, "img", "u2", "31"))).ok());
  ASSERT_EQ(w.parents()->size(), 1u);
  EXPECT_NE(w.parents()->at(kA)->spec_hash, old_hash)
      << "a new uid is a new parent: its checkpoint is rewritten";
}

TEST(ParentWatchTest, ErrorsSayWhatToDo) {
  ParentWatch w("kube-system");
  ASSERT_TRUE(w.Replace(List({Pod("a", true)}, "10")).ok());
  absl::Status gone = w.Apply(
      R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)J"
      R"J("message":"too old resource version: 1 (20)","reason":"Expired","code":410}})J");
  EXPECT_EQ(gone.code(), absl::StatusCode::kOutOfRange) << gone;
  EXPECT_NE(gone.message().find("too old resource version"), absl::string_view::npos);
  absl::Status other =
      w.Apply(R"({"type":"ERROR","object":{"kind":"Status","message":"boom","code":500}})");
  EXPECT_EQ(other.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(w.Apply("{not json").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Apply(R"({"type":"WHAT","object":{"metadata":{}}})").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.Apply(R"({"type":"ADDED"})").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.resource_version(), "10");
  EXPECT_EQ(w.parents()->size(), 1u);
  EXPECT_FALSE(w.Replace("{\"kind\": \"PodList\"}").ok());
  EXPECT_EQ(w.parents()->size(), 1u) << "a bad list leaves the state as it was";
}

TEST(ParentWatchTest, RelistAfterGoneDropsWhatWasDeletedMeanwhile) {
  ParentWatch w("kube-system");
  ASSERT_TRUE(w.Replace(List({Pod("a", true), Pod("b", true)}, "10")).ok());
  uint64_t v = w.version();
  ASSERT_TRUE(w.Replace(List({Pod("a", true)}, "50")).ok());
  EXPECT_EQ(w.resource_version(), "50");
  EXPECT_EQ(w.parents()->size(), 1u);
  EXPECT_GT(w.version(), v);
  v = w.version();
  ASSERT_TRUE(w.Replace(List({Pod("a", true, "img", "u1", "99")}, "60")).ok());
  EXPECT_EQ(w.version(), v) << "the same parents relisted: no change";
}

}  // namespace
}  // namespace lifeboat::checkpoint
