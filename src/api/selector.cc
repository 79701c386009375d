// Label and field selectors (Kubernetes apimachinery labels/fields semantics).
#include "minik8s/api/selector.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace minik8s::api {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ≤63 chars of [A-Za-z0-9._-], alphanumeric at both ends; empty allowed when
// allow_empty.
std::string check_name_part(const std::string& s, bool allow_empty, const char* what) {
  if (s.empty()) return allow_empty ? "" : std::string(what) + " must not be empty";
  if (s.size() > 63) return std::string(what) + " must be no more than 63 characters";
  for (char c : s) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') {
      return std::string(what) +
             " must consist of alphanumeric characters, '-', '_' or '.', and must start and "
             "end with an alphanumeric character";
    }
  }
  if (!is_alnum(s.front()) || !is_alnum(s.back())) {
    return std::string(what) + " must start and end with an alphanumeric character";
  }
  return "";
}

std::string check_dns_subdomain(const std::string& s) {
  if (s.empty()) return "prefix part must not be empty";
  if (s.size() > 253) return "prefix part must be no more than 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string label = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty()) return "prefix part must be a lowercase RFC 1123 subdomain";
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return "prefix part must be a lowercase RFC 1123 subdomain";
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return "prefix part must be a lowercase RFC 1123 subdomain";
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return "";
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters that end an identifier in label selector syntax.
bool is_special(char c) {
  return is_space(c) || c == '!' || c == '=' || c == ',' || c == '(' || c == ')' || c == '<' ||
         c == '>';
}

class LabelParser {
 public:
  explicit LabelParser(const std::string& text) : s_(text) {}

  Result<std::vector<LabelRequirement>> parse() {
    std::vector<LabelRequirement> reqs;
    skip_space();
    if (pos_ >= s_.size()) return reqs;
    while (true) {
      size_t term_start = pos_;
      auto req = parse_term();
      if (!req) {
        return bad_request("invalid label selector term \"" + term_text(term_start) +
                           "\": " + req.status().message());
      }
      reqs.push_back(std::move(*req));
      skip_space();
      if (pos_ >= s_.size()) break;
      if (s_[pos_] != ',') {
        return bad_request("invalid label selector term \"" + term_text(term_start) +
                           "\": expected ',' at position " + std::to_string(pos_));
      }
      ++pos_;
      skip_space();
      if (pos_ >= s_.size()) {
        return bad_request("invalid label selector \"" + s_ + "\": trailing ','");
      }
    }
    return reqs;
  }

 private:
  std::string term_text(size_t start) const {
    // The term runs to the next ',' outside parentheses.
    int depth = 0;
    size_t end = start;
    while (end < s_.size()) {
      if (s_[end] == '(') ++depth;
      if (s_[end] == ')') --depth;
      if (s_[end] == ',' && depth <= 0) break;
      ++end;
    }
    return s_.substr(start, end - start);
  }

  void skip_space() {
    while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
  }

  std::string ident() {
    size_t start = pos_;
    while (pos_ < s_.size() && !is_special(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  Result<LabelRequirement> parse_term() {
    LabelRequirement r;
    if (s_[pos_] == '!') {
      ++pos_;
      skip_space();
      r.key = ident();
      r.op = LabelRequirement::Op::kDoesNotExist;
      if (auto m = check_label_key(r.key); !m.empty()) return bad_request(m);
      return r;
    }
    r.key = ident();
    if (r.key.empty()) return bad_request("expected a label key");
    if (auto m = check_label_key(r.key); !m.empty()) return bad_request(m);
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] == ',') {
      r.op = LabelRequirement::Op::kExists;
      return r;
    }
    if (s_.compare(pos_, 2, "==") == 0 || s_.compare(pos_, 2, "!=") == 0 || s_[pos_] == '=') {
      if (s_[pos_] == '!') {
        r.op = LabelRequirement::Op::kNotEquals;
        pos_ += 2;
      } else {
        r.op = LabelRequirement::Op::kEquals;
        pos_ += s_.compare(pos_, 2, "==") == 0 ? 2 : 1;
      }
      skip_space();
      std::string v = ident();
      if (auto m = check_label_value(v); !m.empty()) return bad_request(m);
      r.values.push_back(std::move(v));
      return r;
    }
    std::string word = ident();
    if (word != "in" && word != "notin") {
      return bad_request("expected one of '=', '==', '!=', 'in', 'notin' after the key");
    }
    r.op = word == "in" ? LabelRequirement::Op::kIn : LabelRequirement::Op::kNotIn;
    skip_space();
    if (pos_ >= s_.size() || s_[pos_] != '(') return bad_request("expected '(' after " + word);
    ++pos_;
    while (true) {
      skip_space();
      std::string v = ident();
      skip_space();
      if (pos_ >= s_.size()) return bad_request("missing ')'");
      if (auto m = check_label_value(v); !m.empty()) return bad_request(m);
      char c = s_[pos_];
      if (c == ',') {
        r.values.push_back(std::move(v));
        ++pos_;
        continue;
      }
      if (c == ')') {
        ++pos_;
        if (!v.empty() || !r.values.empty()) r.values.push_back(std::move(v));
        break;
      }
      return bad_request(std::string("unexpected '") + c + "' in value set");
    }
    if (r.values.empty()) return bad_request("'" + word + "' needs at least one value");
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    return r;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

bool has_value(const std::vector<std::string>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

void sort_by_key(std::vector<LabelRequirement>& reqs) {
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const LabelRequirement& a, const LabelRequirement& b) {
                     return a.key < b.key;
                   });
}

// Splits on `sep` outside backslash escapes; unescapes \\, \, and \=.
std::vector<std::string> split_escaped(const std::string& s, char sep, bool unescape) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      if (!unescape) out.back() += s[i];
      out.back() += s[++i];
      continue;
    }
    if (s[i] == sep) {
      out.emplace_back();
      continue;
    }
    out.back() += s[i];
  }
  return out;
}

