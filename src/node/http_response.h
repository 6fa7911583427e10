// Internal to src/node: a pure HTTP/1.1 response parser (no I/O), fed the bytes of a connection
// in pieces of any size. It reads the status line and headers, frames the body (Content-Length,
// chunked, or up to the end of the connection), inflates a gzip'd body, and hands the decoded
// body to a callback as it arrives: a response of a few bytes and a watch stream that never ends
// go through the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lifeboat::node::internal {

// What the status line and headers of the final (non-1xx) response said.
struct HttpResponseHead {
  int code = 0;
  bool http10 = false;
  bool close = false;  // the connection cannot carry another request after this response
  bool chunked = false;
  bool has_length = false;
  uint64_t content_length = 0;
  bool gzip = false;  // Content-Encoding: gzip (accepted only when the parser was told to)
};

class HttpResponseParser {
 public:
  // Receives the decoded body in order, a piece at a time; its error stops the parse and is
  // returned from Feed/FeedEof unchanged.
  using Sink = absl::FunctionRef<absl::Status(absl::string_view)>;

  static constexpr size_t kMaxHead = size_t{64} << 10;  // status line + headers; also trailers
  static constexpr size_t kMaxLine = 4096;              // a chunk-size line

  HttpResponseParser();
  ~HttpResponseParser();
  HttpResponseParser(const HttpResponseParser&) = delete;
  HttpResponseParser& operator=(const HttpResponseParser&) = delete;

  // Starts a new response. `accept_gzip`: a gzip'd body is inflated (otherwise any content coding
  // but identity is an error). `max_body`: the most decoded body bytes accepted, 0 for no limit
  // (a watch). `no_body`: the request was HEAD.
  void Reset(bool accept_gzip, size_t max_body, bool no_body = false);

  // Consumes a prefix of `data` and returns its length: all of it, unless the response ended
  // inside it (done() then says so, and the rest belongs to no request). Errors:
  // Unavailable("malformed HTTP response: …" or "… exceeds the limit …"), or the sink's error.
  // After an error the parser must be Reset before further use.
  absl::StatusOr<size_t> Feed(absl::string_view data, Sink sink);

  // The connection has ended. OK if that completes the response (a body delimited by the end of
  // the connection, or a response already done); Unavailable saying what was cut short otherwise.
  absl::Status FeedEof();

  bool head_done() const { return state_ > kHead; }
  const HttpResponseHead& head() const { return head_; }  // valid once head_done()
  bool done() const { return state_ == kDone; }
  // Bytes consumed since Reset (a response started arriving once this is positive).
  uint64_t consumed() const { return consumed_; }
  // Decoded body bytes handed to the sink since Reset.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum State { kHead, kLength, kChunkSize, kChunkData, kChunkEnd, kTrailer, kToClose, kDone };

  absl::Status ParseHead(absl::string_view head);
  absl::Status StartBody();
  absl::Status Body(absl::string_view data, Sink sink);
  absl::Status Inflate(absl::string_view data, Sink sink);
  absl::Status Finish();
  // Collects a CRLF- (or LF-) terminated line into buf_ across Feed calls. Returns the bytes of
  // `data` used; `*complete` once the line is whole.
  size_t TakeLine(absl::string_view data, size_t limit, bool* complete);

  State state_ = kHead;
  HttpResponseHead head_;
  bool accept_gzip_ = false;
  bool no_body_ = false;
  size_t max_body_ = 0;
  uint64_t remaining_ = 0;  // of the Content-Length or the current chunk
  uint64_t consumed_ = 0;
  uint64_t body_bytes_ = 0;
  size_t trailer_bytes_ = 0;
  std::string buf_;  // the head, or a chunk/trailer line, being collected
  bool line_too_long_ = false;
  struct Zlib;
  std::unique_ptr<Zlib> zlib_;  // set up on the first gzip'd body, then reused
  bool gzip_ended_ = false;
};

}  // namespace lifeboat::node::internal
