// EtcdClient against Debian's real etcd (started per test on free loopback ports), plus the
// 100 000-key scale check that also times the snapshot reader on the same data.
#include "etcd/client.h"

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file.h"
#include "etcd/etcd_testing.h"
#include "etcd/snapshot.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/raw_server.h"

namespace lifeboat::etcd {
namespace {

using ::testing::ElementsAre;
using testing::EtcdServer;
using testing::EtcdServerOptions;
using ::testing::HasSubstr;
using lifeboat::testing::SilentServer;

std::unique_ptr<EtcdServer> StartEtcd(bool tls) {
  EtcdServerOptions o;
  o.tls = tls;
  auto s = EtcdServer::Start(o);
  if (!s.ok()) ADD_FAILURE() << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

EtcdClientOptions OptionsFor(const EtcdServer& s) {
  EtcdClientOptions o;
  o.endpoints = s.endpoint();
  o.ca_file = s.ca_file();
  o.cert_file = s.cert_file();
  o.key_file = s.key_file();
  o.request_timeout = std::chrono::milliseconds(5000);
  return o;
}

std::unique_ptr<EtcdClient> Connect(const EtcdClientOptions& o) {
  auto c = EtcdClient::Connect(o);
  if (!c.ok()) ADD_FAILURE() << c.status();
  return c.ok() ? std::move(*c) : nullptr;
}

std::vector<std::string> Keys(KvReader& r, absl::string_view prefix) {
  std::vector<std::string> keys;
  absl::Status st = r.Range(prefix, [&](KeyValue&& kv) {
    keys.push_back(kv.key);
    return absl::OkStatus();
  });
  EXPECT_TRUE(st.ok()) << st;
  return keys;
}

TEST(EtcdClientTest, GetReadsWhatEtcdctlPutOverMutualTls) {
  auto etcd = StartEtcd(/*tls=*/true);
  ASSERT_TRUE(etcd);
  ASSERT_TRUE(etcd->Etcdctl({"put", "/registry/secrets/kube-system/s", "first"}).ok());
  ASSERT_TRUE(etcd->Etcdctl({"put", "/registry/secrets/kube-system/s", "second"}).ok());
  auto client = Connect(OptionsFor(*etcd));
  ASSERT_TRUE(client);
  auto kv = client->Get("/registry/secrets/kube-system/s");
  ASSERT_TRUE(kv.ok()) << kv.status();
  ASSERT_TRUE(kv->has_value());
  EXPECT_EQ((*kv)->key, "/registry/secrets/kube-system/s");
  EXPECT_EQ((*kv)->value, "second");
  EXPECT_EQ((*kv)->version, 2);
  EXPECT_EQ((*kv)->mod_revision, (*kv)->create_revision + 1);
  EXPECT_EQ(client->revision(), (*kv)->mod_revision);

  auto missing = client->Get("/registry/secrets/kube-system/nope");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());
  EXPECT_EQ(client->Describe(), "etcd at " + etcd->endpoint());
}

TEST(EtcdClientTest, CaAloneIsEnoughWithoutClientAuth) {
  EtcdServerOptions o;
  o.tls = true;
  o.client_cert_auth = false;
  auto etcd = EtcdServer::Start(o);
  ASSERT_TRUE(etcd.ok()) << etcd.status();
  ASSERT_TRUE((*etcd)->Etcdctl({"put", "k", "v"}).ok());
  EtcdClientOptions co;
  co.endpoints = (*etcd)->endpoint();
  co.ca_file = (*etcd)->ca_file();
  auto client = Connect(co);
  ASSERT_TRUE(client);
  auto kv = client->Get("k");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ((*kv)->value, "v");
}

TEST(EtcdClientTest, RangePagesAtTheFirstPagesRevision) {
  auto etcd = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(etcd);
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 1234; ++i) {
    kvs.emplace_back(absl::StrFormat("/registry/configmaps/ns/cm-%05d", i), absl::StrCat("v", i));
  }
  ASSERT_TRUE(etcd->PutMany(kvs).ok());
  EtcdClientOptions o = OptionsFor(*etcd);
  o.page_size = 100;
  o.max_page_size = 100;
  auto client = Connect(o);
  ASSERT_TRUE(client);

