#include "node/cri.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "testing/fake_cri.h"

namespace lifeboat::node {
namespace {

using lifeboat::testing::FakeCri;

class CriTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/lifeboat-cri-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/cri.sock";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<FakeCri> Serve(FakeCri::Serve serve) {
    auto f = FakeCri::Start(socket_, serve);
    EXPECT_TRUE(f.ok()) << f.status();
    return f.ok() ? *std::move(f) : nullptr;
  }
  std::unique_ptr<CriClient> Client(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    auto c = CriClient::Create({"unix://" + socket_, timeout});
    EXPECT_TRUE(c.ok()) << c.status();
    return *std::move(c);
  }
  std::string dir_, socket_;
};

TEST(CriTargetTest, UnixEndpoints) {
  EXPECT_EQ(*CriClient::Target("unix:///run/containerd/containerd.sock"), "unix:///run/containerd/containerd.sock");
  EXPECT_EQ(*CriClient::Target("/var/run/crio/crio.sock"), "unix:///var/run/crio/crio.sock");
  EXPECT_FALSE(CriClient::Target("tcp://127.0.0.1:1234").ok());
  EXPECT_FALSE(CriClient::Target("unix://relative.sock").ok());
  EXPECT_FALSE(CriClient::Target("").ok());
}

TEST_F(CriTest, SpeaksV1WhenTheRuntimeDoes) {
  auto fake = Serve(FakeCri::Serve::kBoth);
  fake->AddPod("kube-system", "kube-apiserver-abc");
  auto client = Client();
  auto v = client->Version();
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->api, "runtime.v1");
  EXPECT_EQ(v->runtime_name, "lifeboat-fake-cri");
  auto snap = client->ListRunning();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(RunningPods(*snap), (std::set<std::pair<std::string, std::string>>{{"kube-system", "kube-apiserver-abc"}}));
  EXPECT_EQ(client->api(), "runtime.v1");
  EXPECT_EQ(fake->Calls("runtime.v1alpha2/Version"), 0);
  EXPECT_EQ(fake->Calls("runtime.v1/ListPodSandbox"), 1);
}

TEST_F(CriTest, FallsBackToV1Alpha2OnUnimplemented) {
  auto fake = Serve(FakeCri::Serve::kV1Alpha2);
  fake->AddPod("kube-system", "kube-scheduler-x");
  auto client = Client();
  auto snap = client->ListRunning();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(client->api(), "runtime.v1alpha2");
  EXPECT_EQ(RunningPods(*snap).size(), 1u);
  EXPECT_EQ(fake->Calls("runtime.v1/Version"), 0) << "v1 is not registered: the server never sees it";
  EXPECT_EQ(fake->Calls("runtime.v1alpha2/Version"), 1);
  // The negotiated version sticks.
  ASSERT_TRUE(client->ListRunning().ok());
  EXPECT_EQ(fake->Calls("runtime.v1alpha2/Version"), 1);
  EXPECT_EQ(fake->Calls("runtime.v1alpha2/ListContainers"), 2);
}

TEST_F(CriTest, V1OnlyRuntime) {
  auto fake = Serve(FakeCri::Serve::kV1);
  auto client = Client();
  ASSERT_TRUE(client->ListRunning().ok());
  EXPECT_EQ(client->api(), "runtime.v1");
}

TEST_F(CriTest, RenegotiatesWhenTheRuntimeIsReplaced) {
  auto old = Serve(FakeCri::Serve::kV1Alpha2);
  auto client = Client();
  ASSERT_TRUE(client->ListRunning().ok());
  EXPECT_EQ(client->api(), "runtime.v1alpha2");
  old.reset();  // an upgrade: the new runtime speaks v1 only
  auto fresh = Serve(FakeCri::Serve::kV1);
  fresh->AddPod("ns", "p");
  absl::StatusOr<RuntimeSnapshot> snap;
  for (int i = 0; i < 20; ++i) {
    snap = client->ListRunning();
    if (snap.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(client->api(), "runtime.v1");
  EXPECT_EQ(RunningPods(*snap).size(), 1u);
}

TEST_F(CriTest, OnlyReadySandboxesWithRunningContainersCount) {
  auto fake = Serve(FakeCri::Serve::kV1);
  fake->AddPod("ns", "running");
  fake->AddPod("ns", "not-ready", /*ready=*/false);
  fake->AddPod("ns", "exited", true, 1, /*running=*/false);
  fake->AddPod("ns", "no-containers", true, 0);
  auto snap = Client()->ListRunning();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(RunningPods(*snap), (std::set<std::pair<std::string, std::string>>{{"ns", "running"}}));
  // The client asks for ready sandboxes and running containers only.
  EXPECT_EQ(snap->sandboxes.size(), 3u);
  EXPECT_EQ(snap->containers.size(), 2u) << "running, and not-ready's";
}

TEST_F(CriTest, MissingSocketIsUnavailableAndRecoversAtOnce) {
  auto client = Client();
  auto snap = client->ListRunning();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kUnavailable) << snap.status();
  auto fake = Serve(FakeCri::Serve::kV1Alpha2);
  // The very next call succeeds: no backoff holds the client after the failure.
  snap = client->ListRunning();
  EXPECT_TRUE(snap.ok()) << snap.status();
}

TEST_F(CriTest, CallsHaveADeadline) {
  auto fake = Serve(FakeCri::Serve::kV1);
  // The runtime stalls for a minute (released when the call returned): only the client's
  // deadline can end the call within 10x that deadline.
  fake->Delay(std::chrono::seconds(60));
  const auto deadline = std::chrono::milliseconds(200);
  auto client = Client(deadline);
  auto t0 = std::chrono::steady_clock::now();
  auto snap = client->ListRunning();
  auto took = std::chrono::steady_clock::now() - t0;
  fake->Delay(std::chrono::milliseconds(0));
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kDeadlineExceeded) << snap.status();
  EXPECT_LT(took, 10 * deadline);
}

