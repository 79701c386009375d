// mkctl function …: see function_cmds.h and docs/serverless.md "CLI".
#include "function_cmds.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/crc.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <chrono>
#include <string>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/code.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/stream/beast_names.h"
#include "minik8s/stream/websocket.h"
#include "minik8s/util/url.h"
#include "minik8s/util/utf8.h"
#include "cli_common.h"
#include "pack.h"
#include "printers.h"
#include "stream_cmds.h"

namespace minik8s::cli {

using api::Json;
using namespace minik8s::beast_names;

namespace {

constexpr const char* kGroupPath = "/apis/serverless.minik8s.io/v1";
constexpr const char* kFunctionLabel = "serverless.minik8s.io/function";
constexpr const char* kKindPrefix = "function.serverless.minik8s.io";

// The checker run by python_check: argv = path filename module function.
// Prints one line and exits 1 on a problem in the code; exit 0 when fine.
constexpr const char* kChecker = R"PY(
import ast, io, sys, zipfile
path, filename, module, func = sys.argv[1:5]
def fail(msg):
    sys.stdout.write(" ".join(str(msg).split("\n")) + "\n")
    sys.exit(1)
where = "" if filename.endswith(".py") else " (in %s)" % filename
def parse(name, data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("%s is not UTF-8 text (byte %d)%s" % (name, e.start, where))
    try:
        compile(text, name, "exec", dont_inherit=True)
        return ast.parse(text, name)
    except SyntaxError as e:
        fail("%s:%s: %s: %s%s" % (name, e.lineno or 0, type(e).__name__, e.msg, where))
    except ValueError as e:
        fail("%s: %s%s" % (name, e, where))
def defines(body, name):
    for n in body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name:
            return True
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
            return True
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == name:
            return True
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                if (a.asname or a.name.split(".")[0]) == name:
                    return True
        for part in ("body", "orelse", "finalbody"):
            if isinstance(n, (ast.If, ast.Try, ast.With)) and defines(getattr(n, part, []) or [], name):
                return True
        if isinstance(n, ast.Try):
            for h in n.handlers:
                if defines(h.body, name):
                    return True
    return False
data = open(path, "rb").read()
rel = module.replace(".", "/")
if filename.endswith(".zip"):
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as e:
        fail("%s is not a valid zip archive: %s" % (filename, e))
    trees = {}
    for info in infos:
        n = info.filename
        if info.is_dir() or not n.endswith(".py") or n.startswith("__MACOSX/"):
            continue
        try:
            src = zf.read(info)
        except Exception as e:
            fail("%s: cannot read %s: %s" % (filename, n, e))
        trees[n] = parse(n, src)
    target = None
    for cand in (rel + ".py", rel + "/__init__.py"):
        if cand in trees:
            target = cand
            break
    if target is None:
        hint = ""
        for n in sorted(trees):
            if n.endswith("/" + rel + ".py"):
                hint = " (found %s: zip the files, not their folder)" % n
                break
        fail("%s has no %s.py or %s/__init__.py for handler %s.%s%s" % (filename, rel, rel, module, func, hint))
    tree = trees[target]
else:
    stem = filename[:-3]
    if module != stem:
        fail("handler module '%s' is not in %s (a single file is the module '%s': use --handler %s.%s)"
             % (module, filename, stem, stem, func))
    target = filename
    tree = parse(filename, data)
if not defines(tree.body, func):
    fail("%s has no top-level function '%s' (handler %s.%s)" % (target, func, module, func))
)PY";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool is_identifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// ".py" / ".zip" (lower-cased) or "".
std::string code_ext(const std::string& path) {
  std::string ext = lower(std::filesystem::path(path).extension().string());
  return ext == ".py" || ext == ".zip" ? ext : "";
}

bool is_dir(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

// The name the server stores the code under: the base name, extension
// lower-cased; a directory's zip is "<dir name>.zip".
std::string code_filename(const std::string& path) {
  std::filesystem::path p(path);
  if (is_dir(path)) {
    std::string name = std::filesystem::weakly_canonical(p).filename().string();
    return (name.empty() ? "code" : name) + ".zip";
  }
  return p.stem().string() + code_ext(path);
}

// A file's code, or a directory's zipped.
Result<std::string> load_code(const std::string& path) {
  return is_dir(path) ? zip_directory(path) : read_code_file(path);
}

// A temporary file removed with this object.
struct TempFile {
  std::string path;
  Status write(const std::string& bytes) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mkctl-fn-XXXXXX.zip").string();
    int fd = ::mkstemps(tmpl.data(), 4);
    if (fd < 0)
      return Status(Code::kUnavailable, "a temporary file: " + std::string(std::strerror(errno)));
    path = tmpl;
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        return Status(Code::kUnavailable, path + ": " + std::strerror(errno));
      }
      off += static_cast<size_t>(n);
    }
    ::close(fd);
    return Status::ok();
  }
  ~TempFile() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// Writes whole lines, each prefixed, to a shared stream under a shared mutex
// (logs of several pods interleave by line, never inside one).
class PrefixBuf : public std::streambuf {
 public:
  PrefixBuf(std::ostream& sink, std::mutex& mu, std::string prefix)
      : sink_(sink), mu_(mu), prefix_(std::move(prefix)) {}
  ~PrefixBuf() override {
    if (!line_.empty()) emit("\n");
  }

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return 0;
    char ch = static_cast<char>(c);
    xsputn(&ch, 1);
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) {
      line_ += s[i];
      if (s[i] == '\n') emit("");
    }
    return n;
  }

 private:
  void emit(const char* tail) {
    std::lock_guard<std::mutex> lock(mu_);
    sink_ << prefix_ << line_ << tail;
    sink_.flush();
    line_.clear();
  }
  std::ostream& sink_;
  std::mutex& mu_;
  std::string prefix_;
  std::string line_;
};

