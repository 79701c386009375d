// JSON/YAML decoding and YAML rendering for API values.
//
// YAML is decoded from yaml-cpp's event stream (not its Node tree) so that
// scalar typing, anchors/aliases and resource limits are under our control:
// alias expansion is charged against a node budget (billion-laughs guard) and
// nesting is capped, so hostile input yields kBadRequest rather than memory
// exhaustion or stack overflow.
#include "minik8s/api/json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "minik8s/util/utf8.h"

namespace minik8s::api {
namespace {

constexpr int kMaxDepth = kMaxJsonDepth;
constexpr size_t kMaxNodes = 2'000'000;

std::string line_col(std::string_view text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// Rejects JSON nested deeper than max_depth before handing it to nlohmann
// (whose copy/dump/compare recurse).
bool json_depth_ok(std::string_view text, int max_depth = kMaxDepth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

bool all_of(std::string_view s, size_t from, bool (*pred)(char)) {
  if (from >= s.size()) return false;
  for (size_t i = from; i < s.size(); ++i) {
    if (!pred(s[i])) return false;
  }
  return true;
}
bool is_dec(char c) { return c >= '0' && c <= '9'; }
bool is_oct(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) {
  return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_core_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_core_float(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && is_dec(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_dec(s[i])) ++i, ++frac_digits;
    if (int_digits == 0 && frac_digits == 0) return false;
  } else if (int_digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && is_dec(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

bool is_special_float(std::string_view s) {
  std::string_view t = s;
  if (!t.empty() && (t[0] == '-' || t[0] == '+')) t.remove_prefix(1);
  return t == ".inf" || t == ".Inf" || t == ".INF" || s == ".nan" || s == ".NaN" ||
         s == ".NAN";
}

// Resolves a plain scalar per the YAML 1.2 core schema. Values JSON cannot
// hold (.inf, .nan) stay strings.
Json resolve_plain(const std::string& s) {
  if (is_core_null(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  // Decimal ints.
  {
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    if (all_of(s, i, is_dec)) {
      int64_t v = 0;
      const char* start = s[0] == '+' ? b + 1 : b;
      auto r = std::from_chars(start, e, v);
      if (r.ec == std::errc() && r.ptr == e) return v;
      if (s[0] != '-') {
        uint64_t u = 0;
        r = std::from_chars(start, e, u);
        if (r.ec == std::errc() && r.ptr == e) return u;
      }
      // Too large for 64 bits: fall through to float.
      return std::strtod(s.c_str(), nullptr);
    }
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
    bool hex = s[1] == 'x';
    if (all_of(s, 2, hex ? is_hex : is_oct)) {
      uint64_t u = 0;
      auto r = std::from_chars(b + 2, e, u, hex ? 16 : 8);
      if (r.ec == std::errc() && r.ptr == e) {
        if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
        return u;
      }
      return s;
    }
  }
  if (is_core_float(s)) {
    double d = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(d)) return d;
    return s;
  }
  return s;
}

// Builds JSON values from yaml-cpp parse events.
class JsonBuilder : public YAML::EventHandler {
 public:
  struct Frame {
    Json value;
    bool is_map = false;
    bool have_key = false;
    std::string key;
    bool key_is_merge = false;  // the key is a plain (unquoted) <<
    YAML::anchor_t anchor = 0;
    size_t nodes_at_start = 0;
  };

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 can loop forever on some malformed input, yielding empty
    // documents that all start at the same position: treat that as an error.
    if (documents_ > 0 && mark.pos == last_doc_pos_) {
      fail(mark, "malformed YAML (parser made no progress)");
    }
    ++documents_;
    last_doc_pos_ = mark.pos;
    result_ = nullptr;
    stack_.clear();
    done_ = false;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(mark, nullptr, anchor, 1, /*key_text=*/"null");
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (failed()) return;
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      fail(mark, "alias refers to an unknown or unfinished anchor");
      return;
    }
    std::string key_text = it->second.first.is_primitive() && !it->second.first.is_string()
                               ? it->second.first.dump()
                               : std::string();
    add(mark, it->second.first, 0, it->second.second, key_text);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (failed()) return;
    if (!valid_utf8(value)) {
      fail(mark, "scalar is not valid UTF-8");
      return;
    }
    Json v;
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "tag:yaml.org,2002:binary" ||
        tag == "tag:yaml.org,2002:timestamp") {
      v = value;
    } else {
      v = resolve_plain(value);
    }
    // Only a plain << is YAML's merge key; a quoted '<<' is an ordinary key.
    plain_merge_scalar_ = tag != "!" && value == "<<";
    add(mark, std::move(v), anchor, 1, value);
    plain_merge_scalar_ = false;
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    push(mark, Json::array(), false, anchor);
  }
  void OnSequenceEnd() override { pop(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    push(mark, Json::object(), true, anchor);
  }
  void OnMapEnd() override { pop(); }

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  Json take() { return std::move(result_); }

 private:
  void fail(const YAML::Mark& mark, const std::string& what) {
    if (error_.empty()) {
      error_ = "line " + std::to_string(mark.line + 1) + ", column " +
               std::to_string(mark.column + 1) + ": " + what;
    }
  }

  bool charge(const YAML::Mark& mark, size_t n) {
    nodes_ += n;
    if (nodes_ > kMaxNodes) {
      fail(mark, "document too large (alias expansion exceeds " + std::to_string(kMaxNodes) +
                     " nodes)");
      return false;
    }
    return true;
  }

  void push(const YAML::Mark& mark, Json v, bool is_map, YAML::anchor_t anchor) {
    if (failed()) return;
    if (static_cast<int>(stack_.size()) >= kMaxDepth) {
      fail(mark, "nesting deeper than " + std::to_string(kMaxDepth));
      return;
    }
    if (!charge(mark, 1)) return;
    Frame f;
    f.value = std::move(v);
    f.is_map = is_map;
    f.anchor = anchor;
    f.nodes_at_start = nodes_;
    stack_.push_back(std::move(f));
    last_mark_ = mark;
  }

  void pop() {
    if (failed() || stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    size_t size = nodes_ - f.nodes_at_start + 1;
    if (f.is_map && f.have_key) {
      // A key without value cannot come from the parser; be defensive.
      f.value[f.key] = nullptr;
    }
    // Node count was already charged while building; place without recharging.
    nodes_ -= size;
    add(last_mark_, std::move(f.value), f.anchor, size, std::string());
  }

  // Places a completed value into its parent (or as the document result).
  void add(const YAML::Mark& mark, Json v, YAML::anchor_t anchor, size_t size,
           const std::string& key_text) {
    if (failed()) return;
    if (!charge(mark, size)) return;
    if (anchor != 0) anchors_[anchor] = {v, size};
    if (stack_.empty()) {
      result_ = std::move(v);
      done_ = true;
      return;
    }
    Frame& top = stack_.back();
    if (!top.is_map) {
      top.value.push_back(std::move(v));
      return;
    }
    if (!top.have_key) {
      top.have_key = true;
      top.key_is_merge = plain_merge_scalar_;
      if (v.is_string()) {
        top.key = v.get<std::string>();
      } else if (v.is_primitive() && !key_text.empty()) {
        top.key = key_text;  // non-string scalar keys keep their text (1 → "1")
      } else {
        top.key = v.dump();
      }
      return;
    }
    top.have_key = false;
    if (top.key_is_merge && (v.is_object() || v.is_array())) {
      // YAML merge key (as in go-yaml): explicit keys win over merged ones.
      std::vector<Json> sources;
      if (v.is_object()) {
        sources.push_back(std::move(v));
      } else {
        for (auto& s : v) sources.push_back(s);
      }
      for (auto& src : sources) {
        if (!src.is_object()) continue;
        for (auto it = src.begin(); it != src.end(); ++it) {
          if (!top.value.contains(it.key())) top.value[it.key()] = it.value();
        }
      }
      return;
    }
    top.value[top.key] = std::move(v);
  }

  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, std::pair<Json, size_t>> anchors_;
  bool plain_merge_scalar_ = false;  // OnScalar → add(): this scalar is a plain <<
  Json result_;
  bool done_ = false;
  size_t nodes_ = 0;
  size_t documents_ = 0;
  int last_doc_pos_ = -1;
  YAML::Mark last_mark_;
  std::string error_;
};

// Parses every YAML document in text; null entries for empty documents.
Result<std::vector<Json>> parse_yaml_stream(std::string_view text) {
  std::vector<Json> docs;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    JsonBuilder builder;
    while (true) {
      bool more = parser.HandleNextDocument(builder);
      if (builder.failed()) {
        return bad_request("invalid YAML in document " + std::to_string(docs.size()) + " at " +
                           builder.error());
      }
      if (!more) break;
      docs.push_back(builder.take());
      // Aliases can place a deep anchor at a deep position.
      if (!json_depth_within(docs.back())) {
        return bad_request("invalid YAML in document " + std::to_string(docs.size() - 1) +
                           ": nesting deeper than " + std::to_string(kMaxDepth) + " levels");
      }
    }
  } catch (const YAML::Exception& e) {
    return bad_request("invalid YAML in document " + std::to_string(docs.size()) + " at line " +
                       std::to_string(e.mark.line + 1) + ", column " +
                       std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return bad_request(std::string("invalid YAML: ") + e.what());
  }
  return docs;
}

// Parses whitespace-separated JSON values ("{...}\n{...}").
Result<std::vector<Json>> parse_json_stream(std::string_view text) {
  if (!json_depth_ok(text)) {
    return bad_request("invalid JSON: nesting deeper than " + std::to_string(kMaxDepth) +
                       " levels");
  }
  std::vector<Json> out;
  try {
    std::istringstream in{std::string(text)};
    while (true) {
      in >> std::ws;
      if (in.peek() == std::char_traits<char>::eof()) break;
      Json v;
      in >> v;
      out.push_back(std::move(v));
    }
  } catch (const std::exception& e) {
    return bad_request(std::string("invalid JSON stream: ") + e.what());
  }
  return out;
}

bool is_list_kind(const Json& v) {
  if (!v.is_object()) return false;
  auto k = v.find("kind");
  if (k == v.end() || !k->is_string()) return false;
  const auto& kind = k->get_ref<const std::string&>();
  if (kind.size() < 4 || kind.compare(kind.size() - 4, 4, "List") != 0) return false;
  auto items = v.find("items");
  return items != v.end() && (items->is_array() || items->is_null());
}

Status add_manifest(Json v, size_t index, std::vector<Json>& out) {
  if (v.is_null()) return Status::ok();
  if (!v.is_object()) {
    return bad_request("manifest document " + std::to_string(index) +
                       " is not an object (got " + std::string(v.type_name()) + ")");
  }
  if (is_list_kind(v)) {
    Json& items = v["items"];
    if (items.is_null()) return Status::ok();
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_object()) {
        return bad_request("manifest document " + std::to_string(index) + " item " +
                           std::to_string(i) + " is not an object");
      }
      out.push_back(std::move(items[i]));
    }
    return Status::ok();
  }
  out.push_back(std::move(v));
  return Status::ok();
}

// ---------------------------------------------------------------- to_yaml

bool is_yaml11_special(const std::string& s) {
  static const char* const kWords[] = {"y", "yes", "n", "no", "on", "off", "true", "false",
                                       "null", "~"};
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  return false;
}

// Would a plain scalar with this text be read back as something other than
// this string (by us, by YAML 1.1 readers) or not parse at all?
// U+FEFF in UTF-8. A reader drops it where a stream starts, so text holding
// one is written double-quoted with the character escaped.
constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  if (s.find(kByteOrderMark) != std::string::npos) return true;
  if (s == "<<") return true;  // plain, it is the merge key
  if (is_yaml11_special(s)) return true;
  if (!resolve_plain(s).is_string()) return true;
  if (is_special_float(s)) return true;
  // Number-like text in any YAML 1.1 flavour (0x1F, 012, 1_000, 1:20, .5).
  {
    bool numberish = true;
    size_t digits = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (is_dec(c)) {
        ++digits;
      } else if (!(c == '.' || c == '_' || c == ':' || c == '+' || c == '-' || c == 'e' ||
                   c == 'E' || c == 'x' || c == 'o' || c == 'b' ||
                   (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
        numberish = false;
        break;
      }
    }
    if (numberish && digits > 0) return true;
  }
  const char first = s.front();
  static const std::string kIndicators = "-?:,[]{}#&*!|>'\"%@`";
  // "-c", "--port=80" (command arguments) read back fine as plain scalars,
  // and kubectl prints them unquoted.
  const bool dash_word = first == '-' && s.size() > 1 && s[1] != ' ' && s[1] != '\t' &&
                         s.rfind("---", 0) != 0;
  if (!dash_word && kIndicators.find(first) != std::string::npos) {
    // "-foo" / "?foo" / ":foo" are plain-safe only when followed by a
    // non-space; quote anyway for the simple reader's sake.
    return true;
  }
  if (first == ' ' || s.back() == ' ' || s.back() == ':') return true;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (s[i] == ':' && i + 1 < s.size() && s[i + 1] == ' ') return true;
    if (s[i] == '#' && i > 0 && s[i - 1] == ' ') return true;
    if (s[i] == '{' || s[i] == '}' || s[i] == '[' || s[i] == ']' || s[i] == ',') return true;
  }
  // yaml-cpp treats "---" / "..." at line start as document markers.
  if (s.rfind("---", 0) == 0 || s.rfind("...", 0) == 0) return true;
  return false;
}

std::string double_quoted(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    auto c = static_cast<unsigned char>(ch);
    if (s.compare(i, kByteOrderMark.size(), kByteOrderMark) == 0) {
      out += "\\ufeff";
      i += kByteOrderMark.size() - 1;
      continue;
    }
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          static const char* kHex = "0123456789abcdef";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

std::string single_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

// A string that fits a literal block scalar: several lines, printable, no
// trailing spaces on a line, and a first line that does not start with a
// space (which would need an indentation indicator).
bool fits_literal_block(const std::string& s) {
  if (s.find('\n') == std::string::npos) return false;
  if (s.find(kByteOrderMark) != std::string::npos) return false;
  if (s.front() == ' ' || s.front() == '\t' || s.front() == '\n') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
    if (c == ' ' && (i + 1 == s.size() || s[i + 1] == '\n')) return false;
  }
  return true;
}

std::string scalar_text(const Json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (!needs_quotes(s)) return s;
    if (s.find(kByteOrderMark) != std::string::npos) return double_quoted(s);
    for (char c : s) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return double_quoted(s);
    }
    return single_quoted(s);
  }
  if (v.is_null()) return "null";
  if (v.is_number_float() && !std::isfinite(v.get<double>())) return "null";
  return v.dump();
}

void emit_block(const std::string& s, int indent, std::string& out) {
  // Chomping: '|' keeps one final newline, '|-' none, '|+' all.
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  out += trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
  out += '\n';
  std::string body = s.substr(0, s.size() - trailing);
  size_t start = 0;
  while (true) {
    size_t nl = body.find('\n', start);
    std::string line = body.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty()) out.append(indent, ' ');
    out += line;
    out += '\n';
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  for (size_t i = 1; i < trailing; ++i) out += '\n';
}

void emit_seq(const Json& arr, int indent, bool inline_first, std::string& out);
void emit_map(const Json& obj, int indent, bool inline_first, std::string& out);

// Emits a value that follows "key:" or "-" (the caller wrote that prefix).
void emit_after_prefix(const Json& v, int indent, bool in_seq, std::string& out) {
  if (v.is_object() && !v.empty()) {
    if (in_seq) {
      out += ' ';
      emit_map(v, indent + 2, true, out);
    } else {
      out += '\n';
      emit_map(v, indent + 2, false, out);
    }
  } else if (v.is_array() && !v.empty()) {
    if (in_seq) {
      out += ' ';
      emit_seq(v, indent + 2, true, out);
    } else {
      out += '\n';
      emit_seq(v, indent, false, out);
    }
  } else if (v.is_object()) {
    out += " {}\n";
  } else if (v.is_array()) {
    out += " []\n";
  } else if (v.is_string() && fits_literal_block(v.get_ref<const std::string&>())) {
    out += ' ';
    emit_block(v.get_ref<const std::string&>(), indent + 2, out);
  } else {
    out += ' ';
    out += scalar_text(v);
    out += '\n';
  }
}

void emit_map(const Json& obj, int indent, bool inline_first, std::string& out) {
  bool first = true;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!(first && inline_first)) out.append(indent, ' ');
    first = false;
    out += scalar_text(Json(it.key()));
    out += ':';
    emit_after_prefix(it.value(), indent, false, out);
  }
}

