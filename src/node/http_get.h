// Internal to src/node: a small HTTP/1.1 client over POSIX sockets and wolfSSL (TLS 1.3 and 1.2),
// for the checkpointer's repeated polls of the kubelet and the API server and its watch. The
// bytes of an answer are parsed by HttpResponseParser (http_response.h); this is the transport.
//
// Why not libcurl: the checkpointer must fit in 8 MiB of resident memory, and libcurl with OpenSSL
// 3 costs about 6 MiB of that on its own (OpenSSL alone, statically linked, ~3.8 MiB more than
// mbedTLS; wolfSSL ~1 MiB more: bench/results/2026-11-30-tls.md). The daemon speaks to one
// scheme/host/port per client, so this class keeps one kept-alive connection (TLS session
// included) and one receive buffer, reused tick after tick, with a deadline bounding each request.
//
// Certificates are verified as Go's crypto/tls does for client-go: chain to the given CA (or the
// system's), validity dates, and the name by Go's rules: an IP literal against iPAddress SANs, a
// DNS name against dNSName SANs (one leftmost-label wildcard), never the Common Name.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lifeboat::node::internal {

struct HttpGetOptions {
  // Bounds a whole request: connect (itself capped at 3 s), TLS handshake, send and full response.
  std::chrono::milliseconds timeout{10000};
  // false: accept any server certificate (the kubelet's self-signed serving certificate).
  bool verify_tls = true;
  std::string ca_pem;  // empty: the system's trust store, /etc/ssl/certs/ca-certificates.crt
  // The name the server's certificate is verified against and sent as SNI, instead of the URL's
  // host (the kubeconfig's tls-server-name). May be an IP address (then no SNI is sent).
  std::string tls_server_name;
  std::string cert_pem, key_pem;     // client certificate and key (RSA PKCS#1/PKCS#8 or EC), PEM
  std::string token;                 // sent as `Authorization: Bearer`; never logged or reported
  std::vector<std::string> headers;  // full "Name: value" lines
  std::string user_agent = "lifeboat-checkpointer";
  // Send `Accept-Encoding: gzip` and inflate gzip'd answers (the API server compresses answers
  // over 128 KiB, as every Go client asks it to): fewer bytes to decrypt, which costs more CPU
  // than inflating them.
  bool accept_gzip = false;
};

class HttpGet {
 public:
  // Parses `url` (http:// or https://; host a DNS name, an IPv4 literal or an [IPv6] literal;
  // optional port) and loads the TLS material. Does no network I/O. InvalidArgument for a URL it
  // cannot use or for unusable certificates/keys; the failure is not worth retrying.
  static absl::StatusOr<std::unique_ptr<HttpGet>> Create(std::string url, HttpGetOptions options);
  ~HttpGet();

  // GETs the URL given to Create. A transport, TLS or protocol failure (including a timeout) is
  // Unavailable with a message naming the URL, worth retrying next tick. Otherwise any HTTP status:
  // `*http_code` is set and the body is returned, valid until the next call on this object.
  absl::StatusOr<absl::string_view> Fetch(long* http_code);

  // Like Fetch, for another path (with optional query) on the same scheme, host and port, over
  // the same kept-alive connection. `path_and_query` must start with '/' (InvalidArgument if not).
  absl::StatusOr<absl::string_view> FetchPath(absl::string_view path_and_query, long* http_code);

  // The body of the last answer, moved out of this object (a view of it returned earlier dangles);
  // the next request starts a new buffer. For answers fetched too rarely to keep a buffer of
  // their size alive between requests.
  std::string TakeBody();

  // Like FetchPath with another method (POST, PUT, ...) and a request body, sent with its
  // Content-Length and `content_type` (if not empty). Only GET is retried on a stale connection.
  absl::StatusOr<absl::string_view> Send(absl::string_view method, absl::string_view path_and_query,
                                         absl::string_view body, absl::string_view content_type,
                                         long* http_code);

  // A GET whose answer is handed over as it arrives, for a watch (`?watch=1`: a chunked stream of
  // JSON events, one per line, that ends only when the server ends it). The body is decoded
  // (chunked, gzip) but not split: a piece may hold part of an event or several.
  struct StreamHandlers {
    // Once the status line and headers are in, before any of the body. Non-OK: the request ends
    // (the connection is closed) and Stream returns this status.
    std::function<absl::Status(long http_code)> on_status;
    // Each piece of the body, in order. Non-OK: as for on_status.
    std::function<absl::Status(absl::string_view piece)> on_body;
  };
  struct StreamOptions {
    // The longest wait for the next byte (connect and handshake included); 0: options.timeout.
    // A watch should allow more than the server's bookmark/keep-alive interval.
    std::chrono::milliseconds idle_timeout{0};
    // The longest wait for the status line and headers, connect and handshake included (a server
    // that accepts a connection and then says nothing is noticed this soon, however long the
    // idle timeout); 0: only the idle timeout applies.
    std::chrono::milliseconds head_timeout{0};
    // Bounds the whole request; 0: none (until the server ends the answer, or Cancel).
    std::chrono::milliseconds max_duration{0};
  };
  // OK when the server ended the answer cleanly (its status was given to on_status); the
  // connection is kept for the next request if the server allows. Unavailable for transport,
  // TLS and framing failures and timeouts, as for Fetch; Cancelled after Cancel; a handler's error.
  absl::Status Stream(absl::string_view path_and_query, const StreamOptions& options,
                      const StreamHandlers& handlers);

  // From any thread: the request in progress (Fetch, Send or Stream) ends with Cancelled as soon
  // as it waits for the network, and every later request on this object fails with Cancelled.
  // For shutting a watch down.
  void Cancel();

  const std::string& url() const { return url_; }

 private:
  HttpGet() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

}  // namespace lifeboat::node::internal
