#include "storage/transformer.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/test_crypto.h"

namespace lifeboat::storage {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::AesCbcEncrypt;
using testing::AesGcmEncrypt;
using testing::SecretboxEncrypt;

const std::string kCbcKey(32, 'c');
const std::string kGcmKey(16, 'g');
const std::string kBoxKey(32, 'b');
const std::string kPlain = std::string("k8s\0", 4) + "pretend this is a protobuf Secret";
constexpr absl::string_view kKey = "/registry/secrets/kube-system/etcd-client";

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

std::string Config(const std::string& secret_providers, const std::string& extra = "") {
  return absl::StrCat(R"(apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
)", secret_providers, extra);
}

std::string AllProviders() {
  return absl::StrCat("      - aescbc: {keys: [{name: old, secret: ", B64(std::string(32, 'o')),
                      "}, {name: k1, secret: ", B64(kCbcKey), "}]}\n",
                      "      - aesgcm: {keys: [{name: g1, secret: ", B64(kGcmKey), "}]}\n",
                      "      - secretbox: {keys: [{name: s1, secret: ", B64(kBoxKey), "}]}\n",
                      "      - identity: {}\n");
}

std::unique_ptr<Transformer> Make(const std::string& config, absl::string_view prefix = "/registry") {
  auto t = Transformer::FromConfig(config, "enc.yaml", prefix);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(ResourceForKeyTest, KnowsTheApiServersLayout) {
  struct Case {
    const char* key;
    const char* want;
  } cases[] = {
      {"/registry/secrets/ns/a", "secrets"},
      {"/registry/configmaps/ns/a", "configmaps"},
      {"/registry/pods/ns/a", "pods"},
      {"/registry/deployments/ns/a", "deployments.apps"},
      {"/registry/daemonsets/ns/a", "daemonsets.apps"},
      {"/registry/minions/node-1", "nodes"},
      {"/registry/services/specs/ns/a", "services"},
      {"/registry/services/endpoints/ns/a", "endpoints"},
      {"/registry/controllers/ns/a", "replicationcontrollers"},
      {"/registry/ingress/ns/a", "ingresses.networking.k8s.io"},
      {"/registry/clusterroles/admin", "clusterroles.rbac.authorization.k8s.io"},
      {"/registry/cr.bar.com/foos/ns/a", "foos.cr.bar.com"},
      {"/registry/apiextensions.k8s.io/customresourcedefinitions/x",
       "customresourcedefinitions.apiextensions.k8s.io"},
  };
  for (const auto& c : cases) {
    auto gr = ResourceForKey(c.key);
    ASSERT_TRUE(gr.ok()) << c.key << ": " << gr.status();
    EXPECT_EQ(gr->ToString(), c.want) << c.key;
  }
  EXPECT_EQ(ResourceForKey("/custom/prefix/secrets/ns/a", "/custom/prefix/")->ToString(), "secrets");
  EXPECT_EQ(ResourceForKey("secrets/ns/a", "")->ToString(), "secrets");
  EXPECT_FALSE(ResourceForKey("/registryx/secrets/ns/a").ok());
  EXPECT_FALSE(ResourceForKey("/other/secrets/ns/a").ok());
  EXPECT_FALSE(ResourceForKey("/registry/").ok());
}

TEST(TransformerTest, DecryptsEveryProviderByKeyName) {
  auto t = Make(Config(AllProviders()));
  ASSERT_NE(t, nullptr);
  for (const std::string& value :
       {AesCbcEncrypt("k1", kCbcKey, kPlain), AesCbcEncrypt("old", std::string(32, 'o'), kPlain),
        AesGcmEncrypt("g1", kGcmKey, kPlain, kKey), SecretboxEncrypt("s1", kBoxKey, kPlain), kPlain}) {
    auto plain = t->Decrypt(kKey, value);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(*plain, kPlain);
  }
  // AES-CBC with 16/24-byte keys, and a plaintext that is a multiple of the block size.
  for (size_t size : {16, 24}) {
    std::string key(size, 'k');
    auto t2 = Make(Config(absl::StrCat("      - aescbc: {keys: [{name: k, secret: ", B64(key), "}]}\n")));
    std::string plain(32, 'x');
    EXPECT_EQ(*t2->Decrypt(kKey, AesCbcEncrypt("k", key, plain)), plain);
    EXPECT_EQ(*t2->Decrypt(kKey, AesCbcEncrypt("k", key, "")), "");
  }
}

TEST(TransformerTest, LegacyKindAndJsonConfig) {
  auto t = Make(absl::StrCat(R"({"apiVersion": "v1", "kind": "EncryptionConfig", "resources": [
      {"resources": ["secrets"], "providers": [{"secretbox": {"keys": [{"name": "s1", "secret": ")",
                             B64(kBoxKey), R"("}]}}]}]})"));
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(*t->Decrypt(kKey, SecretboxEncrypt("s1", kBoxKey, kPlain)), kPlain);
}

TEST(TransformerTest, GcmBindsTheEtcdKey) {
  auto t = Make(Config(AllProviders()));
  std::string value = AesGcmEncrypt("g1", kGcmKey, kPlain, kKey);
  auto moved = t->Decrypt("/registry/secrets/kube-system/other", value);
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(moved.status().message(),
              AllOf(HasSubstr("/registry/secrets/kube-system/other"), HasSubstr("aesgcm"),
                    HasSubstr("\"g1\""), HasSubstr("authentication failed")));
}

TEST(TransformerTest, WrongKeyMaterialFailsClearlyWithoutLeaking) {
  std::string wrong(32, 'w');
  std::string config = Config(absl::StrCat("      - aescbc: {keys: [{name: k1, secret: ", B64(wrong),
                                           "}]}\n      - secretbox: {keys: [{name: s1, secret: ",
                                           B64(wrong), "}]}\n"));
  auto t = Make(config);
  // AES-CBC is not authenticated: about one random IV in 200 decrypts to noise with valid padding
  // under the wrong key (the API server takes that noise too). Test with a value it fails on.
  std::string cbc = AesCbcEncrypt("k1", kCbcKey, kPlain);
  for (int i = 0; i < 100 && t->Decrypt(kKey, cbc).ok(); ++i) cbc = AesCbcEncrypt("k1", kCbcKey, kPlain);
  for (const std::string& value : {cbc, SecretboxEncrypt("s1", kBoxKey, kPlain)}) {
    auto r = t->Decrypt(kKey, value);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), AllOf(HasSubstr(kKey), HasSubstr("enc.yaml"),
                                            Not(HasSubstr(B64(wrong))), Not(HasSubstr("pretend"))));
  }
}

