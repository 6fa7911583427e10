#include "storage/proto_json.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/schema.h"
#include "storage/test_wire.h"

namespace lifeboat::storage {
namespace {

using ::testing::HasSubstr;
using testing::Wire;

const MessageSchema& Msg(absl::string_view name) {
  const MessageSchema* m = Schema::Embedded().FindMessage(name);
  EXPECT_NE(m, nullptr) << name;
  return *m;
}

// As the test bed's v1.20 API server renders (no Go `omitzero`), unless told otherwise.
Json Render(absl::string_view type, const Wire& w, RenderOptions options = {.omitzero = false}) {
  auto j = MessageToJson(Msg(type), w.str(), options);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *j : Json();
}

constexpr absl::string_view kPod = "k8s.io.api.core.v1.Pod";

TEST(SchemaTest, KnowsTheObjectsLifeboatNeeds) {
  const Schema& s = Schema::Embedded();
  for (auto [gv, kind] : std::vector<std::pair<std::string, std::string>>{
           {"v1", "Pod"}, {"v1", "Secret"}, {"v1", "ConfigMap"},
           {"apps/v1", "DaemonSet"}, {"apps/v1", "Deployment"},
           {"apps/v1beta2", "DaemonSet"}, {"apps/v1beta2", "Deployment"},
           {"apps/v1beta1", "Deployment"},
           {"extensions/v1beta1", "DaemonSet"}, {"extensions/v1beta1", "Deployment"}}) {
    EXPECT_NE(s.FindObject(gv, kind), nullptr) << gv << " " << kind;
  }
  EXPECT_EQ(s.FindObject("v1", "PodSpec"), nullptr);  // not a top-level kind
  EXPECT_EQ(s.FindObject("core/v1", "Pod"), nullptr);
  EXPECT_EQ(s.FindObject("v1", "Node"), nullptr);
  EXPECT_EQ(PackageForApiVersion("rbac.authorization.k8s.io/v1"), "k8s.io.api.rbac.v1");
}

TEST(ProtoJsonTest, ZeroValuesFollowGo) {
  // A Pod with only a name and one container: every non-pointer struct is rendered from its
  // zero value (creationTimestamp null, resources {}), omitempty fields are dropped.
  Wire container;
  container.Bytes(1, "c").Bytes(2, "busybox");
  Wire pod;
  pod.Message(1, Wire().Bytes(1, "p").Bytes(3, "ns").Message(8, Wire()))
      .Message(2, Wire().Message(2, container));
  EXPECT_EQ(Render(kPod, pod), Json::parse(R"({
    "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": null},
    "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {}}]},
    "status": {}
  })"));
}

TEST(ProtoJsonTest, NilSliceWithoutOmitemptyIsNull) {
  // PodSpec.containers has no omitempty: absent renders as null, as Go renders a nil slice.
  EXPECT_EQ(Render("k8s.io.api.core.v1.PodSpec", Wire()), Json::parse(R"({"containers": null})"));
  EXPECT_EQ(Render("k8s.io.api.core.v1.NodeSelector", Wire()),
            Json::parse(R"({"nodeSelectorTerms": null})"));
}

TEST(ProtoJsonTest, PointersArePresentIffSet) {
  // terminationGracePeriodSeconds (*int64) = 0 is rendered; activeDeadlineSeconds absent is not;
  // hostNetwork (bool, omitempty) = false is dropped even though it is on the wire.
  Wire spec;
  spec.Varint(4, 0).Varint(11, 0).Bytes(6, "");
  EXPECT_EQ(Render("k8s.io.api.core.v1.PodSpec", spec),
            Json::parse(R"({"containers": null, "terminationGracePeriodSeconds": 0})"));
}

TEST(ProtoJsonTest, InlineStructsAreFlattened) {
  // Volume{name, volumeSource{hostPath{path, type ""}}} → {"name", "hostPath": {...}}.
  Wire volume;
  volume.Bytes(1, "v").Message(2, Wire().Message(1, Wire().Bytes(1, "/etc").Bytes(2, "")));
  EXPECT_EQ(Render("k8s.io.api.core.v1.Volume", volume),
            Json::parse(R"({"name": "v", "hostPath": {"path": "/etc", "type": ""}})"));

  // ConfigMapVolumeSource embeds LocalObjectReference: its `name` is promoted.
  Wire cm;
  cm.Message(1, Wire().Bytes(1, "cfg")).Varint(3, 0420);
  EXPECT_EQ(Render("k8s.io.api.core.v1.ConfigMapVolumeSource", cm),
            Json::parse(R"({"name": "cfg", "defaultMode": 272})"));
}

TEST(ProtoJsonTest, EphemeralContainerCommonIsFlattened) {
  Wire ec;
  ec.Message(1, Wire().Bytes(1, "debug").Bytes(2, "busybox").Bytes(3, "sh")).Bytes(2, "main");
  EXPECT_EQ(Render("k8s.io.api.core.v1.EphemeralContainer", ec), Json::parse(R"({
    "name": "debug", "image": "busybox", "command": ["sh"], "resources": {},
    "targetContainerName": "main"})"));
}

TEST(ProtoJsonTest, ProbeHandlerAndIntOrString) {
  Wire probe;
  probe
      .Message(1, Wire().Message(2, Wire().Bytes(1, "/healthz")
                                        .Message(2, Wire().Varint(1, 1).Varint(2, 0).Bytes(3, "http"))
                                        .Bytes(4, "HTTPS")))
      .Varint(2, 5).Varint(4, 10);
  EXPECT_EQ(Render("k8s.io.api.core.v1.Probe", probe), Json::parse(R"({
    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTPS"},
    "initialDelaySeconds": 5, "periodSeconds": 10})"));

  Wire tcp;
  tcp.Message(1, Wire().Message(3, Wire().Message(1, Wire().Varint(1, 0).Varint(2, 8080).Bytes(3, ""))));
  EXPECT_EQ(Render("k8s.io.api.core.v1.Probe", tcp),
            Json::parse(R"({"tcpSocket": {"port": 8080}})"));
}

TEST(ProtoJsonTest, SecretDataIsBase64AndEmptyValuesStay) {
  Wire secret;
  secret.Message(1, Wire().Bytes(1, "s"))
      .MapEntry(2, "bin", std::string("\x00\xff", 2))
      .MapEntry(2, "empty", "")
      .Message(2, Wire().Bytes(1, "novalue"))
      .Bytes(3, "Opaque")
      .Varint(5, 1);
  EXPECT_EQ(Render("k8s.io.api.core.v1.Secret", secret), Json::parse(R"({
    "metadata": {"name": "s", "creationTimestamp": null},
    "data": {"bin": "AP8=", "empty": "", "novalue": ""},
    "type": "Opaque", "immutable": true})"));
}

TEST(ProtoJsonTest, TimesQuantitiesAndManagedFields) {
  Wire meta;
  meta.Bytes(1, "x")
      .Message(8, Wire().Varint(1, 1609556645).Varint(2, 0))
      .Varint(10, 30)
      .Message(17, Wire()
                       .Bytes(1, "kubectl")
                       .Bytes(2, "Update")
                       .Bytes(3, "v1")
                       .Message(4, Wire().Varint(1, 1609556646))
                       .Bytes(6, "FieldsV1")
                       .Message(7, Wire().Bytes(1, R"({"f:data":{".":{}}})")));
  EXPECT_EQ(Render("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", meta), Json::parse(R"({
    "name": "x", "creationTimestamp": "2021-01-02T03:04:05Z", "deletionGracePeriodSeconds": 30,
    "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                       "time": "2021-01-02T03:04:06Z", "fieldsType": "FieldsV1",
                       "fieldsV1": {"f:data": {".": {}}}}]})"));

  Wire resources;
  resources.Message(1, Wire().Bytes(1, "cpu").Message(2, Wire().Bytes(1, "250m")))
      .Message(1, Wire().Bytes(1, "memory").Message(2, Wire().Bytes(1, "1Gi")))
      .Message(2, Wire().Bytes(1, "cpu").Message(2, Wire()));
  EXPECT_EQ(Render("k8s.io.api.core.v1.ResourceRequirements", resources),
            Json::parse(R"({"limits": {"cpu": "250m", "memory": "1Gi"}, "requests": {"cpu": "0"}})"));
}

