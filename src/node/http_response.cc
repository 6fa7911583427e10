#include "node/http_response.h"

#include <zlib.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status.h"

namespace lifeboat::node::internal {
namespace {

absl::Status Malformed(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat("malformed HTTP response: ", what));
}

absl::Status TooLarge(size_t max_body, absl::string_view what = "") {
  return absl::UnavailableError(
      absl::StrCat("the ", what, "response body exceeds the limit of ", max_body >> 20, " MiB"));
}

// A chunk-size line ("1a2b;ext=1"): hex digits, optional extensions.
bool ParseChunkSize(absl::string_view line, uint64_t* size) {
  line = absl::StripAsciiWhitespace(line.substr(0, line.find(';')));
  if (line.empty() || line.size() > 15) return false;
  uint64_t v = 0;
  for (char c : line) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = v * 16 + d;
  }
  *size = v;
  return true;
}

constexpr size_t kInflateChunk = size_t{16} << 10;

}  // namespace

struct HttpResponseParser::Zlib {
  z_stream zs{};
  bool ready = false;
  std::string out;  // one inflate step's output, handed to the sink
  ~Zlib() {
    if (ready) inflateEnd(&zs);
  }
};

HttpResponseParser::HttpResponseParser() = default;
HttpResponseParser::~HttpResponseParser() = default;

void HttpResponseParser::Reset(bool accept_gzip, size_t max_body, bool no_body) {
  state_ = kHead;
  head_ = HttpResponseHead();
  accept_gzip_ = accept_gzip;
  no_body_ = no_body;
  max_body_ = max_body;
  remaining_ = consumed_ = body_bytes_ = 0;
  trailer_bytes_ = 0;
  buf_.clear();  // keeps its capacity
  line_too_long_ = false;
  gzip_ended_ = false;
}

size_t HttpResponseParser::TakeLine(absl::string_view data, size_t limit, bool* complete) {
  size_t nl = data.find('\n');
  size_t take = nl == absl::string_view::npos ? data.size() : nl + 1;
  size_t room = limit + 2 > buf_.size() ? limit + 2 - buf_.size() : 0;
  if (take > room) {
    line_too_long_ = true;
    *complete = false;
    return 0;
  }
  buf_.append(data.data(), take);
  *complete = nl != absl::string_view::npos;
  return take;
}

absl::StatusOr<size_t> HttpResponseParser::Feed(absl::string_view data, Sink sink) {
  size_t used = 0;
  while (used < data.size() && state_ != kDone) {
    absl::string_view rest = data.substr(used);
    switch (state_) {
      case kHead: {
        // Append up to the end of the head ("\r\n\r\n"), looking back across the previous piece.
        size_t before = buf_.size();
        size_t take = std::min(rest.size(), kMaxHead + 4 - std::min(kMaxHead + 4, before));
        buf_.append(rest.data(), take);
        size_t from = before >= 3 ? before - 3 : 0;
        size_t end = buf_.find("\r\n\r\n", from);
        if (end == std::string::npos) {
          if (buf_.size() >= kMaxHead + 4 || take < rest.size()) {
            return Malformed("headers longer than 64 KiB");
          }
          used += take;
          break;
        }
        used += end + 4 - before;
        LB_RETURN_IF_ERROR(ParseHead(absl::string_view(buf_.data(), end)));
        buf_.clear();
        if (head_.code >= 100 && head_.code < 200) break;  // interim: the real response follows
        LB_RETURN_IF_ERROR(StartBody());
        if (state_ == kDone) LB_RETURN_IF_ERROR(Finish());
        break;
      }
      case kLength:
      case kChunkData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        LB_RETURN_IF_ERROR(Body(rest.substr(0, n), sink));
        used += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          if (state_ == kLength) {
            state_ = kDone;
            LB_RETURN_IF_ERROR(Finish());
          } else {
            state_ = kChunkEnd;
          }
        }
        break;
      }
      case kChunkSize:
      case kChunkEnd:
      case kTrailer: {
        bool complete = false;
        size_t limit = state_ == kTrailer ? kMaxHead : kMaxLine;
        used += TakeLine(rest, limit, &complete);
        if (line_too_long_) {
          return Malformed(state_ == kTrailer ? "trailer too long" : "chunked body line too long");
        }
        if (!complete) break;
        absl::string_view line = absl::StripSuffix(absl::StripSuffix(buf_, "\n"), "\r");
        if (state_ == kChunkSize) {
          uint64_t size = 0;
          if (!ParseChunkSize(line, &size)) {
            return Malformed(
                absl::StrCat("bad chunk size \"", absl::CEscape(line.substr(0, 40)), "\""));
          }
          if (size == 0) {
            state_ = kTrailer;
          } else {
            if (max_body_ != 0 && size > max_body_) return TooLarge(max_body_);
            remaining_ = size;
            state_ = kChunkData;
          }
        } else if (state_ == kChunkEnd) {
          if (!line.empty()) return Malformed("chunk not followed by CRLF");
          state_ = kChunkSize;
        } else {  // trailer fields, if any, up to the empty line
          trailer_bytes_ += line.size();
          if (trailer_bytes_ > kMaxHead) return Malformed("trailer too long");
          if (line.empty()) {
            state_ = kDone;
            buf_.clear();
            LB_RETURN_IF_ERROR(Finish());
            break;
          }
        }
        buf_.clear();
        break;
      }
      case kToClose:
        LB_RETURN_IF_ERROR(Body(rest, sink));
        used += rest.size();
        break;
      case kDone:
        break;
    }
  }
  consumed_ += used;
  return used;
}