  // Writes made while the listing runs (after its first page) must not show up in it.
  std::vector<KeyValue> seen;
  absl::Status st = client->Range("/registry/configmaps/ns/", [&](KeyValue&& kv) {
    if (seen.size() == 1) {
      EXPECT_TRUE(etcd->PutMany({{"/registry/configmaps/ns/cm-00999", "changed"},
                                 {"/registry/configmaps/ns/zz-new", "new"}})
                      .ok());
    }
    seen.push_back(std::move(kv));
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(seen.size(), 1234u);
  for (int i = 0; i < 1234; ++i) {
    EXPECT_EQ(seen[i].key, absl::StrFormat("/registry/configmaps/ns/cm-%05d", i));
    EXPECT_EQ(seen[i].value, absl::StrCat("v", i));
  }
  const int64_t pinned = client->revision();
  // A new listing sees the writes.
  auto after = Keys(*client, "/registry/configmaps/ns/");
  EXPECT_EQ(after.size(), 1235u);
  EXPECT_GT(client->revision(), pinned);
  auto changed = client->Get("/registry/configmaps/ns/cm-00999");
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ((*changed)->value, "changed");
}

TEST(EtcdClientTest, CompactionWhilePagingIsReported) {
  auto etcd = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(etcd);
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 100; ++i) kvs.emplace_back(absl::StrFormat("/c/%03d", i), "v");
  ASSERT_TRUE(etcd->PutMany(kvs).ok());
  EtcdClientOptions o = OptionsFor(*etcd);
  o.page_size = 10;
  o.max_page_size = 10;
  auto client = Connect(o);
  ASSERT_TRUE(client);
  bool compacted = false;
  absl::Status st = client->Range("/c/", [&](KeyValue&&) {
    if (!compacted) {
      compacted = true;
      EXPECT_TRUE(etcd->PutMany({{"/c/new", "v"}}).ok());
      auto head = client->revision() + 1;
      EXPECT_TRUE(etcd->Etcdctl({"compact", std::to_string(head)}).ok());
    }
    return absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kOutOfRange) << st;
  EXPECT_THAT(st.message(), HasSubstr("compacted"));
  EXPECT_THAT(st.message(), HasSubstr("start the listing again"));
  // Starting again works, at the new revision.
  EXPECT_EQ(Keys(*client, "/c/").size(), 101u);
}

TEST(EtcdClientTest, SerializableReads) {
  auto etcd = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(etcd);
  ASSERT_TRUE(etcd->Etcdctl({"put", "/s", "v"}).ok());
  EtcdClientOptions o = OptionsFor(*etcd);
  o.serializable = true;
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto kv = client->Get("/s");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ((*kv)->value, "v");
  EXPECT_THAT(Keys(*client, "/"), ElementsAre("/s"));
}

TEST(EtcdClientTest, RangeStopsAtCallbackError) {
  auto etcd = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(etcd);
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < 50; ++i) kvs.emplace_back(absl::StrCat("/k/", i), "v");
  ASSERT_TRUE(etcd->PutMany(kvs).ok());
  EtcdClientOptions o = OptionsFor(*etcd);
  o.page_size = 7;
  o.max_page_size = 7;
  auto client = Connect(o);
  ASSERT_TRUE(client);
  int calls = 0;
  absl::Status st = client->Range("/k/", [&](KeyValue&&) {
    return ++calls == 10 ? absl::AbortedError("stop") : absl::OkStatus();
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 10);
}

TEST(EtcdClientTest, PrefixBoundaries) {
  auto etcd = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(etcd);
  const std::string ff("\xff", 1);
  ASSERT_TRUE(etcd->PutMany({{"/a/b", "1"},
                             {"/a/b/", "2"},
                             {"/a/b/x", "3"},
                             {"/a/bc", "4"},
                             {"/a/b" + ff, "5"},
                             {"/a/b" + ff + ff, "6"},
                             {"/a/c", "7"},
                             {"/a/b.", "8"},
                             {"/a/a", "9"}})
                  .ok());
  EtcdClientOptions o = OptionsFor(*etcd);
  o.page_size = 2;
  o.max_page_size = 2;
  auto client = Connect(o);
  ASSERT_TRUE(client);
  EXPECT_THAT(Keys(*client, "/a/b/"), ElementsAre("/a/b/", "/a/b/x"));
  EXPECT_THAT(Keys(*client, "/a/b"), ElementsAre("/a/b", "/a/b.", "/a/b/", "/a/b/x", "/a/bc",
                                                 "/a/b" + ff, "/a/b" + ff + ff));
  EXPECT_THAT(Keys(*client, "/a/b" + ff), ElementsAre("/a/b" + ff, "/a/b" + ff + ff));
  EXPECT_THAT(Keys(*client, "/a/b/x/"), ElementsAre());
  EXPECT_EQ(Keys(*client, "").size(), 9u);
  EXPECT_EQ(Keys(*client, "/").size(), 9u);
}

TEST(EtcdClientTest, FailsOverFromDeadEndpointToLiveOne) {
  auto etcd = StartEtcd(/*tls=*/true);
  ASSERT_TRUE(etcd);
  ASSERT_TRUE(etcd->Etcdctl({"put", "/x", "y"}).ok());
  EtcdClientOptions o = OptionsFor(*etcd);
  const std::string dead = absl::StrCat("https://127.0.0.1:", lifeboat::testing::UnusedLoopbackPort());
  o.endpoints = dead + "," + etcd->endpoint();
  // A refused connection moves on at once, without waiting for the request deadline: with a
  // deadline of a minute, a client that waited it out on the dead endpoint could not pass.
  o.request_timeout = std::chrono::minutes(1);
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto start = std::chrono::steady_clock::now();
  auto kv = client->Get("/x");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ((*kv)->value, "y");
  EXPECT_LT(std::chrono::steady_clock::now() - start, o.request_timeout);
  // Paged reads fail over too, and stay on the endpoint that answered.
  EXPECT_THAT(Keys(*client, "/"), ElementsAre("/x"));
}

TEST(EtcdClientTest, FailsOverFromHungEndpointAfterTheTimeout) {
  auto etcd = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(etcd);
  ASSERT_TRUE(etcd->Etcdctl({"put", "/x", "y"}).ok());
  SilentServer hung;
  EtcdClientOptions o = OptionsFor(*etcd);
  o.endpoints = absl::StrCat("http://127.0.0.1:", hung.port(), ",", etcd->endpoint());
  o.request_timeout = std::chrono::seconds(3);  // also the live endpoint's: ample on a busy machine
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto kv = client->Get("/x");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ((*kv)->value, "y");
}

TEST(EtcdClientTest, FailsOverWhenTheCurrentEndpointDies) {
  auto first = StartEtcd(/*tls=*/false);
  auto second = StartEtcd(/*tls=*/false);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->Etcdctl({"put", "/who", "first"}).ok());
  ASSERT_TRUE(second->Etcdctl({"put", "/who", "second"}).ok());
  EtcdClientOptions o;
  o.endpoints = first->endpoint() + "," + second->endpoint();
  auto client = Connect(o);
  ASSERT_TRUE(client);
  EXPECT_EQ((*client->Get("/who"))->value, "first");
  first->Stop();
  auto kv = client->Get("/who");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_EQ((*kv)->value, "second");
}

TEST(EtcdClientTest, WrongCaIsAClearError) {
  auto etcd = StartEtcd(/*tls=*/true);
  ASSERT_TRUE(etcd);
  EtcdClientOptions o = OptionsFor(*etcd);
  o.ca_file = etcd->other_ca_file();
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto kv = client->Get("/x");
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kv.status().message(), HasSubstr(etcd->endpoint()));
  EXPECT_THAT(kv.status().message(), HasSubstr("certificate was rejected"));
  EXPECT_THAT(kv.status().message(), HasSubstr(etcd->other_ca_file()));
  std::printf("wrong CA: %s\n", std::string(kv.status().message()).c_str());
}

TEST(EtcdClientTest, MissingClientCertificateIsAClearError) {
  auto etcd = StartEtcd(/*tls=*/true);  // requires client certificates
  ASSERT_TRUE(etcd);
  EtcdClientOptions o = OptionsFor(*etcd);
  o.cert_file.clear();
  o.key_file.clear();
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto kv = client->Get("/x");
  ASSERT_FALSE(kv.ok());
  EXPECT_THAT(kv.status().message(), HasSubstr(etcd->endpoint()));
  EXPECT_THAT(kv.status().message(), HasSubstr("client certificate"));
  std::printf("no client cert: %s\n", std::string(kv.status().message()).c_str());
}

TEST(EtcdClientTest, PlainHttpClientAgainstTlsServerFails) {
  auto etcd = StartEtcd(/*tls=*/true);
  ASSERT_TRUE(etcd);
  EtcdClientOptions o;
  o.endpoints = "http://" + etcd->endpoint().substr(8);
  o.request_timeout = std::chrono::milliseconds(2000);
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto kv = client->Get("/x");
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kv.status().message(), HasSubstr(o.endpoints));
}

