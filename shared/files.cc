#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "util.h"

namespace rdv {

namespace {

// write(2) until done; EINTR is retried, a short write continues.
bool write_all(int fd, std::string_view data, int* err) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return false;
    }
    data.remove_prefix(size_t(n));
  }
  return true;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

bool read_small_file(const std::string& path, size_t max_bytes, std::string* content, bool* exists,
                     std::string* error, Links links) {
  *exists = false;
  content->clear();
  const int nofollow = links == Links::Refuse ? O_NOFOLLOW : 0;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | nofollow | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    int err = errno;
    if (err == ENOENT) return true;
    if (err == ELOOP) {
      *error = path + " is a symbolic link; refusing it (replace it with a regular file)";
      return false;
    }
    *error = call_failed("open", path, err);
    return false;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    *error = call_failed("fstat", path, errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = path + " is not a regular file; refusing it";
    return false;
  }
  if (uint64_t(st.st_size) > max_bytes) {
    *error = path + " is too large (" + std::to_string(st.st_size) + " bytes, max " + std::to_string(max_bytes) +
             "); refusing it";
    return false;
  }
  content->reserve(size_t(st.st_size));
  char buf[8192];  // small: CivetWeb threads, whose stacks are small, read through here too
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = call_failed("read", path, errno);
      return false;
    }
    if (n == 0) break;
    // Bounded before appending: a file that grows while we read cannot make us hold more.
    if (content->size() + size_t(n) > max_bytes) {
      *error = path + " is too large (max " + std::to_string(max_bytes) + " bytes); refusing it";
      content->clear();
      return false;
    }
    content->append(buf, size_t(n));
  }
  *exists = true;
  return true;
}

bool write_file_atomic(const std::string& path, std::string_view content, unsigned mode, bool durable,
                       std::string* error) {
  const std::string tmp = path + ".tmp";
  // A temp file left by a crash between create and rename is ours to remove (unlink removes
  // a symlink itself, never its target).
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    *error = call_failed("unlink", tmp, errno);
    return false;
  }
  {
    // O_EXCL|O_NOFOLLOW: never write through a link or into a file someone else created.
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd) {
      *error = call_failed("open", tmp, errno);
      return false;
    }
    int err = 0;
    if (!write_all(fd.get(), content, &err)) {
      *error = call_failed("write", tmp, err);
      ::unlink(tmp.c_str());
      return false;
    }
    if (durable && ::fsync(fd.get()) != 0) {
      *error = call_failed("fsync", tmp, errno);
      ::unlink(tmp.c_str());
      return false;
    }
    int fdnum = fd.release();
    if (::close(fdnum) != 0) {
      *error = call_failed("close", tmp, errno);
      ::unlink(tmp.c_str());
      return false;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = call_failed("rename", tmp + " to " + path, errno);
    ::unlink(tmp.c_str());
    return false;
  }
  // The rename is durable only once the directory entry is.
  return !durable || fsync_directory(parent_dir(path), error);
}

}  // namespace rdv
