#include "sqlite_storage.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace minik8s::storage {

namespace {

constexpr size_t kRingMaxEvents = 8192;
constexpr size_t kRingMaxBytes = 64u << 20;
constexpr int64_t kCatchUpBatch = 512;
constexpr int64_t kCompactScanBatch = 1000;
constexpr int kCheckpointEveryCommits = 500;
constexpr size_t kMaxIdleReaders = 16;

Status sqlite_status(sqlite3* db, const std::string& what) {
  return internal_error("sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

// A prepared statement owned by one connection; reset on scope exit via Use.
class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s_, nullptr) != SQLITE_OK) {
      return sqlite_status(db, std::string("prepare ") + sql);
    }
    return Status::ok();
  }
  sqlite3_stmt* get() const { return s_; }

  // Resets the statement and its bindings when it goes out of scope.
  class Use {
   public:
    explicit Use(Stmt& s) : s_(s.get()) {}
    ~Use() {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    sqlite3_stmt* operator*() const { return s_; }

   private:
    sqlite3_stmt* s_;
  };

 private:
  sqlite3_stmt* s_ = nullptr;
};

void bind_text(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
void bind_blob(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
std::string column_bytes(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

// Binds the [prefix, end) range of a prefix. With no finite end (empty prefix or
// all 0xff bytes) the end is bound as an empty BLOB: in SQLite every TEXT value
// sorts before every BLOB, so `name < ?` holds for all names and the index
// range stays usable.
void bind_prefix_range(sqlite3_stmt* s, int lo, int hi, const std::string& prefix,
                       std::string* end_storage) {
  bind_text(s, lo, prefix);
  std::string end = prefix;
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      break;
    }
    end.pop_back();
  }
  if (end.empty()) {
    sqlite3_bind_zeroblob(s, hi, 0);
  } else {
    *end_storage = std::move(end);
    bind_text(s, hi, *end_storage);
  }
}

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return internal_error(std::string("sqlite: ") + sql + ": " + msg);
  }
  return Status::ok();
}

Result<sqlite3*> open_connection(const SqliteOptions& o, bool reader) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(o.path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    Status st = sqlite_status(db, "open " + o.path);
    sqlite3_close(db);
    return st;
  }
  sqlite3_busy_timeout(db, 10000);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;";
  pragmas += o.synchronous_full ? " PRAGMA synchronous=FULL;" : " PRAGMA synchronous=NORMAL;";
  if (reader) pragmas += " PRAGMA query_only=1;";
  if (Status st = exec(db, pragmas.c_str()); !st) {
    sqlite3_close(db);
    return st;
  }
  return db;
}

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS kine ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL,"
    " created INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL,"
    " create_revision INTEGER NOT NULL,"
    " prev_revision INTEGER NOT NULL,"
    " lease INTEGER NOT NULL DEFAULT 0,"
    " value BLOB,"
    " old_value BLOB,"
    " UNIQUE(name, prev_revision));"
    "CREATE INDEX IF NOT EXISTS kine_name_id ON kine(name, id);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

constexpr const char* kSqlLatest =
    "SELECT id, deleted, create_revision, value FROM kine WHERE name = ?1 "
    "ORDER BY id DESC LIMIT 1";
constexpr const char* kSqlSeq = "SELECT seq FROM sqlite_sequence WHERE name = 'kine'";
constexpr const char* kSqlCompacted = "SELECT value FROM meta WHERE key = 'compact_rev'";
// Latest row <= ?4 per name in [?1, ?2), after ?3, tombstones dropped. Scans
// the (name, id) index in name order, so LIMIT stops early.
constexpr const char* kSqlList =
    "SELECT k.name, k.value, k.create_revision, k.id FROM kine k "
    "WHERE k.name >= ?1 AND k.name < ?2 AND k.name > ?3 AND k.id <= ?4 AND k.deleted = 0 "
    "AND k.id = (SELECT MAX(k2.id) FROM kine k2 WHERE k2.name = k.name AND k2.id <= ?4) "
    "ORDER BY k.name LIMIT ?5";
constexpr const char* kSqlEvents =
    "SELECT k.id, k.name, k.created, k.deleted, k.create_revision, k.prev_revision, k.value, "
    "p.value, p.create_revision, p.id FROM kine k LEFT JOIN kine p ON p.id = k.prev_revision "
    "WHERE k.id > ?1 AND k.id <= ?2 AND k.name >= ?3 AND k.name < ?4 ORDER BY k.id LIMIT ?5";
constexpr const char* kSqlInsert =
    "INSERT INTO kine(id, name, created, deleted, create_revision, prev_revision, lease, value) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, 0, ?7)";