TEST(ProtoJsonTest, PackedAndUnpackedRepeatedScalars) {
  Wire unpacked;
  unpacked.Varint(4, 4000).Varint(4, 5000);
  Wire packed_body;
  packed_body.Append("\xa0\x1f\x88\x27");  // varints 4000, 5000
  Wire packed;
  packed.Bytes(4, packed_body.str());
  Json want = Json::parse(R"({"supplementalGroups": [4000, 5000]})");
  EXPECT_EQ(Render("k8s.io.api.core.v1.PodSecurityContext", unpacked), want);
  EXPECT_EQ(Render("k8s.io.api.core.v1.PodSecurityContext", packed), want);
}

TEST(ProtoJsonTest, RepeatedSingularMessageMerges) {
  // Two occurrences of a singular message merge (protobuf semantics).
  Wire pod;
  pod.Message(1, Wire().Bytes(1, "a")).Message(1, Wire().Bytes(3, "ns"));
  EXPECT_EQ(Render(kPod, pod)["metadata"],
            Json::parse(R"({"name": "a", "namespace": "ns", "creationTimestamp": null})"));
}

TEST(ProtoJsonTest, InvalidUtf8BecomesReplacementCharacter) {
  Wire cm;
  cm.MapEntry(2, "k\xff", "v\xc3");
  EXPECT_EQ(Render("k8s.io.api.core.v1.ConfigMap", cm)["data"],
            Json::parse("{\"k\xef\xbf\xbd\": \"v\xef\xbf\xbd\"}"));
}