class FunctionCmd {
 public:
  FunctionCmd(const client::HttpRestClientOptions& server, const std::string& ns, std::chrono::milliseconds timeout,
              const FunctionOptions& o, std::istream& in, std::ostream& out, std::ostream& err)
      : server_(server), ns_(ns), timeout_(timeout), o_(o), in_(in), out_(out), err_(err),
        api_(server, timeout) {}

  int run() {
    if (o_.action == "create" || o_.action == "update")
      return create_or_update(o_.action == "create");
    if (o_.action == "get") return get();
    if (o_.action == "describe") return describe();
    if (o_.action == "invoke") return invoke();
    if (o_.action == "url") return url();
    if (o_.action == "logs") return logs();
    if (o_.action == "delete") return remove();
    return fail("error: unknown function command \"" + o_.action + "\"");
  }

 private:
  int fail(const std::string& line) {
    err_ << line << "\n";
    return 1;
  }
  std::string fn_path(const std::string& name = "") const {
    std::string p = std::string(kGroupPath) + "/namespaces/" + url_encode(ns_) + "/functions";
    if (!name.empty()) p += "/" + url_encode(name);
    return p;
  }
  Result<Json> get_function() { return api_.call("GET", fn_path(o_.name)); }
  // The Function once its controller has given it status.url (its first
  // reconcile, right after a create), or as it is after --url-wait seconds.
  Result<Json> function_with_url() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o_.url_wait);
    for (;;) {
      auto fn = get_function();
      if (!fn || !jstr(*fn, {"status", "url"}).empty() || std::chrono::steady_clock::now() >= deadline)
        return fn;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // Checks and uploads o_.file; fills spec.code and returns the code's size.
  Result<long long> upload(Json& spec) {
    auto bytes = load_code(o_.file);
    if (!bytes) return bytes.status();
    std::string filename = code_filename(o_.file);
    // The checker reads a file: a zipped directory goes to a temporary one.
    std::string check_path = o_.file;
    TempFile zipped;
    if (is_dir(o_.file)) {
      if (Status s = zipped.write(*bytes); !s) return s;
      check_path = zipped.path;
    }
    std::string handler = spec.value("handler", std::string());
    if (std::string stem = std::filesystem::path(filename).stem().string();
        filename.ends_with(".py") && o_.handler.empty() && !is_identifier(stem)) {
      return invalid(
          o_.file + ": the module name \"" + stem +
          "\" is not a Python identifier (it is the file's name without .py): rename the file");
    }
    if (Status s = check_handler(handler); !s) return s;
    std::string python = find_python(o_.python);
    if (python.empty()) {
      err_ << "note: no python3 found: the code was not checked before upload\n";
    } else {
      Status s = python_check(python, check_path, filename, handler);
      if (s.code() == Code::kInvalid) return s;
      if (!s) err_ << "note: the code was not checked before upload: " << s.message() << "\n";
    }
    if (Status s = api_.connect(); !s) return s;
    upload_sent_ = true;
    auto hash = client::upload_code(api_.rest(), *bytes);
    if (!hash) return hash.status();
    spec["code"] = Json{{"hash", *hash}, {"filename", filename}};
    return static_cast<long long>(bytes->size());
  }

  int create_or_update(bool create) {
    if (create && o_.file.empty()) return fail("error: -f FILE.py|FILE.zip is required");
    // Client-side checks of the flags first: nothing is sent for a bad command line.
    Json probe = Json::object();
    if (Status s = apply_settings(probe, o_); !s) return fail("error: " + s.message());
    if (create) {
      Json spec = {{"runtime", "python3"},
                   {"handler", o_.handler.empty() ? default_handler(o_.file) : o_.handler}};
      if (Status s = apply_settings(spec, o_); !s) return fail("error: " + s.message());
      auto size = upload(spec);
      if (!size) return fail(error_line(size.status()));
      Json obj = {{"apiVersion", "serverless.minik8s.io/v1"},
                  {"kind", "Function"},
                  {"metadata", {{"name", o_.name}, {"namespace", ns_}}},
                  {"spec", spec}};
      auto created = api_.call("POST", fn_path(), obj.dump());
      if (!created) return fail(server_error(created.status()));
      out_ << kKindPrefix << "/" << o_.name << " created\n";
      return 0;
    }
    if (!o_.file.empty()) {
      if (auto bytes = load_code(o_.file); !bytes)
        return fail("error: " + bytes.status().message());
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto live = get_function();
      if (!live) return fail(server_error(live.status()));
      Json obj = std::move(*live);
      Json before = api::field_at(obj, {"spec"});
      Json spec = before.is_object() ? before : Json::object();
      if (!o_.file.empty() && o_.handler.empty()) {
        // A handler that was the default for the old code follows the new file;
        // one chosen with --handler is kept.
        std::string old = spec.value("handler", std::string("main.handler"));
        std::string old_file = jstr(spec, {"code", "filename"});
        if (old_file.empty()) old_file = "main.py";
        if (old == default_handler(old_file)) spec["handler"] = default_handler(o_.file);
      }
      if (Status s = apply_settings(spec, o_); !s) return fail("error: " + s.message());
      if (!o_.file.empty()) {
        if (!spec.contains("handler")) spec["handler"] = "main.handler";
        auto size = upload(spec);
        if (!size) return fail(error_line(size.status()));
      }
      if (spec == before) {
        out_ << kKindPrefix << "/" << o_.name << " unchanged\n";
        return 0;
      }
      obj["spec"] = spec;
      auto updated = api_.call("PUT", fn_path(o_.name), obj.dump());
      if (!updated && updated.status().code() == Code::kConflict) continue;
      if (!updated) return fail(server_error(updated.status()));
      out_ << kKindPrefix << "/" << o_.name << " configured\n";
      return 0;
    }
    return fail("error: " + std::string(kKindPrefix) + "/" + o_.name +
                ": giving up after 5 conflicting attempts");
  }

  // A failure of upload(): the client's own checks (kInvalid before any
  // request) print "error: …"; the server's answers print as kubectl does.
  std::string error_line(const Status& s) {
    if (!upload_sent_) return "error: " + first_line(s.message(), 500);
    return server_error(s);
  }

  int get() {
    if (o_.output == "yaml" || o_.output == "json") {
      auto res = api_.call("GET", o_.name.empty() ? fn_path() : fn_path(o_.name));
      if (!res) return fail(server_error(res.status()));
      Json doc = std::move(*res);
      if (o_.output == "json") {
        out_ << doc.dump(4) << "\n";
      } else {
        out_ << api::to_yaml(doc);
      }
      return 0;
    }
    if (!o_.output.empty())
      return fail("error: -o must be yaml or json, not \"" + o_.output + "\"");
    auto res = api_.call("GET", o_.name.empty() ? fn_path() : fn_path(o_.name), "", "application/json",
                    kTableAccept);
    if (!res) return fail(server_error(res.status()));
    Json table = std::move(*res);
    if (table.value("kind", "") != "Table") {
      // No server-side Table: the same columns from the objects.
      Json items = table.contains("items") ? table["items"] : Json::array({table});
      Json t2 = {{"columnDefinitions",
                  {{{"name", "Name"}, {"type", "string"}},
                   {{"name", "Ready"}, {"type", "string"}},
                   {{"name", "URL"}, {"type", "string"}},
                   {{"name", "Age"}, {"type", "date"}}}},
                 {"rows", Json::array()}};
      for (auto& item : items) {
        if (!item.is_object()) continue;
        t2["rows"].push_back(
            {{"cells",
              {jstr(item, {"metadata", "name"}),
               jnum(item, {"status", "readyInstances"}, "0") + "/" +
                   jnum(item, {"status", "desiredInstances"}, "0"),
               jstr(item, {"status", "url"}),
               human_age(jstr(item, {"metadata", "creationTimestamp"}), now_unix())}}});
      }
      table = std::move(t2);
    }
    if (!table.contains("rows") || !table["rows"].is_array() || table["rows"].empty()) {
      err_ << "No resources found in " << ns_ << " namespace.\n";
      return 0;
    }
    out_ << format_columns(table_rows(table, TableOptions{}));
    return 0;
  }

  int describe() {
    auto fn = get_function();
    if (!fn) return fail(server_error(fn.status()));
    long long size = -1;
    std::string hash = jstr(*fn, {"spec", "code", "hash"});
    if (!hash.empty()) {
      if (auto blob = client::download_code(api_.rest(), hash))
        size = static_cast<long long>(blob->size());
    } else if (api::field_at(*fn, {"spec", "code", "inline"}).is_string()) {
      size = static_cast<long long>(jstr(*fn, {"spec", "code", "inline"}).size());
    }
    out_ << describe_function(*fn, size, now_unix());
    out_ << describe_events(events_for(api_, ns_, "Function", o_.name), now_unix());
    return 0;
  }

  int url() {
    auto fn = function_with_url();
    if (!fn) return fail(server_error(fn.status()));
    std::string u = jstr(*fn, {"status", "url"});
    if (u.empty())
      return fail("error: function \"" + o_.name +
                  "\" has no URL yet (status.url is empty): is the gateway running?");
    out_ << u << "\n";
    return 0;
  }

  int remove() {
    auto res = api_.call("DELETE", fn_path(o_.name));
    if (!res) return fail(server_error(res.status()));
    out_ << kKindPrefix << " \"" << o_.name << "\" deleted\n";
    return 0;
  }

  int invoke() {
    std::string body;
    bool post = !o_.data.empty();
    if (post) {
      auto data = read_data_arg(o_.data, in_);
      if (!data) return fail("error: " + data.status().message());
      body = std::move(*data);
      if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
        auto parsed = api::parse_json(body);
        if (!parsed)
          return fail("error: -d is not valid JSON: " + first_line(parsed.status().message()));
      }
    }
    stream::QueryList q;
    for (const auto& kv : o_.query) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return fail("error: -q wants k=v, not \"" + kv + "\"");
      q.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    auto fn = function_with_url();
    if (!fn) return fail(server_error(fn.status()));
    std::string u = jstr(*fn, {"status", "url"});
    if (u.empty())
      return fail("error: function \"" + o_.name +
                  "\" has no URL yet (status.url is empty): is the gateway running?");
    auto parsed_url = stream::parse_url(u);
    if (!parsed_url)
      return fail("error: the function's URL \"" + u +
                  "\" is not usable: " + parsed_url.status().message());
    std::string target = parsed_url->target.empty() ? "/" : parsed_url->target;
    if (!q.empty())
      target += (target.find('?') == std::string::npos ? "?" : "&") + stream::encode_query(q);
    // Long enough for a cold start held in the gateway's queue plus the handler's own timeout.
    const Json& ts = api::field_at(*fn, {"spec", "timeoutSeconds"});
    long long handler_s = ts.is_number_integer() ? ts.get<long long>() : 60;
    auto limit =
        std::max<std::chrono::milliseconds>(timeout_, std::chrono::seconds(handler_s + 40));
    auto started = std::chrono::steady_clock::now();
    int code = 0;
    std::string resp_body, instance;
    try {
      net::io_context ioc;
      beast::tcp_stream s(ioc);
      tcp::resolver r(ioc);
      s.expires_after(limit);
      s.connect(r.resolve(parsed_url->host, parsed_url->port));
      http::request<http::string_body> req{post ? http::verb::post : http::verb::get, target, 11};
      req.set(http::field::host, parsed_url->host + ":" + parsed_url->port);
      req.set(http::field::user_agent, "mkctl");
      req.set(http::field::accept, "*/*");
      if (post) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
      }
      http::write(s, req);
      beast::flat_buffer buf;
      http::response_parser<http::string_body> p;
      p.body_limit(64ull << 20);
      http::read(s, buf, p);
      code = p.get().result_int();
      resp_body = p.get().body();
      instance = std::string(p.get()["X-Instance"]);
      beast::error_code ec;
      s.socket().shutdown(tcp::socket::shutdown_both, ec);
    } catch (const std::exception& e) {
      return fail("error: invoking " + u + ": " + first_line(e.what()));
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (o_.verbose) {
      err_ << "HTTP " << code << " in " << ms.count() << " ms"
           << (instance.empty() ? "" : ", X-Instance: " + instance) << "\n";
    }
    if (code < 200 || code > 299) {
      err_ << invoke_error_line(code, resp_body) << "\n";
      if (o_.verbose)
        err_ << resp_body << (resp_body.empty() || resp_body.back() == '\n' ? "" : "\n");
      return 1;
    }
    out_ << resp_body;
    if (!resp_body.empty() && resp_body.back() != '\n') out_ << "\n";
    return 0;
  }

  // Instance pods of the function (sorted by name): name → phase.
  Result<std::map<std::string, std::string>> instances() {
    std::string sel = std::string(kFunctionLabel) + "=" + o_.name;
    auto list = api_.call(
        "GET", "/api/v1/namespaces/" + url_encode(ns_) + "/pods?labelSelector=" + url_encode(sel));
    if (!list) return list.status();
    std::map<std::string, std::string> out;
    for (const auto& p : list->value("items", Json::array())) {
      out[jstr(p, {"metadata", "name"})] = jstr(p, {"status", "phase"});
    }
    return out;
  }

  int logs() {
    std::mutex mu;
    if (!o_.follow) {
      auto pods = instances();
      if (!pods) return fail(server_error(pods.status()));
      if (pods->empty()) {
        err_ << "No instances of function \"" << o_.name << "\" in " << ns_ << " namespace.\n";
        return 0;
      }
      int rc = 0;
      for (const auto& [pod, phase] : *pods) {
        if (phase == "Pending") continue;  // nothing logged yet
        PrefixBuf ob(out_, mu, "[" + pod + "] "), eb(err_, mu, "[" + pod + "] ");
        std::ostream po(&ob), pe(&eb);
        LogsOptions lo;
        lo.pod = pod;
        if (run_logs(server_, ns_, lo, po, pe) != 0) rc = 1;
      }
      return rc;
    }
    // -f: a reader per running instance, new instances picked up as they
    // start; ends once the Function is gone and every stream has ended.
    struct Reader {
      std::unique_ptr<PrefixBuf> ob, eb;
      std::unique_ptr<std::ostream> po, pe;
      std::thread thread;
      std::atomic<bool> done{false};
    };
    std::map<std::string, std::unique_ptr<Reader>> readers;
    bool gone = false;
    while (true) {
      auto fn = get_function();
      if (!fn && fn.status().code() == Code::kNotFound) {
        gone = true;
      } else if (!fn) {
        err_ << server_error(fn.status()) << "\n";
      }
      if (!gone) {
        auto pods = instances();
        if (pods) {
          for (const auto& [pod, phase] : *pods) {
            if (phase != "Running" || readers.count(pod)) continue;
            auto r = std::make_unique<Reader>();
            r->ob = std::make_unique<PrefixBuf>(out_, mu, "[" + pod + "] ");
            r->eb = std::make_unique<PrefixBuf>(err_, mu, "[" + pod + "] ");
            r->po = std::make_unique<std::ostream>(r->ob.get());
            r->pe = std::make_unique<std::ostream>(r->eb.get());
            Reader* raw = r.get();
            client::HttpRestClientOptions server = server_;
            std::string ns = ns_;
            r->thread = std::thread([raw, server, ns, pod = pod] {
              LogsOptions lo;
              lo.pod = pod;
              lo.follow = true;
              run_logs(server, ns, lo, *raw->po, *raw->pe);
              raw->done = true;
            });
            readers[pod] = std::move(r);
          }
        }
      }
      bool all_done = std::all_of(readers.begin(), readers.end(),
                                  [](auto& kv) { return kv.second->done.load(); });
      if (gone && all_done) break;
      std::this_thread::sleep_for(std::chrono::seconds(1));  // the pod list is polled, not watched
    }
    for (auto& [pod, r] : readers) r->thread.join();
    return 0;
  }

  client::HttpRestClientOptions server_;
  std::string ns_;
  std::chrono::milliseconds timeout_;
  const FunctionOptions& o_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  ApiCaller api_;
  bool upload_sent_ = false;  // the code went to the server (errors after this are its answers)
};