TEST_F(CriTest, RuntimeErrorsArePassedOn) {
  auto fake = Serve(FakeCri::Serve::kV1);
  auto client = Client();
  ASSERT_TRUE(client->ListRunning().ok());
  fake->FailWith(grpc::StatusCode::INTERNAL);
  auto snap = client->ListRunning();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(snap.status().message().find("ListPodSandbox"), std::string::npos) << snap.status();
  fake->FailWith(0);
  EXPECT_TRUE(client->ListRunning().ok());
}

TEST_F(CriTest, LargeAnswers) {
  auto fake = Serve(FakeCri::Serve::kV1);
  // Long names so that each list is well over 1 MiB: many DATA frames and window updates.
  std::string pad(200, 'x');
  for (int i = 0; i < 3000; ++i) {
    fake->AddPod("ns-" + pad, "pod-" + std::to_string(i) + "-" + pad, /*ready=*/i % 7 != 0, /*containers=*/2);
  }
  auto client = Client(std::chrono::seconds(20));
  for (int round = 0; round < 2; ++round) {  // and again on the same connection
    auto snap = client->ListRunning();
    ASSERT_TRUE(snap.ok()) << snap.status();
    EXPECT_EQ(snap->sandboxes.size(), 3000u - 429u) << "ready ones only";
    EXPECT_EQ(snap->containers.size(), 6000u);
    EXPECT_EQ(RunningPods(*snap).size(), 3000u - 429u);
    EXPECT_EQ(snap->containers[0].ns, "ns-" + pad);
  }
  EXPECT_EQ(fake->Calls("runtime.v1/Version"), 1);
}

TEST_F(CriTest, AnswersOver16MiBAreRefused) {
  auto fake = Serve(FakeCri::Serve::kV1);
  std::string pad(1400, 'y');
  for (int i = 0; i < 6000; ++i) fake->AddPod("ns", "pod-" + std::to_string(i) + "-" + pad, true, 0);
  auto client = Client(std::chrono::seconds(30));
  auto snap = client->ListRunning();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kResourceExhausted) << snap.status();
  EXPECT_NE(snap.status().message().find("ListPodSandbox"), std::string::npos) << snap.status();
  fake->Clear();
  fake->AddPod("ns", "small");
  snap = client->ListRunning();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(RunningPods(*snap).size(), 1u);
}

TEST_F(CriTest, RuntimeRestartedBetweenCalls) {
  auto fake = Serve(FakeCri::Serve::kBoth);
  fake->AddPod("ns", "a");
  auto client = Client();
  ASSERT_TRUE(client->ListRunning().ok());
  fake.reset();  // closes our connection
  fake = Serve(FakeCri::Serve::kBoth);
  fake->AddPod("ns", "b");
  // The closed connection is noticed before the call: no call is lost to it.
  auto snap = client->ListRunning();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(RunningPods(*snap), (std::set<std::pair<std::string, std::string>>{{"ns", "b"}}));
  EXPECT_EQ(fake->Calls("runtime.v1/Version"), 1) << "a new connection may be a new runtime: negotiated again";
  // The runtime goes away for a while: Unavailable, naming the endpoint, the API and the method.
  fake.reset();
  snap = client->ListRunning();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kUnavailable) << snap.status();
  EXPECT_NE(snap.status().message().find(socket_), std::string::npos) << snap.status();
  EXPECT_NE(snap.status().message().find("runtime.v1 Version"), std::string::npos) << snap.status();
  fake = Serve(FakeCri::Serve::kV1);
  EXPECT_TRUE(client->ListRunning().ok());
}

TEST_F(CriTest, RuntimeMessagesArePassedOnDecoded) {
  auto fake = Serve(FakeCri::Serve::kV1);
  auto client = Client();
  fake->FailWith(grpc::StatusCode::PERMISSION_DENIED);
  auto v = client->Version();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(v.status().message().find("runtime.v1 Version: injected failure"), std::string::npos) << v.status();
}

TEST_F(CriTest, NeitherApiIsUnimplemented) {
  auto fake = Serve(FakeCri::Serve::kV1);
  fake->FailWith(grpc::StatusCode::UNIMPLEMENTED);
  auto client = Client();
  auto snap = client->ListRunning();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kUnimplemented) << snap.status();
  EXPECT_EQ(client->api(), "");
  fake->FailWith(0);
  EXPECT_TRUE(client->ListRunning().ok());
  EXPECT_EQ(client->api(), "runtime.v1");
}

}  // namespace
}  // namespace lifeboat::node