TEST(ProtoJsonTest, UnknownFieldIsReportedWithItsPath) {
  Wire container;
  container.Bytes(1, "c").Varint(99, 1);
  Wire ds;
  ds.Message(2, Wire().Message(2, Wire().Message(2, Wire().Message(2, Wire().Bytes(1, "a")).Message(2, container))));
  auto j = MessageToJson(Msg("k8s.io.api.apps.v1.DaemonSet"), ds.str());
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(), HasSubstr("spec.template.spec.containers[1].<field 99>"));
  EXPECT_THAT(j.status().message(), HasSubstr("k8s.io.api.core.v1.Container"));
}

TEST(ProtoJsonTest, UnknownFieldInsideInlineAndMap) {
  Wire volume;
  volume.Bytes(1, "v").Message(2, Wire().Varint(77, 1));
  auto j = MessageToJson(Msg("k8s.io.api.core.v1.Volume"), volume.str());
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("<field 77>"));
  EXPECT_THAT(j.status().message(), HasSubstr("VolumeSource"));

  Wire cm;
  cm.Message(2, Wire().Bytes(1, "key").Bytes(2, "v").Varint(3, 1));
  j = MessageToJson(Msg("k8s.io.api.core.v1.ConfigMap"), cm.str());
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("data[\"key\"].<field 3>"));
}

TEST(ProtoJsonTest, MalformedInputIsAnError) {
  Wire pod;
  pod.Message(1, Wire().Bytes(1, "name"));
  std::string bytes = pod.str();
  // Every truncation of a valid message either still parses (at a field boundary) or fails
  // cleanly.
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto j = MessageToJson(Msg(kPod), bytes.substr(0, n));
    if (!j.ok()) {
      EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  auto j = MessageToJson(Msg(kPod), bytes.substr(0, bytes.size() - 1));
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("truncated"));

  // Wire type mismatch: metadata as a varint.
  j = MessageToJson(Msg(kPod), Wire().Varint(1, 5).str());
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("metadata: wire type 0"));

  // Groups, invalid wire types, field number 0, overlong varints.
  for (std::string bad : {std::string("\x0b", 1), std::string("\x0f", 1), std::string("\x00\x01", 2),
                          std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12)}) {
    EXPECT_FALSE(MessageToJson(Msg(kPod), bad).ok());
  }
}

TEST(ProtoJsonTest, SpecialTypeErrors) {
  // IntOrString with a type that does not exist.
  Wire tcp;
  tcp.Message(1, Wire().Varint(1, 7));
  EXPECT_FALSE(MessageToJson(Msg("k8s.io.api.core.v1.TCPSocketAction"), tcp.str()).ok());
  // A quantity Go's ParseQuantity would refuse.
  Wire res;
  res.Message(1, Wire().Bytes(1, "cpu").Message(2, Wire().Bytes(1, "lots")));
  auto j = MessageToJson(Msg("k8s.io.api.core.v1.ResourceRequirements"), res.str());
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), HasSubstr("limits[\"cpu\"]: invalid quantity \"lots\""));
  // FieldsV1 that is not JSON, or nests absurdly deep.
  Wire mf;
  mf.Message(7, Wire().Bytes(1, "{not json"));
  EXPECT_FALSE(MessageToJson(Msg("k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"), mf.str()).ok());
  Wire deep;
  deep.Message(7, Wire().Bytes(1, std::string(20000, '[')));
  EXPECT_FALSE(MessageToJson(Msg("k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"), deep.str()).ok());
}

TEST(ProtoJsonTest, OmitzeroLeavesOutAZeroCreationTimestamp) {
  // Kubernetes >= 1.33 (json:"creationTimestamp,omitempty,omitzero"): a zero Time is left out;
  // a set one is rendered either way.
  Wire pod;
  pod.Message(1, Wire().Bytes(1, "p").Message(8, Wire()));
  EXPECT_EQ(Render(kPod, pod, {.omitzero = true})["metadata"], Json::parse(R"({"name": "p"})"));
  EXPECT_EQ(Render(kPod, pod, {.omitzero = false})["metadata"],
            Json::parse(R"({"name": "p", "creationTimestamp": null})"));
  Wire set;
  set.Message(1, Wire().Bytes(1, "p").Message(8, Wire().Varint(1, 1700000000)));
  EXPECT_EQ(Render(kPod, set, {.omitzero = true})["metadata"]["creationTimestamp"],
            "2023-11-14T22:13:20Z");
}

