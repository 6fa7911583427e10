#include "storage/decode.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/test_crypto.h"
#include "storage/test_wire.h"

namespace lifeboat::storage {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::Wire;

constexpr absl::string_view kKey = "/registry/configmaps/kube-system/cfg";

std::string ConfigMapBytes() {
  Wire cm;
  cm.Message(1, Wire().Bytes(1, "cfg").Bytes(3, "kube-system").Bytes(5, "uid-1"))
      .MapEntry(2, "a", "1");
  return cm.str();
}

const Json kConfigMapJson = Json::parse(R"({
  "apiVersion": "v1", "kind": "ConfigMap",
  "metadata": {"name": "cfg", "namespace": "kube-system", "uid": "uid-1", "creationTimestamp": null},
  "data": {"a": "1"}})");

TEST(DecodeTest, ProtobufEnvelope) {
  std::string value = Wire::Envelope("v1", "ConfigMap", ConfigMapBytes());
  // Layout as documented: magic, typeMeta, raw, and the two empty trailing fields.
  EXPECT_EQ(value.substr(0, 15), std::string("k8s\0\x0a\x0f\x0a\x02v1\x12\x09" "Con", 15));
  EXPECT_EQ(value.substr(value.size() - 4), std::string("\x1a\x00\x22\x00", 4));
  auto j = DecodeValue(kKey, value, nullptr);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, kConfigMapJson);
}

TEST(DecodeTest, ModRevisionBecomesResourceVersion) {
  auto j = DecodeValue(kKey, Wire::Envelope("v1", "ConfigMap", ConfigMapBytes()), nullptr, 4242);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["metadata"]["resourceVersion"], "4242");
}

TEST(DecodeTest, EnvelopeNamesTheVersion) {
  // The same DaemonSet bytes under an old group/version decode with that version's schema.
  Wire ds;
  ds.Message(1, Wire().Bytes(1, "d")).Message(2, Wire().Message(1, Wire().MapEntry(1, "k", "v")));
  for (const char* gv : {"apps/v1", "apps/v1beta2", "extensions/v1beta1"}) {
    auto j = DecodeValue("/registry/daemonsets/ns/d", Wire::Envelope(gv, "DaemonSet", ds.str()), nullptr);
    ASSERT_TRUE(j.ok()) << gv << ": " << j.status();
    EXPECT_EQ((*j)["apiVersion"], gv);
    EXPECT_EQ((*j)["spec"]["selector"]["matchLabels"]["k"], "v");
  }
}

TEST(DecodeTest, ExtensionsOnlyFields) {
  // extensions/v1beta1 has fields apps/v1 dropped: DaemonSetSpec.templateGeneration (5) and
  // DeploymentSpec.rollbackTo (8, a pointer to a struct whose only field is omitempty).
  Wire ds;
  ds.Message(2, Wire().Varint(5, 3));
  auto j = DecodeValue("/registry/daemonsets/ns/d", Wire::Envelope("extensions/v1beta1", "DaemonSet", ds.str()), nullptr);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["spec"], Json::parse(R"({"template": {"metadata": {"creationTimestamp": null},
                                           "spec": {"containers": null}}, "templateGeneration": 3,
                                           "updateStrategy": {}})"));
  auto apps = DecodeValue("/registry/daemonsets/ns/d", Wire::Envelope("apps/v1", "DaemonSet", ds.str()), nullptr);
  ASSERT_FALSE(apps.ok());
  EXPECT_THAT(apps.status().message(), HasSubstr("spec.<field 5>"));

  Wire deploy;
  deploy.Message(2, Wire().Message(8, Wire()));
  j = DecodeValue("/registry/deployments/ns/d", Wire::Envelope("extensions/v1beta1", "Deployment", deploy.str()), nullptr);
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["spec"]["rollbackTo"], Json::object());
}

TEST(DecodeTest, UnknownKindIsUnimplemented) {
  auto j = DecodeValue("/registry/minions/n", Wire::Envelope("v1", "Node", ""), nullptr);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(j.status().message(),
              AllOf(HasSubstr("/registry/minions/n"), HasSubstr("\"Node\""), HasSubstr("v1 Pod")));
}

