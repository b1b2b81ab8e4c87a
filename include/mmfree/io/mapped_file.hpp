// SPDX-License-Identifier: MIT
// A read-only file in memory: memory-mapped on POSIX (pages load on first touch, nothing is
// copied), read into a buffer elsewhere.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../core/error.hpp"

#if MMFREE_POSIX
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

MMFREE_NAMESPACE_BEGIN
namespace io {

/// \brief Bytes of a whole file, read-only, valid while the object lives.
class MappedFile {
 public:
  /// Maps `path`; throws mmfree::Error naming the file when it cannot be opened or read.
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path) {
    auto f = std::shared_ptr<MappedFile>(new MappedFile());
    f->path_ = path.string();
#if MMFREE_POSIX
    const int fd = ::open(f->path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open '" + f->path_ + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw Error("'" + f->path_ + "' is not a regular file");
    }
    f->size_ = std::size_t(st.st_size);
    if (f->size_ > 0) {
      void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int e = errno;
        ::close(fd);
        throw Error("cannot map '" + f->path_ + "': " + std::strerror(e));
      }
      f->data_ = static_cast<const std::uint8_t*>(p);
      f->mapped_ = true;
    }
    ::close(fd);
#else
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open '" + f->path_ + "'");
    in.seekg(0, std::ios::end);
    f->copy_.resize(std::size_t(in.tellg()));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(f->copy_.data()), std::streamsize(f->copy_.size()));
    if (!in) throw Error("cannot read '" + f->path_ + "'");
    f->data_ = f->copy_.data();
    f->size_ = f->copy_.size();
#endif
    return f;
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
#if MMFREE_POSIX
    if (mapped_) ::munmap(const_cast<std::uint8_t*>(data_), size_);
#endif
  }

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;
  std::vector<std::uint8_t> copy_;
};

/// Whole file as a string (small text files: JSON configs). Throws naming the file.
inline std::string read_text_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("'" + path.string() + "' is not a readable file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path.string() + "'");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("cannot read '" + path.string() + "'");
  return s;
}

}  // namespace io
MMFREE_NAMESPACE_END
