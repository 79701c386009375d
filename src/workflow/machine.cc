// The state machine model: parsing + validation of a Workflow spec, Choice
// rule evaluation and globs (docs/workflows.md "Workflow", "Rules",
// "Validation"). Messages follow Kubernetes' field errors, as
// src/api/validation.h phrases them ("Required value", "Invalid value:
// \"x\": why", "Unsupported value: ...", "Forbidden: ...", "Too many: ...").
#include "minik8s/workflow/machine.h"

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>

namespace minik8s::workflow {

using api::Json;

const char* to_string(StateType t) {
  switch (t) {
    case StateType::kTask:
      return "Task";
    case StateType::kChoice:
      return "Choice";
    case StateType::kParallel:
      return "Parallel";
    case StateType::kMap:
      return "Map";
    case StateType::kPass:
      return "Pass";
    case StateType::kWait:
      return "Wait";
    case StateType::kSucceed:
      return "Succeed";
    case StateType::kFail:
      return "Fail";
  }
  return "Pass";
}

// ---------------------------------------------------------------------------
// Choice rules

namespace {

// The category a Choice comparison puts a value in; values of different
// categories never compare equal.
enum class Cat { kNumber, kString, kBool, kNull, kOther };
Cat cat(const Json& v) {
  if (v.is_number()) return Cat::kNumber;
  if (v.is_string()) return Cat::kString;
  if (v.is_boolean()) return Cat::kBool;
  if (v.is_null()) return Cat::kNull;
  return Cat::kOther;
}

bool flag(const Json& v) { return v.is_boolean() ? v.get<bool>() : true; }

// Length of the UTF-8 sequence starting at s[i] (1 for a stray byte).
size_t utf8_len(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  // Iterative matching with one backtrack point (the last '*'): O(p * t).
  size_t p = 0, t = 0;
  size_t star_p = std::string::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      char c = pattern[p];
      if (c == '*') {
        star_p = p++;
        star_t = t;
        continue;
      }
      if (c == '?') {
        ++p;
        t += utf8_len(text, t);
        continue;
      }
      char lit = c;
      size_t plen = 1;
      if (c == '\\' && p + 1 < pattern.size()) {
        lit = pattern[p + 1];
        plen = 2;
      }
      if (lit == text[t]) {
        p += plen;
        ++t;
        continue;
      }
    }
    if (star_p == std::string::npos) return false;
    p = star_p + 1;
    star_t += utf8_len(text, star_t);
    t = star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool evaluate(const Rule& rule, const Json& data) {
  switch (rule.op) {
    case Rule::Op::kAnd:
      for (const Rule& c : rule.children) {
        if (!evaluate(c, data)) return false;
      }
      return !rule.children.empty();
    case Rule::Op::kOr:
      for (const Rule& c : rule.children) {
        if (evaluate(c, data)) return true;
      }
      return false;
    case Rule::Op::kNot:
      return rule.children.size() == 1 && !evaluate(rule.children[0], data);
    default:
      break;
  }
  const Json* v = lookup(data, rule.variable);
  if (rule.op == Rule::Op::kIsPresent) return (v != nullptr) == flag(rule.value);
  if (v == nullptr) return false;
  if (rule.op == Rule::Op::kIsNull) return v->is_null() == flag(rule.value);
  if (rule.op == Rule::Op::kMatches) {
    return v->is_string() && rule.value.is_string() &&
           glob_match(rule.value.get<std::string>(), v->get<std::string>());
  }
  Cat a = cat(*v), b = cat(rule.value);
  if (a != b || a == Cat::kOther) return rule.op == Rule::Op::kNe;
  switch (rule.op) {
    case Rule::Op::kEq:
      return *v == rule.value;
    case Rule::Op::kNe:
      return *v != rule.value;
    default:
      break;
  }
  if (a != Cat::kNumber && a != Cat::kString) return false;  // booleans and null only ==/!=
  // nlohmann compares numbers numerically across int/unsigned/float and
  // strings as std::string (byte order).
  switch (rule.op) {
    case Rule::Op::kLt:
      return *v < rule.value;
    case Rule::Op::kLe:
      return *v <= rule.value;
    case Rule::Op::kGt:
      return *v > rule.value;
    case Rule::Op::kGe:
      return *v >= rule.value;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------
// Parsing and validation

namespace {

constexpr int kMaxStates = 200;
constexpr int kMaxDepth = 8;
constexpr int kMaxRuleDepth = 32;

std::string quote(const Json& v) {
  return v.is_string() ? "\"" + v.get<std::string>() + "\""
                       : v.dump(-1, ' ', false, Json::error_handler_t::replace);
}
std::string invalid_msg(const Json& v, const std::string& why) {
  return "Invalid value: " + quote(v) + ": " + why;
}
std::string at(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}
std::string idx(const std::string& base, size_t i) { return base + "[" + std::to_string(i) + "]"; }

const char* kTypes[] = {"Task", "Choice", "Parallel", "Map", "Pass", "Wait", "Succeed", "Fail"};
const char* kOps[] = {"==", "!=", "<", "<=", ">", ">=", "matches", "isPresent", "isNull"};

std::string supported_list(const char* const* names, size_t n) {
  std::string m;
  for (size_t i = 0; i < n; ++i) {
    if (i) m += ", ";
    m += "\"" + std::string(names[i]) + "\"";
  }
  return m;
}

// Fields each state type accepts (besides type and comment). A field some
// other type knows is Forbidden on this one; fields no type knows are left
// to the API server's unknown-field handling.
const std::set<std::string>& allowed_fields(StateType t) {
  static const std::set<std::string> task = {"next",           "end",        "inputPath",
                                             "resultPath",     "outputPath", "function",
                                             "timeoutSeconds", "retry",      "catch"};
  static const std::set<std::string> choice = {"choices", "default", "inputPath", "outputPath"};
  static const std::set<std::string> parallel = {
      "next", "end", "inputPath", "resultPath", "outputPath", "branches", "retry", "catch"};
  static const std::set<std::string> map = {
      "next",      "end",      "inputPath",      "resultPath", "outputPath",
      "itemsPath", "iterator", "maxConcurrency", "retry",      "catch"};
  static const std::set<std::string> pass = {"next",       "end",        "inputPath",
                                             "resultPath", "outputPath", "result"};
  static const std::set<std::string> wait = {"next", "end", "seconds"};
  static const std::set<std::string> succeed = {"inputPath", "outputPath"};
  static const std::set<std::string> fail = {"error", "cause"};
  switch (t) {
    case StateType::kTask:
      return task;
    case StateType::kChoice:
      return choice;
    case StateType::kParallel:
      return parallel;
    case StateType::kMap:
      return map;
    case StateType::kPass:
      return pass;
    case StateType::kWait:
      return wait;
    case StateType::kSucceed:
      return succeed;
    case StateType::kFail:
      return fail;
  }
  return pass;
}

const std::set<std::string>& known_fields() {
  static const std::set<std::string> all = [] {
    std::set<std::string> s;
    for (StateType t :
         {StateType::kTask, StateType::kChoice, StateType::kParallel, StateType::kMap,
          StateType::kPass, StateType::kWait, StateType::kSucceed, StateType::kFail}) {
      const auto& f = allowed_fields(t);
      s.insert(f.begin(), f.end());
    }
    return s;
  }();
  return all;
}

bool valid_state_name(const std::string& n) {
  if (n.empty() || n.size() > 80) return false;
  for (char c : n) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "" when s is a DNS-1123 label (a Function name).
std::string check_dns1123_label(const std::string& s) {
  const char* why =
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
      "must start and "
      "end with an alphanumeric character";
  if (s.empty()) return why;
  if (s.size() > 63) return "must be no more than 63 characters";
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return why;
  for (char c : s) {
    if (!alnum(c) && c != '-') return why;
  }
  return "";
}

struct Parser {
  api::FieldErrors& errs;
  int total_states = 0;

  void err(const std::string& field, const std::string& msg) { errs.push_back({field, msg}); }

  // obj[key] when present (null included); nullptr when absent.
  static const Json* member(const Json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  // A present, non-null value of the wanted kind; errors on a wrong type.
  const Json* want(const Json& obj, const char* key, const std::string& path,
                   bool (Json::*pred)() const noexcept, const char* what) {
    const Json* v = member(obj, key);
    if (v == nullptr || v->is_null()) return nullptr;
    if (!(v->*pred)()) {
      err(path, invalid_msg(*v, std::string("must be ") + what));
      return nullptr;
    }
    return v;
  }
  const Json* want_string(const Json& o, const char* k, const std::string& p) {
    return want(o, k, p, &Json::is_string, "a string");
  }
  const Json* want_int(const Json& o, const char* k, const std::string& p) {
    return want(o, k, p, &Json::is_number_integer, "an integer");
  }
  const Json* want_number(const Json& o, const char* k, const std::string& p) {
    return want(o, k, p, &Json::is_number, "a number");
  }
  const Json* want_bool(const Json& o, const char* k, const std::string& p) {
    return want(o, k, p, &Json::is_boolean, "a boolean");
  }
  const Json* want_array(const Json& o, const char* k, const std::string& p) {
    return want(o, k, p, &Json::is_array, "an array");
  }
  const Json* want_object(const Json& o, const char* k, const std::string& p) {
    return want(o, k, p, &Json::is_object, "an object");
  }

  // An integer field in [lo, hi]; keeps *out when absent.
  void int_field(const Json& o, const char* k, const std::string& p, int64_t lo, int64_t hi,
                 int* out) {
    const Json* v = want_int(o, k, p);
    if (v == nullptr) return;
    int64_t n = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)
                    ? INT64_MAX
                    : v->get<int64_t>();
    if (n < lo || n > hi) {
      err(p, invalid_msg(*v, "must be between " + std::to_string(lo) + " and " +
                                 std::to_string(hi) + ", inclusive"));
      return;
    }
    *out = static_cast<int>(n);
  }

  void number_field(const Json& o, const char* k, const std::string& p, double lo, double hi,
                    const char* range, double* out) {
    const Json* v = want_number(o, k, p);
    if (v == nullptr) return;
    double d = v->get<double>();
    if (!(d >= lo && d <= hi)) {
      err(p, invalid_msg(*v, range));
      return;
    }
    *out = d;
  }

  // A JSONPath field. Returns the parsed path; *is_null when the field is
  // `null` and null_ok (else null is an error).
  std::optional<JsonPath> path_field(const Json& o, const char* k, const std::string& p,
                                     bool null_ok, bool* is_null) {
    const Json* v = member(o, k);
    if (v == nullptr) return std::nullopt;
    if (v->is_null()) {
      if (null_ok && is_null) {
        *is_null = true;
      } else {
        err(p, invalid_msg(*v, "must be a JSONPath string"));
      }
      return std::nullopt;
    }
    if (!v->is_string()) {
      err(p, invalid_msg(
                 *v, null_ok ? "must be a JSONPath string or null" : "must be a JSONPath string"));
      return std::nullopt;
    }
    auto r = parse_path(v->get<std::string>());
    if (!r) {
      err(p, invalid_msg(*v, r.status().message()));
      return std::nullopt;
    }
    return std::move(r).value();
  }

  // A list of error names ([] when absent).
  std::vector<std::string> error_names(const Json& o, const std::string& p) {
    std::vector<std::string> out;
    const Json* v = want_array(o, "errors", at(p, "errors"));
    if (v == nullptr) return out;
    for (size_t i = 0; i < v->size(); ++i) {
      const Json& e = (*v)[i];
      if (!e.is_string() || e.get<std::string>().empty()) {
        err(idx(at(p, "errors"), i), invalid_msg(e, "must be a non-empty error name"));
        continue;
      }
      out.push_back(e.get<std::string>());
    }
    return out;
  }

  void parse_retry(const Json& s, const std::string& p, Retry* retry) {
    const Json* r = want_object(s, "retry", at(p, "retry"));
    if (r == nullptr) return;
    std::string rp = at(p, "retry");
    int_field(*r, "maxAttempts", at(rp, "maxAttempts"), 1, 10, &retry->max_attempts);
    number_field(*r, "backoffSeconds", at(rp, "backoffSeconds"), 0, 86400,
                 "must be between 0 and 86400", &retry->backoff_seconds);
    number_field(*r, "backoffRate", at(rp, "backoffRate"), 1, 100, "must be between 1 and 100",
                 &retry->backoff_rate);
    retry->errors = error_names(*r, rp);
  }

  void parse_catches(const Json& s, const std::string& p, std::vector<Catch>* out) {
    const Json* c = want_array(s, "catch", at(p, "catch"));
    if (c == nullptr) return;
    for (size_t i = 0; i < c->size(); ++i) {
      std::string cp = idx(at(p, "catch"), i);
      const Json& entry = (*c)[i];
      if (!entry.is_object()) {
        err(cp, invalid_msg(entry, "must be an object"));
        continue;
      }
      Catch k;
      k.errors = error_names(entry, cp);
      bool discard = false;
      k.result_path = path_field(entry, "resultPath", at(cp, "resultPath"), true, &discard);
      k.discard_result = discard;
      const Json* n = member(entry, "next");
      if (n == nullptr || n->is_null() || (n->is_string() && n->get<std::string>().empty())) {
        err(at(cp, "next"), "Required value");
      } else if (!n->is_string()) {
        err(at(cp, "next"), invalid_msg(*n, "must be a string"));
      } else {
        k.next = n->get<std::string>();
      }
      out->push_back(std::move(k));
    }
  }

  // A Choice rule at `p`; top: a top-level rule (carries next).
  bool parse_rule(const Json& r, const std::string& p, bool top, int depth, Rule* out) {
    if (!r.is_object()) {
      err(p, invalid_msg(r, "must be an object"));
      return false;
    }
    if (depth > kMaxRuleDepth) {
      err(p, "Forbidden: rules nest at most " + std::to_string(kMaxRuleDepth) + " deep");
      return false;
    }
    bool ok = true;
    if (top) {
      if (const Json* n = want_string(r, "next", at(p, "next"))) {
        out->next = n->get<std::string>();
      } else if (member(r, "next") == nullptr || member(r, "next")->is_null()) {
        err(at(p, "next"), "Required value");
        ok = false;
      }
    } else if (member(r, "next") != nullptr) {
      err(at(p, "next"), "Forbidden: only top-level rules name the next state");
      ok = false;
    }
    bool leaf = member(r, "variable") != nullptr || member(r, "op") != nullptr;
    int kinds = leaf ? 1 : 0;
    for (const char* k : {"and", "or", "not"}) kinds += member(r, k) != nullptr ? 1 : 0;
    if (kinds == 0) {
      err(p, "Required value: a rule is a comparison (variable + op) or one of and, or, not");
      return false;
    }
    if (kinds > 1) {
      err(p, "Invalid value: " + quote(r) +
                 ": a rule is exactly one of: a comparison (variable + op), and, or, not");
      return false;
    }
    for (const char* k : {"and", "or"}) {
      const Json* v = member(r, k);
      if (v == nullptr) continue;
      out->op = std::string(k) == "and" ? Rule::Op::kAnd : Rule::Op::kOr;
      std::string cp = at(p, k);
      if (!v->is_array()) {
        err(cp, invalid_msg(*v, "must be an array of rules"));
        return false;
      }
      if (v->empty()) {
        err(cp, "Required value: at least one rule");
        return false;
      }
      for (size_t i = 0; i < v->size(); ++i) {
        Rule child;
        if (parse_rule((*v)[i], idx(cp, i), false, depth + 1, &child)) {
          out->children.push_back(std::move(child));
        } else {
          ok = false;
        }
      }
      return ok;
    }
    if (const Json* v = member(r, "not")) {
      out->op = Rule::Op::kNot;
      Rule child;
      if (!parse_rule(*v, at(p, "not"), false, depth + 1, &child)) return false;
      out->children.push_back(std::move(child));
      return ok;
    }
    // A leaf.
    const Json* varj = member(r, "variable");
    auto var = path_field(r, "variable", at(p, "variable"), false, nullptr);
    if (varj == nullptr) {
      err(at(p, "variable"), "Required value");
      ok = false;
    } else if (!var) {
      ok = false;
    } else {
      out->variable = std::move(*var);
    }
    const Json* op = member(r, "op");
    if (op == nullptr || op->is_null()) {
      err(at(p, "op"), "Required value");
      return false;
    }
    if (!op->is_string()) {
      err(at(p, "op"), invalid_msg(*op, "must be a string"));
      return false;
    }
    static const std::pair<const char*, Rule::Op> ops[] = {{"==", Rule::Op::kEq},
                                                           {"!=", Rule::Op::kNe},
                                                           {"<", Rule::Op::kLt},
                                                           {"<=", Rule::Op::kLe},
                                                           {">", Rule::Op::kGt},
                                                           {">=", Rule::Op::kGe},
                                                           {"matches", Rule::Op::kMatches},
                                                           {"isPresent", Rule::Op::kIsPresent},
                                                           {"isNull", Rule::Op::kIsNull}};
    bool found = false;
    for (const auto& [name, o] : ops) {
      if (op->get<std::string>() == name) {
        out->op = o;
        found = true;
      }
    }
    if (!found) {
      err(at(p, "op"), "Unsupported value: " + quote(*op) +
                           ": supported values: " + supported_list(kOps, std::size(kOps)));
      return false;
    }
    const Json* value = member(r, "value");
    std::string vp = at(p, "value");
    switch (out->op) {
      case Rule::Op::kIsPresent:
      case Rule::Op::kIsNull:
        if (value == nullptr || value->is_null()) {
          out->value = true;
        } else if (!value->is_boolean()) {
          err(vp, invalid_msg(*value, "must be a boolean"));
          ok = false;
        } else {
          out->value = *value;
        }
        break;
      case Rule::Op::kMatches:
        if (value == nullptr || value->is_null()) {
          err(vp, "Required value");
          ok = false;
        } else if (!value->is_string()) {
          err(vp, invalid_msg(*value, "must be a string (a glob with * and ?)"));
          ok = false;
        } else {
          out->value = *value;
        }
        break;
      case Rule::Op::kEq:
      case Rule::Op::kNe:
        if (value == nullptr) {
          err(vp, "Required value");
          ok = false;
        } else if (value->is_object() || value->is_array()) {
          err(vp, invalid_msg(*value, "must be a number, string, boolean or null"));
          ok = false;
        } else {
          out->value = *value;
        }
        break;
      default:
        if (value == nullptr || value->is_null()) {
          err(vp, "Required value");
          ok = false;
        } else if (!value->is_number() && !value->is_string()) {
          err(vp, invalid_msg(*value, "must be a number or a string"));
          ok = false;
        } else {
          out->value = *value;
        }
        break;
    }
    return ok;
  }

  void parse_state(const std::string& name, const Json& s, const std::string& p, int depth,
                   State* st) {
    st->name = name;
    if (!s.is_object()) {
      err(p, invalid_msg(s, "must be an object"));
      return;
    }
    const Json* type = member(s, "type");
    if (type == nullptr || type->is_null()) {
      err(at(p, "type"), "Required value");
      return;
    }
    bool known = false;
    if (type->is_string()) {
      for (size_t i = 0; i < std::size(kTypes); ++i) {
        if (type->get<std::string>() == kTypes[i]) {
          st->type = static_cast<StateType>(i);
          known = true;
        }
      }
    }
    if (!known) {
      err(at(p, "type"), "Unsupported value: " + quote(*type) +
                             ": supported values: " + supported_list(kTypes, std::size(kTypes)));
      return;
    }
    want_string(s, "comment", at(p, "comment"));
    const auto& allowed = allowed_fields(st->type);
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (known_fields().count(it.key()) && !allowed.count(it.key())) {
        err(at(p, it.key()),
            std::string("Forbidden: not allowed on a ") + to_string(st->type) + " state");
      }
    }

    // next / end.
    if (allowed.count("next")) {
      const Json* n = want_string(s, "next", at(p, "next"));
      const Json* e = want_bool(s, "end", at(p, "end"));
      bool end = e != nullptr && e->get<bool>();
      bool bad_type = (member(s, "next") && !member(s, "next")->is_null() && n == nullptr) ||
                      (member(s, "end") && !member(s, "end")->is_null() && e == nullptr);
      if (n != nullptr && end) {
        err(at(p, "end"), "Forbidden: a state has exactly one of next and end: true");
      } else if (n == nullptr && !end && !bad_type) {
        err(p, "Required value: a " + std::string(to_string(st->type)) +
                   " state has next or end: true");
      } else if (n != nullptr && n->get<std::string>().empty()) {
        err(at(p, "next"), "Required value");
      }
      if (n != nullptr) st->next = n->get<std::string>();
      st->end = end && n == nullptr;
    }

    // Paths.
    if (allowed.count("inputPath")) {
      st->input_path = path_field(s, "inputPath", at(p, "inputPath"), true, &st->input_null);
    }
    if (allowed.count("resultPath")) {
      st->result_path = path_field(s, "resultPath", at(p, "resultPath"), true, &st->result_null);
    }
    if (allowed.count("outputPath")) {
      st->output_path = path_field(s, "outputPath", at(p, "outputPath"), true, &st->output_null);
    }
    if (allowed.count("retry")) parse_retry(s, p, &st->retry);
    if (allowed.count("catch")) parse_catches(s, p, &st->catches);

    switch (st->type) {
      case StateType::kTask: {
        const Json* f = member(s, "function");
        if (f == nullptr || f->is_null() || (f->is_string() && f->get<std::string>().empty())) {
          err(at(p, "function"), "Required value: a Task state names a Function");
        } else if (!f->is_string()) {
          err(at(p, "function"), invalid_msg(*f, "must be a string"));
        } else if (std::string m = check_dns1123_label(f->get<std::string>()); !m.empty()) {
          err(at(p, "function"), invalid_msg(*f, m));
        } else {
          st->function = f->get<std::string>();
        }
        int_field(s, "timeoutSeconds", at(p, "timeoutSeconds"), 1, 86400, &st->timeout_seconds);
        break;
      }
      case StateType::kChoice: {
        const Json* c = member(s, "choices");
        std::string cp = at(p, "choices");
        if (c == nullptr || c->is_null() || (c->is_array() && c->empty())) {
          err(cp, "Required value: a Choice state has at least one rule");
        } else if (!c->is_array()) {
          err(cp, invalid_msg(*c, "must be an array of rules"));
        } else {
          for (size_t i = 0; i < c->size(); ++i) {
            Rule r;
            if (parse_rule((*c)[i], idx(cp, i), true, 0, &r)) st->choices.push_back(std::move(r));
          }
        }
        if (const Json* d = want_string(s, "default", at(p, "default")))
          st->default_next = d->get<std::string>();
        break;
      }
      case StateType::kParallel: {
        const Json* b = member(s, "branches");
        std::string bp = at(p, "branches");
        if (b == nullptr || b->is_null() || (b->is_array() && b->empty())) {
          err(bp, "Required value: a Parallel state has at least one branch");
        } else if (!b->is_array()) {
          err(bp, invalid_msg(*b, "must be an array of {startAt, states}"));
        } else if (depth + 1 > kMaxDepth) {
          err(bp, "Forbidden: Parallel and Map states nest at most " + std::to_string(kMaxDepth) +
                      " deep");
        } else {
          for (size_t i = 0; i < b->size(); ++i) {
            st->branches.push_back(parse_sub((*b)[i], idx(bp, i), depth + 1, false));
          }
        }
        break;
      }
      case StateType::kMap: {
        st->items_path = path_field(s, "itemsPath", at(p, "itemsPath"), false, nullptr);
        int_field(s, "maxConcurrency", at(p, "maxConcurrency"), 0, 1000000, &st->max_concurrency);
        const Json* it = member(s, "iterator");
        std::string ip = at(p, "iterator");
        if (it == nullptr || it->is_null()) {
          err(ip, "Required value: a Map state has an iterator {startAt, states}");
        } else if (!it->is_object()) {
          err(ip, invalid_msg(*it, "must be an object {startAt, states}"));
        } else if (depth + 1 > kMaxDepth) {
          err(ip, "Forbidden: Parallel and Map states nest at most " + std::to_string(kMaxDepth) +
                      " deep");
        } else {
          st->iterator = parse_sub(*it, ip, depth + 1, false);
        }
        break;
      }
      case StateType::kPass:
        if (const Json* r = member(s, "result")) st->result = *r;
        break;
      case StateType::kWait: {
        const Json* sec = member(s, "seconds");
        if (sec == nullptr || sec->is_null()) {
          err(at(p, "seconds"), "Required value");
        } else {
          number_field(s, "seconds", at(p, "seconds"), 0, 86400, "must be between 0 and 86400",
                       &st->seconds);
        }
        break;
      }
      case StateType::kSucceed:
        break;
      case StateType::kFail:
        if (const Json* e = want_string(s, "error", at(p, "error")))
          st->error = e->get<std::string>();
        if (st->error.empty()) st->error = "States.Fail";
        if (const Json* c = want_string(s, "cause", at(p, "cause")))
          st->cause = c->get<std::string>();
        break;
    }
  }

  // Checks a transition target.
  void target(const Machine& m, const std::string& name, const std::string& field, bool top) {
    if (name.empty()) return;  // reported where it was read
    if (!m.states.count(name)) {
      err(field, invalid_msg(Json(name), top ? "no such state" : "no such state in this branch"));
    }
  }

  std::shared_ptr<Machine> parse_sub(const Json& spec, const std::string& p, int depth, bool top) {
    auto m = std::make_shared<Machine>();
    if (!spec.is_object()) {
      err(p, invalid_msg(spec, "must be an object {startAt, states}"));
      return m;
    }
    if (top) {
      int_field(spec, "maxSteps", at(p, "maxSteps"), 1, 1000000, &m->max_steps);
      int_field(spec, "timeoutSeconds", at(p, "timeoutSeconds"), 1, 604800, &m->timeout_seconds);
    } else {
      for (const char* k : {"maxSteps", "timeoutSeconds"}) {
        if (member(spec, k)) err(at(p, k), "Forbidden: only at the top level of a workflow");
      }
    }
    const Json* start = member(spec, "startAt");
    if (start == nullptr || start->is_null() ||
        (start->is_string() && start->get<std::string>().empty())) {
      err(at(p, "startAt"), "Required value");
    } else if (!start->is_string()) {
      err(at(p, "startAt"), invalid_msg(*start, "must be a string"));
    } else {
      m->start_at = start->get<std::string>();
    }
    const Json* states = member(spec, "states");
    std::string sp = at(p, "states");
    if (states == nullptr || states->is_null() || (states->is_object() && states->empty())) {
      err(sp, "Required value: at least one state");
      return m;
    }
    if (!states->is_object()) {
      err(sp, invalid_msg(*states, "must be an object (state name: state)"));
      return m;
    }
    size_t errors_before = errs.size();
    for (auto it = states->begin(); it != states->end(); ++it) {
      if (!valid_state_name(it.key())) {
        err(sp, invalid_msg(Json(it.key()), "a state name is 1-80 characters of [A-Za-z0-9_.-]"));
      }
      if (++total_states > kMaxStates) continue;  // reported once, by parse_machine
      State st;
      parse_state(it.key(), it.value(), at(sp, it.key()), depth, &st);
      m->states.emplace(it.key(), std::move(st));
    }
    if (total_states > kMaxStates) return m;

    // Targets, then reachability from startAt.
    target(*m, m->start_at, at(p, "startAt"), top);
    for (const auto& [name, st] : m->states) {
      std::string stp = at(sp, name);
      target(*m, st.next, at(stp, "next"), top);
      for (size_t i = 0; i < st.choices.size(); ++i) {
        target(*m, st.choices[i].next, at(idx(at(stp, "choices"), i), "next"), top);
      }
      target(*m, st.default_next, at(stp, "default"), top);
      for (size_t i = 0; i < st.catches.size(); ++i) {
        target(*m, st.catches[i].next, at(idx(at(stp, "catch"), i), "next"), top);
      }
    }
    // Unreachable states only when the rest is sound (a state that failed
    // to parse would make its successors look unreachable).
    if (errs.size() == errors_before && m->states.count(m->start_at)) {
      std::set<std::string> seen;
      std::vector<std::string> todo = {m->start_at};
      while (!todo.empty()) {
        std::string n = std::move(todo.back());
        todo.pop_back();
        auto it = m->states.find(n);
        if (it == m->states.end() || !seen.insert(n).second) continue;
        const State& st = it->second;
        todo.push_back(st.next);
        for (const Rule& r : st.choices) todo.push_back(r.next);
        todo.push_back(st.default_next);
        for (const Catch& c : st.catches) todo.push_back(c.next);
      }
      for (const auto& [name, st] : m->states) {
        if (!seen.count(name)) {
          err(at(sp, name),
              invalid_msg(Json(name), "not reachable from startAt \"" + m->start_at + "\""));
        }
      }
    }
    return m;
  }
};

}  // namespace

namespace {
std::shared_ptr<Machine> parse_all(const Json& spec, const std::string& prefix,
                                   api::FieldErrors& errs) {
  Parser parser{errs};
  auto m = parser.parse_sub(spec, prefix, 0, true);
  if (parser.total_states > kMaxStates) {
    errs.push_back({at(prefix, "states"), "Too many: " + std::to_string(parser.total_states) +
                                              ": must have at most " + std::to_string(kMaxStates) +
                                              " states (all nesting levels together)"});
  }
  return m;
}
}  // namespace

api::FieldErrors validate_machine(const Json& spec, const std::string& field_prefix) {
  api::FieldErrors errs;
  parse_all(spec, field_prefix, errs);
  return errs;
}

Result<std::shared_ptr<const Machine>> parse_machine(const Json& spec,
                                                     const std::string& field_prefix) {
  api::FieldErrors errs;
  auto m = parse_all(spec, field_prefix, errs);
  if (!errs.empty()) {
    std::string msg;
    for (size_t i = 0; i < errs.size(); ++i) {
      if (i) msg += ", ";
      msg += errs[i].field + ": " + errs[i].message;
    }
    if (errs.size() > 1) msg = "[" + msg + "]";
    return invalid(msg);
  }
  return std::shared_ptr<const Machine>(std::move(m));
}

}  // namespace minik8s::workflow