absl::Status HttpResponseParser::FeedEof() {
  switch (state_) {
    case kDone:
      return absl::OkStatus();
    case kToClose:
      state_ = kDone;
      return Finish();
    case kHead:
      if (consumed_ == 0) {
        return absl::UnavailableError("the server closed the connection without a response");
      }
      return absl::UnavailableError("the connection closed in the middle of the response headers");
    case kLength:
    case kChunkData:
      return absl::UnavailableError(absl::StrCat(
          "the connection closed in the middle of the body (",
          state_ == kLength ? absl::StrCat(remaining_, " bytes missing") : "in a chunk", ")"));
    default:
      return absl::UnavailableError("the connection closed in the middle of the chunked body");
  }
}

absl::Status HttpResponseParser::ParseHead(absl::string_view head) {
  size_t eol = head.find("\r\n");
  absl::string_view status_line = head.substr(0, eol);
  absl::string_view fields =
      eol == absl::string_view::npos ? absl::string_view() : head.substr(eol + 2);
  int code = 0;
  if (!absl::StartsWith(status_line, "HTTP/1.") || status_line.size() < 12 ||
      status_line[8] != ' ' || (status_line[7] != '0' && status_line[7] != '1') ||
      (status_line.size() > 12 && status_line[12] != ' ') ||
      !std::all_of(status_line.begin() + 9, status_line.begin() + 12, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(status_line.substr(9, 3), &code) || code < 100) {
    return Malformed(
        absl::StrCat("bad status line \"", absl::CEscape(status_line.substr(0, 80)), "\""));
  }
  head_ = HttpResponseHead();
  head_.code = code;
  head_.http10 = status_line[7] == '0';
  bool keep_alive_header = false;
  for (absl::string_view field : absl::StrSplit(fields, "\r\n")) {
    if (field.empty()) continue;
    if (field[0] == ' ' || field[0] == '\t') continue;  // obsolete line folding: ignored
    size_t colon = field.find(':');
    if (colon == absl::string_view::npos || colon == 0) {
      return Malformed(
          absl::StrCat("header line without a name: \"", absl::CEscape(field.substr(0, 80)), "\""));
    }
    absl::string_view name = field.substr(0, colon);
    absl::string_view value = absl::StripAsciiWhitespace(field.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t v = 0;
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          !absl::SimpleAtoi(value, &v) || (head_.has_length && v != head_.content_length)) {
        return Malformed("bad Content-Length");
      }
      head_.has_length = true;
      head_.content_length = v;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      std::string lower = absl::AsciiStrToLower(value);
      head_.chunked = absl::EndsWith(absl::StripTrailingAsciiWhitespace(lower), "chunked");
      // Some other coding: only the end of the connection delimits the body.
      if (!head_.chunked) head_.close = true;
    } else if (absl::EqualsIgnoreCase(name, "Content-Encoding")) {
      if (absl::EqualsIgnoreCase(value, "gzip") && accept_gzip_) {
        head_.gzip = true;
      } else if (!value.empty() && !absl::EqualsIgnoreCase(value, "identity")) {
        return Malformed(absl::StrCat("unexpected Content-Encoding \"",
                                      absl::CEscape(value.substr(0, 40)), "\""));
      }
    } else if (absl::EqualsIgnoreCase(name, "Connection")) {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) head_.close = true;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) keep_alive_header = true;
      }
    }
  }
  if (code == 101) return Malformed("unexpected 101 Switching Protocols");
  if (head_.http10 && !keep_alive_header) head_.close = true;
  return absl::OkStatus();
}