void emit_seq(const Json& arr, int indent, bool inline_first, std::string& out) {
  bool first = true;
  for (const auto& item : arr) {
    if (!(first && inline_first)) out.append(indent, ' ');
    first = false;
    out += '-';
    emit_after_prefix(item, indent, true, out);
  }
}

}  // namespace

bool json_depth_within(const Json& value, int max_depth) {
  if (!value.is_structured()) return true;
  if (max_depth <= 0) return false;
  for (const auto& c : value) {
    if (!json_depth_within(c, max_depth - 1)) return false;
  }
  return true;
}

Result<Json> parse_json_response(std::string_view text) {
  return parse_json(text, kMaxJsonDepth + kJsonEnvelopeDepth);
}

Result<Json> parse_json(std::string_view text, int max_depth) {
  if (!json_depth_ok(text, max_depth)) {
    return bad_request("invalid JSON: nesting deeper than " + std::to_string(max_depth) +
                       " levels");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    return bad_request("invalid JSON at " + line_col(text, e.byte > 0 ? e.byte - 1 : 0) + ": " +
                       e.what());
  } catch (const std::exception& e) {
    return bad_request(std::string("invalid JSON: ") + e.what());
  }
}

Result<Json> yaml_to_json(std::string_view yaml_text) {
  auto docs = parse_yaml_stream(yaml_text);
  if (!docs) return docs.status();
  if (docs->empty()) return Json(nullptr);
  if (docs->size() > 1) {
    return bad_request("expected one YAML document, found " + std::to_string(docs->size()));
  }
  return std::move(docs->front());
}

