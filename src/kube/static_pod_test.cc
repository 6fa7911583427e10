#include "kube/static_pod.h"

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace lifeboat::kube {
namespace {

Json Secret(const std::string& name, std::map<std::string, std::string> data) {
  Json d = Json::object();
  for (auto& [k, v] : data) d[k] = absl::Base64Escape(v);
  return {{"kind", "Secret"}, {"metadata", {{"name", name}, {"namespace", "kube-system"}}}, {"data", d}};
}
Json ConfigMap(const std::string& name, std::map<std::string, std::string> data) {
  return {{"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"namespace", "kube-system"}}}, {"data", data}};
}

class StaticPodTest : public ::testing::Test {
 protected:
  StaticPodTest() {
    objects_["Secret/tls"] = Secret("tls", {{"ca.crt", "CA"}, {"tls.key", "KEY"}});
    objects_["Secret/token"] = Secret("token", {{"token", "s3cret"}});
    objects_["ConfigMap/cfg"] = ConfigMap("cfg", {{"LEVEL", "2"}, {"MODE", "fast"}, {"bad key", "x"}});
  }
  absl::StatusOr<StaticPodSpec> Make(const Json& spec) {
    ObjectLookup lookup = [&](absl::string_view kind, absl::string_view name) -> const Json* {
      auto it = objects_.find(std::string(kind) + "/" + std::string(name));
      return it == objects_.end() ? nullptr : &it->second;
    };
    VolumeLayout layout = [](const VolumeSource& s) -> absl::StatusOr<VolumeDir> {
      std::string rel = s.kind == VolumeSource::Kind::kProjected ? "proj/" + s.volume : s.object;
      return VolumeDir{"/host/" + rel, "out/" + rel};
    };
    Json meta = {{"name", "p"}, {"namespace", "kube-system"}, {"labels", {{"b", "2"}, {"a", "1"}}}};
    return MakeStaticPodSpec(meta, spec, lookup, layout);
  }
  std::map<std::string, Json> objects_;
};

TEST_F(StaticPodTest, SecretVolumeBecomesHostPathWithOwnerOnlyModes) {
  auto sp = Make(Json::parse(R"({"serviceAccountName": "sa", "containers": [{"name": "c"}],
    "volumes": [{"name": "v", "secret": {"secretName": "tls", "defaultMode": 420}}]})"));
  ASSERT_TRUE(sp.ok()) << sp.status();
  EXPECT_EQ(sp->spec["volumes"][0], Json::parse(R"({"name": "v", "hostPath": {"path": "/host/tls"}})"));
  EXPECT_FALSE(sp->spec.contains("serviceAccountName"));
  EXPECT_EQ(sp->spec["automountServiceAccountToken"], false);
  ASSERT_EQ(sp->files.size(), 2u);
  EXPECT_EQ(sp->files[0].path, "out/tls/ca.crt");
  EXPECT_EQ(sp->files[0].data, "CA");
  EXPECT_EQ(sp->files[0].mode, 0600u);
  EXPECT_TRUE(ApiObjectReferences(sp->spec).empty());
}

TEST_F(StaticPodTest, ItemsMapKeysToPathsWithModes) {
  auto sp = Make(Json::parse(R"({"containers": [], "volumes": [{"name": "v", "secret": {"secretName": "tls",
    "items": [{"key": "tls.key", "path": "sub/key.pem", "mode": 256}]}}]})"));
  ASSERT_TRUE(sp.ok()) << sp.status();
  ASSERT_EQ(sp->files.size(), 1u);
  EXPECT_EQ(sp->files[0].path, "out/tls/sub/key.pem");
  EXPECT_EQ(sp->files[0].mode, 0400u);
}

TEST_F(StaticPodTest, ProjectedVolumeMaterialisedInOneDirectory) {
  auto sp = Make(Json::parse(R"({"containers": [], "volumes": [{"name": "kube-api-access", "projected": {
    "defaultMode": 420, "sources": [
      {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
      {"configMap": {"name": "cfg", "items": [{"key": "LEVEL", "path": "level"}]}},
      {"secret": {"name": "token"}},
      {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}},
                                 {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                                 {"path": "cpu", "resourceFieldRef": {"resource": "limits.cpu"}}]}}]}}]})"));
  ASSERT_TRUE(sp.ok()) << sp.status();
  EXPECT_EQ(sp->spec["volumes"][0]["hostPath"]["path"], "/host/proj/kube-api-access");
  std::map<std::string, std::string> files;
  for (auto& f : sp->files) files[f.path] = f.data;
  EXPECT_EQ(files["out/proj/kube-api-access/level"], "2");
  EXPECT_EQ(files["out/proj/kube-api-access/token"], "s3cret");
  EXPECT_EQ(files["out/proj/kube-api-access/namespace"], "kube-system");
  EXPECT_EQ(files["out/proj/kube-api-access/labels"], "a=\"1\"\nb=\"2\"");
  EXPECT_EQ(files.size(), 4u);
  EXPECT_EQ(sp->notes.size(), 2u);  // the token and the resourceFieldRef
  EXPECT_TRUE(ApiObjectReferences(sp->spec).empty());
}