// Runs argv (no shell) and returns (exit status, stdout+stderr).
Result<std::pair<int, std::string>> run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return Status(Code::kUnavailable, std::string("pipe: ") + std::strerror(errno));
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Status(Code::kUnavailable, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string output;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return std::make_pair(code, output);
}

}  // namespace

std::string default_handler(const std::string& path) {
  if (code_ext(path) == ".py") return std::filesystem::path(path).stem().string() + ".handler";
  return "main.handler";
}

Status check_handler(const std::string& handler) {
  auto dot = handler.rfind('.');
  auto bad = [&] {
    return invalid(
        "--handler must be module.function of Python identifiers (e.g. main.handler), not \"" +
        handler + "\"");
  };
  if (dot == std::string::npos || dot == 0) return bad();
  if (!is_identifier(handler.substr(dot + 1))) return bad();
  std::stringstream parts(handler.substr(0, dot));
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (!is_identifier(part)) return bad();
  }
  if (handler[dot - 1] == '.') return bad();
  return Status::ok();
}

Result<std::string> read_code_file(const std::string& path, uint64_t limit) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) return invalid(path + ": no such file");
  if (std::filesystem::is_directory(st))
    return invalid(path + " is a directory: give a .py file or a .zip package");
  std::string ext = code_ext(path);
  if (ext.empty())
    return invalid(path + " is neither a Python file (.py) nor a zip package (.zip)");
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return invalid(path + ": " + ec.message());
  if (size > limit) {
    std::string mib = limit >= (1u << 20) && limit % (1u << 20) == 0
                          ? " (" + std::to_string(limit >> 20) + " MiB)"
                          : "";
    return invalid(path + " is " + std::to_string(size) + " bytes; the limit is " +
                   std::to_string(limit) + " bytes" + mib);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid(path + ": cannot be read");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (ext == ".zip") {
    if (bytes.rfind(std::string("PK\x05\x06", 4), 0) == 0)
      return invalid(path + " is an empty zip archive");
    if (bytes.rfind(std::string("PK\x03\x04", 4), 0) != 0) {
      return invalid(path + " is not a zip archive (it does not start with PK\\x03\\x04)");
    }
  } else if (!valid_utf8(bytes) || bytes.find('\0') != std::string::npos) {
    return invalid(path + " is not a Python source file (not UTF-8 text)");
  }
  return bytes;
}

