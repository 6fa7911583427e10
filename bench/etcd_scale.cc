// bench_etcd_scale: how long reading N keys takes through the etcd client (gRPC pages) and through
// a snapshot of the same store, next to `etcdctl get --prefix` (`make bench-etcd`). The numbers
// the scale test (src/etcd/client_test.cc, EtcdScaleTest) used to assert; the test now checks
// only that every key comes back, in order.
//
//   bench_etcd_scale [--keys 100000] [--value-bytes 300] [--runs 3] [--no-tls]
//
// Starts a real etcd (Debian's) on free loopback ports, seeds it, and prints one line per
// measurement with the median and every run, in seconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "etcd/client.h"
#include "etcd/etcd_testing.h"
#include "etcd/snapshot.h"

namespace {

using lifeboat::etcd::EtcdClient;
using lifeboat::etcd::EtcdClientOptions;
using lifeboat::etcd::KeyValue;
using lifeboat::etcd::SnapshotOptions;
using lifeboat::etcd::SnapshotReader;
using lifeboat::etcd::testing::EtcdServer;
using lifeboat::etcd::testing::EtcdServerOptions;

double Seconds(const std::function<bool()>& f, bool* ok) {
  auto t0 = std::chrono::steady_clock::now();
  *ok = f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs `f` `runs` times; prints "<label>: median s (runs: ...)"; false if a run failed.
bool Measure(const char* label, int runs, const std::function<bool()>& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    bool ok = false;
    t.push_back(Seconds(f, &ok));
    if (!ok) {
      std::fprintf(stderr, "bench_etcd_scale: %s failed\n", label);
      return false;
    }
  }
  std::vector<double> sorted = t;
  std::sort(sorted.begin(), sorted.end());
  std::string all;
  for (double x : t) all += absl::StrFormat("%s%.3f", all.empty() ? "" : " ", x);
  std::printf("%-44s %8.3f s   (runs: %s)\n", label, sorted[sorted.size() / 2], all.c_str());
  std::fflush(stdout);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int keys = 100000, value_bytes = 300, runs = 3;
  bool tls = true;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](int* v) {
      if (i + 1 >= argc || (*v = std::atoi(argv[++i])) <= 0) {
        std::fprintf(stderr, "bench_etcd_scale: %s needs a positive number\n", argv[i - 1]);
        std::exit(2);
      }
    };
    if (!std::strcmp(argv[i], "--keys")) {
      next(&keys);
    } else if (!std::strcmp(argv[i], "--value-bytes")) {
      next(&value_bytes);
    } else if (!std::strcmp(argv[i], "--runs")) {
      next(&runs);
    } else if (!std::strcmp(argv[i], "--no-tls")) {
      tls = false;
    } else {
      std::fprintf(stderr,
                   "usage: bench_etcd_scale [--keys N] [--value-bytes N] [--runs N] [--no-tls]\n");
      return 2;
    }
  }

  EtcdServerOptions so;
  so.tls = tls;
  auto etcd = EtcdServer::Start(so);
  if (!etcd.ok()) {
    std::fprintf(stderr, "bench_etcd_scale: %s\n", etcd.status().ToString().c_str());
    return 1;
  }
  const std::string value(value_bytes, 'v');
  std::vector<std::pair<std::string, std::string>> kvs;
  kvs.reserve(keys);
  for (int i = 0; i < keys; ++i) {
    kvs.emplace_back(absl::StrFormat("/registry/secrets/ns-%02d/secret-%06d", i % 50, i), value);
  }
  std::printf("etcd %s, %d keys of %d-byte values, %d runs each (load average at start: ",
              tls ? "with TLS" : "plain http", keys, value_bytes, runs);
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f)) std::printf("%.*s", static_cast<int>(std::strcspn(buf, " ")), buf);
    std::fclose(f);
  }
  std::printf(")\n");
  bool ok = Measure("seed (batched Txn over gRPC)", 1, [&] { return (*etcd)->PutMany(kvs).ok(); });

  EtcdClientOptions o;
  o.endpoints = (*etcd)->endpoint();
  o.ca_file = (*etcd)->ca_file();
  o.cert_file = (*etcd)->cert_file();
  o.key_file = (*etcd)->key_file();
  o.request_timeout = std::chrono::minutes(1);
  auto client = EtcdClient::Connect(o);
  if (!client.ok()) {
    std::fprintf(stderr, "bench_etcd_scale: %s\n", client.status().ToString().c_str());
    return 1;
  }
  auto count_range = [&](lifeboat::etcd::KvReader& r) {
    size_t n = 0;
    absl::Status st = r.Range("/registry/", [&](KeyValue&&) {
      ++n;
      return absl::OkStatus();
    });
    return st.ok() && n == static_cast<size_t>(keys);
  };
  ok = ok && Measure("lifeboat gRPC Range (paged)", runs, [&] { return count_range(**client); });
  ok = ok && Measure("etcdctl get --prefix", runs, [&] {
    return (*etcd)->Etcdctl({"get", "--prefix", "/registry/", "--command-timeout=120s"}).ok();
  });
  const std::string snap = (*etcd)->dir() + "/scale.db";
  ok = ok && (*etcd)->Etcdctl({"snapshot", "save", snap}).ok();
  if (ok) {
    std::printf("snapshot file: %.1f MiB\n", std::filesystem::file_size(snap) / 1048576.0);
  }
  std::unique_ptr<SnapshotReader> reader;
  ok = ok && Measure("snapshot open + index (SHA-256 checked)", runs, [&] {
    auto r = SnapshotReader::Open(snap);
    if (!r.ok()) return false;
    reader = std::move(*r);
    return true;
  });
  ok = ok && Measure("snapshot open + index (--skip-hash-check)", runs, [&] {
    SnapshotOptions skip;
    skip.skip_hash_check = true;
    return SnapshotReader::Open(snap, skip).ok();
  });
  ok = ok && Measure("snapshot Range", runs, [&] { return count_range(*reader); });
  return ok ? 0 : 1;
}