Result<std::vector<Json>> parse_manifests(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                             text[i] == '\r')) {
    ++i;
  }
  std::vector<Json> out;
  if (i < text.size() && (text[i] == '{' || text[i] == '[')) {
    auto v = parse_json(text);
    if (!v) {
      // Several concatenated JSON values, as kubectl accepts them.
      if (auto stream = parse_json_stream(text)) {
        for (size_t k = 0; k < stream->size(); ++k) {
          if (Status s = add_manifest(std::move((*stream)[k]), k, out); !s) return s;
        }
        return out;
      }
      // Not JSON after all: YAML flow style ("{kind: Pod, ...}") is valid too.
      auto docs = parse_yaml_stream(text);
      if (!docs) return v.status();
      for (size_t k = 0; k < docs->size(); ++k) {
        if (Status s = add_manifest(std::move((*docs)[k]), k, out); !s) return s;
      }
      return out;
    }
    if (v->is_array()) {
      for (size_t k = 0; k < v->size(); ++k) {
        if (Status s = add_manifest(std::move((*v)[k]), k, out); !s) return s;
      }
    } else {
      if (Status s = add_manifest(std::move(*v), 0, out); !s) return s;
    }
    return out;
  }
  auto docs = parse_yaml_stream(text);
  if (!docs) return docs.status();
  for (size_t k = 0; k < docs->size(); ++k) {
    if (Status s = add_manifest(std::move((*docs)[k]), k, out); !s) return s;
  }
  return out;
}