namespace {

void put16(std::string& out, uint32_t v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& out, uint32_t v) {
  put16(out, v & 0xffff);
  put16(out, v >> 16);
}

}  // namespace

Result<std::string> zip_directory(const std::string& dir, uint64_t limit) {
  namespace fs = std::filesystem;
  // Dot files are left out by list_tree_files; Python's caches here.
  auto listed = list_tree_files(dir, [](const fs::path& p) {
    return p.filename() == "__pycache__" || p.extension() == ".pyc";
  });
  if (!listed) return listed.status();
  const std::vector<std::string>& names = *listed;
  if (names.empty()) return invalid(dir + " has no files to zip");
  // Stored (not compressed) entries with a fixed time (1980-01-01): the same
  // files give the same bytes, hence the same content address.
  std::string out, central;
  for (const auto& name : names) {
    std::ifstream f(fs::path(dir) / name, std::ios::binary);
    if (!f) return invalid(dir + "/" + name + ": cannot be read");
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (out.size() + data.size() > limit) {
      return invalid(dir + " zipped is over " + std::to_string(limit) + " bytes; the limit is " +
                     std::to_string(limit) + " bytes" +
                     (limit % (1u << 20) == 0 ? " (" + std::to_string(limit >> 20) + " MiB)" : ""));
    }
    boost::crc_32_type crc;
    crc.process_bytes(data.data(), data.size());
    uint32_t offset = static_cast<uint32_t>(out.size());
    auto header = [&](std::string& h, bool central_entry) {
      put32(h, central_entry ? 0x02014b50 : 0x04034b50);
      if (central_entry) put16(h, 0x0314);  // made by: Unix, 2.0
      put16(h, 20);                         // version needed: 2.0
      put16(h, 0x0800);                     // UTF-8 names
      put16(h, 0);                          // stored
      put16(h, 0);                          // 00:00
      put16(h, (0 << 9) | (1 << 5) | 1);    // 1980-01-01
      put32(h, crc.checksum());
      put32(h, static_cast<uint32_t>(data.size()));
      put32(h, static_cast<uint32_t>(data.size()));
      put16(h, static_cast<uint32_t>(name.size()));
      put16(h, 0);  // extra
      if (central_entry) {
        put16(h, 0);               // comment
        put16(h, 0);               // disk
        put16(h, 0);               // internal attributes
        put32(h, 0100644u << 16);  // external: -rw-r--r--
        put32(h, offset);
      }
      h += name;
    };
    header(out, false);
    out += data;
    header(central, true);
  }
  uint32_t cd_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<uint32_t>(names.size()));
  put16(out, static_cast<uint32_t>(names.size()));
  put32(out, static_cast<uint32_t>(central.size()));
  put32(out, cd_offset);
  put16(out, 0);
  if (out.size() > limit) {
    return invalid(dir + " zipped is " + std::to_string(out.size()) + " bytes; the limit is " +
                   std::to_string(limit) + " bytes");
  }
  return out;
}

