// The JSONPath subset (docs/workflows.md "JSONPath subset").
#include "minik8s/workflow/jsonpath.h"

#include <nlohmann/json.hpp>
#include <string>

namespace minik8s::workflow {

namespace {

constexpr size_t kMaxPathBytes = 1024;
// Array indexes above this are refused at parse time (no document holds
// that many items; it also keeps size_t arithmetic far from overflow).
constexpr size_t kMaxIndex = 999999999;

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-'; }

Status path_error(size_t offset, const std::string& why) {
  return invalid("at offset " + std::to_string(offset) + ": " + why);
}

// The text of the first n segments of `path` ("$", "$.a", "$.a[2]").
std::string prefix_text(const JsonPath& path, size_t n) {
  std::string out = "$";
  for (size_t i = 0; i < n && i < path.segments.size(); ++i) {
    const PathSegment& seg = path.segments[i];
    if (const auto* name = std::get_if<std::string>(&seg)) {
      bool plain = !name->empty() && name_start((*name)[0]);
      for (char c : *name) plain = plain && name_char(c);
      if (plain) {
        out += "." + *name;
      } else {
        out += "['";
        for (char c : *name) {
          if (c == '\'' || c == '\\') out += '\\';
          out += c;
        }
        out += "']";
      }
    } else {
      out += "[" + std::to_string(std::get<size_t>(seg)) + "]";
    }
  }
  return out;
}

const char* type_name(const api::Json& v) {
  switch (v.type()) {
    case api::Json::value_t::object:
      return "an object";
    case api::Json::value_t::array:
      return "an array";
    case api::Json::value_t::string:
      return "a string";
    case api::Json::value_t::boolean:
      return "a boolean";
    case api::Json::value_t::null:
      return "null";
    default:
      return "a number";
  }
}

}  // namespace

Result<JsonPath> parse_path(const std::string& text) {
  if (text.size() > kMaxPathBytes) {
    return invalid("must be at most " + std::to_string(kMaxPathBytes) + " bytes");
  }
  if (text.empty() || text[0] != '$') return path_error(0, "a path starts with '$'");
  JsonPath path;
  path.text = text;
  size_t i = 1;
  while (i < text.size()) {
    char c = text[i];
    if (c == '.') {
      size_t start = ++i;
      if (i >= text.size() || !name_start(text[i])) {
        return path_error(start, "expected a name ([A-Za-z_][A-Za-z0-9_-]*) after '.'");
      }
      while (i < text.size() && name_char(text[i])) ++i;
      path.segments.emplace_back(text.substr(start, i - start));
    } else if (c == '[') {
      size_t open = i++;
      if (i < text.size() && text[i] == '\'') {
        ++i;
        std::string name;
        bool closed = false;
        while (i < text.size()) {
          char d = text[i];
          if (d == '\\') {
            if (i + 1 < text.size() && (text[i + 1] == '\'' || text[i + 1] == '\\')) {
              name += text[i + 1];
              i += 2;
              continue;
            }
            return path_error(i, "only \\' and \\\\ are escapes in a quoted name");
          }
          if (d == '\'') {
            closed = true;
            ++i;
            break;
          }
          name += d;
          ++i;
        }
        if (!closed) return path_error(open, "unterminated quoted name");
        if (i >= text.size() || text[i] != ']')
          return path_error(i, "expected ']' after the quoted name");
        ++i;
        path.segments.emplace_back(std::move(name));
      } else if (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        size_t start = i;
        size_t n = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
          n = n * 10 + static_cast<size_t>(text[i] - '0');
          if (n > kMaxIndex) return path_error(start, "array index too large");
          ++i;
        }
        if (i >= text.size() || text[i] != ']')
          return path_error(i, "expected ']' after the index");
        ++i;
        path.segments.emplace_back(n);
      } else {
        return path_error(
            i, "expected an index [N] or a quoted name ['name'] (no wildcards, filters or slices)");
      }
    } else {
      return path_error(i,
                        std::string("unexpected '") + c + "': expected '.name', '[N]' or ['name']");
    }
  }
  return path;
}

const api::Json* lookup(const api::Json& doc, const JsonPath& path) {
  const api::Json* cur = &doc;
  for (const PathSegment& seg : path.segments) {
    if (const auto* name = std::get_if<std::string>(&seg)) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(*name);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else {
      size_t idx = std::get<size_t>(seg);
      if (!cur->is_array() || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    }
  }
  return cur;
}

Status assign(api::Json& doc, const JsonPath& path, api::Json value) {
  api::Json* cur = &doc;
  for (size_t i = 0; i < path.segments.size(); ++i) {
    const PathSegment& seg = path.segments[i];
    if (const auto* name = std::get_if<std::string>(&seg)) {
      if (cur->is_null()) *cur = api::Json::object();
      if (!cur->is_object()) {
        return invalid("cannot set " + path.text + ": " + prefix_text(path, i) + " is " +
                       type_name(*cur) + ", not an object");
      }
      cur = &(*cur)[*name];
    } else {
      size_t idx = std::get<size_t>(seg);
      if (!cur->is_array()) {
        return invalid("cannot set " + path.text + ": " + prefix_text(path, i) + " is " +
                       type_name(*cur) + ", not an array");
      }
      if (idx >= cur->size()) {
        return invalid("cannot set " + path.text + ": " + prefix_text(path, i) + " has " +
                       std::to_string(cur->size()) + " items");
      }
      cur = &(*cur)[idx];
    }
  }
  *cur = std::move(value);
  return Status::ok();
}

}  // namespace minik8s::workflow
