// The watch of the API server's pods against a fake API server (testing/fake_pod_api.h) that
// lists, streams watch events, ends watches, compacts (410 Gone) and restarts on the same port.
#include "checkpoint/api_watcher.h"

#include <httplib.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "node/api_pods.h"
#include "testing/fake_pod_api.h"

namespace lifeboat::checkpoint {
namespace {

using std::chrono::milliseconds;

bool WaitFor(const std::function<bool()>& cond) {
  // Generous: a bound, not a measurement (convergence takes one event or one retry).
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return cond();
}

class ApiWatcherTest : public ::testing::Test {
 protected:
  void StartWatcher(ApiWatcherOptions o = {}, milliseconds timeout = milliseconds(2000)) {
    auto lister = node::ApiPodLister::Create(api_.Config(), "kube-system", "node-1", timeout);
    ASSERT_TRUE(lister.ok()) << lister.status();
    auto watch = node::ApiPodWatch::Create(api_.Config(), "kube-system", "node-1", timeout);
    ASSERT_TRUE(watch.ok()) << watch.status();
    o.retry_max = milliseconds(200);
    watcher_ =
        std::make_unique<ApiWatcher>("kube-system", *std::move(lister), *std::move(watch), o);
    watcher_->Start();
  }
  // The image of parent `name` as the watcher sees it ("" when absent or the API is unreadable).
  std::string Image(const std::string& name) {
    auto view = watcher_->View();
    if (!view.ok()) return "";
    auto it = view->parents->find(PodId{"kube-system", name});
    if (it == view->parents->end()) return "";
    auto pod = kube::ParseJson(it->second->text);
    return (*pod)["spec"]["containers"][0]["image"];
  }
  std::string Uid(const std::string& name) {
    auto view = watcher_->View();
    if (!view.ok() || !view->parents->count(PodId{"kube-system", name})) return "";
    return (
        *kube::ParseJson(view->parents->at(PodId{"kube-system", name})->text))["metadata"]["uid"];
  }
  lifeboat::testing::FakePodApi api_;
  std::unique_ptr<ApiWatcher> watcher_;
};

TEST_F(ApiWatcherTest, ListsOnceThenFollowsEvents) {
  api_.Put("a", "u1", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
  api_.Put("a", "u1", "v2");
  api_.Put("b", "u2", "v1");
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v2" && Image("b") == "v1"; }));
  api_.Delete("b");
  ASSERT_TRUE(WaitFor([&] { return Image("b").empty(); }));
  EXPECT_EQ(api_.lists(), 1) << "steady state: one list, then the watch";
  EXPECT_EQ(watcher_->lists(), 1u);
  // The server is asked to end the watch after 5 to 10 minutes, as client-go's reflector asks.
  for (int t : api_.watch_timeouts()) {
    EXPECT_GE(t, 300);
    EXPECT_LT(t, 600);
  }
}

TEST(ApiWatcherTimeoutTest, ServerTimeoutIsSpreadOverOneToTwiceTheBase) {
  std::set<int64_t> seen;
  for (uint64_t r = 0; r < 1000; ++r) {
    auto t = ApiWatcher::ServerTimeout(std::chrono::seconds(300), r * 7919);
    EXPECT_GE(t.count(), 300);
    EXPECT_LT(t.count(), 600);
    seen.insert(t.count());
  }
  EXPECT_GT(seen.size(), 100u) << "spread, not one value";
  EXPECT_EQ(ApiWatcher::ServerTimeout(std::chrono::seconds(1), 12345).count(), 1);
}

// The API server stops answering without closing anything (hung, or the network path to it
// lost): the open watch gets no byte and new requests no answer. The watcher says the API server
// cannot be read within a bound (the idle timeout, then the request timeout of the next attempt;
// asserted with 10x margin), and converges when it answers again, with what changed meanwhile.
TEST_F(ApiWatcherTest, SilentApiServerIsNoticedAndTheWatchResumes) {
  api_.Put("a", "u1", "v1");
  ApiWatcherOptions o;
  o.idle = milliseconds(300);
  const milliseconds request_timeout(300);
  StartWatcher(o, request_timeout);
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
  api_.Hang(true);
  auto hung_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return !watcher_->View().ok(); }));
  auto noticed = std::chrono::steady_clock::now() - hung_at;
  EXPECT_LT(noticed, 10 * (o.idle + request_timeout + o.retry_max));
  EXPECT_EQ(watcher_->View().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(watcher_->View().status().message().find("timed out"), absl::string_view::npos)
      << watcher_->View().status();
  api_.Put("a", "u1", "v2");  // changed while it could not be seen
  api_.Hang(false);
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v2"; }));
  EXPECT_TRUE(watcher_->View().ok());
}

TEST_F(ApiWatcherTest, DeletedAndRecreatedWithTheSameName) {
  api_.Put("a", "u1", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Uid("a") == "u1"; }));
  api_.Delete("a");
  api_.Put("a", "u2", "v1");
  ASSERT_TRUE(WaitFor([&] { return Uid("a") == "u2"; }));
}

TEST_F(ApiWatcherTest, ApiServerRestartedMidWatchResumesFromTheResourceVersion) {
  api_.Put("a", "u1", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
  api_.Stop();
  ASSERT_TRUE(WaitFor([&] { return !watcher_->View().ok(); }))
      << "an API server that is gone is unavailable";
  EXPECT_EQ(watcher_->View().status().code(), absl::StatusCode::kUnavailable);
  api_.Put("a", "u1", "v2");  // changed while we could not see it
  api_.Start();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v2"; }));
  EXPECT_EQ(api_.lists(), 1) << "resumed by resourceVersion, not relisted";
}

TEST_F(ApiWatcherTest, GoneRelists) {
  api_.Put("a", "u1", "v1");
  api_.Put("b", "u2", "v1");
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return Image("b") == "v1"; }));
  // Deleted and compacted while the server says nothing, so no watch can see the DELETED event
  // before its history is gone: only a relist can tell.
  api_.Hang(true);
  api_.Delete("b");
  api_.Compact();
  api_.Hang(false);
  ASSERT_TRUE(WaitFor([&] { return Image("b").empty() && Image("a") == "v1"; }));
  EXPECT_GE(api_.lists(), 2);
  ASSERT_TRUE(watcher_->View().ok());
}

TEST_F(ApiWatcherTest, UnreachableUntilTheFirstAnswer) {
  api_.Stop();
  StartWatcher();
  ASSERT_TRUE(WaitFor([&] { return watcher_->lists() >= 2; })) << "retried";
  EXPECT_FALSE(watcher_->View().ok());
  api_.Put("a", "u1", "v1");
  api_.Start();
  ASSERT_TRUE(WaitFor([&] { return Image("a") == "v1"; }));
}

}  // namespace
}  // namespace lifeboat::checkpoint