constexpr const char* kSqlCompactScanEnd =
    "SELECT MAX(id) FROM (SELECT id FROM kine WHERE id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3)";
// Rows that compaction to ?3 newly makes deletable, for rows k in (?1, ?2]
// (the range starts at the previous compacted revision): k itself when it is
// a tombstone or superseded by a row <= ?3, and k's predecessor, which k
// supersedes. Older survivors need no scan: each is the predecessor of the
// first newer row of its name.
constexpr const char* kSqlCompactDelete =
    "DELETE FROM kine WHERE id IN ("
    " SELECT k.id FROM kine k WHERE k.id > ?1 AND k.id <= ?2 AND (k.deleted = 1 OR EXISTS ("
    "  SELECT 1 FROM kine k2 WHERE k2.name = k.name AND k2.id > k.id AND k2.id <= ?3))"
    " UNION ALL"
    " SELECT k.prev_revision FROM kine k WHERE k.id > ?1 AND k.id <= ?2 AND k.prev_revision > 0)";

// One read connection with its statements.
struct Reader {
  sqlite3* db = nullptr;
  Stmt begin, commit, rollback, seq, compacted, latest, list, events, count;
  ~Reader() {
    // Statements finalize in their destructors, which run after this body:
    // close_v2 defers the close until they are gone.
    sqlite3_close_v2(db);
  }
  Status init() {
    for (auto [s, sql] : {std::pair{&begin, "BEGIN"}, {&commit, "COMMIT"},
                          {&rollback, "ROLLBACK"}, {&seq, kSqlSeq}, {&compacted, kSqlCompacted},
                          {&latest, kSqlLatest}, {&list, kSqlList}, {&events, kSqlEvents},
                          {&count, "SELECT COUNT(*) FROM kine"}}) {
      if (Status st = s->prepare(db, sql); !st) return st;
    }
    return Status::ok();
  }
};

Result<int64_t> read_int(sqlite3* db, Stmt& stmt, int64_t if_none) {
  Stmt::Use u(stmt);
  int rc = sqlite3_step(*u);
  if (rc == SQLITE_ROW) return sqlite3_column_int64(*u, 0);
  if (rc == SQLITE_DONE) return if_none;
  return sqlite_status(db, "read");
}

// A read transaction on a leased reader; rolled back (a no-op for reads) on scope exit.
class ReadTxn {
 public:
  explicit ReadTxn(Reader& r) : r_(r) {}
  ~ReadTxn() {
    if (open_) {
      Stmt::Use u(r_.rollback);
      sqlite3_step(*u);
    }
  }
  Status begin() {
    Stmt::Use u(r_.begin);
    if (sqlite3_step(*u) != SQLITE_DONE) return sqlite_status(r_.db, "begin");
    open_ = true;
    return Status::ok();
  }

 private:
  Reader& r_;
  bool open_ = false;
};

struct WriteOp {
  enum class Kind { kCreate, kUpdate, kDelete };
  Kind kind = Kind::kCreate;
  const std::string* key = nullptr;
  const std::string* value = nullptr;
  int64_t expected = 0;
  // Results, set by the leader of the batch.
  Status status;
  int64_t revision = 0;
  bool done = false;             // guarded by Core::queue_mu
  std::condition_variable cv;    // signalled when done or when it should lead
};

}  // namespace

struct SqliteStorage::Core {
  SqliteOptions options;

  // ---- the write connection; held by a batch leader or the compactor ----
  std::mutex conn_mu;
  sqlite3* wdb = nullptr;
  Stmt w_begin, w_commit, w_rollback, w_latest, w_insert, w_set_compacted, w_scan_end, w_delete;

  // ---- group commit queue ----
  std::mutex queue_mu;
  std::vector<WriteOp*> queue;  // guarded by queue_mu
  bool leader_active = false;   // guarded by queue_mu

  std::atomic<int64_t> revision{0};   // last committed revision
  std::atomic<int64_t> compacted{0};  // last compacted revision
  std::atomic<int> commits_since_checkpoint{0};

  // ---- watch hub: contiguous recent events floor+1 .. floor+ring.size() ----
  std::mutex hub_mu;
  std::condition_variable hub_cv;
  std::deque<Event> ring;  // guarded by hub_mu
  size_t ring_bytes = 0;   // guarded by hub_mu
  int64_t floor = 0;       // guarded by hub_mu
  bool closed = false;     // guarded by hub_mu

  // ---- read connections ----
  std::mutex readers_mu;
  std::vector<std::unique_ptr<Reader>> idle_readers;  // guarded by readers_mu

