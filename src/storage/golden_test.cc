// Golden test against the real API server: testdata/storage/golden/ holds, for every Pod,
// Secret, ConfigMap, DaemonSet and Deployment of a v1.20.2 test bed (fixture plus
// testdata/storage/capture/kitchen-sink.yaml), the value kube-apiserver stored in etcd and the
// JSON it served for the same resourceVersion (captured by testdata/storage/capture/capture.sh).
// Nothing is ignored in the comparison.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/decode.h"
#include "storage/test_crypto.h"

namespace lifeboat::storage {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/golden";

struct Golden {
  std::string file;
  std::string resource;  // directory: pods, secrets, ...
  std::string key;
  int64_t mod_revision = 0;
  std::string value;
  Json api;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::vector<Golden>& Goldens() {
  static const std::vector<Golden>* goldens = [] {
    auto* out = new std::vector<Golden>();
    if (!fs::exists(kGoldenDir)) return out;
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(kGoldenDir)) {
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      Json j = Json::parse(Slurp(f));
      Golden g;
      g.file = fs::relative(f, kGoldenDir).string();
      g.resource = f.parent_path().filename().string();
      g.key = j["etcdKey"];
      g.mod_revision = j["modRevision"];
      absl::Base64Unescape(j["etcdValue"].get<std::string>(), &g.value);
      g.api = j["api"];
      out->push_back(std::move(g));
    }
    return out;
  }();
  return *goldens;
}

std::unique_ptr<Transformer> GoldenTransformer() {
  auto t = Transformer::FromFile((kGoldenDir / "encryption-config.yaml").string());
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? std::move(*t) : nullptr;
}

// A readable account of how two JSON values differ (RFC 6902 patch from want to got).
std::string Diff(const Json& want, const Json& got) {
  std::string patch = Json::diff(want, got).dump(1);
  return patch.size() > 4000 ? patch.substr(0, 4000) + "\n..." : patch;
}

TEST(GoldenTest, EveryCapturedValueDecodesToTheServedJson) {
  auto t = GoldenTransformer();
  ASSERT_NE(t, nullptr);
  ASSERT_GE(Goldens().size(), 30u) << "golden values missing in " << kGoldenDir;
  for (const auto& g : Goldens()) {
    auto got = DecodeValue(g.key, g.value, t.get(), g.mod_revision);
    ASSERT_TRUE(got.ok()) << g.file << ": " << got.status();
    EXPECT_EQ(*got, g.api) << g.file << " differs from the API server:\n" << Diff(g.api, *got);
  }
}

TEST(GoldenTest, CoversEveryStorageForm) {
  auto t = GoldenTransformer();
  ASSERT_NE(t, nullptr);
  std::map<std::string, int> count;
  for (const auto& g : Goldens()) {
    ++count[g.resource];
    for (const char* provider : {"aescbc", "aesgcm", "secretbox"}) {
      if (absl::StartsWith(g.value, absl::StrCat("k8s:enc:", provider, ":v1:"))) ++count[provider];
    }
    auto plain = t->Decrypt(g.key, g.value);
    ASSERT_TRUE(plain.ok()) << g.file << ": " << plain.status();
    ++count[absl::StartsWith(*plain, kProtobufMagic) ? "protobuf" : "json"];
    if (g.api.contains("status") && g.resource == "pods" && g.api["status"].contains("containerStatuses")) {
      ++count["pods with container status"];
    }
  }
  for (const char* what : {"pods", "secrets", "configmaps", "daemonsets", "deployments", "aescbc",
                           "aesgcm", "secretbox", "protobuf", "json", "pods with container status"}) {
    EXPECT_GT(count[what], 0) << "no golden value for " << what;
  }
}

// The API server in the test bed writes only apps/v1; older clusters left apps/v1beta2 and
// extensions/v1beta1 (and apps/v1beta1 Deployments) under the same keys. Their wire format
// is the same for every field these objects use, so the real bytes re-labelled with an old
// group/version must decode to the served JSON with only apiVersion changed.
TEST(GoldenTest, OlderGroupVersionsOfTheSameBytes) {
  auto t = GoldenTransformer();
  int checked = 0;
  for (const auto& g : Goldens()) {
    if (g.resource != "daemonsets" && g.resource != "deployments") continue;
    auto plain = t->Decrypt(g.key, g.value);
    ASSERT_TRUE(plain.ok());
    if (!absl::StartsWith(*plain, kProtobufMagic)) continue;
    auto envelope = ParseEnvelope(*plain);
    ASSERT_TRUE(envelope.ok()) << envelope.status();
    std::vector<std::string> versions = {"apps/v1beta2", "extensions/v1beta1"};
    if (g.resource == "deployments") versions.push_back("apps/v1beta1");
    for (const auto& gv : versions) {
      std::string relabelled = std::string(kProtobufMagic);
      // runtime.Unknown{typeMeta{apiVersion, kind}, raw}
      auto field = [](int number, const std::string& bytes) {
        std::string out(1, static_cast<char>(number << 3 | 2));
        uint64_t n = bytes.size();
        while (n >= 0x80) {
          out.push_back(static_cast<char>((n & 0x7f) | 0x80));
          n >>= 7;
        }
        out.push_back(static_cast<char>(n));
        return out + bytes;
      };
      relabelled += field(1, field(1, gv) + field(2, envelope->kind));
      relabelled += field(2, std::string(envelope->raw));
      auto got = DecodeValue(g.key, relabelled, nullptr, g.mod_revision);
      ASSERT_TRUE(got.ok()) << g.file << " as " << gv << ": " << got.status();
      Json want = g.api;
      want["apiVersion"] = gv;
      EXPECT_EQ(*got, want) << g.file << " as " << gv << ":\n" << Diff(want, *got);
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

// Every golden plaintext, encrypted again with each provider and key size, decodes the same.
TEST(GoldenTest, ReencryptedWithEveryProvider) {
  auto t = GoldenTransformer();
  const std::string k16(16, '1'), k24(24, '2'), k32(32, '3');
  std::string providers = absl::StrCat(
      "      - aescbc: {keys: [{name: c16, secret: ", absl::Base64Escape(k16), "}, {name: c24, secret: ",
      absl::Base64Escape(k24), "}, {name: c32, secret: ", absl::Base64Escape(k32), "}]}\n",
      "      - aesgcm: {keys: [{name: g16, secret: ", absl::Base64Escape(k16), "}, {name: g32, secret: ",
      absl::Base64Escape(k32), "}]}\n",
      "      - secretbox: {keys: [{name: s, secret: ", absl::Base64Escape(k32), "}]}\n");
  auto other = Transformer::FromConfig(absl::StrCat(R"(apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps, pods, deployments.apps, daemonsets.apps]
    providers:
)", providers), "reencrypt.yaml");
  ASSERT_TRUE(other.ok()) << other.status();
  for (const auto& g : Goldens()) {
    auto plain = t->Decrypt(g.key, g.value);
    ASSERT_TRUE(plain.ok());
    for (const std::string& value :
         {testing::AesCbcEncrypt("c16", k16, *plain), testing::AesCbcEncrypt("c24", k24, *plain),
          testing::AesCbcEncrypt("c32", k32, *plain), testing::AesGcmEncrypt("g16", k16, *plain, g.key),
          testing::AesGcmEncrypt("g32", k32, *plain, g.key), testing::SecretboxEncrypt("s", k32, *plain)}) {
      auto got = DecodeValue(g.key, value, other->get(), g.mod_revision);
      ASSERT_TRUE(got.ok()) << g.file << ": " << got.status();
      EXPECT_EQ(*got, g.api) << g.file;
    }
  }
}

TEST(GoldenTest, EncryptedValuesWithoutTheConfigAskForIt) {
  int encrypted = 0;
  for (const auto& g : Goldens()) {
    if (!absl::StartsWith(g.value, "k8s:enc:")) continue;
    ++encrypted;
    auto got = DecodeValue(g.key, g.value, nullptr);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(got.status().message(), ::testing::HasSubstr("--encryption-provider-config"));
  }
  EXPECT_GT(encrypted, 0);
}

}  // namespace
}  // namespace lifeboat::storage
