#include "checkpoint/sanitize.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "testing/process.h"

namespace lifeboat::checkpoint {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/checkpoint/sanitize";

std::string Read(const fs::path& p) { return lifeboat::testing::ReadFile(p); }

Json ReadJson(const fs::path& p) { return Json::parse(Read(p)); }

// Secrets and ConfigMaps of kube-system, as read from the test bed's API server.
class Objects {
 public:
  Objects() {
    Json list = ReadJson(kGolden / "kube-system.objects.json");
    for (auto& o : list["items"]) {
      by_key_[o["kind"].get<std::string>() + "/" + o["metadata"]["name"].get<std::string>()] = o;
    }
  }
  kube::ObjectLookup Lookup() {
    return [this](absl::string_view kind, absl::string_view name) -> const Json* {
      auto it = by_key_.find(absl::StrCat(kind, "/", name));
      return it == by_key_.end() ? nullptr : &it->second;
    };
  }
  std::map<std::string, Json> by_key_;
};

// The files as one text: "<mode> <uid>:<gid> <path> <content as JSON string>" per line.
std::string Listing(const Checkpoint& cp) {
  std::string out;
  std::vector<kube::HostFile> files = cp.files;
  std::sort(files.begin(), files.end(), [](auto& a, auto& b) { return a.path < b.path; });
  for (const auto& f : files) {
    absl::StrAppend(&out, absl::StrFormat("%04o", f.mode), " ", cp.uid, ":", cp.gid, " ", f.path, " ",
                    Json(f.data).dump(), "\n");
  }
  std::vector<std::string> dirs = cp.dirs;
  std::sort(dirs.begin(), dirs.end());
  for (const auto& d : dirs) absl::StrAppend(&out, "dir ", d, "\n");
  for (const auto& n : cp.notes) absl::StrAppend(&out, "note ", n, "\n");
  return out;
}

void CheckGolden(const fs::path& path, const std::string& got) {
  if (std::getenv("LIFEBOAT_UPDATE_GOLDEN")) {
    std::ofstream(path) << got;
    return;
  }
  EXPECT_EQ(got, Read(path)) << "golden " << path << " differs (LIFEBOAT_UPDATE_GOLDEN=1 rewrites it)";
}

class SanitizeGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SanitizeGoldenTest, MatchesGolden) {
  Objects objects;
  Json parent = ReadJson(kGolden / (GetParam() + ".parent.json"));
  auto cp = MakeCheckpoint(parent, objects.Lookup(), Layout{});
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_TRUE(kube::ApiObjectReferences(cp->pod["spec"]).empty());
  CheckGolden(kGolden / (GetParam() + ".checkpoint.json"), cp->manifest);
  CheckGolden(kGolden / (GetParam() + ".files.txt"), Listing(*cp));
}

INSTANTIATE_TEST_SUITE_P(Pods, SanitizeGoldenTest,
                         ::testing::Values("kube-apiserver", "pod-checkpointer", "kube-api-access"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

class SanitizeTest : public ::testing::Test {
 protected:
  absl::StatusOr<Checkpoint> Make(const Json& pod) { return MakeCheckpoint(pod, objects_.Lookup(), layout_); }
  Json Parent(const Json& spec) {
    return {{"metadata",
             {{"name", "kube-apiserver-abcde"},
              {"namespace", "kube-system"},
              {"uid", "u-1"},
              {"labels", {{"k8s-app", "kube-apiserver"}}},
              {"annotations", {{"checkpointer.alpha.coreos.com/checkpoint", "true"}, {"other", "x"}}},
              {"ownerReferences", Json::array({{{"kind", "DaemonSet"}, {"name", "kube-apiserver"}}})}}},
            {"spec", spec},
            {"status", {{"phase", "Running"}}}};
  }
  Objects objects_;
  Layout layout_{"/i", "/m", "/s", "/c"};
};

TEST_F(SanitizeTest, MetadataRewritten) {
  auto cp = Make(Parent({{"containers", Json::array()}, {"nodeSelector", {{"a", "b"}}},
                         {"affinity", {{"nodeAffinity", Json::object()}}}}));
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->id, (PodId{"kube-system", "kube-apiserver-abcde"}));
  const Json& m = cp->pod["metadata"];
  EXPECT_EQ(m["annotations"], Json({{"checkpointer.alpha.coreos.com/checkpoint-of", "kube-apiserver-abcde"}}));
  EXPECT_EQ(m["labels"], Json({{"k8s-app", "kube-apiserver"}}));
  EXPECT_EQ(m["ownerReferences"], Json::parse(R"([{"apiVersion": "v1", "kind": "Pod", "name": "kube-apiserver-abcde",
                                                   "uid": "u-1", "controller": true}])"));
  EXPECT_FALSE(m.contains("uid"));
  EXPECT_FALSE(cp->pod.contains("status"));
  EXPECT_FALSE(cp->pod["spec"].contains("nodeSelector"));
  EXPECT_FALSE(cp->pod["spec"].contains("affinity"));
  EXPECT_EQ(cp->pod["spec"]["automountServiceAccountToken"], false);
  EXPECT_EQ(cp->pod["kind"], "Pod");
  EXPECT_EQ(cp->manifest, kube::ToPrettyJson(cp->pod));
  EXPECT_EQ(cp->uid, 0u);
  EXPECT_EQ(cp->gid, 0u);
  // The result of a checkpoint is not a parent: it is never checkpointed again.
  EXPECT_FALSE(IsParent(cp->pod));
  EXPECT_EQ(CheckpointOf(cp->pod), cp->id);
}

