// Reading a live etcd v3 cluster over gRPC: the `recover --etcd-servers` path. The client knows
// only the KV service's Range call, which is all recovery needs; it never writes.
//
// Several endpoints may be given; a request that finds its endpoint down (Unavailable) or too
// slow (DeadlineExceeded) moves on to the next one, and the client keeps using whichever answered
// last. Ranges are read in pages pinned to the revision of the first page, so a listing is one
// consistent view of the store however many keys it spans, and memory stays bounded by the page
// size.
//
//   EtcdClientOptions o;
//   o.endpoints = "https://10.0.0.1:2379,https://10.0.0.2:2379";
//   o.ca_file = "/etc/kubernetes/pki/etcd/ca.crt";  // cert_file / key_file for client auth
//   LB_ASSIGN_OR_RETURN(auto etcd, etcd::EtcdClient::Connect(o));
//   LB_ASSIGN_OR_RETURN(auto secret, etcd->Get("/registry/secrets/kube-system/foo"));
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "etcd/kv.h"

namespace lifeboat::etcd {

struct EtcdClientOptions {
  // Comma-separated `https://host:port` or `http://host:port` (bootkube's --etcd-servers).
  std::string endpoints;
  // PEM files. A CA alone verifies the servers (empty: the system's trust store); a client
  // certificate and key are given together or not at all. Only https:// endpoints use them.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Deadline of each request to one endpoint (a paged Range makes one request per page).
  std::chrono::milliseconds request_timeout{10000};
  // Keys in the first Range page. Later pages are sized from the average key+value size seen
  // so far to hold about `page_bytes` (at most `max_page_size` keys): etcd before 3.5 walks the
  // whole rest of the range for every limited request, so many small pages cost quadratic time,
  // while one unlimited request would hold everything in memory at once. A page too large for
  // `max_response_bytes` is retried at half the size.
  int64_t page_size = 500;
  int64_t page_bytes = 4 << 20;
  int64_t max_page_size = 10000;
  // Largest response accepted; Kubernetes objects are at most ~1.5 MiB each.
  int max_response_bytes = 64 << 20;
  // Answer from the contacted member's own state instead of a linearizable (quorum) read: lets
  // recovery read a member whose cluster has lost quorum, at the price of possibly stale data.
  bool serializable = false;
};

class EtcdClient : public KvReader {
 public:
  // Validates the endpoints and the TLS material and prepares one channel per endpoint; no
  // network traffic happens until the first request. InvalidArgument for a malformed endpoint
  // list or unusable PEM (naming the file), NotFound/PermissionDenied for unreadable files.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Connect(const EtcdClientOptions& options);
  ~EtcdClient() override;

  // Unavailable (worth retrying) when no endpoint answered: the message names every endpoint
  // tried and why it failed. Other errors carry etcd's own code and message.
  absl::StatusOr<std::optional<KeyValue>> Get(absl::string_view key) override;
  // Pages through `prefix` (every key when empty). OutOfRange if etcd compacted the pinned
  // revision mid-listing (retry from scratch).
  absl::Status Range(absl::string_view prefix,
                     const std::function<absl::Status(KeyValue&&)>& each) override;
  std::string Describe() const override;  // "etcd at https://a:2379,https://b:2379"

  // The store revision of the last successful read (for Range, the revision it is pinned to).
  int64_t revision() const { return revision_; }

  struct Impl;

 private:
  explicit EtcdClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int64_t revision_ = 0;
};

// The `range_end` that makes an etcd Range cover every key starting with `prefix`: the prefix
// with its last byte below 0xff incremented ("\0", all keys, when there is none).
std::string PrefixRangeEnd(absl::string_view prefix);

}  // namespace lifeboat::etcd
