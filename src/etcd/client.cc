#include "etcd/client.h"

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file.h"
#include "base/log.h"
#include "base/status.h"
#include "etcd/rpc.grpc.pb.h"

namespace lifeboat::etcd {

struct EtcdClient::Impl {
  struct Endpoint {
    std::string url;  // as given, for messages
    std::unique_ptr<etcdserverpb::KV::Stub> stub;
  };
  EtcdClientOptions options;
  std::vector<Endpoint> endpoints;
  std::atomic<size_t> current{0};  // the endpoint that answered last

  // Sends one Range, starting at the current endpoint and failing over on Unavailable and
  // DeadlineExceeded.
  absl::Status Call(const etcdserverpb::RangeRequest& req, etcdserverpb::RangeResponse* resp);
};

namespace {

using OpenSslBio = std::unique_ptr<BIO, decltype(&BIO_free)>;

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> data = base::ReadFile(path);
  if (!data.ok()) {
    return absl::Status(data.status().code(), absl::StrCat("cannot read the etcd ", what, " file ",
                                                           path, ": ", data.status().message()));
  }
  return data;
}

// Counts the PEM certificates in `pem`; 0 when there is none or one is malformed.
int CountCertificates(const std::string& pem) {
  OpenSslBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++n;
  }
  return n;
}

// Checks TLS material up front: gRPC would only report it as an opaque handshake failure on
// the first request, without saying which file is wrong.
absl::Status CheckTlsMaterial(const EtcdClientOptions& o, const std::string& ca,
                              const std::string& cert, const std::string& key) {
  if (!o.ca_file.empty() && CountCertificates(ca) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd CA file ", o.ca_file, " holds no readable PEM certificate"));
  }
  if (o.cert_file.empty()) return absl::OkStatus();
  OpenSslBio cert_bio(BIO_new_mem_buf(cert.data(), static_cast<int>(cert.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> x509(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!x509) {
    return absl::InvalidArgumentError(absl::StrCat("etcd client certificate file ", o.cert_file,
                                                   " holds no readable PEM certificate"));
  }
  OpenSslBio key_bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())), &BIO_free);
  // An empty passphrase callback result makes encrypted keys fail instead of prompting.
  auto no_password = [](char*, int, int, void*) -> int { return 0; };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_password, nullptr), &EVP_PKEY_free);
  if (!pkey) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd client key file ", o.key_file,
                     " holds no readable PEM private key (or it is passphrase-protected)"));
  }
  if (X509_check_private_key(x509.get(), pkey.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("etcd client key file ", o.key_file,
                                                   " does not belong to the certificate in ",
                                                   o.cert_file));
  }
  return absl::OkStatus();
}

std::string DescribeGrpc(const grpc::Status& s) {
  static const char* const kNames[] = {
      "OK",       "Cancelled",      "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  int code = static_cast<int>(s.error_code());
  std::string out =
      absl::StrCat(code >= 0 && code <= 16 ? kNames[code] : "code", ": ", s.error_message());
  if (!s.error_details().empty() && !absl::StrContains(out, s.error_details())) {
    absl::StrAppend(&out, " (", s.error_details(), ")");
  }
  return out;
}

// gRPC reports TLS trouble as a generic Unavailable; say what the operator should check.
std::string TlsHint(const EtcdClientOptions& o, absl::string_view why) {
  if (absl::StrContains(why, "certificate verify failed") ||
      absl::StrContains(why, "CERTIFICATE_VERIFY_FAILED")) {
    return absl::StrCat(
        " — the server's TLS certificate was rejected: check that ",
        o.ca_file.empty() ? std::string("the system trust store") : "the CA file " + o.ca_file,
        " signed it and that it names this host");
  }
  if (absl::StrContains(why, "Connection refused") ||
      absl::StrContains(why, "Failed to connect to remote host")) {
    return "";
  }
  for (absl::string_view hint :
       {"andshake", "SSL", "TLS", "Endpoint read failed", "Socket closed"}) {
    if (absl::StrContains(why, hint)) {
      return o.cert_file.empty()
                 ? " — the TLS connection was closed: the server probably requires a client "
                   "certificate (none given)"
                 : absl::StrCat(
                       " — the TLS connection was closed: check that the server accepts "
                       "the client certificate ",
                       o.cert_file, " and trusts its CA");
    }
  }
  return "";
}

// gRPC prints transport internals ("Decryption error: TSI_DATA_CORRUPTED") on stderr, which
// alarms more than it informs next to our own message; keep them for debug logging.
void RouteGrpcLogsToDebug() {
  static std::once_flag once;
  std::call_once(once, [] {
    gpr_set_log_function([](gpr_log_func_args* args) {
      LOG_DEBUG("grpc {}:{}: {}", args->file, args->line, args->message);
    });
  });
}

}  // namespace