TEST(EtcdClientTest, UnreachableNamesEveryEndpoint) {
  EtcdClientOptions o;
  const std::string a = absl::StrCat("http://127.0.0.1:", lifeboat::testing::UnusedLoopbackPort());
  const std::string b = absl::StrCat("http://127.0.0.1:", lifeboat::testing::UnusedLoopbackPort());
  o.endpoints = a + " , " + b;
  auto client = Connect(o);
  ASSERT_TRUE(client);
  auto kv = client->Get("/x");
  ASSERT_FALSE(kv.ok());
  EXPECT_EQ(kv.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(kv.status().message(), HasSubstr(a));
  EXPECT_THAT(kv.status().message(), HasSubstr(b));
  EXPECT_THAT(kv.status().message(), HasSubstr("no etcd endpoint answered"));
  absl::Status st = client->Range("/", [](KeyValue&&) { return absl::OkStatus(); });
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  std::printf("unreachable: %s\n", std::string(kv.status().message()).c_str());
}

TEST(EtcdClientTest, BadTlsMaterialNamesTheFile) {
  auto etcd = StartEtcd(/*tls=*/true);
  ASSERT_TRUE(etcd);
  const std::string garbage = etcd->dir() + "/garbage.pem";
  ASSERT_TRUE(base::WriteFileAtomic(garbage, "not a certificate\n", 0600).ok());

  EtcdClientOptions o = OptionsFor(*etcd);
  o.ca_file = garbage;
  auto c = EtcdClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr(garbage));

  o = OptionsFor(*etcd);
  o.cert_file = garbage;
  c = EtcdClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr(garbage));

  o = OptionsFor(*etcd);
  o.key_file = garbage;
  c = EtcdClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr(garbage));

  o = OptionsFor(*etcd);
  o.key_file = etcd->dir() + "/server.key";  // a key, but not the certificate's
  c = EtcdClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("does not belong"));
  EXPECT_THAT(c.status().message(), HasSubstr(o.key_file));

  o = OptionsFor(*etcd);
  o.ca_file = etcd->dir() + "/missing.crt";
  c = EtcdClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr(o.ca_file));

  o = OptionsFor(*etcd);
  o.key_file.clear();
  c = EtcdClient::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("together"));
}