std::string find_python(const std::string& preferred) {
  if (!preferred.empty()) return ::access(preferred.c_str(), X_OK) == 0 ? preferred : "";
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string cand = dir + "/python3";
    if (::access(cand.c_str(), X_OK) == 0) return cand;
  }
  return "";
}

Status python_check(const std::string& python, const std::string& path, const std::string& filename,
                    const std::string& handler) {
  auto dot = handler.rfind('.');
  if (dot == std::string::npos) return check_handler(handler);
  auto r = run_capture({python, "-I", "-c", kChecker, path, filename, handler.substr(0, dot),
                        handler.substr(dot + 1)});
  if (!r) return Status(Code::kUnavailable, r.status().message());
  auto [code, output] = *r;
  if (code == 0) return Status::ok();
  // The checker's verdict is its one line; anything else (a traceback) is the checker failing.
  std::string line = first_line(output, 500);
  if (code == 1 && output.find("Traceback") == std::string::npos && !line.empty())
    return invalid(line);
  std::string last;
  std::stringstream ss(output);
  for (std::string l; std::getline(ss, l);) {
    if (!l.empty()) last = l;
  }
  return Status(Code::kUnavailable,
                python + " exited " + std::to_string(code) + (last.empty() ? "" : ": " + last));
}

Status apply_env(Json& env, const std::vector<std::string>& items) {
  if (!env.is_array()) env = Json::array();
  for (const auto& item : items) {
    auto eq = item.find('=');
    std::string name;
    bool remove = false;
    if (eq != std::string::npos) {
      name = item.substr(0, eq);
    } else if (!item.empty() && item.back() == '-') {
      name = item.substr(0, item.size() - 1);
      remove = true;
    }
    if (name.empty())
      return invalid("--env wants NAME=VALUE (or NAME- to remove one), not \"" + item + "\"");
    auto it = std::find_if(env.begin(), env.end(),
                           [&](const Json& e) { return jstr(e, {"name"}) == name; });
    if (remove) {
      if (it != env.end()) env.erase(it);
    } else if (it != env.end()) {
      (*it)["value"] = item.substr(eq + 1);
    } else {
      env.push_back({{"name", name}, {"value", item.substr(eq + 1)}});
    }
  }
  return Status::ok();
}

