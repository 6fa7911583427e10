// What `lifeboat doctor` found, and the three ways it is shown: a short human report (one line
// per finding), JSON for machines (shape: doc/doctor-report.schema.json) and Prometheus text for
// node_exporter's textfile collector. Pure: no I/O, no clock (the time is given).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "kube/codec.h"

namespace lifeboat::doctor {

using kube::Json;

enum class Level { kOk = 0, kWarn = 1, kFail = 2 };

// "ok", "warn", "fail".
const char* LevelName(Level level);

// One finding of one check about one subject.
struct Finding {
  std::string check;  // "coverage", "checkpoint", "dry-run", "agreement", "backup", "certificates",
                      // "source"
  std::string subject;  // what it is about: a node, a pod, a source, a file, a certificate
  Level level = Level::kOk;
  std::string message;  // what was found, and why it matters
  std::string action;   // what to do about it (empty when ok)
};

// A number worth graphing (backup age, certificate expiry), exported as a Prometheus gauge.
struct Gauge {
  std::string
      name;  // without the lifeboat_doctor_ prefix, e.g. "certificate_expiry_timestamp_seconds"
  std::string help;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Report {
  std::vector<Finding> findings;
  std::vector<Gauge> gauges;

  void Add(Finding f) { findings.push_back(std::move(f)); }
  void Append(std::vector<Finding> more);
  // Ready: no finding is warn or fail (a warning is something to act on before the disaster).
  bool Ready() const;
  int Count(Level level) const;
  // The worst level among the findings of `check` (kOk when it has none).
  Level Worst(const std::string& check) const;
};

// One line per finding: "<STATUS> <check> <subject>: <message> -> <action>", then a verdict line.
std::string FormatText(const Report& report);

// {"ready", "time", "summary": {"ok","warn","fail"}, "checks": [{"check","subject","status",
// "message","action"}], "gauges": [...]} (doc/doctor-report.schema.json).
Json ToJson(const Report& report, absl::Time now);

// Prometheus text exposition format: lifeboat_doctor_ready, lifeboat_doctor_check{check,status},
// lifeboat_doctor_findings{status}, lifeboat_doctor_last_run_timestamp_seconds and the gauges.
std::string ToPrometheus(const Report& report, absl::Time now);

}  // namespace lifeboat::doctor