  // ---- compaction ----
  std::mutex compact_mu;  // one compaction at a time
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> samples;  // compact_mu

  // ---- maintenance thread ----
  std::mutex maint_mu;
  std::condition_variable maint_cv;
  bool stopping = false;  // guarded by maint_mu
  std::thread maint;

  // Only the maintenance thread uses it: PASSIVE checkpoints.
  sqlite3* ckpt_db = nullptr;
  // flock()ed "<path>.lock": one SqliteStorage per database file, since
  // revisions are assigned in memory. Released by ~SqliteStorage.
  int lock_fd = -1;

  ~Core() {
    idle_readers.clear();
    sqlite3_close_v2(ckpt_db);
    if (wdb) {
      // Statements are finalized after this body; close_v2 waits for them.
      sqlite3_wal_checkpoint_v2(wdb, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      sqlite3_close_v2(wdb);
    }
  }

  // A leased read connection, returned to the pool on destruction.
  class ReaderLease {
   public:
    ReaderLease(Core& c, std::unique_ptr<Reader> r) : c_(c), r_(std::move(r)) {}
    ~ReaderLease() {
      if (!r_) return;
      std::lock_guard lock(c_.readers_mu);
      if (c_.idle_readers.size() < kMaxIdleReaders) c_.idle_readers.push_back(std::move(r_));
    }
    ReaderLease(ReaderLease&&) = default;
    Reader& operator*() { return *r_; }
    Reader* operator->() { return r_.get(); }

   private:
    Core& c_;
    std::unique_ptr<Reader> r_;
  };

  Result<ReaderLease> acquire_reader() {
    {
      std::lock_guard lock(readers_mu);
      if (!idle_readers.empty()) {
        auto r = std::move(idle_readers.back());
        idle_readers.pop_back();
        return ReaderLease(*this, std::move(r));
      }
    }
    auto db = open_connection(options, /*reader=*/true);
    if (!db) return db.status();
    auto r = std::make_unique<Reader>();
    r->db = *db;
    if (Status st = r->init(); !st) return st;
    return ReaderLease(*this, std::move(r));
  }

  Status init_writer() {
    auto db = open_connection(options, /*reader=*/false);
    if (!db) return db.status();
    wdb = *db;
    if (Status st = exec(wdb, kSchema); !st) return st;
    for (auto [s, sql] : {std::pair{&w_begin, "BEGIN IMMEDIATE"}, {&w_commit, "COMMIT"},
                          {&w_rollback, "ROLLBACK"}, {&w_latest, kSqlLatest},
                          {&w_insert, kSqlInsert},
                          {&w_set_compacted,
                           "INSERT OR REPLACE INTO meta(key, value) VALUES('compact_rev', ?1)"},
                          {&w_scan_end, kSqlCompactScanEnd}, {&w_delete, kSqlCompactDelete}}) {
      if (Status st = s->prepare(wdb, sql); !st) return st;
    }
    Stmt seq, comp;
    if (Status st = seq.prepare(wdb, kSqlSeq); !st) return st;
    if (Status st = comp.prepare(wdb, kSqlCompacted); !st) return st;
    auto rev = read_int(wdb, seq, 0);
    if (!rev) return rev.status();
    auto c = read_int(wdb, comp, 0);
    if (!c) return c.status();
    revision = *rev;
    compacted = *c;
    floor = *rev;
    return Status::ok();
  }

  void rollback_writer() {
    Stmt::Use u(w_rollback);
    sqlite3_step(*u);
  }

  // ---- writes ----

  struct Latest {
    bool exists = false;
    bool deleted = false;
    int64_t id = 0;
    int64_t create_revision = 0;
    std::string value;
  };

  Status read_latest(const std::string& key, Latest* out) {
    Stmt::Use u(w_latest);
    bind_text(*u, 1, key);
    int rc = sqlite3_step(*u);
    if (rc == SQLITE_DONE) return Status::ok();
    if (rc != SQLITE_ROW) return sqlite_status(wdb, "read " + key);
    out->exists = true;
    out->id = sqlite3_column_int64(*u, 0);
    out->deleted = sqlite3_column_int64(*u, 1) != 0;
    out->create_revision = sqlite3_column_int64(*u, 2);
    out->value = column_bytes(*u, 3);
    return Status::ok();
  }

  // Inserts one row; kConflict when the UNIQUE(name, prev_revision) guard fires.
  Status insert(int64_t id, const std::string& key, bool created, bool deleted, int64_t create_rev,
                int64_t prev, const std::string& value) {
    Stmt::Use u(w_insert);
    sqlite3_bind_int64(*u, 1, id);
    bind_text(*u, 2, key);
    sqlite3_bind_int(*u, 3, created ? 1 : 0);
    sqlite3_bind_int(*u, 4, deleted ? 1 : 0);
    sqlite3_bind_int64(*u, 5, create_rev);
    sqlite3_bind_int64(*u, 6, prev);
    bind_blob(*u, 7, value);
    int rc = sqlite3_step(*u);
    if (rc == SQLITE_DONE) return Status::ok();
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
      return conflict("key " + key + " was modified concurrently");
    }
    return sqlite_status(wdb, "insert " + key);
  }

