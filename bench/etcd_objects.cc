// bench_etcd_objects: writes objects straight into etcd as a Kubernetes 1.36 API server stores
// them, for the benchmarks (bench/run.sh). The test bed's API server is 1.20, which does not write
// the fields every release since 1.22 writes; recover must be measured on what clusters hold
// today, so this tool writes the values itself, byte for byte as 1.36's generated marshallers do
// (protobuf in the `k8s\0` runtime.Unknown envelope, every non-pointer field written, empty or
// not, in field-number order).
//
//   bench_etcd_objects put --endpoints URL [--cacert F --cert F --key F] --from I --to J
//       [--namespace NS] [--namespaces N] [--bytes B] [--kinds secrets,configmaps]
//       [--prefix /registry] [--batch 100] [--threads 4]
//     Secrets bench-secret-NNNNNN and ConfigMaps bench-config-NNNNNN, indices [I, J) of each
//     kind, each with about B bytes of data; with --namespaces N > 1 the objects are spread over
//     namespaces NS-0 .. NS-(N-1) (index modulo N). Puts go in transactions of --batch.
//   bench_etcd_objects upgrade --endpoints URL [...] [--namespace kube-system] [--prefix ...]
//     Rewrites the DaemonSets, Deployments, Secrets and ConfigMaps of a namespace that an older
//     API server stored, adding what 1.36 always writes: ManagedFieldsEntry.subresource (8) on
//     every managedFields entry, RollingUpdateDaemonSet.maxSurge (2, defaulted to 0) and
//     DeploymentStatus.terminatingReplicas (9), and drops ObjectMeta.clusterName (15), which 1.36
//     no longer has. Values already so are left alone.
//
// Field numbers are those of k8s.io/api and k8s.io/apimachinery v0.36.3 generated.proto.
// The last stdout line is `written=N seconds=S rate=R/s`.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/varint.h"
#include "random_data.h"
#include "etcd/rpc.grpc.pb.h"

namespace {

using lifeboat::bench::RandomBytes;
using lifeboat::bench::RandomText;
using lifeboat::bench::Rng;

struct Options {
  std::string mode;
  std::string endpoints;
  std::string cacert, cert, key;
  std::string prefix = "/registry";
  std::string ns = "kube-system";
  int namespaces = 1;
  int64_t from = 0, to = 0;
  int bytes = 1024;
  int batch = 100;
  int threads = 4;
  bool secrets = true, configmaps = true;
};

[[noreturn]] void Usage(const std::string& why) {
  std::cerr
      << "bench_etcd_objects: " << why << "\n"
      << "usage: bench_etcd_objects put|upgrade --endpoints URL [--cacert F --cert F --key F]\n"
      << "         [--from I --to J] [--namespace NS] [--namespaces N] [--bytes B]\n"
      << "         [--kinds secrets,configmaps] [--prefix /registry] [--batch N] [--threads T]\n";
  std::exit(2);
}

int64_t ParseInt(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0) Usage(absl::StrCat(flag, ": not a number: ", text));
  return v;
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  if (argc < 2) Usage("no mode");
  o.mode = argv[1];
  if (o.mode != "put" && o.mode != "upgrade") Usage("mode must be put or upgrade");
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i], value;
    bool has_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--endpoints")
      o.endpoints = next();
    else if (a == "--cacert")
      o.cacert = next();
    else if (a == "--cert")
      o.cert = next();
    else if (a == "--key")
      o.key = next();
    else if (a == "--prefix")
      o.prefix = next();
    else if (a == "--namespace")
      o.ns = next();
    else if (a == "--namespaces")
      o.namespaces = static_cast<int>(ParseInt(a, next()));
    else if (a == "--from")
      o.from = ParseInt(a, next());
    else if (a == "--to")
      o.to = ParseInt(a, next());
    else if (a == "--bytes")
      o.bytes = static_cast<int>(ParseInt(a, next()));
    else if (a == "--batch")
      o.batch = static_cast<int>(ParseInt(a, next()));
    else if (a == "--threads")
      o.threads = static_cast<int>(ParseInt(a, next()));
    else if (a == "--kinds") {
      o.secrets = o.configmaps = false;
      for (absl::string_view k : absl::StrSplit(next(), ',')) {
        if (k == "secrets")
          o.secrets = true;
        else if (k == "configmaps")
          o.configmaps = true;
        else
          Usage(absl::StrCat("--kinds: unknown kind ", k));
      }
    } else
      Usage("unknown argument " + a);
  }
  if (o.endpoints.empty()) Usage("--endpoints is required");
  if (o.to < o.from) Usage("--to must be >= --from");
  if (o.batch < 1 || o.batch > 128) Usage("--batch must be 1..128 (etcd's --max-txn-ops)");
  if (o.threads < 1 || o.threads > 64) Usage("--threads must be 1..64");
  if (o.namespaces < 1) Usage("--namespaces must be >= 1");
  return o;
}