TEST(TransformerTest, CorruptedValues) {
  auto t = Make(Config(AllProviders()));
  std::string cbc = AesCbcEncrypt("k1", kCbcKey, kPlain);
  std::string prefix = "k8s:enc:aescbc:v1:k1:";
  // Bad padding: flip a bit in the second-to-last block, which garbles the last byte.
  std::string bad_pad = cbc;
  bad_pad[bad_pad.size() - 17] ^= 0x5a;
  std::vector<std::string> bad = {
      prefix,                                           // nothing at all
      prefix + std::string(15, 'x'),                    // shorter than the IV
      prefix + std::string(16, 'x'),                    // IV only
      cbc.substr(0, cbc.size() - 1),                    // not a multiple of the block size
      bad_pad,
      AesGcmEncrypt("g1", kGcmKey, kPlain, kKey).substr(0, 30),
      SecretboxEncrypt("s1", kBoxKey, kPlain).substr(0, 40),
  };
  for (const auto& value : bad) {
    auto r = t->Decrypt(kKey, value);
    EXPECT_FALSE(r.ok()) << absl::CHexEscape(value);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    }
  }
  auto r = t->Decrypt(kKey, bad_pad);
  EXPECT_THAT(r.status().message(), HasSubstr("padding"));
}

TEST(TransformerTest, UnknownKeyOrProvider) {
  auto t = Make(Config(AllProviders()));
  auto r = t->Decrypt(kKey, AesCbcEncrypt("rotated-away", kCbcKey, kPlain));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), AllOf(HasSubstr("\"rotated-away\""), HasSubstr("no key")));

  r = t->Decrypt(kKey, "k8s:enc:rot13:v1:k:abc");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("\"rot13:v1\""));
}

TEST(TransformerTest, KmsIsUnimplemented) {
  auto t = Make(Config("      - kms: {name: my-kms, endpoint: unix:///kms.sock}\n"));
  auto r = t->Decrypt(kKey, "k8s:enc:kms:v1:my-kms:\x00\x02xx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(r.status().message(), HasSubstr("\"my-kms\""));
  r = t->Decrypt(kKey, "k8s:enc:kms:v2:my-kms:\x0a\x01x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
}