std::string PrefixRangeEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    if (static_cast<uint8_t>(end.back()) != 0xff) {
      end.back() = static_cast<char>(static_cast<uint8_t>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

absl::Status EtcdClient::Impl::Call(const etcdserverpb::RangeRequest& req,
                                    etcdserverpb::RangeResponse* resp) {
  std::vector<std::string> failures;
  const size_t n = endpoints.size();
  const size_t first = current.load();
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (first + i) % n;
    const Endpoint& ep = endpoints[idx];
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + options.request_timeout);
    resp->Clear();
    grpc::Status s = ep.stub->Range(&ctx, req, resp);
    if (s.ok()) {
      current.store(idx);
      return absl::OkStatus();
    }
    std::string why = DescribeGrpc(s);
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
        s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        absl::StrAppend(&why, " (no answer within ", options.request_timeout.count(), " ms)");
      } else if (absl::StartsWith(ep.url, "https://")) {
        absl::StrAppend(&why, TlsHint(options, why));
      }
      failures.push_back(absl::StrCat(ep.url, ": ", why));
      continue;
    }
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("etcd at ", ep.url, ": ", why));
  }
  return absl::UnavailableError(
      absl::StrCat("no etcd endpoint answered (tried ", n, "): ", absl::StrJoin(failures, "; ")));
}

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Connect(const EtcdClientOptions& options) {
  RouteGrpcLogsToDebug();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.page_size <= 0 || options.page_bytes <= 0 || options.max_page_size <= 0) {
    return absl::InvalidArgumentError("etcd page sizes must be > 0");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "an etcd client certificate and its key must be given together (got only the " +
        std::string(options.cert_file.empty() ? "key" : "certificate") + ")");
  }

  struct Parsed {
    std::string url, target;
    bool tls;
  };
  std::vector<Parsed> parsed;
  bool any_tls = false;
  for (absl::string_view raw : absl::StrSplit(options.endpoints, ',', absl::SkipWhitespace())) {
    absl::string_view url = absl::StripAsciiWhitespace(raw);
    Parsed p{std::string(url), "", false};
    absl::string_view rest = url;
    if (absl::ConsumePrefix(&rest, "https://")) {
      p.tls = true;
    } else if (!absl::ConsumePrefix(&rest, "http://")) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoint \"", url, "\" must start with https:// or http://"));
    }
    absl::ConsumeSuffix(&rest, "/");
    size_t colon = rest.rfind(':');
    bool bracketed_v6_without_port = !rest.empty() && rest.back() == ']';
    if (rest.empty() || colon == absl::string_view::npos || colon + 1 == rest.size() ||
        bracketed_v6_without_port || absl::StrContains(rest, "/")) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoint \"", url, "\" must look like https://host:port"));
    }
    p.target = std::string(rest);
    any_tls |= p.tls;
    parsed.push_back(std::move(p));
  }
  if (parsed.empty()) return absl::InvalidArgumentError("no etcd endpoint given");
  bool tls_files = !options.ca_file.empty() || !options.cert_file.empty();
  if (tls_files && !any_tls) {
    return absl::InvalidArgumentError("etcd TLS files were given but no endpoint uses https:// (" +
                                      options.endpoints + ")");
  }

  std::shared_ptr<grpc::ChannelCredentials> tls_creds;
  if (any_tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      LB_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(options.ca_file, "CA"));
    }
    if (!options.cert_file.empty()) {
      LB_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem(options.cert_file, "client certificate"));
      LB_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem(options.key_file, "client key"));
    }
    LB_RETURN_IF_ERROR(
        CheckTlsMaterial(options, ssl.pem_root_certs, ssl.pem_cert_chain, ssl.pem_private_key));
    tls_creds = grpc::SslCredentials(ssl);
  }

  for (Parsed& p : parsed) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(options.max_response_bytes);
    // Come back quickly to an endpoint that was down: recovery is interactive.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    // Separate channels must not share a subchannel, or failover could not tell them apart.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(
        p.target, p.tls ? tls_creds : grpc::InsecureChannelCredentials(), args);
    impl->endpoints.push_back({p.url, etcdserverpb::KV::NewStub(channel)});
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(std::move(impl)));
}