  // Applies one operation inside the open batch transaction. A logical failure
  // (not found, conflict) is stored in op.status and returns ok; an I/O
  // failure is returned and aborts the batch.
  Status apply(WriteOp& op, int64_t id, std::vector<Event>* events) {
    const std::string& key = *op.key;
    Latest l;
    if (Status st = read_latest(key, &l); !st) return st;
    bool live = l.exists && !l.deleted;
    Event ev;
    ev.revision = id;
    switch (op.kind) {
      case WriteOp::Kind::kCreate:
        if (live) {
          op.status = already_exists("key " + key + " already exists");
          return Status::ok();
        }
        ev.type = Event::Type::kCreated;
        ev.kv = KeyValue{key, *op.value, id, id};
        op.status = insert(id, key, true, false, id, l.exists ? l.id : 0, *op.value);
        break;
      case WriteOp::Kind::kUpdate:
      case WriteOp::Kind::kDelete: {
        bool del = op.kind == WriteOp::Kind::kDelete;
        if (!live) {
          op.status = not_found("key " + key + " not found");
          return Status::ok();
        }
        if ((!del || op.expected != 0) && l.id != op.expected) {
          op.status = conflict("key " + key + ": expected revision " +
                               std::to_string(op.expected) + ", current is " +
                               std::to_string(l.id));
          return Status::ok();
        }
        ev.type = del ? Event::Type::kDeleted : Event::Type::kUpdated;
        ev.prev = KeyValue{key, l.value, l.create_revision, l.id};
        ev.kv = KeyValue{key, del ? l.value : *op.value, l.create_revision, id};
        op.status = insert(id, key, false, del, l.create_revision, l.id, ev.kv.value);
        break;
      }
    }
    if (!op.status.is_ok()) {
      // Only the constraint guard is a logical failure; anything else is I/O.
      return op.status.code() == Code::kConflict ? Status::ok() : op.status;
    }
    op.revision = id;
    events->push_back(std::move(ev));
    return Status::ok();
  }

  // Runs one batch in one transaction. Caller is the leader; takes conn_mu.
  void run_batch(const std::vector<WriteOp*>& ops) {
    std::lock_guard conn_lock(conn_mu);
    auto fail_all = [&](const Status& st) {
      for (WriteOp* op : ops) {
        op->status = st;
        op->revision = 0;
      }
    };
    {
      Stmt::Use u(w_begin);
      if (sqlite3_step(*u) != SQLITE_DONE) {
        fail_all(sqlite_status(wdb, "begin"));
        return;
      }
    }
    int64_t next = revision.load() + 1;
    std::vector<Event> events;
    events.reserve(ops.size());
    for (WriteOp* op : ops) {
      if (Status st = apply(*op, next, &events); !st) {
        rollback_writer();
        fail_all(st);
        return;
      }
      if (op->status.is_ok()) ++next;
    }
    if (events.empty()) {
      rollback_writer();
      return;
    }
    {
      Stmt::Use u(w_commit);
      if (sqlite3_step(*u) != SQLITE_DONE) {
        Status st = sqlite_status(wdb, "commit");
        rollback_writer();
        fail_all(st);
        return;
      }
    }
    revision.store(next - 1);
    publish(std::move(events));
    if (commits_since_checkpoint.fetch_add(1) + 1 == kCheckpointEveryCommits) {
      maint_cv.notify_one();
    }
  }

  // Group commit: queue the op; whoever finds no active leader drains the
  // queue as one batch. Returns when op is done (committed or failed).
  void submit(WriteOp& op) {
    std::unique_lock lock(queue_mu);
    queue.push_back(&op);
    while (!op.done) {
      if (!leader_active) {
        leader_active = true;
        std::vector<WriteOp*> batch;
        batch.swap(queue);
        lock.unlock();
        run_batch(batch);
        lock.lock();
        leader_active = false;
        // Wake exactly the finished writers and the next leader, not everyone.
        for (WriteOp* o : batch) {
          o->done = true;
          if (o != &op) o->cv.notify_one();
        }
        if (!queue.empty()) queue.front()->cv.notify_one();
      } else {
        op.cv.wait(lock);
      }
    }
  }