std::string unescape_field(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

}  // namespace

std::string check_label_key(const std::string& key) {
  if (key.empty()) return "label key must not be empty";
  size_t slash = key.find('/');
  if (slash == std::string::npos) {
    const std::string what = "label key \"" + key + "\"";
    return check_name_part(key, false, what.c_str());
  }
  std::string prefix = key.substr(0, slash);
  std::string name = key.substr(slash + 1);
  if (name.find('/') != std::string::npos) {
    return "label key \"" + key + "\" must have at most one '/'";
  }
  if (auto m = check_dns_subdomain(prefix); !m.empty()) return "label key \"" + key + "\": " + m;
  const std::string what = "label key \"" + key + "\" name part";
  return check_name_part(name, false, what.c_str());
}

std::string check_label_value(const std::string& value) {
  const std::string what = "label value \"" + value + "\"";
  return check_name_part(value, true, what.c_str());
}

Result<LabelSelector> LabelSelector::parse(const std::string& text) {
  LabelParser p(text);
  auto reqs = p.parse();
  if (!reqs) return reqs.status();
  LabelSelector sel;
  sel.reqs_ = std::move(*reqs);
  sort_by_key(sel.reqs_);
  return sel;
}

Result<LabelSelector> LabelSelector::from_json(const Json& selector, bool nothing_if_null) {
  LabelSelector sel;
  if (selector.is_null()) {
    sel.match_nothing_ = nothing_if_null;
    return sel;
  }
  if (!selector.is_object()) return bad_request("label selector must be an object");
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && !ml->is_null()) {
    if (!ml->is_object()) return bad_request("selector.matchLabels must be an object");
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      if (!it.value().is_string()) {
        return bad_request("selector.matchLabels[" + it.key() + "] must be a string");
      }
      if (auto m = check_label_key(it.key()); !m.empty()) return bad_request("selector: " + m);
      const auto& v = it.value().get_ref<const std::string&>();
      if (auto m = check_label_value(v); !m.empty()) return bad_request("selector: " + m);
      sel.reqs_.push_back({it.key(), LabelRequirement::Op::kEquals, {v}});
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end() && !me->is_null()) {
    if (!me->is_array()) return bad_request("selector.matchExpressions must be a list");
    for (size_t i = 0; i < me->size(); ++i) {
      const Json& e = (*me)[i];
      const std::string where = "selector.matchExpressions[" + std::to_string(i) + "]";
      if (!e.is_object()) return bad_request(where + " must be an object");
      auto key = e.find("key");
      auto op = e.find("operator");
      if (key == e.end() || !key->is_string()) return bad_request(where + ".key is required");
      if (op == e.end() || !op->is_string()) return bad_request(where + ".operator is required");
      LabelRequirement r;
      r.key = key->get<std::string>();
      if (auto m = check_label_key(r.key); !m.empty()) return bad_request(where + ": " + m);
      const auto& ops = op->get_ref<const std::string&>();
      if (ops == "In") {
        r.op = LabelRequirement::Op::kIn;
      } else if (ops == "NotIn") {
        r.op = LabelRequirement::Op::kNotIn;
      } else if (ops == "Exists") {
        r.op = LabelRequirement::Op::kExists;
      } else if (ops == "DoesNotExist") {
        r.op = LabelRequirement::Op::kDoesNotExist;
      } else {
        return bad_request(where + ".operator \"" + ops +
                           "\" is not one of In, NotIn, Exists, DoesNotExist");
      }
      if (auto vals = e.find("values"); vals != e.end() && !vals->is_null()) {
        if (!vals->is_array()) return bad_request(where + ".values must be a list");
        for (const auto& v : *vals) {
          if (!v.is_string()) return bad_request(where + ".values must be strings");
          if (auto m = check_label_value(v.get<std::string>()); !m.empty()) {
            return bad_request(where + ": " + m);
          }
          r.values.push_back(v.get<std::string>());
        }
      }
      bool set_op = r.op == LabelRequirement::Op::kIn || r.op == LabelRequirement::Op::kNotIn;
      if (set_op && r.values.empty()) {
        return bad_request(where + ".values must be non-empty for operator " + ops);
      }
      if (!set_op && !r.values.empty()) {
        return bad_request(where + ".values must be empty for operator " + ops);
      }
      std::sort(r.values.begin(), r.values.end());
      r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
      sel.reqs_.push_back(std::move(r));
    }
  }
  sort_by_key(sel.reqs_);
  return sel;
}