// Scale: 100 000 keys read through gRPC pages and through a snapshot of the same store: every
// key comes back, once, in order, from both. How long it takes is measured by
// bench/etcd_scale (`make bench-etcd`), not here.
TEST(EtcdScaleTest, HundredThousandKeysViaGrpcAndSnapshot) {
  auto etcd = StartEtcd(/*tls=*/true);
  ASSERT_TRUE(etcd);
  constexpr int kKeys = 100000;
  const std::string value(300, 'v');
  {
    std::vector<std::pair<std::string, std::string>> kvs;
    kvs.reserve(kKeys);
    for (int i = 0; i < kKeys; ++i) {
      kvs.emplace_back(absl::StrFormat("/registry/secrets/ns-%02d/secret-%06d", i % 50, i), value);
    }
    ASSERT_TRUE(etcd->PutMany(kvs).ok());
  }
  EtcdClientOptions options = OptionsFor(*etcd);
  options.request_timeout = std::chrono::minutes(1);
  auto client = Connect(options);
  ASSERT_TRUE(client);
  size_t count = 0, bytes = 0;
  std::string last;
  bool sorted = true;
  absl::Status st = client->Range("/registry/", [&](KeyValue&& kv) {
    ++count;
    bytes += kv.value.size();
    sorted &= last < kv.key;
    last = std::move(kv.key);
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(count, size_t{kKeys});
  EXPECT_EQ(bytes, size_t{kKeys} * value.size());
  EXPECT_TRUE(sorted);

  const std::string snap = etcd->dir() + "/scale.db";
  ASSERT_TRUE(etcd->Etcdctl({"snapshot", "save", snap}).ok());
  for (bool skip_hash_check : {false, true}) {
    SnapshotOptions so;
    so.skip_hash_check = skip_hash_check;
    auto reader = SnapshotReader::Open(snap, so);
    ASSERT_TRUE(reader.ok()) << reader.status();
    size_t snap_count = 0;
    std::string snap_last;
    bool snap_sorted = true;
    st = (*reader)->Range("/registry/", [&](KeyValue&& kv) {
      ++snap_count;
      snap_sorted &= snap_last < kv.key;
      snap_last = std::move(kv.key);
      return absl::OkStatus();
    });
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(snap_count, size_t{kKeys});
    EXPECT_TRUE(snap_sorted);
    EXPECT_EQ(snap_last, last);
    EXPECT_EQ((*reader)->revision(), client->revision());
  }
}

}  // namespace
}  // namespace lifeboat::etcd
