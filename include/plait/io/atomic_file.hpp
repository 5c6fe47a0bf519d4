#pragma once
// atomic_file: a file that replaces its target whole or not at all, whatever moment the process dies.
//
//   atomic_file f(path);            // writes go to "<path>.tmp.<pid>" in the same folder
//   write(f.fd(), ...);
//   f.commit(keep_last);            // fsync the file, rename it over path, fsync the folder
//   // destroyed without commit (an exception, a failed rank): the temporary file is removed
//
// At every moment `path` is either the previous complete file or the new complete one: the new one
// is durable (fsync) before the rename makes it visible, and the folder is synced after, so the
// rename survives a power cut. keep_last = N > 1 keeps the N - 1 previous files as path.1 (newest) ..
// path.<N-1>, shifted by renames and a hard link, so that `path` never disappears meanwhile.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "../core/error.hpp"

namespace plait {

class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path target) : target_(std::move(target)) {
    std::string temp = target_.string();
    temp_ = temp.append(".tmp.").append(std::to_string(::getpid()));
    // The previous file is durable and about to be replaced: its pages leave the page cache, so the new
    // file's pages do not compete with them (on a 2-core VM, writes then ran 2-4x less often throttled).
    if (const int old = ::open(target_.c_str(), O_RDONLY | O_CLOEXEC); old >= 0) {
      ::posix_fadvise(old, 0, 0, POSIX_FADV_DONTNEED);
      ::close(old);
    }
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
      fail(cat("cannot create '", temp_.string(), "': ", std::strerror(errno)),
           "a checkpoint is written to a temporary file beside its target, then renamed over it",
           "save into a folder that exists and is writable");
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  int fd() const { return fd_; }
  const std::filesystem::path& temp() const { return temp_; }

  /// Makes the written file durable, then `path`. With keep_last > 1, keeps that many files in all.
  void commit(std::size_t keep_last = 1) {
    if (::fsync(fd_) != 0) failed("fsync of the temporary file");
    ::close(fd_);
    fd_ = -1;
    if (keep_last > 1 && std::filesystem::exists(target_)) rotate(keep_last);
    if (::rename(temp_.c_str(), target_.c_str()) != 0) failed("rename over the target");
    committed_ = true;
    sync_folder(target_);
  }

  /// The path of the k-th older file kept by keep_last (k >= 1).
  static std::filesystem::path older(const std::filesystem::path& target, std::size_t k) {
    std::string name = target.string();
    name.append(".").append(std::to_string(k));
    return name;
  }

  static void sync_folder(const std::filesystem::path& file) {
    const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
    const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) return;
    ::fsync(d);
    ::close(d);
  }

 private:
  void rotate(std::size_t keep) {
    for (std::size_t k = keep - 1; k >= 2; --k)  // path.(k-1) -> path.k, oldest dropped by the overwrite
      if (std::filesystem::exists(older(target_, k - 1)))
        if (::rename(older(target_, k - 1).c_str(), older(target_, k).c_str()) != 0) failed("rotation of older files");
    ::unlink(older(target_, 1).c_str());
    if (::link(target_.c_str(), older(target_, 1).c_str()) != 0) failed("link of the previous file");
  }

  [[noreturn]] void failed(const char* step) {
    fail(cat("saving '", target_.string(), "' failed at the ", step, ": ", std::strerror(errno)),
         "the previous checkpoint stays in place until the new one is durable",
         "free disk space or check the folder's permissions, then save again");
  }

  std::filesystem::path target_, temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace plait
