#include "kube/kubeconfig.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/file.h"
#include "base/status.h"

namespace lifeboat::kube {
namespace fs = std::filesystem;
namespace {

struct Named {
  Json clusters = Json::object();
  Json users = Json::object();
  Json contexts = Json::object();
  std::string current_context;
  std::string base_dir;  // per-entry base dirs are kept inside entries as "__dir"
};

// Merges one parsed file into `into`: the first file to define a name wins, as in kubectl.
absl::Status Merge(const Json& doc, const std::string& dir, const std::string& source, Named& into) {
  if (!doc.is_object()) return absl::InvalidArgumentError(absl::StrCat(source, ": not a kubeconfig"));
  auto take = [&](const char* list, const char* inner, Json& dst) -> absl::Status {
    if (!doc.contains(list) || doc[list].is_null()) return absl::OkStatus();
    if (!doc[list].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": `", list, "` must be a list"));
    }
    for (const auto& e : doc[list]) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": an entry of `", list, "` has no name"));
      }
      std::string name = e["name"];
      if (dst.contains(name)) continue;
      Json body = e.value(inner, Json::object());
      if (!body.is_object()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": ", list, " ", name, " is malformed"));
      }
      body["__dir"] = dir;
      dst[name] = body;
    }
    return absl::OkStatus();
  };
  LB_RETURN_IF_ERROR(take("clusters", "cluster", into.clusters));
  LB_RETURN_IF_ERROR(take("users", "user", into.users));
  LB_RETURN_IF_ERROR(take("contexts", "context", into.contexts));
  if (into.current_context.empty() && doc.contains("current-context") &&
      doc["current-context"].is_string()) {
    into.current_context = doc["current-context"];
  }
  return absl::OkStatus();
}

// Reads `<field>-data` (base64) or `<field>` (a file path) from `entry`.
absl::StatusOr<std::string> DataOrFile(const Json& entry, const std::string& field,
                                       const std::string& what) {
  std::string data_field = field + "-data";
  if (entry.contains(data_field) && entry[data_field].is_string() &&
      !entry[data_field].get<std::string>().empty()) {
    std::string out;
    if (!absl::Base64Unescape(entry[data_field].get<std::string>(), &out)) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": `", data_field, "` is not valid base64"));
    }
    return out;
  }
  if (entry.contains(field) && entry[field].is_string() && !entry[field].get<std::string>().empty()) {
    fs::path p = entry[field].get<std::string>();
    if (p.is_relative()) p = fs::path(entry.value("__dir", std::string(".")) ) / p;
    auto content = base::ReadFile(p);
    if (!content.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": `", field, "`: ", content.status().message()));
    }
    return *content;
  }
  return std::string();
}

}  // namespace

