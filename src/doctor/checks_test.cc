// The pure checks of `lifeboat doctor`, table-driven over the situations each must tell apart.
#include "doctor/checks.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "checkpoint/sanitize.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lifeboat::doctor {
namespace {

using ::testing::HasSubstr;

Json Pod(const std::string& name, const std::string& node, bool parent,
         const std::string& phase = "Running", bool ready = true,
         const std::string& app = "kube-apiserver") {
  Json pod = {
      {"metadata", {{"name", name}, {"namespace", "kube-system"}, {"labels", {{"k8s-app", app}}}}},
      {"spec", {{"nodeName", node}, {"containers", {{{"name", "c"}, {"image", "img:1"}}}}}},
      {"status",
       {{"phase", phase},
        {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
  if (parent)
    pod["metadata"]["annotations"] = {{"checkpointer.alpha.coreos.com/checkpoint", "true"}};
  return pod;
}
Json Checkpointer(const std::string& name, const std::string& node,
                  const std::string& phase = "Running", bool ready = true) {
  return Pod(name, node, true, phase, ready, "pod-checkpointer");
}

struct CoverageCase {
  std::string name;
  Json pods;
  std::map<std::string, Level> want;  // subject -> level
};

TEST(CoverageTest, Table) {
  Json mirror = Checkpointer("pod-checkpointer-a-node-1", "node-1");
  mirror["metadata"]["annotations"] = {
      {"checkpointer.alpha.coreos.com/checkpoint-of", "pod-checkpointer-a"}};
  Json deleting = Checkpointer("pod-checkpointer-a", "node-1");
  deleting["metadata"]["deletionTimestamp"] = "2026-11-30T00:00:00Z";
  std::vector<CoverageCase> cases = {
      {"healthy",
       Json::array({Pod("api-a", "node-1", true), Checkpointer("ck-a", "node-1")}),
       {{"node-1", Level::kOk}}},
      {"no checkpointer on the node",
       Json::array({Pod("api-a", "node-1", true), Checkpointer("ck-b", "node-2")}),
       {{"node-1", Level::kFail}}},
      {"checkpointer pending",
       Json::array(
           {Pod("api-a", "node-1", true), Checkpointer("ck-a", "node-1", "Pending", false)}),
       {{"node-1", Level::kFail}}},
      {"checkpointer not ready",
       Json::array(
           {Pod("api-a", "node-1", true), Checkpointer("ck-a", "node-1", "Running", false)}),
       {{"node-1", Level::kFail}}},
      {"checkpointer being deleted",
       Json::array({Pod("api-a", "node-1", true), deleting}),
       {{"node-1", Level::kFail}}},
      {"only the checkpointer's own checkpoint runs",
       Json::array({Pod("api-a", "node-1", true), mirror}),
       {{"node-1", Level::kFail}}},
      {"a healthy one among two",
       Json::array({Pod("api-a", "node-1", true),
                    Checkpointer("ck-old", "node-1", "Pending", false),
                    Checkpointer("ck-a", "node-1")}),
       {{"node-1", Level::kOk}}},
      {"unannotated pods need nothing",
       Json::array({Pod("sched", "node-3", false), Pod("api-a", "node-1", true),
                    Checkpointer("ck-a", "node-1")}),
       {{"node-1", Level::kOk}}},
      {"finished parents need nothing",
       Json::array({Pod("api-old", "node-2", true, "Succeeded")}),
       {{"cluster", Level::kWarn}}},
      {"nothing annotated",
       Json::array({Pod("sched", "node-1", false)}),
       {{"cluster", Level::kWarn}}},
      {"two nodes, one uncovered",
       Json::array({Pod("api-a", "node-1", true), Pod("api-b", "node-2", true),
                    Checkpointer("ck-a", "node-1")}),
       {{"node-1", Level::kOk}, {"node-2", Level::kFail}}},
      {"a PodList object",
       Json{{"items", Json::array({Pod("api-a", "node-1", true), Checkpointer("ck-a", "node-1")})}},
       {{"node-1", Level::kOk}}},
  };
  for (const auto& c : cases) {
    std::vector<Finding> got = CheckCoverage(c.pods, Selector{});
    std::map<std::string, Level> levels;
    for (const auto& f : got) {
      EXPECT_EQ(f.check, "coverage") << c.name;
      levels[f.subject] = f.level;
      if (f.level != Level::kOk) {
        EXPECT_FALSE(f.action.empty()) << c.name;
      }
    }
    EXPECT_EQ(levels, c.want) << c.name;
  }
}

TEST(FirstDifferenceTest, Table) {
  struct Case {
    Json a, b;
    std::string want;
  };
  std::vector<Case> cases = {
      {Json{{"a", 1}}, Json{{"a", 1}}, ""},
      {Json{{"a", 1}}, Json{{"a", 2}}, "a"},
      {Json{{"a", {{"b", "x"}}}}, Json{{"a", {{"b", "y"}}}}, "a.b"},
      {Json{{"a", 1}}, Json{{"a", 1}, {"b", 2}}, "b"},
      {Json{{"l", {1, 2}}}, Json{{"l", {1, 3}}}, "l[1]"},
      {Json{{"l", {1, 2}}}, Json{{"l", {1}}}, "l (1 items, want 2)"},
      {Json{{"a", 1}}, Json{{"a", "1"}}, "a"},
  };
  for (const auto& c : cases) EXPECT_EQ(FirstDifference(c.a, c.b), c.want) << c.a << " vs " << c.b;
}

// A parent pod with a Secret volume and a flag, its checkpoint as the checkpointer writes it,
// and a disk holding that checkpoint; each case changes one thing.
class CheckpointsTest : public ::testing::Test {
 public:  // the table's lambdas change the fixture
  void SetUp() override {
    layout_.inactive_dir = "/ck/inactive";
    layout_.manifest_dir = "/ck/manifests";
    layout_.secrets_root = "/ck/secrets";
    layout_.configmaps_root = "/ck/configmaps";
    parent_ = Pod("api-a", "node-1", true);
    parent_["metadata"]["uid"] = "u1";
    parent_["spec"]["containers"][0]["command"] = {"kube-apiserver", "--secure-port=6443"};
    parent_["spec"]["containers"][0]["volumeMounts"] = {{{"name", "tls"}, {"mountPath", "/tls"}}};
    parent_["spec"]["volumes"] = {{{"name", "tls"}, {"secret", {{"secretName", "api-tls"}}}}};
    secret_ = {{"kind", "Secret"},
               {"metadata", {{"name", "api-tls"}}},
               {"data", {{"tls.key", absl::Base64Escape("KEY1")}}}};
    disk_ = DiskFor(parent_);
  }
  kube::ObjectLookup Lookup() {
    return [this](absl::string_view kind, absl::string_view name) -> const Json* {
      return kind == "Secret" && name == "api-tls" && !secret_.is_null() ? &secret_ : nullptr;
    };
  }
  DiskTree DiskFor(const Json& parent) {
    auto cp = checkpoint::MakeCheckpoint(parent, Lookup(), layout_);
    EXPECT_TRUE(cp.ok()) << cp.status();
    DiskTree disk;
    disk[layout_.InactiveManifest(cp->id).string()] = {false, 0600, cp->manifest};
    disk[layout_.SecretsDir(cp->id).string()] = {true, 0700, ""};
    for (const auto& d : cp->dirs) disk[d] = {true, 0700, ""};
    for (const auto& f : cp->files) disk[f.path] = {false, f.mode, f.data};
    return disk;
  }
  std::vector<Finding> Check() {
    std::vector<const Json*> parents = {&parent_};
    return CheckCheckpoints("node-1", parents, Lookup(), layout_, disk_);
  }
  std::string Manifest() { return layout_.InactiveManifest({"kube-system", "api-a"}).string(); }
  std::string KeyFile() { return "/ck/secrets/kube-system/api-a/api-tls/tls.key"; }

  checkpoint::Layout layout_;
  Json parent_, secret_;
  DiskTree disk_;
};

TEST_F(CheckpointsTest, Table) {
  struct Case {
    std::string name;
    std::function<void(CheckpointsTest&)> change;
    Level want;
    std::string says;
  };
  std::vector<Case> cases = {
      {"current", [](CheckpointsTest&) {}, Level::kOk, "matches"},
      {"missing", [](CheckpointsTest& t) { t.disk_.erase(t.Manifest()); }, Level::kFail,
       "no inactive checkpoint"},
      {"not JSON", [](CheckpointsTest& t) { t.disk_[t.Manifest()].data = "{"; }, Level::kFail,
       "not JSON"},
      {"image changed",
       [](CheckpointsTest& t) { t.parent_["spec"]["containers"][0]["image"] = "img:2"; },
       Level::kFail, "runs image img:2 but the checkpoint has img:1"},
      {"flag changed",
       [](CheckpointsTest& t) {
         t.parent_["spec"]["containers"][0]["command"][1] = "--secure-port=443";
       },
       Level::kFail, "spec.containers[0].command[1]"},
      {"secret rotated",
       [](CheckpointsTest& t) { t.secret_["data"]["tls.key"] = absl::Base64Escape("KEY2"); },
       Level::kFail, "Secret api-tls"},
      {"secret file gone", [](CheckpointsTest& t) { t.disk_.erase(t.KeyFile()); }, Level::kFail,
       "missing"},
      {"manifest world readable", [](CheckpointsTest& t) { t.disk_[t.Manifest()].mode = 0644; },
       Level::kFail, "mode 0644"},
      {"secret file group readable", [](CheckpointsTest& t) { t.disk_[t.KeyFile()].mode = 0640; },
       Level::kFail, "mode 0640"},
      {"secret dir open",
       [](CheckpointsTest& t) { t.disk_["/ck/secrets/kube-system/api-a/api-tls"].mode = 0755; },
       Level::kFail, "mode 0755 (want 0700)"},
      {"secret read only is fine", [](CheckpointsTest& t) { t.disk_[t.KeyFile()].mode = 0400; },
       Level::kOk, "matches"},
      {"active copy current",
       [](CheckpointsTest& t) {
         t.disk_["/ck/manifests/kube-system-api-a.json"] = t.disk_[t.Manifest()];
       },
       Level::kOk, "matches"},
      {"active copy stale",
       [](CheckpointsTest& t) {
         t.disk_["/ck/manifests/kube-system-api-a.json"] = t.disk_[t.Manifest()];
         t.disk_["/ck/manifests/kube-system-api-a.json"].data += " ";
       },
       Level::kFail, "the active copy /ck/manifests/kube-system-api-a.json differs"},
      {"referenced secret deleted", [](CheckpointsTest& t) { t.secret_ = Json(); }, Level::kWarn,
       "cannot tell whether it is current"},
      {"not a static pod",
       [](CheckpointsTest& t) {
         auto pod = kube::ParseJson(t.disk_[t.Manifest()].data);
         (*pod)["spec"]["serviceAccountName"] = "x";
         t.disk_[t.Manifest()].data = pod->dump();
       },
       Level::kFail, "not a valid static pod"},
      {"checkpoint of another pod",
       [](CheckpointsTest& t) {
         auto pod = kube::ParseJson(t.disk_[t.Manifest()].data);
         (*pod)["metadata"]["annotations"]["checkpointer.alpha.coreos.com/checkpoint-of"] = "other";
         t.disk_[t.Manifest()].data = pod->dump();
       },
       Level::kFail, "does not say it is the checkpoint of api-a"},
  };
  for (const auto& c : cases) {
    SetUp();
    c.change(*this);
    auto got = Check();
    ASSERT_EQ(got.size(), 1u) << c.name;
    EXPECT_EQ(got[0].check, "checkpoint");
    EXPECT_EQ(got[0].subject, "kube-system/api-a");
    EXPECT_EQ(got[0].level, c.want) << c.name << ": " << got[0].message;
    EXPECT_THAT(got[0].message, HasSubstr(c.says)) << c.name;
  }
}

TEST_F(CheckpointsTest, NoParentOnTheNodeWarns) {
  auto got = CheckCheckpoints("node-1", {}, Lookup(), layout_, disk_);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].level, Level::kWarn);
}

TEST(ParentsOnNodeTest, OnlyAnnotatedPodsOfThisNode) {
  Json pods = Json::array({Pod("a", "node-1", true), Pod("b", "node-2", true),
                           Pod("c", "node-1", false), Pod("d", "node-1", true, "Failed")});
  auto got = ParentsOnNode(pods, "node-1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ((*got[0])["metadata"]["name"], "a");
}

// ---- dry run and agreement

Json Workload() {
  return Json::parse(R"({"kind":"DaemonSet","apiVersion":"apps/v1",
    "metadata":{"name":"kube-apiserver","namespace":"kube-system","labels":{"k8s-app":"kube-apiserver"}},
    "spec":{"template":{"metadata":{"labels":{"k8s-app":"kube-apiserver"}},"spec":{
      "containers":[{"name":"kube-apiserver","image":"k8s.gcr.io/kube-apiserver:v1.20.2",
        "volumeMounts":[{"name":"tls","mountPath":"/tls"}]}],
      "volumes":[{"name":"tls","secret":{"secretName":"api-tls"}}]}}}})");
}

SourceRead Healthy() {
  SourceRead r;
  r.name = "api-server";
  r.description = "the API server at https://x";
  r.objects.workloads.push_back(Workload());
  r.objects.secrets["api-tls"] = {{"kind", "Secret"},
                                  {"metadata", {{"name", "api-tls"}}},
                                  {"data", {{"tls.key", absl::Base64Escape("KEY")}}}};
  return r;
}

TEST(DryRunTest, Table) {
  struct Case {
    std::string name;
    std::function<void(SourceRead&)> change;
    std::vector<Level> want;
    std::string says;
  };
  std::vector<Case> cases = {
      {"renders", [](SourceRead&) {}, {Level::kOk}, "would render 1 bootstrap pod(s)"},
      {"source down",
       [](SourceRead& r) { r.status = absl::UnavailableError("connection refused"); },
       {Level::kFail},
       "connection refused"},
      {"secret missing",
       [](SourceRead& r) { r.objects.secrets.clear(); },
       {Level::kFail},
       "api-tls"},
      {"secret undecryptable",
       [](SourceRead& r) {
         r.objects.secrets.clear();
         r.unreadable["Secret kube-system/api-tls"] = "no key decrypts it";
       },
       {Level::kFail, Level::kFail},
       "no key decrypts it"},
      {"unknown fields",
       [](SourceRead& r) { r.decode_warnings["DaemonSet/kube-apiserver"] = {"spec.<field 99>"}; },
       {Level::kWarn},
       "spec.<field 99>"},
      {"no control plane",
       [](SourceRead& r) { r.objects.workloads.clear(); },
       {Level::kFail},
       "would fail"},
  };
  for (const auto& c : cases) {
    SourceRead r = Healthy();
    c.change(r);
    DryRun dry;
    auto got = CheckDryRun(r, "kubeconfig", &dry);
    std::vector<Level> levels;
    std::string all;
    for (const auto& f : got) {
      levels.push_back(f.level);
      all += f.message + "\n";
    }
    EXPECT_EQ(levels, c.want) << c.name << ": " << all;
    EXPECT_THAT(all, HasSubstr(c.says)) << c.name;
    EXPECT_EQ(dry.assets.has_value(), c.want.back() != Level::kFail) << c.name;
  }
}

TEST(AgreementTest, SameAndDifferent) {
  DryRun a, b;
  CheckDryRun(Healthy(), "kc", &a);
  CheckDryRun(Healthy(), "kc", &b);
  auto same = CheckAgreement("api-server", *a.assets, "etcd", *b.assets, true);
  ASSERT_EQ(same.size(), 1u);
  EXPECT_EQ(same[0].level, Level::kOk);
  SourceRead changed = Healthy();
  changed.objects.secrets["api-tls"]["data"]["tls.key"] = absl::Base64Escape("OTHER");
  CheckDryRun(changed, "kc", &b);
  auto strict = CheckAgreement("api-server", *a.assets, "etcd", *b.assets, true);
  EXPECT_EQ(strict[0].level, Level::kFail);
  EXPECT_THAT(strict[0].message, HasSubstr("tls/secrets/api-tls/tls.key"));
  EXPECT_EQ(CheckAgreement("api-server", *a.assets, "backup", *b.assets, false)[0].level,
            Level::kWarn);
}

// ---- backups

TEST(BackupTest, Table) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  BackupFile good{"/b/new.db", now - absl::Hours(2), absl::OkStatus(), true, true, 100};
  struct Case {
    std::string name;
    std::vector<BackupFile> files;
    std::optional<int64_t> live;
    std::vector<Level> want;
    std::string says;
  };
  auto with = [&](std::function<void(BackupFile&)> f) {
    BackupFile b = good;
    f(b);
    return b;
  };
  std::vector<Case> cases = {
      {"fresh and verified", {good}, 150, {Level::kOk}, "50 behind the live etcd"},
      {"truncated",
       {with([](BackupFile& b) { b.open = absl::DataLossError("truncated at page 7"); })},
       150,
       {Level::kFail},
       "truncated at page 7"},
      {"too old",
       {with([&](BackupFile& b) { b.modified = now - absl::Hours(72); })},
       std::nullopt,
       {Level::kWarn},
       "3 days old (older than"},
      {"no trailer",
       {with([](BackupFile& b) { b.has_trailer = false; })},
       std::nullopt,
       {Level::kWarn},
       "no SHA-256 trailer"},
      {"hash not checked",
       {with([](BackupFile& b) { b.hash_checked = false; })},
       std::nullopt,
       {Level::kWarn},
       "not verified"},
      {"ahead of live etcd", {good}, 50, {Level::kWarn}, "ahead of the live etcd's 50"},
      {"an old one is not judged by age",
       {with([&](BackupFile& b) {
          b.path = "/b/old.db";
          b.modified = now - absl::Hours(24 * 40);
        }),
        good},
       std::nullopt,
       {Level::kOk, Level::kOk},
       "newest backup, 2 hours old"},
  };
  for (const auto& c : cases) {
    std::vector<Gauge> gauges;
    auto got = CheckBackups(c.files, now, absl::Hours(25), c.live, &gauges);
    std::vector<Level> levels;
    std::string all;
    for (const auto& f : got) {
      levels.push_back(f.level);
      all += f.message + "\n";
    }
    EXPECT_EQ(levels, c.want) << c.name << ": " << all;
    EXPECT_THAT(all, HasSubstr(c.says)) << c.name;
    EXPECT_EQ(gauges.size(), c.files.size());
  }
}

// ---- certificates

// A self-signed certificate valid from now+from to now+to.
std::string MakeCert(absl::Time now, absl::Duration from, absl::Duration to,
                     const std::string& cn) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(now + from));
  ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(now + to));
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, n);
  BIO_free(bio);
  X509_free(x);
  EVP_PKEY_free(key);
  return pem;
}

