#include "doctor/report.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lifeboat::doctor {

const char* LevelName(Level level) {
  switch (level) {
    case Level::kOk:
      return "ok";
    case Level::kWarn:
      return "warn";
    case Level::kFail:
      return "fail";
  }
  return "fail";
}

void Report::Append(std::vector<Finding> more) {
  for (auto& f : more) findings.push_back(std::move(f));
}

bool Report::Ready() const {
  return std::all_of(findings.begin(), findings.end(),
                     [](const Finding& f) { return f.level == Level::kOk; });
}

int Report::Count(Level level) const {
  return static_cast<int>(std::count_if(findings.begin(), findings.end(),
                                        [&](const Finding& f) { return f.level == level; }));
}

Level Report::Worst(const std::string& check) const {
  Level worst = Level::kOk;
  for (const auto& f : findings) {
    if (f.check == check && f.level > worst) worst = f.level;
  }
  return worst;
}

std::string FormatText(const Report& report) {
  std::string out;
  for (const auto& f : report.findings) {
    std::string status = f.level == Level::kOk ? "ok" : f.level == Level::kWarn ? "WARN" : "FAIL";
    absl::StrAppend(&out,
                    absl::StrFormat("%-5s %-12s %s: %s", status, f.check, f.subject, f.message));
    if (!f.action.empty()) absl::StrAppend(&out, " -> ", f.action);
    out += '\n';
  }
  absl::StrAppend(&out, report.Ready() ? "READY" : "NOT READY", ": ", report.Count(Level::kOk),
                  " ok, ", report.Count(Level::kWarn), " warning(s), ", report.Count(Level::kFail),
                  " failure(s)\n");
  return out;
}

Json ToJson(const Report& report, absl::Time now) {
  Json checks = Json::array();
  for (const auto& f : report.findings) {
    checks.push_back({{"check", f.check},
                      {"subject", f.subject},
                      {"status", LevelName(f.level)},
                      {"message", f.message},
                      {"action", f.action}});
  }
  Json gauges = Json::array();
  for (const auto& g : report.gauges) {
    gauges.push_back({{"name", g.name}, {"labels", g.labels}, {"value", g.value}});
  }
  return Json{{"ready", report.Ready()},
              {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone())},
              {"summary",
               {{"ok", report.Count(Level::kOk)},
                {"warn", report.Count(Level::kWarn)},
                {"fail", report.Count(Level::kFail)}}},
              {"checks", std::move(checks)},
              {"gauges", std::move(gauges)}};
}

namespace {

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string Labels(const std::map<std::string, std::string>& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&out, first ? "" : ",", k, "=\"", EscapeLabel(v), "\"");
    first = false;
  }
  return out + "}";
}

}  // namespace

std::string ToPrometheus(const Report& report, absl::Time now) {
  std::string out;
  absl::StrAppend(
      &out,
      "# HELP lifeboat_doctor_ready 1 when every check of the last run was ok: a recovery "
      "would work.\n# TYPE lifeboat_doctor_ready gauge\nlifeboat_doctor_ready ",
      report.Ready() ? 1 : 0, "\n");
  absl::StrAppend(
      &out,
      "# HELP lifeboat_doctor_check Worst status of each check of the last run (0 ok, 1 warn, "
      "2 fail).\n# TYPE lifeboat_doctor_check gauge\n");
  std::set<std::string> checks;
  for (const auto& f : report.findings) checks.insert(f.check);
  for (const auto& c : checks) {
    absl::StrAppend(&out, "lifeboat_doctor_check", Labels({{"check", c}}), " ",
                    static_cast<int>(report.Worst(c)), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP lifeboat_doctor_findings Findings of the last run by status.\n"
                  "# TYPE lifeboat_doctor_findings gauge\n");
  for (Level l : {Level::kOk, Level::kWarn, Level::kFail}) {
    absl::StrAppend(&out, "lifeboat_doctor_findings", Labels({{"status", LevelName(l)}}), " ",
                    report.Count(l), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP lifeboat_doctor_last_run_timestamp_seconds When the last run finished.\n"
                  "# TYPE lifeboat_doctor_last_run_timestamp_seconds gauge\n"
                  "lifeboat_doctor_last_run_timestamp_seconds ",
                  absl::ToUnixSeconds(now), "\n");
  std::map<std::string, std::vector<const Gauge*>> by_name;
  for (const auto& g : report.gauges) by_name[g.name].push_back(&g);
  for (const auto& [name, gauges] : by_name) {
    absl::StrAppend(&out, "# HELP lifeboat_doctor_", name, " ", gauges.front()->help,
                    "\n# TYPE lifeboat_doctor_", name, " gauge\n");
    for (const Gauge* g : gauges) {
      absl::StrAppend(&out, "lifeboat_doctor_", name, Labels(g->labels), " ",
                      absl::StrFormat("%.17g", g->value), "\n");
    }
  }
  return out;
}

}  // namespace lifeboat::doctor