// ---- protobuf wire writing, in field-number order as the generated marshallers do ----------

class Msg {
 public:
  Msg& Varint(uint32_t field, uint64_t v) {
    Tag(field, 0);
    Raw(v);
    return *this;
  }
  Msg& Bytes(uint32_t field, absl::string_view v) {
    Tag(field, 2);
    Raw(v.size());
    out_.append(v.data(), v.size());
    return *this;
  }
  Msg& Sub(uint32_t field, const Msg& m) { return Bytes(field, m.out_); }
  Msg& MapEntry(uint32_t field, absl::string_view k, absl::string_view v) {
    return Sub(field, Msg().Bytes(1, k).Bytes(2, v));
  }
  const std::string& str() const { return out_; }

 private:
  void Tag(uint32_t field, int type) { Raw((uint64_t{field} << 3) | type); }
  void Raw(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

// runtime.Unknown{typeMeta{apiVersion, kind}, raw, contentEncoding "", contentType ""} behind
// the `k8s\0` magic.
std::string Envelope(absl::string_view api_version, absl::string_view kind, const Msg& object) {
  Msg u;
  u.Sub(1, Msg().Bytes(1, api_version).Bytes(2, kind))
      .Bytes(2, object.str())
      .Bytes(3, "")
      .Bytes(4, "");
  return std::string("k8s\0", 4) + u.str();
}

Msg Time(int64_t seconds) { return Msg().Varint(1, static_cast<uint64_t>(seconds)).Varint(2, 0); }

// ObjectMeta as 1.36 stores it for an object created by `kubectl apply`-like clients: every
// non-pointer field written; resourceVersion empty (etcd's revision is the version).
Msg ObjectMeta(const std::string& name, const std::string& ns, uint64_t uid_seed,
               absl::string_view fields_v1, absl::string_view api_version) {
  constexpr int64_t kCreated = 1764460800;  // 2025-11-30T00:00:00Z
  std::string uid = absl::StrFormat(
      "%08x-%04x-4%03x-8%03x-%012x", uid_seed & 0xffffffff, (uid_seed >> 32) & 0xffff,
      uid_seed & 0xfff, (uid_seed >> 12) & 0xfff, uid_seed * 0x9E3779B97F4A7C15ULL >> 16);
  Msg managed;
  managed.Bytes(1, "kubectl-client-side-apply")
      .Bytes(2, "Update")
      .Bytes(3, api_version)
      .Sub(4, Time(kCreated))
      .Bytes(6, "FieldsV1")
      .Sub(7, Msg().Bytes(1, fields_v1))
      .Bytes(8, "");  // subresource: written, empty, by every release since 1.22
  Msg m;
  m.Bytes(1, name)
      .Bytes(2, "")
      .Bytes(3, ns)
      .Bytes(4, "")
      .Bytes(5, uid)
      .Bytes(6, "")
      .Varint(7, 0)
      .Sub(8, Time(kCreated))
      .MapEntry(11, "lifeboat.bench/object", "true")
      .MapEntry(12, "lifeboat.bench/purpose", "recover benchmark load")
      .Sub(17, managed);
  return m;
}




std::string Namespace(const Options& o, int64_t i) {
  return o.namespaces == 1 ? o.ns : absl::StrCat(o.ns, "-", i % o.namespaces);
}

// {key, value} of Secret i: a kubernetes.io/tls-like pair of keys holding `bytes` raw bytes.
std::pair<std::string, std::string> MakeSecret(const Options& o, int64_t i) {
  Rng rng(static_cast<uint64_t>(i) * 2 + 1);
  int half = o.bytes / 2;
  std::string name = absl::StrFormat("bench-secret-%06d", i), ns = Namespace(o, i);
  Msg s;
  s.Sub(
       1,
       ObjectMeta(
           name, ns, i * 2 + 1,
           R"({"f:data":{".":{},"f:tls.crt":{},"f:tls.key":{}},"f:metadata":{"f:annotations":{".":{},"f:lifeboat.bench/purpose":{}},"f:labels":{".":{},"f:lifeboat.bench/object":{}}},"f:type":{}})",
           "v1"))
      .MapEntry(2, "tls.crt", RandomBytes(rng, half))
      .MapEntry(2, "tls.key", RandomBytes(rng, o.bytes - half))
      .Bytes(3, "Opaque");
  return {absl::StrCat(o.prefix, "/secrets/", ns, "/", name), Envelope("v1", "Secret", s)};
}

std::pair<std::string, std::string> MakeConfigMap(const Options& o, int64_t i) {
  Rng rng(static_cast<uint64_t>(i) * 2 + 2);
  std::string name = absl::StrFormat("bench-config-%06d", i), ns = Namespace(o, i);
  Msg c;
  c.Sub(
       1,
       ObjectMeta(
           name, ns, i * 2 + 2,
           R"({"f:data":{".":{},"f:config.yaml":{}},"f:metadata":{"f:annotations":{".":{},"f:lifeboat.bench/purpose":{}},"f:labels":{".":{},"f:lifeboat.bench/object":{}}}})",
           "v1"))
      .MapEntry(2, "config.yaml", RandomText(rng, o.bytes));
  return {absl::StrCat(o.prefix, "/configmaps/", ns, "/", name), Envelope("v1", "ConfigMap", c)};
}

// ---- rewriting stored values -------------------------------------------------------------

// One field of a message: its number, wire type, the bytes of the whole field (tag included)
// and, for length-delimited fields, the payload.
struct RawField {
  uint32_t number;
  int type;
  absl::string_view whole, payload;
};

bool Fields(absl::string_view msg, std::vector<RawField>* out) {
  std::string_view rest(msg.data(), msg.size());
  while (!rest.empty()) {
    const char* start = rest.data();
    uint64_t tag, v;
    if (lifeboat::base::ConsumeVarint(rest, tag) != lifeboat::base::VarintError::kNone)
      return false;
    RawField f{static_cast<uint32_t>(tag >> 3), static_cast<int>(tag & 7), {}, {}};
    switch (f.type) {
      case 0:
        if (lifeboat::base::ConsumeVarint(rest, v) != lifeboat::base::VarintError::kNone)
          return false;
        break;
      case 1:
      case 5: {
        size_t n = f.type == 1 ? 8 : 4;
        if (rest.size() < n) return false;
        rest.remove_prefix(n);
        break;
      }
      case 2:
        if (lifeboat::base::ConsumeVarint(rest, v) != lifeboat::base::VarintError::kNone ||
            v > rest.size()) {
          return false;
        }
        f.payload = absl::string_view(rest.data(), v);
        rest.remove_prefix(v);
        break;
      default:
        return false;
    }
    f.whole = absl::string_view(start, static_cast<size_t>(rest.data() - start));
    out->push_back(f);
  }
  return true;
}

using Edit = std::function<bool(std::string&)>;  // edits a payload; false: unchanged

// Applies `edit` to the payload of every field at `path` (field numbers, outermost first). With
// `create`, a missing last field is added with an empty payload first. Returns whether anything
// changed; `msg` is rewritten in place.
bool EditAt(std::string& msg, const std::vector<uint32_t>& path, size_t depth, const Edit& edit,
            bool create) {
  std::vector<RawField> fields;
  if (!Fields(msg, &fields)) return false;
  bool changed = false, found = false;
  std::string out;
  for (const RawField& f : fields) {
    if (f.number != path[depth] || f.type != 2) {
      out.append(f.whole.data(), f.whole.size());
      continue;
    }
    found = true;
    std::string payload(f.payload);
    bool c =
        depth + 1 == path.size() ? edit(payload) : EditAt(payload, path, depth + 1, edit, create);
    changed |= c;
    out += Msg().Bytes(f.number, payload).str();
  }
  if (!found && create && depth + 1 == path.size()) {
    std::string payload;
    edit(payload);
    out += Msg().Bytes(path[depth], payload).str();
    changed = true;
  }
  if (changed) msg = std::move(out);
  return changed;
}

bool HasField(absl::string_view msg, uint32_t number) {
  std::vector<RawField> fields;
  if (!Fields(msg, &fields)) return true;  // leave what we cannot read alone
  for (const RawField& f : fields) {
    if (f.number == number) return true;
  }
  return false;
}

Edit AddIfMissing(uint32_t number, std::string field_bytes) {
  return [number, field_bytes](std::string& payload) {
    if (HasField(payload, number)) return false;
    payload += field_bytes;
    return true;
  };
}

Edit Remove(uint32_t number) {
  return [number](std::string& payload) {
    std::vector<RawField> fields;
    if (!Fields(payload, &fields)) return false;
    std::string out;
    for (const RawField& f : fields) {
      if (f.number != number) out.append(f.whole.data(), f.whole.size());
    }
    if (out.size() == payload.size()) return false;
    payload = std::move(out);
    return true;
  };
}

// Adds 1.36's always-written fields to a stored value (`k8s\0` + Unknown). Returns whether the
// value changed.
bool Upgrade(absl::string_view key, std::string& value) {
  if (value.compare(0, 4, std::string("k8s\0", 4)) != 0) return false;  // JSON or encrypted
  std::string unknown = value.substr(4);
  // Unknown.raw (2) -> object.metadata (1) -> managedFields (17): subresource (8) = "".
  bool changed = EditAt(unknown, {2, 1, 17}, 0, AddIfMissing(8, Msg().Bytes(8, "").str()), false);
  // Unknown.raw -> object.metadata: clusterName (15), which 1.20 wrote and 1.36 no longer has.
  changed |= EditAt(unknown, {2, 1}, 0, Remove(15), false);
  if (key.find("/daemonsets/") != absl::string_view::npos) {
    // spec (2) -> updateStrategy (3) -> rollingUpdate (2): maxSurge (2) = IntOrString{Int, 0}.
    changed |= EditAt(
        unknown, {2, 2, 3, 2}, 0,
        AddIfMissing(2, Msg().Sub(2, Msg().Varint(1, 0).Varint(2, 0).Bytes(3, "")).str()), false);
  }
  if (key.find("/deployments/") != absl::string_view::npos) {
    // status (3): terminatingReplicas (9) = 0.
    changed |= EditAt(unknown, {2, 3}, 0, AddIfMissing(9, Msg().Varint(9, 0).str()), true);
  }
  if (changed) value = std::string("k8s\0", 4) + unknown;
  return changed;
}

// ---- etcd ---------------------------------------------------------------------------------

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Usage("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<grpc::Channel> Connect(const Options& o) {
  std::string target = o.endpoints.substr(0, o.endpoints.find(','));
  bool tls = target.rfind("https://", 0) == 0;
  if (auto p = target.find("://"); p != std::string::npos) target = target.substr(p + 3);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!o.cacert.empty()) ssl.pem_root_certs = ReadFileOrDie(o.cacert);
    if (!o.cert.empty()) ssl.pem_cert_chain = ReadFileOrDie(o.cert);
    if (!o.key.empty()) ssl.pem_private_key = ReadFileOrDie(o.key);
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  return grpc::CreateCustomChannel(target, creds, args);
}

bool Txn(etcdserverpb::KV::Stub& kv, const std::vector<std::pair<std::string, std::string>>& puts,
         std::string* error) {
  etcdserverpb::TxnRequest req;
  for (const auto& [k, v] : puts) {
    auto* put = req.add_success()->mutable_request_put();
    put->set_key(k);
    put->set_value(v);
  }
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    etcdserverpb::TxnResponse resp;
    grpc::Status st = kv.Txn(&ctx, req, &resp);
    if (st.ok()) return true;
    bool busy = st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
    if (!busy || attempt >= 20) {
      *error = st.error_message();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * (attempt + 1)));
  }
}

