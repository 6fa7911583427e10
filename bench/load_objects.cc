// bench_load_objects: creates Secrets and ConfigMaps through the real API server, for the
// benchmarks (bench/run.sh). Objects are named bench-secret-NNNNNN / bench-config-NNNNNN, indices
// [--from, --to) of each kind, so a namespace can be grown step by step (1k -> 10k -> ...). An
// object that already exists counts as created, so a run can be repeated or resumed.
//
//   bench_load_objects --kubeconfig KC --from 0 --to 5000 [--namespace kube-system]
//                      [--threads 16] [--bytes 1024] [--kinds secrets,configmaps]
//
// Each object carries about --bytes of data (Secret: raw bytes, base64 in JSON; ConfigMap: text),
// pseudo-random per object so nothing is shared or trivially compressible, plus a label
// `lifeboat.bench/object=true`. Several worker threads keep requests in flight, each with its own
// API client (one keep-alive connection each). Busy answers (429, 5xx, timeouts) are retried.
// Progress goes to stderr; the last stdout line is `created=N existed=M seconds=S rate=R/s`.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "apiserver/client.h"
#include "kube/kubeconfig.h"
#include "random_data.h"

namespace {

using lifeboat::bench::RandomBytes;
using lifeboat::bench::RandomText;
using lifeboat::bench::Rng;

using lifeboat::apiserver::Client;
using lifeboat::kube::Json;

struct Options {
  std::string kubeconfig;
  std::string ns = "kube-system";
  int64_t from = 0;
  int64_t to = 0;
  int threads = 16;
  int bytes = 1024;
  bool secrets = true;
  bool configmaps = true;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr << "bench_load_objects: " << why << "\n"
            << "usage: bench_load_objects --kubeconfig KC --from I --to J [--namespace NS]\n"
            << "         [--threads T] [--bytes B] [--kinds secrets,configmaps]\n";
  std::exit(2);
}

int64_t ParseInt(const std::string& flag, const char* text) {
  char* end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v < 0) Usage(absl::StrCat(flag, ": not a number: ", text));
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    auto eq = a.find('=');
    bool has_value = false;
    if (a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--kubeconfig") {
      o.kubeconfig = next();
    } else if (a == "--namespace") {
      o.ns = next();
    } else if (a == "--from") {
      o.from = ParseInt(a, next().c_str());
    } else if (a == "--to") {
      o.to = ParseInt(a, next().c_str());
    } else if (a == "--threads") {
      o.threads = static_cast<int>(ParseInt(a, next().c_str()));
    } else if (a == "--bytes") {
      o.bytes = static_cast<int>(ParseInt(a, next().c_str()));
    } else if (a == "--kinds") {
      o.secrets = o.configmaps = false;
      for (absl::string_view k : absl::StrSplit(next(), ',')) {
        if (k == "secrets") {
          o.secrets = true;
        } else if (k == "configmaps") {
          o.configmaps = true;
        } else {
          Usage(absl::StrCat("--kinds: unknown kind ", k));
        }
      }
    } else if (a == "-h" || a == "--help") {
      Usage("help");
    } else {
      Usage("unknown argument " + a);
    }
  }
  if (o.to < o.from) Usage("--to must be >= --from");
  if (o.threads < 1 || o.threads > 256) Usage("--threads must be 1..256");
  return o;
}


std::string Base64(const std::string& in) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}



Json Metadata(const std::string& name, const std::string& ns) {
  return Json{{"name", name},
              {"namespace", ns},
              {"labels", {{"lifeboat.bench/object", "true"}}},
              {"annotations", {{"lifeboat.bench/purpose", "recover benchmark load"}}}};
}

// Secret: a kubernetes.io/tls-like pair of keys holding `bytes` raw bytes in total.
Json MakeSecret(int64_t i, const Options& o) {
  Rng rng(static_cast<uint64_t>(i) * 2 + 1);
  int half = o.bytes / 2;
  return Json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", Metadata(absl::StrFormat("bench-secret-%06d", i), o.ns)},
              {"type", "Opaque"},
              {"data",
               {{"tls.crt", Base64(RandomBytes(rng, half))},
                {"tls.key", Base64(RandomBytes(rng, o.bytes - half))}}}};
}