TEST_F(SanitizeTest, LayoutPerPod) {
  auto cp = Make(Parent(Json::parse(R"({"containers": [], "volumes": [
      {"name": "a", "secret": {"secretName": "env-secret"}},
      {"name": "b", "configMap": {"name": "controller-env"}},
      {"name": "c", "projected": {"sources": [{"secret": {"name": "env-secret"}}]}}]})")));
  ASSERT_TRUE(cp.ok()) << cp.status();
  const Json& v = cp->pod["spec"]["volumes"];
  EXPECT_EQ(v[0]["hostPath"]["path"], "/s/kube-system/kube-apiserver-abcde/env-secret");
  EXPECT_EQ(v[1]["hostPath"]["path"], "/c/kube-system/kube-apiserver-abcde/controller-env");
  EXPECT_EQ(v[2]["hostPath"]["path"], "/s/kube-system/kube-apiserver-abcde/_projected/c");
  EXPECT_EQ(layout_.InactiveManifest(cp->id), "/i/kube-system-kube-apiserver-abcde.json");
  EXPECT_EQ(layout_.ActiveManifest(cp->id), "/m/kube-system-kube-apiserver-abcde.json");
}

TEST_F(SanitizeTest, OwnerFromRunAsUserAndFsGroup) {
  auto cp = Make(Parent(Json::parse(R"({"securityContext": {"runAsUser": 1000, "fsGroup": 3000},
      "containers": [{"name": "a", "securityContext": {"runAsUser": 1000}}, {"name": "b"}]})")));
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->uid, 1000u);
  EXPECT_EQ(cp->gid, 3000u);
}

TEST_F(SanitizeTest, ConflictingRunAsUserIsAnError) {
  auto cp = Make(Parent(Json::parse(R"({"securityContext": {"runAsUser": 1000},
      "initContainers": [{"name": "init", "securityContext": {"runAsUser": 0}}], "containers": []})")));
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cp.status().message().find("0, 1000"), std::string::npos) << cp.status();
}

TEST_F(SanitizeTest, MissingObjectsNamedAllAtOnce) {
  auto cp = Make(Parent(Json::parse(R"({"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "gone-a"}}]}],
      "volumes": [{"name": "v", "configMap": {"name": "gone-b"}}]})")));
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(cp.status().message().find("gone-a"), std::string::npos) << cp.status();
  EXPECT_NE(cp.status().message().find("gone-b"), std::string::npos) << cp.status();
}