int Put(const Options& o) {
  auto channel = Connect(o);
  const int64_t per_kind = o.to - o.from;
  const int kinds = (o.secrets ? 1 : 0) + (o.configmaps ? 1 : 0);
  const int64_t total = per_kind * kinds;
  std::atomic<int64_t> next{0}, written{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error;
  auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    auto kv = etcdserverpb::KV::NewStub(channel);
    std::vector<std::pair<std::string, std::string>> batch;
    while (!failed) {
      int64_t first = next.fetch_add(o.batch);
      if (first >= total) break;
      batch.clear();
      for (int64_t j = first; j < std::min(total, first + o.batch); ++j) {
        // Interleave the kinds: j even -> one kind, odd -> the other (when both).
        int64_t i = o.from + (kinds == 2 ? j / 2 : j);
        bool secret = kinds == 2 ? j % 2 == 0 : o.secrets;
        batch.push_back(secret ? MakeSecret(o, i) : MakeConfigMap(o, i));
      }
      std::string err;
      if (!Txn(*kv, batch, &err)) {
        std::lock_guard<std::mutex> l(mu);
        error = err;
        failed = true;
        break;
      }
      int64_t w = written.fetch_add(static_cast<int64_t>(batch.size())) + batch.size();
      if (w / 50000 != (w - static_cast<int64_t>(batch.size())) / 50000) {
        std::cerr << "bench_etcd_objects: " << w << "/" << total << " written\n";
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (failed) {
    std::cerr << "bench_etcd_objects: etcd refused a write: " << error << "\n";
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat("written=%d seconds=%.3f rate=%.0f/s\n", written.load(), secs,
                               secs > 0 ? written.load() / secs : 0.0);
  return 0;
}

int UpgradeAll(const Options& o) {
  auto kv = etcdserverpb::KV::NewStub(Connect(o));
  auto start = std::chrono::steady_clock::now();
  int64_t written = 0;
  for (const char* resource : {"daemonsets", "deployments", "secrets", "configmaps"}) {
    std::string prefix = absl::StrCat(o.prefix, "/", resource, "/", o.ns, "/");
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    std::string from = prefix;
    for (;;) {
      etcdserverpb::RangeRequest req;
      req.set_key(from);
      req.set_range_end(end);
      req.set_limit(500);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      etcdserverpb::RangeResponse resp;
      grpc::Status st = kv->Range(&ctx, req, &resp);
      if (!st.ok()) {
        std::cerr << "bench_etcd_objects: range " << prefix << ": " << st.error_message() << "\n";
        return 1;
      }
      std::vector<std::pair<std::string, std::string>> batch;
      for (const auto& item : resp.kvs()) {
        std::string value = item.value();
        if (Upgrade(item.key(), value)) batch.emplace_back(item.key(), std::move(value));
        if (batch.size() == static_cast<size_t>(o.batch)) {
          std::string err;
          if (!Txn(*kv, batch, &err)) {
            std::cerr << "bench_etcd_objects: etcd refused a write: " << err << "\n";
            return 1;
          }
          written += static_cast<int64_t>(batch.size());
          batch.clear();
        }
      }
      std::string err;
      if (!batch.empty() && !Txn(*kv, batch, &err)) {
        std::cerr << "bench_etcd_objects: etcd refused a write: " << err << "\n";
        return 1;
      }
      written += static_cast<int64_t>(batch.size());
      if (!resp.more() || resp.kvs().empty()) break;
      from = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << absl::StrFormat("written=%d seconds=%.3f rate=%.0f/s\n", written, secs,
                               secs > 0 ? written / secs : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  return o.mode == "put" ? Put(o) : UpgradeAll(o);
}