TEST(ProtoJsonTest, UnknownFieldsAreDroppedAndReportedWhenAllowed) {
  Wire container;
  container.Bytes(1, "c").Varint(99, 1).Bytes(2, "busybox");
  Wire ds;
  ds.Message(2, Wire().Message(2, Wire().Message(2, Wire().Message(2, Wire().Bytes(1, "a")).Message(2, container))));
  std::vector<UnknownField> unknown;
  auto j = MessageToJson(Msg("k8s.io.api.apps.v1.DaemonSet"), ds.str(),
                         {.drop_unknown_fields = true}, &unknown);
  ASSERT_TRUE(j.ok()) << j.status();
  // Everything else is rendered as without the field.
  EXPECT_EQ((*j)["spec"]["template"]["spec"]["containers"][1],
            Json::parse(R"({"name": "c", "image": "busybox", "resources": {}})"));
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].path, "spec.template.spec.containers[1].<field 99>");
  EXPECT_EQ(unknown[0].number, 99u);
  EXPECT_EQ(unknown[0].wire_type, 0);
  EXPECT_EQ(unknown[0].message, "k8s.io.api.core.v1.Container");
  EXPECT_FALSE(unknown[0].known_number);

  // Inside an inline struct, a map entry, and a known number with a wire type it cannot hold.
  unknown.clear();
  Wire cm;
  cm.Message(1, Wire().Bytes(1, "cm").Varint(1000, 3))
      .Message(2, Wire().Bytes(1, "key").Bytes(2, "v").Varint(3, 1))
      .Bytes(4, "not a bool");
  j = MessageToJson(Msg("k8s.io.api.core.v1.ConfigMap"), cm.str(),
                    {.drop_unknown_fields = true, .omitzero = false}, &unknown);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, Json::parse(R"({"metadata": {"name": "cm", "creationTimestamp": null},
                               "data": {"key": "v"}})"));
  // A message's own fields are read before its children are rendered.
  ASSERT_EQ(unknown.size(), 3u);
  EXPECT_EQ(unknown[0].path, "immutable");
  EXPECT_EQ(unknown[0].number, 4u);
  EXPECT_EQ(unknown[0].wire_type, 2);
  EXPECT_TRUE(unknown[0].known_number);
  EXPECT_EQ(unknown[1].path, "metadata.<field 1000>");
  EXPECT_EQ(unknown[2].path, "data[\"key\"].<field 3>");

  unknown.clear();
  Wire volume;
  volume.Bytes(1, "v").Message(2, Wire().Varint(77, 1));
  j = MessageToJson(Msg("k8s.io.api.core.v1.Volume"), volume.str(), {.drop_unknown_fields = true},
                    &unknown);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, Json::parse(R"({"name": "v"})"));
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].message, "k8s.io.api.core.v1.VolumeSource");
  EXPECT_EQ(unknown[0].number, 77u);

  // Malformed bytes are still an error: only whole, well-formed fields are dropped.
  EXPECT_FALSE(MessageToJson(Msg(kPod), Wire().Bytes(1, "x").str().substr(0, 2),
                             {.drop_unknown_fields = true}, &unknown)
                   .ok());
}

TEST(ProtoJsonTest, FieldsLaterReleasesRemovedStillDecode) {
  // ObjectMeta.clusterName = 15 (to 1.24), EphemeralVolumeSource.readOnly = 2 (to 1.20),
  // PodSpec.workloadRef = 42 (1.35 only): the schema is a union, never a reuse.
  Wire pod;
  pod.Message(1, Wire().Bytes(1, "p").Bytes(15, "").Message(8, Wire().Varint(1, 1700000000)))
      .Message(2, Wire()
                      .Message(1, Wire().Bytes(1, "e").Message(2, Wire().Message(29, Wire().Varint(2, 1))))
                      .Message(2, Wire().Bytes(1, "c"))
                      .Message(42, Wire().Bytes(1, "w").Bytes(2, "g").Bytes(3, "")));
  Json j = Render(kPod, pod, {.omitzero = true});
  EXPECT_EQ(j["metadata"], Json::parse(R"({"name": "p", "creationTimestamp": "2023-11-14T22:13:20Z"})"));
  EXPECT_EQ(j["spec"]["volumes"], Json::parse(R"([{"name": "e", "ephemeral": {"readOnly": true}}])"));
  EXPECT_EQ(j["spec"]["workloadRef"], Json::parse(R"({"name": "w", "podGroup": "g"})"));
  pod = Wire();
  pod.Message(1, Wire().Bytes(15, "old"));
  EXPECT_EQ(Render(kPod, pod)["metadata"]["clusterName"], "old");
}

}  // namespace
}  // namespace lifeboat::storage