TEST(DecodeTest, BadEnvelopes) {
  std::string magic("k8s\0", 4);
  struct Case {
    std::string value;
    absl::StatusCode code;
    const char* want;
  } cases[] = {
      {magic, absl::StatusCode::kInvalidArgument, "no apiVersion/kind"},
      {magic + Wire().Message(1, Wire().Bytes(1, "v1").Bytes(2, "ConfigMap")).str(),
       absl::StatusCode::kInvalidArgument, "holds no object"},
      {magic + Wire().Bytes(2, "x").str(), absl::StatusCode::kInvalidArgument, "no apiVersion/kind"},
      {magic + Wire().Varint(9, 1).str(), absl::StatusCode::kInvalidArgument, "<field 9>"},
      {magic + "\x0a\x20\x0a", absl::StatusCode::kInvalidArgument, "truncated"},
      {magic + Wire().Message(1, Wire().Bytes(1, "v1").Bytes(2, "ConfigMap").Varint(3, 1)).Bytes(2, "").str(),
       absl::StatusCode::kInvalidArgument, "typeMeta"},
      {magic + Wire().Message(1, Wire().Bytes(1, "v1").Bytes(2, "ConfigMap")).Bytes(2, "").Bytes(3, "gzip").str(),
       absl::StatusCode::kUnimplemented, "content encoding \"gzip\""},
      {magic + Wire().Message(1, Wire().Bytes(1, "v1").Bytes(2, "ConfigMap")).Bytes(2, "").Bytes(4, "text/yaml").str(),
       absl::StatusCode::kUnimplemented, "content type"},
  };
  for (const auto& c : cases) {
    auto j = DecodeValue(kKey, c.value, nullptr);
    ASSERT_FALSE(j.ok()) << absl::CHexEscape(c.value);
    EXPECT_EQ(j.status().code(), c.code) << j.status();
    EXPECT_THAT(j.status().message(), AllOf(HasSubstr(kKey), HasSubstr(c.want)));
  }
}

TEST(DecodeTest, CorruptedObjectNamesKeyKindAndPath) {
  Wire cm;
  cm.Message(1, Wire().Bytes(1, "cfg").Varint(42, 7));
  auto j = DecodeValue(kKey, Wire::Envelope("v1", "ConfigMap", cm.str()), nullptr);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(j.status().message(),
              AllOf(HasSubstr(kKey), HasSubstr("v1 ConfigMap"), HasSubstr("metadata.<field 42>")));
}

TEST(DecodeTest, JsonValuesAreReturnedAsStored) {
  std::string stored = kConfigMapJson.dump() + "\n";
  auto j = DecodeValue(kKey, stored, nullptr, 7);
  ASSERT_TRUE(j.ok()) << j.status();
  Json want = kConfigMapJson;
  want["metadata"]["resourceVersion"] = "7";
  EXPECT_EQ(*j, want);

  for (std::string bad : {std::string("{\"kind\": \"ConfigMap\"}"), std::string("{nope"),
                          std::string("{\"apiVersion\": 1, \"kind\": \"X\"}")}) {
    auto r = DecodeValue(kKey, bad, nullptr);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(DecodeTest, NeitherProtobufNorJson) {
  for (std::string bad : {std::string(""), std::string("apiVersion: v1\nkind: Pod\n"),
                          std::string("k8s\x01garbage"), std::string("\xff\xfe")}) {
    auto r = DecodeValue(kKey, bad, nullptr);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("neither protobuf"));
  }
}

TEST(DecodeTest, EncryptedValues) {
  std::string key(32, 'k');
  std::string plain = Wire::Envelope("v1", "ConfigMap", ConfigMapBytes());
  std::string value = testing::AesGcmEncrypt("cm-key", key, plain, kKey);

  // Without the config: a clear request for it, naming the provider and key.
  auto r = DecodeValue(kKey, value, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr(kKey), HasSubstr("k8s:enc:aesgcm:v1:cm-key:"),
                    HasSubstr("--encryption-provider-config")));

  auto t = Transformer::FromConfig(absl::StrCat(R"(apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [configmaps]
    providers:
      - aesgcm: {keys: [{name: cm-key, secret: )", absl::Base64Escape(key), "}]}\n"),
                                   "enc.yaml");
  ASSERT_TRUE(t.ok()) << t.status();
  auto j = DecodeValue(kKey, value, t->get());
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, kConfigMapJson);

  // Encrypted JSON works too.
  auto json_value = testing::AesGcmEncrypt("cm-key", key, kConfigMapJson.dump(), kKey);
  j = DecodeValue(kKey, json_value, t->get());
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, kConfigMapJson);
}

}  // namespace
}  // namespace lifeboat::storage