EtcdClient::EtcdClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EtcdClient::~EtcdClient() = default;

std::string EtcdClient::Describe() const {
  std::vector<absl::string_view> urls;
  for (const auto& ep : impl_->endpoints) urls.push_back(ep.url);
  return absl::StrCat("etcd at ", absl::StrJoin(urls, ","));
}

namespace {
KeyValue FromProto(mvccpb::KeyValue&& kv) {
  KeyValue out;
  out.key = std::move(*kv.mutable_key());
  out.value = std::move(*kv.mutable_value());
  out.create_revision = kv.create_revision();
  out.mod_revision = kv.mod_revision();
  out.version = kv.version();
  return out;
}
}  // namespace

absl::StatusOr<std::optional<KeyValue>> EtcdClient::Get(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("etcd Get: empty key");
  etcdserverpb::RangeRequest req;
  req.set_key(std::string(key));
  req.set_serializable(impl_->options.serializable);
  etcdserverpb::RangeResponse resp;
  absl::Status s = impl_->Call(req, &resp);
  if (!s.ok()) return Annotate(s, absl::StrCat("reading ", key));
  revision_ = resp.header().revision();
  if (resp.kvs_size() == 0) return std::optional<KeyValue>();
  return std::optional<KeyValue>(FromProto(std::move(*resp.mutable_kvs(0))));
}

absl::Status EtcdClient::Range(absl::string_view prefix,
                               const std::function<absl::Status(KeyValue&&)>& each) {
  etcdserverpb::RangeRequest req;
  // etcd rejects an empty key; "\0" .. "\0" is its spelling of "every key".
  req.set_key(prefix.empty() ? std::string(1, '\0') : std::string(prefix));
  req.set_range_end(PrefixRangeEnd(prefix));
  req.set_serializable(impl_->options.serializable);
  int64_t limit = impl_->options.page_size;
  int64_t pinned = 0;
  int64_t seen_bytes = 0, seen_keys = 0;
  etcdserverpb::RangeResponse resp;
  while (true) {
    req.set_limit(limit);
    req.set_revision(pinned);
    absl::Status s = impl_->Call(req, &resp);
    if (s.code() == absl::StatusCode::kResourceExhausted && limit > 1) {
      limit = std::max<int64_t>(1, limit / 2);  // values too large for one message: smaller pages
      continue;
    }
    if (!s.ok()) {
      std::string context = absl::StrCat("listing prefix \"", prefix, "\"");
      if (s.code() == absl::StatusCode::kOutOfRange && pinned != 0) {
        absl::StrAppend(&context, " at revision ", pinned,
                        " (compacted while paging; start the listing again)");
      }
      return Annotate(s, context);
    }
    if (pinned == 0) pinned = resp.header().revision();
    revision_ = pinned;
    const int n = resp.kvs_size();
    if (n == 0) return absl::OkStatus();
    // The next page starts right after the last key of this one.
    std::string next = resp.kvs(n - 1).key();
    next.push_back('\0');
    for (mvccpb::KeyValue& kv : *resp.mutable_kvs()) {
      seen_bytes += kv.key().size() + kv.value().size() + 32;  // + revisions and framing
      ++seen_keys;
      LB_RETURN_IF_ERROR(each(FromProto(std::move(kv))));
    }
    if (!resp.more()) return absl::OkStatus();
    req.set_key(std::move(next));
    const int64_t average = std::max<int64_t>(1, seen_bytes / seen_keys);
    limit = std::clamp<int64_t>(impl_->options.page_bytes / average, 1,
                                std::max<int64_t>(1, impl_->options.max_page_size));
  }
}

}  // namespace lifeboat::etcd