absl::Status HttpResponseParser::StartBody() {
  if (no_body_ || head_.code == 204 || head_.code == 304) {
    state_ = kDone;
  } else if (head_.chunked) {
    state_ = kChunkSize;
  } else if (head_.has_length) {
    if (max_body_ != 0 && head_.content_length > max_body_) {
      return absl::UnavailableError(absl::StrCat("the response body (", head_.content_length,
                                                 " bytes) exceeds the limit of ", max_body_ >> 20,
                                                 " MiB"));
    }
    remaining_ = head_.content_length;
    state_ = remaining_ == 0 ? kDone : kLength;
  } else {
    head_.close = true;
    state_ = kToClose;
  }
  if (head_.gzip) {
    if (!zlib_) zlib_ = std::make_unique<Zlib>();
    if (!zlib_->ready) {
      if (inflateInit2(&zlib_->zs, 16 + MAX_WBITS) != Z_OK) {  // 16: gzip framing
        return absl::InternalError("cannot set up gzip decoding");
      }
      zlib_->ready = true;
    } else {
      inflateReset(&zlib_->zs);
    }
  }
  return absl::OkStatus();
}

absl::Status HttpResponseParser::Body(absl::string_view data, Sink sink) {
  if (data.empty()) return absl::OkStatus();
  if (head_.gzip) return Inflate(data, sink);
  if (max_body_ != 0 && data.size() > max_body_ - std::min<uint64_t>(max_body_, body_bytes_)) {
    return TooLarge(max_body_);
  }
  body_bytes_ += data.size();
  return sink(data);
}

absl::Status HttpResponseParser::Inflate(absl::string_view data, Sink sink) {
  if (gzip_ended_) return Malformed("bytes after the end of the gzip body");
  z_stream& zs = zlib_->zs;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string& out = zlib_->out;
  if (out.size() < kInflateChunk) out.resize(kInflateChunk);
  while (zs.avail_in > 0 && !gzip_ended_) {
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int ret = inflate(&zs, Z_NO_FLUSH);
    size_t n = out.size() - zs.avail_out;
    if (ret == Z_STREAM_END) {
      gzip_ended_ = true;
    } else if (ret != Z_OK && !(ret == Z_BUF_ERROR && n == 0)) {
      return Malformed(absl::StrCat("bad gzip body (", zs.msg ? zs.msg : "zlib error", ")"));
    }
    if (n > 0) {
      if (max_body_ != 0 && n > max_body_ - std::min<uint64_t>(max_body_, body_bytes_)) {
        return TooLarge(max_body_, "inflated ");
      }
      body_bytes_ += n;
      LB_RETURN_IF_ERROR(sink(absl::string_view(out.data(), n)));
    } else if (ret == Z_BUF_ERROR) {
      break;
    }
  }
  if (gzip_ended_ && zs.avail_in > 0) return Malformed("bytes after the end of the gzip body");
  return absl::OkStatus();
}

absl::Status HttpResponseParser::Finish() {
  if (head_.gzip && !gzip_ended_) {
    // An empty gzip'd body (a 200 with Content-Length: 0) is an empty body.
    if (zlib_->zs.total_in == 0) return absl::OkStatus();
    return Malformed("truncated gzip body");
  }
  return absl::OkStatus();
}

}  // namespace lifeboat::node::internal
