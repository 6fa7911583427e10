#include "bootstrap/manifests.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file.h"

namespace lifeboat::bootstrap {
namespace fs = std::filesystem;

std::string Manifest::Describe() const {
  const Json& meta = object.value("metadata", Json::object());
  std::string ns = meta.value("namespace", "");
  return absl::StrCat(object.value("kind", "?"), " ", ns.empty() ? "" : ns + "/",
                      meta.value("name", "?"), " (from ", file,
                      index > 0 ? absl::StrCat(" document ", index + 1) : "", ")");
}

absl::StatusOr<ManifestSet> LoadManifests(const fs::path& dir) {
  ManifestSet out;
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename();
    if (name.empty() || name[0] == '.' || !it->is_regular_file()) continue;
    if (absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml") || absl::EndsWith(name, ".json")) {
      names.push_back(name);
    }
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", dir.string(), ": ", ec.message()));
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    auto text = base::ReadFile(dir / name);
    if (!text.ok()) {
      out.errors.push_back(absl::StrCat(name, ": ", text.status().message()));
      continue;
    }
    auto docs = kube::ParseDocuments(*text);
    if (!docs.ok()) {
      out.errors.push_back(absl::StrCat(name, ": ", docs.status().message()));
      continue;
    }
    int index = 0;
    for (auto& doc : *docs) {
      std::vector<Json> objects;
      if (doc.is_object() && doc.value("kind", "") == "List" && doc.contains("items") &&
          doc["items"].is_array()) {
        objects = doc["items"].get<std::vector<Json>>();
      } else {
        objects.push_back(std::move(doc));
      }
      for (auto& obj : objects) {
        Manifest m{name, index++, std::move(obj)};
        const Json& o = m.object;
        bool ok = o.is_object() && o.contains("apiVersion") && o["apiVersion"].is_string() &&
                  o.contains("kind") && o["kind"].is_string() && o.contains("metadata") &&
                  o["metadata"].is_object() && o["metadata"].contains("name") &&
                  o["metadata"]["name"].is_string();
        if (!ok) {
          out.errors.push_back(absl::StrCat(name, " document ", m.index + 1,
                                            ": not a Kubernetes object (needs apiVersion, kind and "
                                            "metadata.name)"));
          continue;
        }
        out.manifests.push_back(std::move(m));
      }
    }
  }
  return out;
}

std::vector<Manifest> CreationOrder(std::vector<Manifest> manifests) {
  auto rank = [](const Manifest& m) {
    std::string kind = m.object.value("kind", "");
    if (kind == "Namespace") return 0;
    if (kind == "CustomResourceDefinition") return 1;
    return 2;
  };
  std::stable_sort(manifests.begin(), manifests.end(),
                   [&](const Manifest& a, const Manifest& b) { return rank(a) < rank(b); });
  return manifests;
}

}  // namespace lifeboat::bootstrap