LabelSelector LabelSelector::from_map(const std::map<std::string, std::string>& labels) {
  LabelSelector sel;
  for (const auto& [k, v] : labels) sel.reqs_.push_back({k, LabelRequirement::Op::kEquals, {v}});
  return sel;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  if (match_nothing_) return false;
  for (const auto& r : reqs_) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    switch (r.op) {
      case LabelRequirement::Op::kEquals:
      case LabelRequirement::Op::kIn:
        if (!has || !has_value(r.values, it->second)) return false;
        break;
      case LabelRequirement::Op::kNotEquals:
      case LabelRequirement::Op::kNotIn:
        if (has && has_value(r.values, it->second)) return false;
        break;
      case LabelRequirement::Op::kExists:
        if (!has) return false;
        break;
      case LabelRequirement::Op::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

bool LabelSelector::matches_json(const Json& labels) const {
  std::map<std::string, std::string> m;
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.value().is_string()) m.emplace(it.key(), it.value().get<std::string>());
    }
  }
  return matches(m);
}

std::string LabelSelector::to_string() const {
  std::vector<LabelRequirement> sorted = reqs_;
  sort_by_key(sorted);
  std::string out;
  for (const auto& r : sorted) {
    if (!out.empty()) out += ',';
    std::vector<std::string> vals = r.values;
    std::sort(vals.begin(), vals.end());
    auto joined = [&] {
      std::string j;
      for (size_t i = 0; i < vals.size(); ++i) j += (i ? "," : "") + vals[i];
      // A set holding only the empty value must not print as "()", which
      // reads back as an (invalid) empty set.
      if (vals.size() == 1 && vals[0].empty()) j = ",";
      return j;
    };
    switch (r.op) {
      case LabelRequirement::Op::kEquals:
        out += r.key + "=" + (vals.empty() ? "" : vals[0]);
        break;
      case LabelRequirement::Op::kNotEquals:
        out += r.key + "!=" + (vals.empty() ? "" : vals[0]);
        break;
      case LabelRequirement::Op::kIn:
        out += r.key + " in (" + joined() + ")";
        break;
      case LabelRequirement::Op::kNotIn:
        out += r.key + " notin (" + joined() + ")";
        break;
      case LabelRequirement::Op::kExists:
        out += r.key;
        break;
      case LabelRequirement::Op::kDoesNotExist:
        out += "!" + r.key;
        break;
    }
  }
  return out;
}

Result<FieldSelector> FieldSelector::parse(const std::string& text) {
  FieldSelector sel;
  for (const std::string& raw : split_escaped(text, ',', false)) {
    size_t a = 0, b = raw.size();
    while (a < b && is_space(raw[a])) ++a;
    while (b > a && is_space(raw[b - 1])) --b;
    std::string term = raw.substr(a, b - a);
    if (term.empty()) continue;
    // First unescaped operator, checking "!=" and "==" before "=".
    size_t op_pos = std::string::npos;
    size_t op_len = 0;
    bool equals = true;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term.compare(i, 2, "!=") == 0) {
        op_pos = i, op_len = 2, equals = false;
        break;
      }
      if (term.compare(i, 2, "==") == 0) {
        op_pos = i, op_len = 2;
        break;
      }
      if (term[i] == '=') {
        op_pos = i, op_len = 1;
        break;
      }
    }
    if (op_pos == std::string::npos) {
      return bad_request("invalid field selector term \"" + term +
                         "\": expected one of '=', '==', '!='");
    }
    FieldRequirement r;
    r.field = unescape_field(term.substr(0, op_pos));
    while (!r.field.empty() && is_space(r.field.back())) r.field.pop_back();
    r.equals = equals;
    r.value = unescape_field(term.substr(op_pos + op_len));
    if (r.field.empty()) {
      return bad_request("invalid field selector term \"" + term + "\": empty field name");
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::matches(const Json& object) const {
  for (const auto& r : reqs_) {
    if ((field_value(object, r.field) == r.value) != r.equals) return false;
  }
  return true;
}

std::string field_value(const Json& object, const std::string& dotted_path) {
  const Json* cur = &object;
  size_t start = 0;
  while (true) {
    if (!cur->is_object()) return "";
    // A key may itself contain dots (label keys such as app.kubernetes.io/name):
    // prefer the whole remainder when it names a key.
    std::string rest = dotted_path.substr(start);
    if (auto whole = cur->find(rest); whole != cur->end()) {
      cur = &*whole;
      break;
    }
    size_t dot = dotted_path.find('.', start);
    std::string part = dotted_path.substr(start, dot == std::string::npos ? std::string::npos
                                                                          : dot - start);
    auto it = cur->find(part);
    if (it == cur->end()) return "";
    cur = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (cur->is_null()) return "";
  if (cur->is_string()) return cur->get<std::string>();
  try {
    return cur->dump(-1, ' ', false, Json::error_handler_t::replace);
  } catch (...) {
    return "";
  }
}

}  // namespace minik8s::api