// ConfigMap: one config file of `bytes` characters.
Json MakeConfigMap(int64_t i, const Options& o) {
  Rng rng(static_cast<uint64_t>(i) * 2 + 2);
  return Json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", Metadata(absl::StrFormat("bench-config-%06d", i), o.ns)},
              {"data", {{"config.yaml", RandomText(rng, o.bytes)}}}};
}

struct Shared {
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> created{0};
  std::atomic<int64_t> existed{0};
  std::atomic<int64_t> retries{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error;
};

bool Retryable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

void Worker(const Options& o, const lifeboat::kube::Kubeconfig& kc, int64_t total,
            Shared& shared) {
  auto client_or = Client::Create(kc);
  if (!client_or.ok()) {
    std::lock_guard<std::mutex> l(shared.mu);
    shared.error = client_or.status().ToString();
    shared.failed = true;
    return;
  }
  Client& client = **client_or;
  const std::string secrets = absl::StrCat("/api/v1/namespaces/", o.ns, "/secrets");
  const std::string configmaps = absl::StrCat("/api/v1/namespaces/", o.ns, "/configmaps");
  const int kinds = (o.secrets ? 1 : 0) + (o.configmaps ? 1 : 0);
  while (!shared.failed) {
    int64_t n = shared.next.fetch_add(1);
    if (n >= total) return;
    // Interleave the kinds so both grow together.
    int64_t index = o.from + n / kinds;
    bool secret = o.secrets && (kinds == 1 || n % 2 == 0);
    Json body = secret ? MakeSecret(index, o) : MakeConfigMap(index, o);
    const std::string& path = secret ? secrets : configmaps;
    for (int attempt = 0;; ++attempt) {
      auto r = client.Post(path, body);
      if (r.ok()) {
        shared.created.fetch_add(1);
        break;
      }
      if (r.status().code() == absl::StatusCode::kAlreadyExists) {
        shared.existed.fetch_add(1);
        break;
      }
      if (Retryable(r.status()) && attempt < 20) {
        shared.retries.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(50 << std::min(attempt, 5)));
        continue;
      }
      std::lock_guard<std::mutex> l(shared.mu);
      shared.error = r.status().ToString();
      shared.failed = true;
      return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  if (!o.secrets && !o.configmaps) Usage("--kinds: nothing to create");
  auto kc = lifeboat::kube::LoadKubeconfig(o.kubeconfig);
  if (!kc.ok()) {
    std::cerr << "bench_load_objects: " << kc.status() << "\n";
    return 1;
  }
  const int kinds = (o.secrets ? 1 : 0) + (o.configmaps ? 1 : 0);
  const int64_t total = (o.to - o.from) * kinds;
  Shared shared;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) workers.emplace_back(Worker, std::cref(o), std::cref(*kc), total, std::ref(shared));

  // Progress every 5 s until the workers are done.
  std::thread progress([&] {
    auto last = std::chrono::steady_clock::now();
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      int64_t done = shared.created + shared.existed;
      if (done >= total || shared.failed) return;
      auto now = std::chrono::steady_clock::now();
      if (now - last >= std::chrono::seconds(5)) {
        last = now;
        double s = std::chrono::duration<double>(now - t0).count();
        std::cerr << absl::StrFormat("  bench_load_objects: %d/%d objects, %.0f/s\n", done, total,
                                     done / s);
      }
    }
  });
  for (auto& w : workers) w.join();
  progress.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (shared.failed) {
    std::cerr << "bench_load_objects: " << shared.error << "\n";
    return 1;
  }
  int64_t done = shared.created + shared.existed;
  std::cout << absl::StrFormat("created=%d existed=%d retries=%d seconds=%.1f rate=%.0f/s\n",
                               shared.created.load(), shared.existed.load(),
                               shared.retries.load(), seconds, seconds > 0 ? done / seconds : 0.0);
  return 0;
}