Status apply_settings(Json& spec, const FunctionOptions& o) {
  if (!o.runtime.empty()) {
    if (o.runtime != "python3" && o.runtime != "python3-ml")
      return invalid("--runtime must be python3 or python3-ml, not \"" + o.runtime + "\"");
    spec["runtime"] = o.runtime;
  }
  if (!o.handler.empty()) {
    if (Status s = check_handler(o.handler); !s) return s;
    spec["handler"] = o.handler;
  }
  auto set_scale = [&](const char* field, const std::optional<long long>& v, const char* flag,
                       long long min) -> Status {
    if (!v) return Status::ok();
    if (*v < min)
      return invalid(std::string(flag) + " must be at least " + std::to_string(min) + ", not " +
                     std::to_string(*v));
    if (!spec.contains("scale") || !spec["scale"].is_object()) spec["scale"] = Json::object();
    spec["scale"][field] = *v;
    return Status::ok();
  };
  if (Status s = set_scale("minScale", o.min_scale, "--min-scale", 0); !s) return s;
  if (Status s = set_scale("maxScale", o.max_scale, "--max-scale", 1); !s) return s;
  if (Status s = set_scale("targetConcurrency", o.concurrency, "--concurrency", 1); !s) return s;
  if (Status s = set_scale("scaleToZeroAfterSeconds", o.idle, "--idle", 0); !s) return s;
  if (o.timeout) {
    if (*o.timeout < 1)
      return invalid("--timeout must be at least 1 second, not " + std::to_string(*o.timeout));
    spec["timeoutSeconds"] = *o.timeout;
  }
  const Json& mn = api::field_at(spec, {"scale", "minScale"});
  const Json& mx = api::field_at(spec, {"scale", "maxScale"});
  long long min_v = mn.is_number_integer() ? mn.get<long long>() : 0;
  long long max_v = mx.is_number_integer() ? mx.get<long long>() : 10;
  if (min_v > max_v) {
    return invalid("min scale " + std::to_string(min_v) + " is above max scale " +
                   std::to_string(max_v));
  }
  if (!o.env.empty()) {
    Json env = spec.contains("env") ? spec["env"] : Json::array();
    if (Status s = apply_env(env, o.env); !s) return s;
    spec["env"] = env;
  }
  return Status::ok();
}