TEST(TransformerTest, ProviderOrderAndIdentity) {
  // identity first (moving away from encryption): plain values pass, encrypted ones still
  // decrypt with the later provider.
  auto t = Make(Config(absl::StrCat("      - identity: {}\n      - aesgcm: {keys: [{name: g1, secret: ",
                                    B64(kGcmKey), "}]}\n")));
  EXPECT_EQ(*t->Decrypt(kKey, kPlain), kPlain);
  EXPECT_EQ(*t->Decrypt(kKey, AesGcmEncrypt("g1", kGcmKey, kPlain, kKey)), kPlain);

  // No identity: a plain value is refused, as the API server refuses it.
  auto strict = Make(Config(absl::StrCat("      - aesgcm: {keys: [{name: g1, secret: ", B64(kGcmKey), "}]}\n")));
  auto r = strict->Decrypt(kKey, kPlain);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("no identity provider"));

  // Two providers of the same type: a failing first match does not stop the second.
  const std::string wrong_key(32, 'z');
  auto two = Make(Config(absl::StrCat("      - aescbc: {keys: [{name: k1, secret: ", B64(wrong_key), "}]}\n",
                                      "      - aescbc: {keys: [{name: k1, secret: ", B64(kCbcKey), "}]}\n")));
  // AES-CBC is not authenticated: under the wrong key a value decrypts to noise, which ends in
  // valid padding about once in 200 random IVs -- and then the API server, like us, takes the
  // noise. Use a value the wrong key fails on, as it does on all the others.
  auto wrong_only = Make(Config(absl::StrCat("      - aescbc: {keys: [{name: k1, secret: ", B64(wrong_key), "}]}\n")));
  std::string value = AesCbcEncrypt("k1", kCbcKey, kPlain);
  for (int i = 0; i < 100 && wrong_only->Decrypt(kKey, value).ok(); ++i) value = AesCbcEncrypt("k1", kCbcKey, kPlain);
  ASSERT_FALSE(wrong_only->Decrypt(kKey, value).ok());
  EXPECT_EQ(*two->Decrypt(kKey, value), kPlain);
}

TEST(TransformerTest, ResourcesWithoutProvidersAreStoredPlain) {
  auto t = Make(Config(AllProviders()));
  std::string pod_key = "/registry/pods/kube-system/p";
  EXPECT_EQ(*t->Decrypt(pod_key, kPlain), kPlain);
  auto r = t->Decrypt(pod_key, SecretboxEncrypt("s1", kBoxKey, kPlain));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("configures no providers for pods"));

  // Group-qualified names and wildcards.
  auto apps = Make(Config(AllProviders(), absl::StrCat(
      "  - resources: [deployments.apps, '*.batch']\n    providers:\n",
      "      - secretbox: {keys: [{name: s1, secret: ", B64(kBoxKey), "}]}\n")));
  EXPECT_EQ(*apps->Decrypt("/registry/deployments/ns/d", SecretboxEncrypt("s1", kBoxKey, kPlain)), kPlain);
  EXPECT_EQ(*apps->Decrypt("/registry/jobs/ns/j", SecretboxEncrypt("s1", kBoxKey, kPlain)), kPlain);
}

TEST(TransformerTest, BadConfigs) {
  struct Case {
    std::string config;
    const char* want;
  } cases[] = {
      {"kind: Pod\napiVersion: v1\n", "EncryptionConfiguration"},
      {"apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n", "resources"},
      {Config("      - aescbc: {keys: [{name: k, secret: 'not base64!'}]}\n"), "not valid base64"},
      {Config("      - aescbc: {keys: [{name: k, secret: " + B64("short") + "}]}\n"),
       "decodes to 5 bytes, expected one of 16, 24, 32"},
      {Config("      - secretbox: {keys: [{name: k, secret: " + B64(std::string(16, 'x')) + "}]}\n"),
       "expected one of 32"},
      {Config("      - aesgcm: {keys: []}\n"), "non-empty `keys`"},
      {Config("      - aesgcm: {keys: [{secret: " + B64(kGcmKey) + "}]}\n"), "needs a `name`"},
      {Config("      - rot13: {}\n"), "unknown provider `rot13`"},
      {Config("      - identity: {}\n        aescbc: {}\n"), "exactly one"},
      {"a: [", ""},
  };
  for (const auto& c : cases) {
    auto t = Transformer::FromConfig(c.config, "enc.yaml");
    ASSERT_FALSE(t.ok()) << c.config;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
    EXPECT_THAT(t.status().message(), AllOf(HasSubstr("enc.yaml"), HasSubstr(c.want)));
    EXPECT_THAT(t.status().message(), Not(HasSubstr(B64(kGcmKey))));
  }
}

TEST(TransformerTest, FromFile) {
  auto dir = std::filesystem::temp_directory_path() / "lifeboat_transformer_test";
  std::filesystem::create_directories(dir);
  auto path = dir / "enc.yaml";
  std::ofstream(path) << Config(AllProviders());
  auto t = Transformer::FromFile(path.string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->source(), path.string());
  EXPECT_EQ(*(*t)->Decrypt(kKey, AesCbcEncrypt("k1", kCbcKey, kPlain)), kPlain);
  EXPECT_EQ(Transformer::FromFile((dir / "missing.yaml").string()).status().code(),
            absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lifeboat::storage
