// The plumbing shared by the SqliteStore's source files (private to store/sqlite): queued
// write jobs (run on the writer thread, each in its own savepoint) and the read-connection
// lease. A method enqueues MakeResultJob/MakeStatusJob with a function of the writer's Db;
// a read holds a ReadLease for its duration.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "core/status.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"

namespace agentd::store::sqlite {

// A queued write: Apply runs on the writer thread inside the batch transaction (in its own
// savepoint; a non-OK result rolls back only this job). Complete is called after the commit
// with the job's final status: its own result, or the transaction's error.
class WriteJob {
 public:
  virtual ~WriteJob() = default;
  virtual Status Apply(Db& db) = 0;
  virtual void Complete(Status status) = 0;
};

template <typename T, typename ApplyFn>
class ResultJob final : public WriteJob {
 public:
  ResultJob(ApplyFn apply, std::function<void(Result<T>)> done)
      : apply_(std::move(apply)), done_(std::move(done)) {}

  Status Apply(Db& db) override {
    Result<T> result = apply_(db);
    if (!result.ok()) return result.status();
    value_.emplace(std::move(result).value());
    return Status::Ok();
  }

  void Complete(Status status) override {
    if (!status.ok()) return done_(std::move(status));
    AGENTD_CHECK(value_.has_value());
    done_(std::move(*value_));
  }

 private:
  ApplyFn apply_;
  std::function<void(Result<T>)> done_;
  std::optional<T> value_;
};

template <typename ApplyFn>
class StatusJob final : public WriteJob {
 public:
  StatusJob(ApplyFn apply, std::function<void(Status)> done)
      : apply_(std::move(apply)), done_(std::move(done)) {}
  Status Apply(Db& db) override { return apply_(db); }
  void Complete(Status status) override { done_(std::move(status)); }

 private:
  ApplyFn apply_;
  std::function<void(Status)> done_;
};

template <typename T, typename ApplyFn>
std::unique_ptr<WriteJob> MakeResultJob(ApplyFn apply, std::function<void(Result<T>)> done) {
  return std::make_unique<ResultJob<T, ApplyFn>>(std::move(apply), std::move(done));
}

template <typename ApplyFn>
std::unique_ptr<WriteJob> MakeStatusJob(ApplyFn apply, std::function<void(Status)> done) {
  return std::make_unique<StatusJob<ApplyFn>>(std::move(apply), std::move(done));
}

// A read connection checked out of the pool for the scope of one read.
class SqliteStore::ReadLease {
 public:
  explicit ReadLease(SqliteStore& store) : store_(store), db_(store.AcquireReader()) {}
  ~ReadLease() { store_.ReleaseReader(std::move(db_)); }
  ReadLease(const ReadLease&) = delete;
  ReadLease& operator=(const ReadLease&) = delete;
  Db& db() { return *db_; }

 private:
  SqliteStore& store_;
  std::unique_ptr<Db> db_;
};

}  // namespace agentd::store::sqlite