absl::StatusOr<Kubeconfig> ParseKubeconfigs(const std::vector<std::pair<std::string, std::string>>& files) {
  Named named;
  std::vector<std::string> sources;
  for (const auto& [path, text] : files) {
    auto docs = ParseDocuments(text);
    if (!docs.ok()) return Annotate(docs.status(), absl::StrCat("kubeconfig ", path));
    if (docs->empty()) continue;
    std::string dir = fs::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    LB_RETURN_IF_ERROR(Merge(docs->front(), dir, path, named));
    sources.push_back(path);
  }
  Kubeconfig kc;
  kc.source = absl::StrJoin(sources, ":");
  if (named.current_context.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", kc.source, " has no current-context"));
  }
  kc.context = named.current_context;
  if (!named.contexts.contains(kc.context)) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", kc.source, ": context \"", kc.context,
                                                   "\" (current-context) is not defined"));
  }
  const Json& ctx = named.contexts[kc.context];
  std::string cluster_name = ctx.value("cluster", "");
  std::string user_name = ctx.value("user", "");
  if (!named.clusters.contains(cluster_name)) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", kc.source, ": cluster \"", cluster_name,
                                                   "\" of context \"", kc.context, "\" is not defined"));
  }
  const Json& cluster = named.clusters[cluster_name];
  kc.server = cluster.value("server", "");
  if (kc.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", kc.source, ": cluster \"", cluster_name, "\" has no server"));
  }
  kc.insecure_skip_tls_verify = cluster.value("insecure-skip-tls-verify", false);
  std::string what = absl::StrCat("kubeconfig ", kc.source, " cluster \"", cluster_name, "\"");
  LB_ASSIGN_OR_RETURN(kc.ca_pem, DataOrFile(cluster, "certificate-authority", what));

  if (!user_name.empty()) {
    if (!named.users.contains(user_name)) {
      return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", kc.source, ": user \"", user_name,
                                                     "\" of context \"", kc.context, "\" is not defined"));
    }
    const Json& user = named.users[user_name];
    what = absl::StrCat("kubeconfig ", kc.source, " user \"", user_name, "\"");
    if (user.contains("exec") || user.contains("auth-provider")) {
      return absl::UnimplementedError(absl::StrCat(
          what, " authenticates with an exec plugin or auth provider, which Lifeboat does not run; "
                "use a kubeconfig with a client certificate or a token"));
    }
    LB_ASSIGN_OR_RETURN(kc.client_cert_pem, DataOrFile(user, "client-certificate", what));
    LB_ASSIGN_OR_RETURN(kc.client_key_pem, DataOrFile(user, "client-key", what));
    if (kc.client_cert_pem.empty() != kc.client_key_pem.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a client certificate without a key, or a key without a certificate"));
    }
    kc.token = user.value("token", "");
    if (kc.token.empty() && user.contains("tokenFile")) {
      Json fake = {{"token-file", user["tokenFile"]}, {"__dir", user.value("__dir", ".")}};
      LB_ASSIGN_OR_RETURN(std::string tok, DataOrFile(fake, "token-file", what));
      kc.token = std::string(absl::StripAsciiWhitespace(tok));
    }
  }
  return kc;
}

absl::StatusOr<Kubeconfig> ParseKubeconfig(absl::string_view text, absl::string_view base_dir,
                                           absl::string_view source) {
  std::string fake_path = (fs::path(std::string(base_dir)) / "x").string();
  auto kc = ParseKubeconfigs({{fake_path, std::string(text)}});
  if (kc.ok()) kc->source = std::string(source);
  return kc;
}

absl::StatusOr<Kubeconfig> LoadKubeconfig(absl::string_view explicit_path) {
  std::vector<std::string> paths;
  if (!explicit_path.empty()) {
    paths.emplace_back(explicit_path);
  } else if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    for (auto p : absl::StrSplit(env, ':', absl::SkipEmpty())) paths.emplace_back(p);
  } else if (const char* home = std::getenv("HOME")) {
    paths.push_back((fs::path(home) / ".kube" / "config").string());
  }
  if (paths.empty()) return absl::InvalidArgumentError("no kubeconfig given (use --kubeconfig)");
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& p : paths) {
    auto text = base::ReadFile(p);
    if (!text.ok()) {
      // kubectl ignores missing files in $KUBECONFIG, but not an explicit one.
      if (!explicit_path.empty() || paths.size() == 1) {
        return absl::Status(text.status().code(), absl::StrCat("cannot read kubeconfig: ", text.status().message()));
      }
      continue;
    }
    files.emplace_back(p, *std::move(text));
  }
  return ParseKubeconfigs(files);
}

std::string Kubeconfig::Flatten() const {
  Json cluster = {{"server", server}};
  if (!ca_pem.empty()) cluster["certificate-authority-data"] = absl::Base64Escape(ca_pem);
  if (insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
  Json user = Json::object();
  if (!client_cert_pem.empty()) user["client-certificate-data"] = absl::Base64Escape(client_cert_pem);
  if (!client_key_pem.empty()) user["client-key-data"] = absl::Base64Escape(client_key_pem);
  if (!token.empty()) user["token"] = token;
  Json doc = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", Json::array({{{"name", "lifeboat"}, {"cluster", cluster}}})},
      {"users", Json::array({{{"name", "lifeboat"}, {"user", user}}})},
      {"contexts", Json::array({{{"name", "lifeboat"},
                                 {"context", {{"cluster", "lifeboat"}, {"user", "lifeboat"}}}}})},
      {"current-context", "lifeboat"},
  };
  return ToYaml(doc);
}

}  // namespace lifeboat::kube
