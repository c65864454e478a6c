import CZip
import Foundation
import Support

/// Session logs: one AES-256 zip archive per assistant message at
/// `<dir>/<user>/<chat>/<message>.zip` (meta.json and logs.jsonl), written to a temporary file in
/// the same folder and renamed, so a reader never sees half an archive.
public enum SessionLog {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Every run of characters outside `[0-9A-Za-z._-]` becomes `_`; at most 128 characters;
    /// never `.` or `..`.
    public static func sanitize(_ part: String) -> String {
        var out = ""
        var lastWasUnderscore = false
        for ch in part {
            if ch.isASCII && (ch.isLetter || ch.isNumber || "._-".contains(ch)) {
                out.append(ch)
                lastWasUnderscore = false
            } else if !lastWasUnderscore {
                out.append("_")
                lastWasUnderscore = true
            }
        }
        out = String(out.prefix(128))
        if out.isEmpty || out == "." || out == ".." { out = "_" }
        return out
    }

    public static func path(dir: String, user: String, chat: String, message: String) -> String {
        "\(dir)/\(sanitize(user))/\(sanitize(chat))/\(sanitize(message)).zip"
    }

    public static func write(
        dir: String, user: String, chat: String, message: String, password: String,
        files: [(name: String, data: [UInt8])]
    ) throws -> String {
        let final = path(dir: dir, user: user, chat: chat, message: message)
        let folder = (final as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = folder + "/.tmp-\(UUID().uuidString).zip"
        var error: Int32 = 0
        guard
            let archive = zip_open(
                temporary, ZIP_CREATE | ZIP_EXCL,
                &error)
        else { throw Failure(description: "cannot create \(temporary) (libzip error \(error))") }
        var buffers: [UnsafeMutableRawPointer] = []
        defer { buffers.forEach { free($0) } }
        for file in files {
            // libzip reads the buffer at zip_close, so it must outlive this loop.
            guard let buffer = malloc(max(file.data.count, 1)) else { zip_discard(archive); throw Failure(description: "out of memory") }
            buffers.append(buffer)
            file.data.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: file.data.count) } }
            guard let source = zip_source_buffer(archive, buffer, zip_uint64_t(file.data.count), 0) else {
                zip_discard(archive); throw Failure(description: "zip source")
            }
            let index = zip_file_add(archive, file.name, source, zip_flags_t(ZIP_FL_ENC_UTF_8))
            guard index >= 0 else { zip_source_free(source); zip_discard(archive); throw Failure(description: "zip add \(file.name)") }
            guard zip_file_set_encryption(archive, zip_uint64_t(index), zip_uint16_t(ZIP_EM_AES_256), password) == 0 else {
                zip_discard(archive); throw Failure(description: "zip encryption")
            }
        }
        guard zip_close(archive) == 0 else {
            let message = String(cString: zip_strerror(archive))
            zip_discard(archive)
            unlink(temporary)
            throw Failure(description: "zip close: \(message)")
        }
        chmod(temporary, 0o600)
        guard rename(temporary, final) == 0 else { unlink(temporary); throw Failure(description: "rename to \(final)") }
        return final
    }

    /// True for a name this service writes: `<digits>` folders and `<digits>.zip` archives.
    static func isNumber(_ name: String) -> Bool { !name.isEmpty && name.count <= 20 && name.allSatisfy { $0.isASCII && $0.isNumber } }
    static func isArchive(_ name: String) -> Bool { name.hasSuffix(".zip") && isNumber(String(name.dropLast(4))) }
    static func isTemporary(_ name: String) -> Bool { name.hasPrefix(".tmp-") && name.hasSuffix(".zip") && name.count == 45 }

    static func entries(_ path: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Removes a chat's archives (and unfinished temporary files), then its folder if now empty.
    public static func removeChat(dir: String, user: String, chat: String) {
        let folder = "\(dir)/\(sanitize(user))/\(sanitize(chat))"
        guard isDirectory(folder) else { return }
        for name in entries(folder) where (isArchive(name) || isTemporary(name)) && isRegularFile(folder + "/" + name) {
            unlink(folder + "/" + name)
        }
        rmdir(folder)
    }

    /// Removes every chat folder of a user, then the user's folder if now empty.
    public static func removeUser(dir: String, user: String) {
        let folder = "\(dir)/\(sanitize(user))"
        guard isDirectory(folder) else { return }
        for chat in entries(folder) where isNumber(chat) { removeChat(dir: dir, user: user, chat: chat) }
        rmdir(folder)
    }

    /// Deletes archives older than `days` (by modification time). Only what this service writes is
    /// touched: `<digits>/<digits>/<digits>.zip` exactly at depth 3, regular files (no symlinks),
    /// and afterwards the `<digits>` folders that are left empty. Anything else under `dir`, an
    /// unrelated zip or folder included, stays.
    public static func cleanup(dir: String, days: Int) -> Int {
        let cutoff = Date().addingTimeInterval(-Double(days) * 86400)
        var removed = 0
        // The root itself may be a symlink (logs on another volume); below it, nothing is followed.
        var rootStat = stat()
        guard stat(dir, &rootStat) == 0, (rootStat.st_mode & S_IFMT) == S_IFDIR else { return 0 }
        let staleTemporary = Date().addingTimeInterval(-86400)
        for user in entries(dir) where isNumber(user) && isDirectory("\(dir)/\(user)") {
            for chat in entries("\(dir)/\(user)") where isNumber(chat) && isDirectory("\(dir)/\(user)/\(chat)") {
                let folder = "\(dir)/\(user)/\(chat)"
                for name in entries(folder) where isTemporary(name) && isRegularFile(folder + "/" + name) {
                    // A write cut short by a crash; a day old, nobody is still writing it.
                    if let modified = (try? FileManager.default.attributesOfItem(atPath: folder + "/" + name))?[.modificationDate] as? Date,
                        modified < staleTemporary
                    {
                        unlink(folder + "/" + name)
                    }
                }
                for name in entries(folder) where isArchive(name) {
                    let full = folder + "/" + name
                    let attributes = try? FileManager.default.attributesOfItem(atPath: full)
                    guard isRegularFile(full), let modified = attributes?[.modificationDate] as? Date,
                        modified < cutoff
                    else { continue }
                    if unlink(full) == 0 { removed += 1 }
                }
                rmdir(folder)  // only succeeds when empty
            }
            rmdir("\(dir)/\(user)")
        }
        return removed
    }
}