std::string describe_function(const Json& fn, long long code_size, long long now) {
  std::vector<std::pair<std::string, std::string>> rows;
  auto add = [&](const std::string& k, const std::string& v) {
    rows.emplace_back(k, v.empty() ? "<none>" : v);
  };
  add("Name", jstr(fn, {"metadata", "name"}));
  add("Namespace", jstr(fn, {"metadata", "namespace"}));
  add("Labels", labels_string(api::field_at(fn, {"metadata", "labels"})));
  std::string created = jstr(fn, {"metadata", "creationTimestamp"});
  add("Created", created.empty() ? "" : created + " (" + human_age(created, now) + " ago)");
  add("Runtime", jstr(fn, {"spec", "runtime"}).empty() ? "python3" : jstr(fn, {"spec", "runtime"}));
  add("Handler",
      jstr(fn, {"spec", "handler"}).empty() ? "main.handler" : jstr(fn, {"spec", "handler"}));
  std::string size = code_size >= 0 ? ", " + std::to_string(code_size) + " bytes" : "";
  std::string hash = jstr(fn, {"spec", "code", "hash"});
  std::string filename = jstr(fn, {"spec", "code", "filename"});
  if (!hash.empty()) {
    add("Code", hash + " (" + (filename.empty() ? "main.py" : filename) + size + ")");
  } else if (api::field_at(fn, {"spec", "code", "inline"}).is_string()) {
    add("Code", "inline (" + (filename.empty() ? "main.py" : filename) + size + ")");
  } else {
    add("Code", "");
  }
  add("Revision", jnum(fn, {"status", "revision"}, ""));
  std::string env;
  for (const auto& e : api::field_at(fn, {"spec", "env"})) {
    env += (env.empty() ? "" : ", ") + jstr(e, {"name"}) + "=" + jstr(e, {"value"});
  }
  add("Env", env);
  std::string limits;
  const Json& lim = api::field_at(fn, {"spec", "resources", "limits"});
  if (lim.is_object()) {
    for (auto it = lim.begin(); it != lim.end(); ++it) {
      limits += (limits.empty() ? "" : ", ") + it.key() + "=" +
                (it->is_string() ? it->get<std::string>() : it->dump());
    }
  }
  add("Limits", limits);
  add("Timeout", jnum(fn, {"spec", "timeoutSeconds"}, "60") + "s");
  add("Scale", "min " + jnum(fn, {"spec", "scale", "minScale"}, "0") + ", max " +
                   jnum(fn, {"spec", "scale", "maxScale"}, "10") + ", target concurrency " +
                   jnum(fn, {"spec", "scale", "targetConcurrency"}, "1") + ", to zero after " +
                   jnum(fn, {"spec", "scale", "scaleToZeroAfterSeconds"}, "30") + "s idle");
  add("URL", jstr(fn, {"status", "url"}));
  add("Instances", jnum(fn, {"status", "readyInstances"}, "0") + " ready / " +
                       jnum(fn, {"status", "desiredInstances"}, "0") + " desired");
  size_t w = 0;
  for (auto& [k, v] : rows) w = std::max(w, k.size() + 1);
  std::string out;
  for (auto& [k, v] : rows) out += k + ":" + std::string(w + 2 - k.size() - 1, ' ') + v + "\n";
  const Json& conds = api::field_at(fn, {"status", "conditions"});
  if (conds.is_array() && !conds.empty()) {
    out += "Conditions:\n";
    std::vector<std::vector<std::string>> table{{"Type", "Status", "Reason", "Message"}};
    for (const auto& c : conds) {
      table.push_back({jstr(c, {"type"}), jstr(c, {"status"}), jstr(c, {"reason"}),
                       first_line(jstr(c, {"message"}))});
    }
    std::stringstream ss(format_columns(table));
    for (std::string l; std::getline(ss, l);) {
      l.erase(l.find_last_not_of(' ') + 1);
      out += "  " + l + "\n";
    }
  } else {
    out += "Conditions:  <none>\n";
  }
  return out;
}

