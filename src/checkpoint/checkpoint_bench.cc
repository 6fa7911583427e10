// Cost of the checkpointer's tick with 100 annotated pods on the node, in process, with the
// kubelet/runtime/API answers held in memory (so only our own work and the disk are measured):
//   checkpoint_bench [pods] [ticks]
// Prints CPU per steady-state tick, per tick when the kubelet's answer changed, and resident
// memory. The same pod spec as the test bed's kube-apiserver (testdata/checkpoint/sanitize).
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "checkpoint/checkpointer.h"
#include "testing/fake_sources.h"

namespace lifeboat::checkpoint {
namespace {

namespace fs = std::filesystem;

// FakeSources re-encodes its pods on every call; a real kubelet answer is just bytes received,
// and the API server's parents are what the watch last delivered (nothing per tick in steady
// state). Keep both and rebuild them only when the test changes a pod.
class BenchSources : public lifeboat::testing::FakeSources {
 public:
  void Encode() {
    kubelet_ = std::string(*FakeSources::KubeletPods());
    view_ = *FakeSources::ApiParents();
  }
  absl::StatusOr<std::string> KubeletPods() override { return kubelet_; }
  absl::StatusOr<ApiView> ApiParents() override { return view_; }
  std::string kubelet_;
  ApiView view_;
};

double CpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int Main(int argc, char** argv) {
  int pods = argc > 1 ? std::atoi(argv[1]) : 100;
  int ticks = argc > 2 ? std::atoi(argv[2]) : 2000;
  fs::path golden = fs::path(LIFEBOAT_SOURCE_DIR) / "testdata/checkpoint/sanitize";
  std::ifstream pin(golden / "kube-apiserver.parent.json");
  Json parent = Json::parse(pin);
  std::ifstream oin(golden / "kube-system.objects.json");
  Json objects = Json::parse(oin);

  BenchSources src;
  for (auto& o : objects["items"]) {
    src.objects[absl::StrCat(o["kind"].get<std::string>(), "/", o["metadata"]["name"].get<std::string>())] = o;
  }
  for (int i = 0; i < pods; ++i) {
    Json p = parent;
    p["metadata"]["name"] = absl::StrCat("kube-apiserver-", i);
    p["metadata"]["uid"] = absl::StrCat("uid-", i);
    src.AddParent(p);
  }
  src.Encode();
  std::printf("kubelet /pods %zu bytes, %zu parents from the API server\n", src.kubelet_.size(),
              src.view_.parents->size());
  char tmpl[] = "/tmp/lifeboat-bench-XXXXXX";
  fs::path root = ::mkdtemp(tmpl);
  Layout layout{root / "inactive", root / "manifests", root / "secrets", root / "configmaps"};
  Store store(layout);
  if (!store.Init().ok()) return 1;
  Metrics metrics;
  Options o;
  o.pod_namespace = "kube-system";
  o.node_name = "node-1";
  o.refresh = std::chrono::hours(1);
  Checkpointer c(o, src, store, metrics);
  Time now = Time{} + std::chrono::hours(1);

  long rss_before = RssKiB();
  double t0 = CpuSeconds();
  c.Tick(now);
  double first = CpuSeconds() - t0;
  t0 = CpuSeconds();
  for (int i = 0; i < ticks; ++i) c.Tick(now += std::chrono::seconds(1));
  double steady = (CpuSeconds() - t0) / ticks;
  // The daemon's default: the kubelet is read when its answer decides a state (never in steady
  // state), and once a minute.
  Options lazy = o;
  lazy.kubelet_refresh = std::chrono::minutes(1);
  Checkpointer lazy_c(lazy, src, store, metrics);
  lazy_c.Tick(now += std::chrono::seconds(1));
  t0 = CpuSeconds();
  for (int i = 0; i < ticks; ++i) lazy_c.Tick(now += std::chrono::seconds(1));
  double steady_lazy = (CpuSeconds() - t0) / ticks;
  // The kubelet's answer changes every tick (one pod's status flips): that pod is parsed again,
  // nothing is rewritten.
  auto& flipping = src.kubelet.begin()->second;
  flipping["status"]["phase"] = "Pending";
  src.Encode();
  std::string pending = src.kubelet_;
  flipping["status"]["phase"] = "Running";
  src.Encode();
  std::string running = src.kubelet_;
  int changed_ticks = ticks / 4;
  t0 = CpuSeconds();
  for (int i = 0; i < changed_ticks; ++i) {
    std::swap(src.kubelet_, i % 2 ? running : pending);
    c.Tick(now += std::chrono::seconds(1));
    std::swap(src.kubelet_, i % 2 ? running : pending);
  }
  double reparse = (CpuSeconds() - t0) / changed_ticks;
  // What --refresh-period costs once per period (every Secret/ConfigMap fetched again), and
  // --verify-period once per period (every checkpoint rebuilt and compared with the disk).
  for (bool verify : {false, true}) {
    Options ro = o;
    (verify ? ro.verify : ro.refresh) = Duration::zero();
    Checkpointer again(ro, src, store, metrics);
    again.Tick(now += std::chrono::seconds(1));
    int gets = src.object_gets;
    t0 = CpuSeconds();
    again.Tick(now += std::chrono::seconds(1));
    std::printf("%s of all %d checkpoints: %.1f ms CPU, %d Secret/ConfigMap reads\n", verify ? "verify" : "refresh",
                pods, (CpuSeconds() - t0) * 1e3, src.object_gets - gets);
  }
  std::printf("pods=%d first tick (write %d checkpoints): %.1f ms CPU\n", pods, pods, first * 1e3);
  std::printf("steady-state tick: %.3f ms CPU (%d ticks) with the kubelet read every tick, %.3f ms with the default --kubelet-refresh-period=1m\n",
              steady * 1e3, ticks, steady_lazy * 1e3);
  std::printf("tick after the kubelet's answer changed: %.3f ms CPU\n", reparse * 1e3);
  std::printf("resident memory: %ld KiB (%ld KiB before the first tick, test data included)\n", RssKiB(),
              rss_before);
  std::error_code ec;
  fs::remove_all(root, ec);
  return 0;
}

}  // namespace
}  // namespace lifeboat::checkpoint

int main(int argc, char** argv) { return lifeboat::checkpoint::Main(argc, argv); }