  void publish(std::vector<Event>&& events) {
    std::lock_guard lock(hub_mu);
    for (Event& ev : events) {
      ring_bytes += ev.kv.key.size() + ev.kv.value.size() + (ev.prev ? ev.prev->value.size() : 0);
      ring.push_back(std::move(ev));
    }
    while (ring.size() > kRingMaxEvents || (ring_bytes > kRingMaxBytes && ring.size() > 1)) {
      const Event& f = ring.front();
      ring_bytes -= f.kv.key.size() + f.kv.value.size() + (f.prev ? f.prev->value.size() : 0);
      ring.pop_front();
      ++floor;
    }
    hub_cv.notify_all();
  }

  // ---- compaction ----

  Status compact_to(int64_t target) {
    std::lock_guard compact_lock(compact_mu);
    int64_t current = revision.load();
    if (target > current) {
      return bad_request("cannot compact to revision " + std::to_string(target) +
                         ": current revision is " + std::to_string(current));
    }
    int64_t previous = compacted.load();
    if (target <= previous) return Status::ok();
    {
      // Record the compacted revision first: from now on no reader may ask
      // for older state, so the deletions below cannot be observed.
      std::lock_guard conn_lock(conn_mu);
      Stmt::Use u(w_set_compacted);
      sqlite3_bind_int64(*u, 1, target);
      if (sqlite3_step(*u) != SQLITE_DONE) return sqlite_status(wdb, "record compaction");
      compacted.store(target);
    }
    int64_t cursor = previous;
    while (cursor < target) {
      std::lock_guard conn_lock(conn_mu);
      {
        Stmt::Use u(w_begin);
        if (sqlite3_step(*u) != SQLITE_DONE) return sqlite_status(wdb, "begin compaction");
      }
      int64_t end = 0;
      {
        Stmt::Use u(w_scan_end);
        sqlite3_bind_int64(*u, 1, cursor);
        sqlite3_bind_int64(*u, 2, target);
        sqlite3_bind_int64(*u, 3, kCompactScanBatch);
        int rc = sqlite3_step(*u);
        if (rc != SQLITE_ROW) {
          Status st = sqlite_status(wdb, "compaction scan");
          rollback_writer();
          return st;
        }
        end = sqlite3_column_type(*u, 0) == SQLITE_NULL ? target : sqlite3_column_int64(*u, 0);
      }
      {
        Stmt::Use u(w_delete);
        sqlite3_bind_int64(*u, 1, cursor);
        sqlite3_bind_int64(*u, 2, end);
        sqlite3_bind_int64(*u, 3, target);
        if (sqlite3_step(*u) != SQLITE_DONE) {
          Status st = sqlite_status(wdb, "compaction delete");
          rollback_writer();
          return st;
        }
      }
      {
        Stmt::Use u(w_commit);
        if (sqlite3_step(*u) != SQLITE_DONE) {
          Status st = sqlite_status(wdb, "commit compaction");
          rollback_writer();
          return st;
        }
      }
      cursor = end;
    }
    return Status::ok();
  }

  Result<int64_t> compact_by_policy() {
    int64_t current = revision.load();
    int64_t by_count = current - std::max<int64_t>(options.compaction_keep_revisions, 0);
    int64_t by_age = current;
    if (options.compaction_keep_age.count() > 0) {
      auto now = std::chrono::steady_clock::now();
      std::lock_guard lock(compact_mu);
      samples.emplace_back(now, current);
      auto horizon = now - options.compaction_keep_age;
      // Keep only the newest sample at or before the horizon, and all after it.
      while (samples.size() > 1 && samples[1].first <= horizon) samples.pop_front();
      by_age = samples.front().first <= horizon ? samples.front().second : 0;
    }
    int64_t target = std::min(by_count, by_age);
    if (target <= compacted.load()) return compacted.load();
    if (Status st = compact_to(target); !st) return st;
    return compacted.load();
  }

  void checkpoint() {
    commits_since_checkpoint.store(0);
    if (!ckpt_db) {
      auto db = open_connection(options, /*reader=*/false);
      if (!db) return;
      ckpt_db = *db;
    }
    // PASSIVE never blocks writers or readers; it copies what it can.
    sqlite3_wal_checkpoint_v2(ckpt_db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }

  void shutdown() {
    std::lock_guard lock(hub_mu);
    closed = true;
    hub_cv.notify_all();
  }
};

namespace {

bool has_prefix(const std::string& key, const std::string& prefix) {
  return key.size() >= prefix.size() && key.compare(0, prefix.size(), prefix) == 0;
}

class SqliteWatchStream final : public WatchStream {
 public:
  SqliteWatchStream(std::shared_ptr<SqliteStorage::Core> core, std::string prefix, int64_t after)
      : core_(std::move(core)), prefix_(std::move(prefix)), last_(after) {}
  ~SqliteWatchStream() override { close(); }

