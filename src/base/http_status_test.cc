#include "base/http_status.h"

#include "gtest/gtest.h"

namespace lifeboat {
namespace {

TEST(HttpStatusTest, EveryClassMapsAsStyleSays) {
  using C = absl::StatusCode;
  const std::pair<long, C> cases[] = {
      {200, C::kOk},
      {201, C::kOk},
      {204, C::kOk},
      {301, C::kFailedPrecondition},
      {400, C::kInvalidArgument},
      {422, C::kInvalidArgument},
      {401, C::kUnauthenticated},
      {403, C::kPermissionDenied},
      {404, C::kNotFound},
      {405, C::kUnimplemented},
      {408, C::kUnavailable},
      {409, C::kAlreadyExists},
      {410, C::kOutOfRange},
      {418, C::kFailedPrecondition},
      {429, C::kUnavailable},
      {500, C::kUnavailable},
      {501, C::kUnimplemented},
      {503, C::kUnavailable},
      {504, C::kUnavailable},
      {599, C::kUnavailable},
      {600, C::kFailedPrecondition},
      {0, C::kFailedPrecondition},
  };
  for (const auto& [http, want] : cases) EXPECT_EQ(HttpStatusCode(http), want) << http;
}

TEST(HttpStatusTest, HttpErrorKeepsTheMessageAndGoneIsRecognised) {
  EXPECT_TRUE(HttpError(200, "fine").ok());
  absl::Status gone =
      HttpError(410, "GET /api/v1/pods?watch=1: HTTP 410: too old resource version");
  EXPECT_TRUE(IsGone(gone));
  EXPECT_EQ(gone.message(), "GET /api/v1/pods?watch=1: HTTP 410: too old resource version");
  EXPECT_FALSE(IsGone(HttpError(404, "x")));
  EXPECT_FALSE(IsGone(HttpError(500, "x")));
  EXPECT_FALSE(IsGone(absl::OkStatus()));
}

}  // namespace
}  // namespace lifeboat