TEST_F(StaticPodTest, EnvReferencesBecomeLiterals) {
  auto sp = Make(Json::parse(R"({"containers": [{"name": "c",
    "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
    "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "token", "key": "token"}}},
            {"name": "CFG_MODE", "value": "override"},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}}]}]})"));
  ASSERT_TRUE(sp.ok()) << sp.status();
  Json env = sp->spec["containers"][0]["env"];
  EXPECT_EQ(env, Json::parse(R"([
    {"name": "CFG_LEVEL", "value": "2"}, {"name": "CFG_bad key", "value": "x"},
    {"name": "TOKEN", "value": "s3cret"}, {"name": "CFG_MODE", "value": "override"},
    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}])"));
  EXPECT_FALSE(sp->spec["containers"][0].contains("envFrom"));
  EXPECT_TRUE(ApiObjectReferences(sp->spec).empty());
}

TEST_F(StaticPodTest, AllMissingObjectsNamedAtOnce) {
  auto sp = Make(Json::parse(R"({"containers": [{"name": "c",
    "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "gone1", "key": "k"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "tls", "key": "nokey"}}}]}],
    "volumes": [{"name": "v", "configMap": {"name": "gone2"}},
                {"name": "o", "configMap": {"name": "gone3", "optional": true}}]})"));
  ASSERT_EQ(sp.status().code(), absl::StatusCode::kNotFound);
  std::string msg(sp.status().message());
  EXPECT_NE(msg.find("Secret kube-system/gone1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ConfigMap kube-system/gone2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("key \"nokey\" of Secret kube-system/tls"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("gone3"), std::string::npos) << msg;
}

TEST_F(StaticPodTest, UnsafeKeysAndPathsRefused) {
  objects_["Secret/evil"] = Secret("evil", {{"../../etc/shadow", "x"}});
  EXPECT_EQ(Make(Json::parse(R"({"volumes": [{"name": "v", "secret": {"secretName": "evil"}}]})")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Make(Json::parse(R"({"volumes": [{"name": "v", "secret": {"secretName": "tls",
    "items": [{"key": "ca.crt", "path": "../../x"}]}}]})")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Make(Json::parse(R"({"volumes": [{"name": "v", "secret": {"secretName": "../tls"}}]})")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StaticPodTest, WhatNewerKubernetesAddedPassesThrough) {
  // A 1.36 pod spec: sidecar init container, resize policy, gRPC probe, preStop sleep, AppArmor,
  // recursiveReadOnly, an image volume, env from a file, topology spread: nothing to rewrite.
  Json spec = Json::parse(R"({
    "initContainers": [{"name": "sidecar", "image": "s", "restartPolicy": "Always",
                        "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}],
    "containers": [{"name": "c", "image": "i",
      "env": [{"name": "T", "valueFrom": {"fileKeyRef": {"volumeName": "scratch", "path": "e.env",
                                                         "key": "T", "optional": false}}}],
      "livenessProbe": {"grpc": {"port": 6443, "service": null}, "terminationGracePeriodSeconds": 30},
      "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
      "securityContext": {"appArmorProfile": {"type": "RuntimeDefault"}},
      "volumeMounts": [{"name": "img", "mountPath": "/img", "readOnly": true,
                        "recursiveReadOnly": "IfPossible"}]}],
    "volumes": [{"name": "img", "image": {"reference": "r/x:1", "pullPolicy": "IfNotPresent"}},
                {"name": "scratch", "emptyDir": {}}],
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule",
                                   "minDomains": 1, "nodeTaintsPolicy": "Ignore", "matchLabelKeys": ["h"]}]})");
  auto sp = Make(spec);
  ASSERT_TRUE(sp.ok()) << sp.status();
  spec["automountServiceAccountToken"] = false;
  EXPECT_EQ(sp->spec, spec);
  EXPECT_TRUE(sp->notes.empty());
  EXPECT_TRUE(ApiObjectReferences(sp->spec).empty());
}

TEST_F(StaticPodTest, ProjectionsOnlyTheApiServerCanFillAreRefusedNamingTheVolume) {
  for (const char* source : {R"({"clusterTrustBundle": {"signerName": "example.com/s", "path": "ca.pem"}})",
                             R"({"podCertificate": {"signerName": "example.com/c", "keyType": "ED25519",
                                                    "credentialBundlePath": "c.pem"}})"}) {
    Json spec = {{"containers", Json::array()},
                 {"volumes", {{{"name", "certs"},
                               {"projected", {{"sources", {Json::parse(R"({"secret": {"name": "token"}})"),
                                                           Json::parse(source)}}}}}}}};
    auto sp = Make(spec);
    ASSERT_FALSE(sp.ok()) << source;
    EXPECT_EQ(sp.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(sp.status().message().find("volume \"certs\""), std::string::npos) << sp.status();
    EXPECT_NE(sp.status().message().find("API server"), std::string::npos) << sp.status();
  }
}

TEST(ApiObjectReferencesTest, FindsEveryKind) {
  Json spec = Json::parse(R"({"serviceAccountName": "x", "imagePullSecrets": [{"name": "p"}],
    "volumes": [{"name": "a", "secret": {}}, {"name": "b", "persistentVolumeClaim": {}},
                {"name": "c", "projected": {"sources": [{"downwardAPI": {}}, {"serviceAccountToken": {}}]}},
                {"name": "d", "hostPath": {"path": "/x"}}, {"name": "e", "emptyDir": {}},
                {"name": "f", "someFutureType": {}}],
    "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}],
                    "env": [{"name": "E", "valueFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}}]}]})");
  auto refs = ApiObjectReferences(spec);
  EXPECT_EQ(refs.size(), 8u);
  for (auto& r : refs) EXPECT_EQ(r.find("volume \"d\""), std::string::npos) << r;
}

}  // namespace
}  // namespace lifeboat::kube