  std::optional<Event> next(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::lock_guard next_lock(next_mu_);
    for (;;) {
      if (!buffer_.empty()) {
        Event ev = std::move(buffer_.front());
        buffer_.pop_front();
        return ev;
      }
      if (closed_.load()) return std::nullopt;
      {
        std::lock_guard lock(status_mu_);
        if (!status_.is_ok()) return std::nullopt;
      }
      bool from_ring = false;
      {
        std::unique_lock lock(core_->hub_mu);
        if (core_->closed) {
          fail(Status(Code::kUnavailable, "storage closed"));
          return std::nullopt;
        }
        if (last_ >= core_->floor) {
          from_ring = true;
          auto ready = [&] {
            return closed_.load() || core_->closed ||
                   last_ < core_->floor ||
                   core_->floor + static_cast<int64_t>(core_->ring.size()) > last_;
          };
          if (!ready()) {
            if (!core_->hub_cv.wait_until(lock, deadline, ready)) return std::nullopt;
            continue;
          }
          if (last_ >= core_->floor) {
            size_t idx = static_cast<size_t>(last_ - core_->floor);
            for (; idx < core_->ring.size() && buffer_.size() < kCatchUpBatch; ++idx) {
              const Event& ev = core_->ring[idx];
              if (has_prefix(ev.kv.key, prefix_)) buffer_.push_back(ev);
            }
            last_ = core_->floor + static_cast<int64_t>(idx);
          }
        }
      }
      if (from_ring) continue;
      if (Status st = catch_up(); !st) {
        fail(st);
        return std::nullopt;
      }
      if (buffer_.empty() && std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
  }

  Status status() const override {
    std::lock_guard lock(status_mu_);
    return status_;
  }

  void close() override {
    if (closed_.exchange(true)) return;
    std::lock_guard lock(core_->hub_mu);
    core_->hub_cv.notify_all();
  }

 private:
  void fail(Status st) {
    std::lock_guard lock(status_mu_);
    if (status_.is_ok()) status_ = std::move(st);
  }

  // Reads events after last_ from the table (the stream is behind the ring).
  Status catch_up() {
    auto r = core_->acquire_reader();
    if (!r) return r.status();
    Reader& rd = **r;
    ReadTxn txn(rd);
    if (Status st = txn.begin(); !st) return st;
    auto compacted = read_int(rd.db, rd.compacted, 0);
    if (!compacted) return compacted.status();
    if (last_ < *compacted) {
      return Status(Code::kGone, "watch position " + std::to_string(last_) +
                                     " is older than the compacted revision " +
                                     std::to_string(*compacted));
    }
    auto seq = read_int(rd.db, rd.seq, 0);
    if (!seq) return seq.status();
    Stmt::Use u(rd.events);
    std::string end;
    sqlite3_bind_int64(*u, 1, last_);
    sqlite3_bind_int64(*u, 2, *seq);
    bind_prefix_range(*u, 3, 4, prefix_, &end);
    sqlite3_bind_int64(*u, 5, kCatchUpBatch);
    int64_t n = 0;
    int64_t last_id = last_;
    int rc;
    while ((rc = sqlite3_step(*u)) == SQLITE_ROW) {
      ++n;
      Event ev;
      ev.revision = sqlite3_column_int64(*u, 0);
      last_id = ev.revision;
      bool created = sqlite3_column_int64(*u, 2) != 0;
      bool deleted = sqlite3_column_int64(*u, 3) != 0;
      ev.type = created   ? Event::Type::kCreated
                : deleted ? Event::Type::kDeleted
                          : Event::Type::kUpdated;
      ev.kv.key = column_bytes(*u, 1);
      ev.kv.create_revision = sqlite3_column_int64(*u, 4);
      ev.kv.mod_revision = ev.revision;
      ev.kv.value = column_bytes(*u, 6);
      if (!created) {
        KeyValue prev;
        prev.key = ev.kv.key;
        prev.mod_revision = sqlite3_column_int64(*u, 5);
        if (sqlite3_column_type(*u, 9) != SQLITE_NULL) {
          prev.value = column_bytes(*u, 7);
          prev.create_revision = sqlite3_column_int64(*u, 8);
        } else {  // the predecessor is gone; a tombstone still carries its value
          prev.value = deleted ? ev.kv.value : std::string();
          prev.create_revision = ev.kv.create_revision;
        }
        ev.prev = std::move(prev);
      }
      buffer_.push_back(std::move(ev));
    }
    if (rc != SQLITE_DONE) return sqlite_status(rd.db, "watch catch-up");
    last_ = n < kCatchUpBatch ? std::max(last_, *seq) : last_id;
    return Status::ok();
  }

  std::shared_ptr<SqliteStorage::Core> core_;
  const std::string prefix_;
  std::atomic<bool> closed_{false};
  std::mutex next_mu_;  // one next() at a time; guards last_ and buffer_
  int64_t last_;
  std::deque<Event> buffer_;
  mutable std::mutex status_mu_;
  Status status_;  // guarded by status_mu_
};

Status validate_key(const std::string& key) {
  if (key.empty()) return invalid("storage key must not be empty");
  return Status::ok();
}

}  // namespace

// ---- SqliteStorage ----

Result<std::unique_ptr<SqliteStorage>> SqliteStorage::open(const SqliteOptions& options) {
  if (options.path.empty() || options.path == ":memory:" ||
      options.path.rfind("file::memory:", 0) == 0) {
    return invalid("sqlite storage needs a database file path");
  }
  auto core = std::make_shared<Core>();
  core->options = options;
  std::string lock_path = options.path + ".lock";
  core->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (core->lock_fd < 0) {
    return internal_error("open " + lock_path + ": " + std::strerror(errno));
  }
  if (::flock(core->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(core->lock_fd);
    core->lock_fd = -1;
    if (err == EWOULDBLOCK) {
      return Status(Code::kUnavailable, "database " + options.path + " is already open");
    }
    return internal_error("lock " + lock_path + ": " + std::strerror(err));
  }
  if (Status st = core->init_writer(); !st) {
    ::close(core->lock_fd);
    core->lock_fd = -1;
    return st;
  }
  std::unique_ptr<SqliteStorage> s(new SqliteStorage(std::move(core)));
  return s;
}

SqliteStorage::SqliteStorage(std::shared_ptr<Core> core) : core_(std::move(core)) {
  core_->maint = std::thread([this] { maintenance_loop(); });
}

SqliteStorage::~SqliteStorage() {
  {
    std::lock_guard lock(core_->maint_mu);
    core_->stopping = true;
  }
  core_->maint_cv.notify_all();
  if (core_->maint.joinable()) core_->maint.join();
  core_->shutdown();
  // Streams may keep the core alive; the database is free for a new owner.
  if (core_->lock_fd >= 0) ::close(core_->lock_fd);
  core_->lock_fd = -1;
}

void SqliteStorage::maintenance_loop() {
  using namespace std::chrono;
  auto interval = core_->options.compaction_interval;
  auto tick = interval.count() > 0 ? std::min<milliseconds>(interval, milliseconds(1000))
                                   : milliseconds(1000);
  auto next_compaction = steady_clock::now() + interval;
  std::unique_lock lock(core_->maint_mu);
  while (!core_->stopping) {
    core_->maint_cv.wait_for(lock, tick, [&] {
      return core_->stopping ||
             core_->commits_since_checkpoint.load() >= kCheckpointEveryCommits;
    });
    if (core_->stopping) break;
    lock.unlock();
    if (core_->commits_since_checkpoint.load() > 0) core_->checkpoint();
    if (interval.count() > 0 && steady_clock::now() >= next_compaction) {
      (void)core_->compact_by_policy();  // a failed pass is retried next interval
      next_compaction = steady_clock::now() + interval;
    }
    lock.lock();
  }
}

Result<int64_t> SqliteStorage::create(const std::string& key, const std::string& value) {
  if (Status st = validate_key(key); !st) return st;
  WriteOp op;
  op.kind = WriteOp::Kind::kCreate;
  op.key = &key;
  op.value = &value;
  core_->submit(op);
  if (!op.status.is_ok()) return op.status;
  return op.revision;
}

Result<int64_t> SqliteStorage::update(const std::string& key, const std::string& value,
                                      int64_t expected_mod_revision) {
  if (Status st = validate_key(key); !st) return st;
  WriteOp op;
  op.kind = WriteOp::Kind::kUpdate;
  op.key = &key;
  op.value = &value;
  op.expected = expected_mod_revision;
  core_->submit(op);
  if (!op.status.is_ok()) return op.status;
  return op.revision;
}

Result<int64_t> SqliteStorage::remove(const std::string& key, int64_t expected_mod_revision) {
  if (Status st = validate_key(key); !st) return st;
  WriteOp op;
  op.kind = WriteOp::Kind::kDelete;
  op.key = &key;
  op.expected = expected_mod_revision;
  core_->submit(op);
  if (!op.status.is_ok()) return op.status;
  return op.revision;
}

Result<KeyValue> SqliteStorage::get(const std::string& key) {
  auto r = core_->acquire_reader();
  if (!r) return r.status();
  Reader& rd = **r;
  Stmt::Use u(rd.latest);
  bind_text(*u, 1, key);
  int rc = sqlite3_step(*u);
  if (rc == SQLITE_DONE) return not_found("key " + key + " not found");
  if (rc != SQLITE_ROW) return sqlite_status(rd.db, "get " + key);
  if (sqlite3_column_int64(*u, 1) != 0) return not_found("key " + key + " not found");
  KeyValue kv;
  kv.key = key;
  kv.mod_revision = sqlite3_column_int64(*u, 0);
  kv.create_revision = sqlite3_column_int64(*u, 2);
  kv.value = column_bytes(*u, 3);
  return kv;
}

Result<ListResult> SqliteStorage::list(const std::string& prefix, const std::string& start_after,
                                       int64_t limit, int64_t revision_at) {
  if (limit < 0 || revision_at < 0) return invalid("list: negative limit or revision");
  auto r = core_->acquire_reader();
  if (!r) return r.status();
  Reader& rd = **r;
  ReadTxn txn(rd);
  if (Status st = txn.begin(); !st) return st;
  auto seq = read_int(rd.db, rd.seq, 0);
  if (!seq) return seq.status();
  ListResult out;
  out.revision = *seq;
  if (revision_at > 0) {
    if (revision_at > *seq) {
      return bad_request("revision " + std::to_string(revision_at) +
                         " is newer than the current revision " + std::to_string(*seq));
    }
    auto compacted = read_int(rd.db, rd.compacted, 0);
    if (!compacted) return compacted.status();
    if (revision_at < *compacted) {
      return Status(Code::kGone, "revision " + std::to_string(revision_at) +
                                     " has been compacted (oldest available: " +
                                     std::to_string(*compacted) + ")");
    }
    out.revision = revision_at;
  }
  Stmt::Use u(rd.list);
  std::string end;
  bind_prefix_range(*u, 1, 2, prefix, &end);
  bind_text(*u, 3, start_after);
  sqlite3_bind_int64(*u, 4, out.revision);
  sqlite3_bind_int64(*u, 5, limit > 0 ? limit + 1 : -1);
  int rc;
  while ((rc = sqlite3_step(*u)) == SQLITE_ROW) {
    if (limit > 0 && static_cast<int64_t>(out.items.size()) == limit) {
      out.more = true;
      break;
    }
    KeyValue kv;
    kv.key = column_bytes(*u, 0);
    kv.value = column_bytes(*u, 1);
    kv.create_revision = sqlite3_column_int64(*u, 2);
    kv.mod_revision = sqlite3_column_int64(*u, 3);
    out.items.push_back(std::move(kv));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_status(rd.db, "list " + prefix);
  return out;
}

Result<std::unique_ptr<WatchStream>> SqliteStorage::watch(const std::string& prefix,
                                                          int64_t after_revision) {
  if (after_revision < 0) return invalid("watch: negative revision");
  int64_t compacted = core_->compacted.load();
  if (after_revision < compacted) {
    return Status(Code::kGone, "revision " + std::to_string(after_revision) +
                                   " has been compacted (oldest available: " +
                                   std::to_string(compacted) + ")");
  }
  return std::unique_ptr<WatchStream>(
      std::make_unique<SqliteWatchStream>(core_, prefix, after_revision));
}

Status SqliteStorage::compact(int64_t revision) { return core_->compact_to(revision); }

int64_t SqliteStorage::current_revision() { return core_->revision.load(); }

int64_t SqliteStorage::compacted_revision() { return core_->compacted.load(); }

Result<int64_t> SqliteStorage::compact_by_policy() { return core_->compact_by_policy(); }

Result<int64_t> SqliteStorage::row_count() {
  auto r = core_->acquire_reader();
  if (!r) return r.status();
  return read_int((*r)->db, (*r)->count, 0);
}

Result<std::unique_ptr<Storage>> open_sqlite_storage(const SqliteOptions& options) {
  auto s = SqliteStorage::open(options);
  if (!s) return s.status();
  return std::unique_ptr<Storage>(std::move(s).value());
}

}  // namespace minik8s::storage
