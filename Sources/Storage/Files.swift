import Support

public struct FileRecord: Sendable {
    public let id: Int64
    public let userID: Int64
    public let sourceURL: String
    public let contentType: String
    public let size: Int64
    public let sha256: String
    public let createdAt: Int64
}

/// Files fetched through the download guard; every read is scoped by owner.
public struct FileRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public func insert(userID: Int64, sourceURL: String, contentType: String, sha256: String, content: [UInt8]) throws(StorageError)
        -> Int64
    {
        try db.insert(
            "INSERT INTO files (user_id, source_url, content_type, size, sha256, content, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                .integer(userID), .text(sourceURL), .text(contentType), .integer(Int64(content.count)), .text(sha256), .blob(content),
                .integer(Clock.now())
            ])
    }

    public func find(id: Int64, userID: Int64) throws(StorageError) -> FileRecord? {
        guard
            let row = try db.queryOne(
                "SELECT id, user_id, source_url, content_type, size, sha256, created_at FROM files WHERE id = ? AND user_id = ?",
                [.integer(id), .integer(userID)]),
            let id = row.int("id"), let user = row.int("user_id"), let url = row.text("source_url"),
            let type = row.text("content_type"), let size = row.int("size"), let sha = row.text("sha256")
        else { return nil }
        return FileRecord(
            id: id, userID: user, sourceURL: url, contentType: type, size: size, sha256: sha, createdAt: row.int("created_at") ?? 0)
    }

    public func content(id: Int64, userID: Int64) throws(StorageError) -> [UInt8]? {
        try db.queryOne("SELECT content FROM files WHERE id = ? AND user_id = ?", [.integer(id), .integer(userID)])?.blob("content")
    }
}