TEST_F(SanitizeTest, UnsafeKeysAreRefused) {
  objects_.by_key_["Secret/evil"] = Json::parse(R"({"kind": "Secret", "metadata": {"name": "evil"},
      "data": {"..": "eA=="}})");
  auto cp = Make(Parent(Json::parse(R"({"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "evil"}}]})")));
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kInvalidArgument);
  auto path = Make(Parent(Json::parse(R"({"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "env-secret",
      "items": [{"key": "token", "path": "../../../etc/shadow"}]}}]})")));
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
  Json bad = Parent(Json::parse(R"({"containers": []})"));
  bad["metadata"]["name"] = "../x";
  EXPECT_EQ(Make(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SanitizeTest, RemainingApiReferenceKeepsTheLastGoodCheckpoint) {
  auto cp = Make(Parent(Json::parse(R"({"containers": [],
      "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "etcd-data"}}]})")));
  ASSERT_FALSE(cp.ok());
  EXPECT_EQ(cp.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(cp.status().message().find("persistentVolumeClaim"), std::string::npos) << cp.status();
}

// The checkpointer follows the shared static-pod rules (kube/static_pod.h): what newer
// Kubernetes added passes through; projections only the API server fills are refused, naming
// the pod and the volume.
TEST_F(SanitizeTest, NewerFieldsPassThroughAndApiOnlyProjectionsAreRefused) {
  Json spec = Json::parse(R"({"initContainers": [{"name": "sidecar", "restartPolicy": "Always"}],
      "containers": [{"name": "c", "livenessProbe": {"grpc": {"port": 1, "service": null}}}],
      "volumes": [{"name": "img", "image": {"reference": "r/x:1"}}]})");
  auto cp = Make(Parent(spec));
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->pod["spec"]["initContainers"], spec["initContainers"]);
  EXPECT_EQ(cp->pod["spec"]["containers"], spec["containers"]);
  EXPECT_EQ(cp->pod["spec"]["volumes"], spec["volumes"]);

  auto refused = Make(Parent(Json::parse(R"({"containers": [], "volumes": [{"name": "certs",
      "projected": {"sources": [{"podCertificate": {"signerName": "s", "keyType": "ED25519"}}]}}]})")));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  std::string msg(refused.status().message());
  EXPECT_NE(msg.find("kube-system/kube-apiserver-abcde"), std::string::npos) << msg;
  EXPECT_NE(msg.find("volume \"certs\" projects a podCertificate"), std::string::npos) << msg;
}

TEST(PodTest, ParentSelection) {
  auto pod = [](Json annotations) {
    return Json{{"metadata", {{"name", "p"}, {"namespace", "kube-system"}, {"annotations", annotations}}}};
  };
  EXPECT_TRUE(IsParent(pod({{"checkpointer.alpha.coreos.com/checkpoint", "true"}})));
  EXPECT_FALSE(IsParent(pod({{"checkpointer.alpha.coreos.com/checkpoint", "false"}})));
  EXPECT_FALSE(IsParent(pod({{"checkpointer.alpha.coreos.com/checkpoint", true}})));
  EXPECT_FALSE(IsParent(pod(Json::object())));
  EXPECT_FALSE(IsParent(pod({{"checkpointer.alpha.coreos.com/checkpoint", "true"},
                             {"kubernetes.io/config.source", "file"}})));
  EXPECT_TRUE(IsParent(pod({{"checkpointer.alpha.coreos.com/checkpoint", "true"},
                            {"kubernetes.io/config.source", "api"}})));
  EXPECT_FALSE(IsParent(pod({{"checkpointer.alpha.coreos.com/checkpoint", "true"},
                             {"checkpointer.alpha.coreos.com/checkpoint-of", "p"}})));

  Json list = ReadJson(fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/checkpoint/sanitize/kube-apiserver.parent.json");
  Json pods = {{"items", Json::array({list})}};
  auto parents = SelectParents(pods, "kube-system");
  ASSERT_EQ(parents.size(), 1u);
  EXPECT_EQ(parents.begin()->first.name, list["metadata"]["name"]);
  EXPECT_TRUE(SelectParents(pods, "default").empty()) << "only the checkpointer's own namespace";
}

TEST(PodTest, SelfId) {
  EXPECT_EQ(SelfId("kube-system", "pod-checkpointer-x7k2p", "node-1"), (PodId{"kube-system", "pod-checkpointer-x7k2p"}));
  EXPECT_EQ(SelfId("kube-system", "pod-checkpointer-x7k2p-node-1", "node-1"),
            (PodId{"kube-system", "pod-checkpointer-x7k2p"}));
  EXPECT_EQ(SelfId("kube-system", "pod-checkpointer-x7k2p-node-1", "Node-1"),
            (PodId{"kube-system", "pod-checkpointer-x7k2p"}))
      << "the kubelet lower-cases the node name";
  EXPECT_EQ(SelfId("kube-system", "node-1", "node-1"), (PodId{"kube-system", "node-1"}));
  EXPECT_EQ((PodId{"kube-system", "a"}).FileName(), "kube-system-a.json");
}

}  // namespace
}  // namespace lifeboat::checkpoint
