#include "doctor/report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lifeboat::doctor {
namespace {

using ::testing::HasSubstr;

Report Sample() {
  Report r;
  r.Add({"coverage", "node-1", Level::kOk, "runs x; checkpointer y is Running and Ready", ""});
  r.Add({"backup", "/b/x.db", Level::kWarn, "newest backup, 3 days old", "check the backup job"});
  r.Add({"dry-run", "etcd", Level::kFail, "Secret kube-system/a cannot be read: \"bad key\"",
         "check the keys"});
  r.gauges.push_back({"backup_age_seconds", "Age.", {{"path", "/b/\"x\".db"}}, 259200});
  return r;
}

TEST(ReportTest, ReadyOnlyWhenEverythingIsOk) {
  Report r;
  EXPECT_TRUE(r.Ready());
  r.Add({"coverage", "node-1", Level::kOk, "fine", ""});
  EXPECT_TRUE(r.Ready());
  r.Add({"certificates", "x", Level::kWarn, "expires soon", "renew"});
  EXPECT_FALSE(r.Ready());
  EXPECT_EQ(r.Worst("certificates"), Level::kWarn);
  EXPECT_EQ(r.Worst("coverage"), Level::kOk);
  EXPECT_EQ(r.Worst("nothing"), Level::kOk);
}

TEST(ReportTest, TextIsOneLinePerFindingAndAVerdict) {
  std::string text = FormatText(Sample());
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);
  EXPECT_THAT(text, HasSubstr("ok    coverage     node-1: runs x"));
  EXPECT_THAT(
      text,
      HasSubstr("WARN  backup       /b/x.db: newest backup, 3 days old -> check the backup job\n"));
  EXPECT_THAT(text, HasSubstr("FAIL  dry-run      etcd: "));
  EXPECT_THAT(text, HasSubstr("NOT READY: 1 ok, 1 warning(s), 1 failure(s)"));
}

TEST(ReportTest, Json) {
  Json j = ToJson(Sample(), absl::FromUnixSeconds(1800000000));
  EXPECT_EQ(j["ready"], false);
  EXPECT_EQ(j["time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(j["summary"], (Json{{"ok", 1}, {"warn", 1}, {"fail", 1}}));
  ASSERT_EQ(j["checks"].size(), 3u);
  EXPECT_EQ(j["checks"][2], (Json{{"check", "dry-run"},
                                  {"subject", "etcd"},
                                  {"status", "fail"},
                                  {"message", "Secret kube-system/a cannot be read: \"bad key\""},
                                  {"action", "check the keys"}}));
  EXPECT_EQ(j["gauges"][0]["name"], "backup_age_seconds");
  EXPECT_EQ(j["gauges"][0]["value"], 259200.0);
}

TEST(ReportTest, Prometheus) {
  std::string text = ToPrometheus(Sample(), absl::FromUnixSeconds(1800000000));
  EXPECT_THAT(text, HasSubstr("\nlifeboat_doctor_ready 0\n"));
  EXPECT_THAT(text, HasSubstr("\nlifeboat_doctor_check{check=\"backup\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nlifeboat_doctor_check{check=\"coverage\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("\nlifeboat_doctor_check{check=\"dry-run\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("\nlifeboat_doctor_findings{status=\"fail\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("\nlifeboat_doctor_last_run_timestamp_seconds 1800000000\n"));
  EXPECT_THAT(text,
              HasSubstr("\nlifeboat_doctor_backup_age_seconds{path=\"/b/\\\"x\\\".db\"} 259200\n"));
  // Every sample line is `name{labels} value` and every metric has HELP and TYPE.
  std::istringstream in(text);
  std::string line;
  std::set<std::string> typed, sampled;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line[0] != '#') {
      sampled.insert(line.substr(0, line.find_first_of("{ ")));
      EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    }
  }
  EXPECT_EQ(typed, sampled);
}

}  // namespace
}  // namespace lifeboat::doctor