std::string invoke_error_line(int code, const std::string& body) {
  std::string detail = first_line(body);
  auto parsed = api::parse_json(body);
  if (parsed && parsed->is_object()) {
    std::string msg = jstr(*parsed, {"message"});
    std::string type = jstr(*parsed, {"error"});
    if (!msg.empty() || !type.empty()) {
      detail = type.empty() ? first_line(msg) : msg.empty() ? type : type + ": " + first_line(msg);
    }
  }
  return "error: HTTP " + std::to_string(code) + (detail.empty() ? "" : ": " + detail);
}

CLI::App* add_function_commands(CLI::App& app, FunctionOptions& o) {
  auto* fn = app.add_subcommand(
      "function", "Serverless functions: create, invoke, update, logs, delete (alias fn)");
  fn->alias("fn");
  fn->alias("functions");
  fn->require_subcommand(1);
  auto settings = [&o](CLI::App* s) {
    s->add_option("-f,--filename", o.file,
                  "FILE.py (one module), FILE.zip (a package) or DIR (zipped here)")
        ->allow_extra_args(false);
    s->add_option("--handler", o.handler,
                  "module.function (default FILE-stem.handler; main.handler for a zip)");
    s->add_option("--runtime", o.runtime,
                  "python3 (default) or python3-ml (numpy, Pillow, scikit-learn, tesseract)");
    s->add_option_function<long long>(
        "--min-scale", [&o](const long long& v) { o.min_scale = v; },
        "Instances kept even when idle (default 0)");
    s->add_option_function<long long>(
        "--max-scale", [&o](const long long& v) { o.max_scale = v; },
        "At most this many instances (default 10)");
    s->add_option_function<long long>(
        "--concurrency", [&o](const long long& v) { o.concurrency = v; },
        "Target in-flight requests per instance (default 1)");
    s->add_option_function<long long>(
        "--idle", [&o](const long long& v) { o.idle = v; },
        "Seconds without requests before scaling to zero (default 30)");
    s->add_option_function<long long>(
        "--timeout", [&o](const long long& v) { o.timeout = v; },
        "Seconds one invocation may run (default 60)");
    s->add_option("--env", o.env, "NAME=VALUE (repeatable; NAME- removes on update)")
        ->allow_extra_args(false);
    s->add_option("--python", o.python, "The python3 used to check the code before upload");
  };
  auto sub = [&](const char* action, const char* help, bool name_required) {
    auto* s = fn->add_subcommand(action, help);
    auto* opt = s->add_option("name", o.name, "NAME");
    if (name_required) opt->required();
    s->callback([&o, action] { o.action = action; });
    return s;
  };
  settings(
      sub("create", "Upload code and create a Function: create NAME -f FILE.py|FILE.zip", true));
  settings(
      sub("update", "New code and/or settings for a Function (unspecified ones are kept)", true));
  auto* get = sub("get", "List Functions (NAME READY URL AGE), or one", false);
  get->alias("list");
  get->alias("ls");
  get->add_option("-o,--output", o.output, "yaml|json");
  sub("describe", "Revision, code, scale settings, URL, instances, conditions and events", true);
  auto* invoke = sub("invoke", "Call a Function through the gateway and print the answer", true);
  invoke->add_option("-d,--data", o.data, "JSON body, @FILE or @- (stdin); without it: GET")
      ->allow_extra_args(false);
  invoke->add_option("-q,--query", o.query, "k=v query parameter (repeatable)")
      ->allow_extra_args(false);
  invoke->add_flag("-v,--verbose", o.verbose, "Print the status, time and X-Instance on stderr");
  invoke->add_option("--url-wait", o.url_wait, "Seconds to wait for a new Function's URL (default 10)")
      ->check(CLI::Range(0, 600));
  sub("url", "Print the Function's invoke URL", true)
      ->add_option("--url-wait", o.url_wait, "Seconds to wait for a new Function's URL (default 10)")
      ->check(CLI::Range(0, 600));
  auto* logs = sub("logs", "Logs of every instance of a Function, each line prefixed [pod]", true);
  logs->add_flag("-f,--follow", o.follow,
                 "Stream, following new instances, until the Function is deleted");
  sub("delete", "Delete a Function (its instances and code go with it)", true);
  return fn;
}

int run_function(const client::HttpRestClientOptions& server, const std::string& ns,
                 std::chrono::milliseconds request_timeout, const FunctionOptions& o,
                 std::istream& in, std::ostream& out, std::ostream& err) {
  try {
    FunctionCmd cmd(server, ns, request_timeout, o, in, out, err);
    return cmd.run();
  } catch (const std::exception& e) {
    err << "error: " << first_line(e.what()) << "\n";
    return 1;
  }
}

}  // namespace minik8s::cli
