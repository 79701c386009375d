// Packing a source directory for upload and unpacking a downloaded archive,
// shared by mkctl's command groups (function: a zip, see function_cmds.h;
// gpujob: a tar.gz, docs/gpu.md "CLI").
//
// Determinism: the same files (names, bytes, executable bits) give the same
// archive bytes with the same build of mkctl, hence the same content address
// in the blob store. Entries are sorted by path; tar headers carry mtime 0,
// uid/gid 0, empty user/group names, mode 0644 (0755 when the owner may
// execute the file); gzip carries no name and mtime 0.
//
// What is packed: regular files under the directory (a symlink to a file is
// packed as the file it names; a symlinked directory is not entered); every
// file or directory whose name starts with '.' is left out (.git, .venv,
// editor swap files), as are names the caller's skip rejects. Empty
// directories are not recorded.
//
// Unpacking (unpack_tar_gz) never writes outside the target directory:
// absolute names and ".." components are refused, a path component that
// exists as anything but a real directory (a symlink planted there) is
// refused, files are opened with O_NOFOLLOW; symlinks, hard links and
// device entries are skipped (reported); only regular files and directories
// are written.
//
// Pure functions over the filesystem; thread-compatible. Errors are
// kInvalid with one line naming the path (or the archive's entry).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::cli {

// The regular files under dir as sorted relative paths ("a/b.c"), leaving
// out dot files, dot directories and whatever skip(path) rejects (a
// rejected directory is not entered). kInvalid when dir is not a directory
// or cannot be read; an empty list when it has no files.
Result<std::vector<std::string>> list_tree_files(
    const std::string& dir, const std::function<bool(const std::filesystem::path&)>& skip = {});

// A ustar archive of those files of dir (names over 100 bytes get a PAX
// "path" record), gzip-compressed. kInvalid for no directory, no files, or
// an archive over limit bytes (the message gives both sizes).
Result<std::string> tar_gz_directory(const std::string& dir, uint64_t limit);

// Gzip and gunzip (several members are read as one stream). gunzip fails
// with kInvalid for bytes that are not gzip, or when the output would pass
// max_out bytes.
std::string gzip_bytes(const std::string& data);
Result<std::string> gunzip_bytes(const std::string& gz, uint64_t max_out);

struct UnpackResult {
  std::vector<std::string> files;    // relative paths written, in archive order
  std::vector<std::string> skipped;  // "name (symlink)" …: entries not written
};

// Unpacks a tar (gzip-compressed or not) into dir, creating it. Existing
// files of the same name are replaced. max_bytes bounds the uncompressed
// archive (a decompression bomb is an error, not a full disk).
Result<UnpackResult> unpack_tar_gz(const std::string& bytes, const std::string& dir,
                                   uint64_t max_bytes = uint64_t{1} << 30);

}  // namespace minik8s::cli