std::string to_yaml(const Json& value) {
  if (!json_depth_within(value)) {
    // Too deep to render readably (and safely): fall back to flow JSON,
    // which is valid YAML.
    try {
      return value.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
    } catch (...) {
      return "null\n";
    }
  }
  std::string out;
  if (value.is_object() && !value.empty()) {
    emit_map(value, 0, false, out);
  } else if (value.is_array() && !value.empty()) {
    emit_seq(value, 0, false, out);
  } else if (value.is_object()) {
    out = "{}\n";
  } else if (value.is_array()) {
    out = "[]\n";
  } else if (value.is_string() && fits_literal_block(value.get_ref<const std::string&>())) {
    emit_block(value.get_ref<const std::string&>(), 2, out);
  } else {
    out = scalar_text(value) + "\n";
  }
  return out;
}

const Json& field(const Json& obj, const char* key) {
  static const Json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string sfield(const Json& obj, const char* key) {
  const Json& v = field(obj, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

int64_t ifield(const Json& obj, const char* key) {
  const Json& v = field(obj, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

bool bfield(const Json& obj, const char* key) {
  const Json& v = field(obj, key);
  return v.is_boolean() && v.get<bool>();
}

const Json& afield(const Json& obj, const char* key) {
  static const Json kEmpty = Json::array();
  const Json& v = field(obj, key);
  return v.is_array() ? v : kEmpty;
}

std::string meta_string(const Json& obj, const char* key) { return sfield(field(obj, "metadata"), key); }

const Json& field_at(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* key : path) cur = &field(*cur, key);
  return *cur;
}

}  // namespace minik8s::api
