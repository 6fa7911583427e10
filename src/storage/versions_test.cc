// Golden values as Kubernetes 1.22, 1.28, 1.33 and 1.36 API servers store them, encoded by
// protoc from the upstream generated.proto files (testdata/storage/versions/encode.py), not by
// Lifeboat; the expected JSON (<name>.want.json) is written down from the upstream Go types.
// Every field must decode (strict), and the JSON must be exactly the one that release serves.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/decode.h"

namespace lifeboat::storage {
namespace {

namespace fs = std::filesystem;

const fs::path kDir = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/storage/versions";

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Header(const std::string& text, const std::string& name) {
  std::smatch m;
  std::regex re("(^|\n)# " + name + ": (\\S+)");
  return std::regex_search(text, m, re) ? m[2].str() : "";
}

struct Case {
  std::string version;  // "v1.36"
  std::string name;     // "daemonset"
  std::string key;
  int64_t mod_revision = 0;
  std::string value;
  Json want;
};

std::vector<Case> Cases(const std::string& version) {
  std::vector<Case> out;
  for (const auto& e : fs::directory_iterator(kDir / version)) {
    std::string file = e.path().filename().string();
    if (!absl::EndsWith(file, ".textproto") || absl::EndsWith(file, ".legacy.textproto")) continue;
    Case c;
    c.version = version;
    c.name = file.substr(0, file.size() - std::string(".textproto").size());
    std::string text = Slurp(e.path());
    c.key = Header(text, "etcdKey");
    c.mod_revision = std::stoll(Header(text, "modRevision"));
    c.value = Slurp(kDir / version / (c.name + ".value"));
    c.want = Json::parse(Slurp(kDir / version / (c.name + ".want.json")));
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return out;
}

class VersionsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VersionsTest, DecodesToWhatThatReleaseServes) {
  // Kubernetes >= 1.33 is built with Go's omitzero: a zero creationTimestamp is left out.
  bool omitzero = GetParam() >= "v1.33";
  std::vector<Case> cases = Cases(GetParam());
  std::set<std::string> names;
  for (const auto& c : cases) {
    names.insert(c.name);
    auto got = DecodeObject(c.key, c.value, nullptr, c.mod_revision,
                            DecodeOptions{.strict = true, .omitzero = omitzero});
    ASSERT_TRUE(got.ok()) << c.version << "/" << c.name << ": " << got.status();
    EXPECT_TRUE(got->dropped.empty());
    EXPECT_EQ(got->object, c.want) << c.version << "/" << c.name << " differs:\n"
                                   << Json::diff(c.want, got->object).dump(1);
  }
  std::set<std::string> want = {"configmap", "daemonset", "deployment", "secret"};
  if (GetParam() == "v1.36") want.insert("pod");  // the status and spec fields the others lack
  EXPECT_EQ(names, want);
}

TEST_P(VersionsTest, CarriesTheFieldsThatReleaseAlwaysWrites) {
  // What the release writes into every such object whatever its manifest, checked on the
  // encoding inputs so that a golden cannot quietly lose one.
  for (const auto& c : Cases(GetParam())) {
    std::string text = Slurp(kDir / c.version / (c.name + ".textproto"));
    auto count = [&](const std::string& what) {
      size_t n = 0;
      for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
      return n;
    };
    // ManagedFieldsEntry.subresource = 8 (1.22+): in every entry, even when empty.
    EXPECT_GT(count("managedFields {"), 0u) << c.name;
    EXPECT_EQ(count("managedFields {"), count("subresource: ")) << c.name;
    if (c.name == "daemonset") {
      // RollingUpdateDaemonSet.maxSurge = 2 (defaulted since 1.21).
      EXPECT_EQ(count("maxSurge {"), 1u);
      EXPECT_TRUE(c.want["spec"]["updateStrategy"]["rollingUpdate"].contains("maxSurge"));
    }
    // DeploymentStatus.terminatingReplicas = 9 (1.35+).
    if (c.name == "deployment") {
      EXPECT_EQ(count("terminatingReplicas: "), GetParam() >= "v1.35" ? 1u : 0u);
      EXPECT_EQ(c.want["status"].contains("terminatingReplicas"), GetParam() >= "v1.35");
    }
    // ObjectMeta.clusterName = 15 (to 1.24), empty in every ObjectMeta.
    bool legacy = fs::exists(kDir / c.version / (c.name + ".legacy.textproto"));
    EXPECT_EQ(legacy, GetParam() < "v1.25") << c.name;
  }
}

TEST(UnknownFieldTest, AFieldNoReleaseHasIsDroppedWithItsPathOrRefused) {
  // versions/unknown/daemonset: the v1.36 DaemonSet plus PodSpec field 9999.
  std::vector<Case> cases = Cases("unknown");
  ASSERT_EQ(cases.size(), 2u);
  ASSERT_EQ(cases[0].name, "daemonset");
  const Case& c = cases[0];
  {
    // The Deployment (not control plane) carries the same field.
    const Case& d = cases[1];
    auto got = DecodeObject(d.key, d.value, nullptr, d.mod_revision, DecodeOptions{});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->object, d.want);
    ASSERT_EQ(got->dropped.size(), 1u);
    EXPECT_EQ(got->dropped[0].field.path, "spec.template.spec.<field 9999>");
  }
  auto got = DecodeObject(c.key, c.value, nullptr, c.mod_revision, DecodeOptions{});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->object, c.want) << Json::diff(c.want, got->object).dump(1);
  ASSERT_EQ(got->dropped.size(), 1u);
  const DroppedField& d = got->dropped[0];
  EXPECT_EQ(d.etcd_key, "/registry/daemonsets/kube-system/kube-apiserver");
  EXPECT_EQ(d.object, "apps/v1 DaemonSet");
  EXPECT_EQ(d.field.path, "spec.template.spec.<field 9999>");
  EXPECT_EQ(d.field.number, 9999u);
  EXPECT_EQ(d.field.message, "k8s.io.api.core.v1.PodSpec");
  EXPECT_EQ(d.Message(),
            "etcd key /registry/daemonsets/kube-system/kube-apiserver (apps/v1 DaemonSet): field "
            "9999 at spec.template.spec.<field 9999> (wire type 2, in k8s.io.api.core.v1.PodSpec) "
            "is unknown to Lifeboat's schema (Kubernetes 1.16 to 1.36): dropped, the output "
            "lacks it");

  auto strict =
      DecodeObject(c.key, c.value, nullptr, c.mod_revision, DecodeOptions{.strict = true});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(strict.status().message(),
              ::testing::HasSubstr("etcd key /registry/daemonsets/kube-system/kube-apiserver"));
  EXPECT_THAT(strict.status().message(), ::testing::HasSubstr("spec.template.spec.<field 9999>"));
  // DecodeValue keeps refusing, as before.
  EXPECT_FALSE(DecodeValue(c.key, c.value, nullptr).ok());
}

INSTANTIATE_TEST_SUITE_P(Releases, VersionsTest,
                         ::testing::Values("v1.22", "v1.28", "v1.33", "v1.36"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '.', '_');
                           return s;
                         });

}  // namespace
}  // namespace lifeboat::storage
