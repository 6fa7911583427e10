#include "checkpoint/pod_list.h"

#include "gtest/gtest.h"

namespace lifeboat::checkpoint {
namespace {

Json Pod(const std::string& name, bool parent, const std::string& image = "img", const std::string& phase = "Running") {
  Json annotations = Json::object();
  if (parent) annotations["checkpointer.alpha.coreos.com/checkpoint"] = "true";
  return {{"metadata", {{"name", name}, {"namespace", "kube-system"}, {"annotations", annotations}}},
          {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", image}}})}}},
          {"status", {{"phase", phase}, {"message", "has ] and } and \" in it"}}}};
}

std::string List(std::vector<Json> pods) {
  return Json{{"kind", "PodList"}, {"metadata", {{"resourceVersion", "1"}}}, {"items", pods}}.dump(2);
}

TEST(SplitListItemsTest, ItemsAsText) {
  auto items = SplitListItems(R"({"kind": "PodList", "metadata": {"x": [1, {"]": "}"}]}, "items": [ {"a": "b\"]"} ,
                                 {"c": [1, 2]}, {} ], "after": 1})");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 3u);
  EXPECT_EQ((*items)[0], R"({"a": "b\"]"})");
  EXPECT_EQ((*items)[1], R"({"c": [1, 2]})");
  EXPECT_EQ((*items)[2], "{}");
  EXPECT_TRUE(SplitListItems(R"({"items": []})")->empty());
  EXPECT_FALSE(SplitListItems("").ok());
  EXPECT_FALSE(SplitListItems("[]").ok());
  EXPECT_FALSE(SplitListItems(R"({"items": [{"a": 1})").ok());
  EXPECT_FALSE(SplitListItems(R"({"kind": "PodList"})").ok());
  EXPECT_FALSE(SplitListItems(R"({"items": [{"a": "unterminated}]})").ok());
}

TEST(ParentCacheTest, ParsesOnlyWhatChanged) {
  ParentCache cache("kube-system", /*keep_text=*/true);
  ASSERT_TRUE(cache.Update(List({Pod("a", true), Pod("b", false), Pod("c", true)})).ok());
  EXPECT_EQ(cache.parsed_last(), 3);
  ASSERT_EQ(cache.parents().size(), 2u);
  auto text = cache.parents().at({"kube-system", "a"})->text;
  EXPECT_EQ(text.find("status"), std::string::npos) << "status is dropped";
  EXPECT_EQ(kube::ParseJson(text)->at("metadata").at("name"), "a");
  size_t hash_a = cache.parents().at({"kube-system", "a"})->spec_hash;

  // Another order: nothing parsed.
  ASSERT_TRUE(cache.Update(List({Pod("c", true), Pod("a", true), Pod("b", false)})).ok());
  EXPECT_EQ(cache.parsed_last(), 0);
  EXPECT_EQ(cache.parents().size(), 2u);

  // A status change: that pod is parsed again, but its checkpoint-relevant hash is unchanged.
  ASSERT_TRUE(cache.Update(List({Pod("c", true), Pod("a", true, "img", "Pending"), Pod("b", false)})).ok());
  EXPECT_EQ(cache.parsed_last(), 1);
  EXPECT_EQ(cache.parents().at({"kube-system", "a"})->spec_hash, hash_a);
  // A spec change changes it.
  ASSERT_TRUE(cache.Update(List({Pod("c", true), Pod("a", true, "img2"), Pod("b", false)})).ok());
  EXPECT_NE(cache.parents().at({"kube-system", "a"})->spec_hash, hash_a);
  // Gone.
  ASSERT_TRUE(cache.Update(List({Pod("a", true, "img2")})).ok());
  EXPECT_EQ(cache.parents().size(), 1u);
  // A broken answer leaves the cache alone.
  EXPECT_FALSE(cache.Update("{\"items\": [").ok());
  EXPECT_EQ(cache.parents().size(), 1u);
}

TEST(ParentCacheTest, SaysWhetherTheAnswerChanged) {
  ParentCache cache("kube-system", /*keep_text=*/false);
  std::string text = List({Pod("a", true), Pod("b", false)});
  ASSERT_TRUE(cache.Update(text).ok());
  EXPECT_TRUE(cache.changed_last());
  // The same answer again: nothing parsed, nothing changed.
  ASSERT_TRUE(cache.Update(text).ok());
  EXPECT_FALSE(cache.changed_last());
  EXPECT_EQ(cache.parsed_last(), 0);
  EXPECT_EQ(cache.parents().size(), 1u);
  // Reordered (the kubelet's way): not a change either.
  ASSERT_TRUE(cache.Update(List({Pod("b", false), Pod("a", true)})).ok());
  EXPECT_FALSE(cache.changed_last());
  // An item updated, added or removed is.
  ASSERT_TRUE(cache.Update(List({Pod("b", false), Pod("a", true, "img2")})).ok());
  EXPECT_TRUE(cache.changed_last());
  ASSERT_TRUE(cache.Update(List({Pod("b", false), Pod("a", true, "img2"), Pod("c", true)})).ok());
  EXPECT_TRUE(cache.changed_last());
  EXPECT_EQ(cache.parents().size(), 2u);
  ASSERT_TRUE(cache.Update(List({Pod("c", true)})).ok());
  EXPECT_TRUE(cache.changed_last());
  EXPECT_EQ(cache.parents().size(), 1u);
  // A bad answer changes nothing; the one before it still counts as the last.
  EXPECT_FALSE(cache.Update("{\"items\": [").ok());
  ASSERT_TRUE(cache.Update(List({Pod("c", true)})).ok());
  EXPECT_FALSE(cache.changed_last());
}

TEST(ParentCacheTest, OtherNamespacesAndTextOnlyWhenAsked) {
  ParentCache cache("kube-system", /*keep_text=*/false);
  Json other = Pod("x", true);
  other["metadata"]["namespace"] = "default";
  ASSERT_TRUE(cache.Update(List({Pod("a", true), other})).ok());
  ASSERT_EQ(cache.parents().size(), 1u);
  EXPECT_TRUE(cache.parents().begin()->second->text.empty());
}

}  // namespace
}  // namespace lifeboat::checkpoint