TEST(CertificatesTest, Table) {
  absl::Time now = absl::FromUnixSeconds(1800000000);
  absl::Duration day = absl::Hours(24);
  std::string good = MakeCert(now, -day, 365 * day, "good");
  struct Case {
    std::string name;
    std::vector<PemSource> pems;
    std::vector<Level> want;
    std::string says;
  };
  std::vector<Case> cases = {
      {"valid", {{"Secret a: tls.crt", good}}, {Level::kOk}, "1 certificate(s) valid"},
      {"expiring in the window",
       {{"Secret a: tls.crt", MakeCert(now, -day, 10 * day, "soon")}},
       {Level::kWarn},
       "expires on"},
      {"expired",
       {{"Secret a: tls.crt", MakeCert(now, -10 * day, -day, "old")}},
       {Level::kFail},
       "expired on"},
      {"not yet valid",
       {{"Secret a: tls.crt", MakeCert(now, day, 365 * day, "future")}},
       {Level::kWarn},
       "not valid before"},
      {"not a certificate",
       {{"Secret a: ca.crt",
         "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"}},
       {Level::kWarn},
       "not valid X.509"},
      {"a bundle: the bad one counts",
       {{"ConfigMap b: ca.crt", good + MakeCert(now, -day, 5 * day, "soon")}},
       {Level::kWarn},
       "ca.crt [1]"},
      {"none", {}, {Level::kOk}, "no certificate"},
  };
  for (const auto& c : cases) {
    std::vector<Gauge> gauges;
    auto got = CheckCertificates(c.pems, now, 30 * day, &gauges);
    std::vector<Level> levels;
    std::string all;
    for (const auto& f : got) {
      levels.push_back(f.level);
      all += f.subject + ": " + f.message + "\n";
    }
    EXPECT_EQ(levels, c.want) << c.name << ": " << all;
    EXPECT_THAT(all, HasSubstr(c.says)) << c.name;
  }
}

TEST(CertificatesTest, FoundInSecretsAndConfigMaps) {
  recovery::ClusterObjects objects;
  std::string pem = MakeCert(absl::Now(), -absl::Hours(1), absl::Hours(1000), "x");
  objects.secrets["tls"] = {
      {"data", {{"tls.crt", absl::Base64Escape(pem)}, {"tls.key", absl::Base64Escape("k")}}}};
  objects.config_maps["ca"] = {{"data", {{"ca.crt", pem}, {"other", "text"}}}};
  auto got = CertificatesIn(objects, "kube-system");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].where, "Secret kube-system/tls: tls.crt");
  EXPECT_EQ(got[0].pem, pem);
  EXPECT_EQ(got[1].where, "ConfigMap kube-system/ca: ca.crt");
}

}  // namespace
}  // namespace lifeboat::doctor
