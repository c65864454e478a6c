import Crypto
import Outbound
import Service
import Storage
import Support

/// `POST /files/fetch` and `GET /files/{id}`: user-supplied URLs fetched only through the guard.
enum FileHandlers {
    static let fetchInput = InputSpec([.required("url", .string(min: 1, max: GuardedURL.maxLength)), .optional("dry_run", .bool)])

    static func fetch(_ c: Context) throws -> Response {
        let input = try c.input(fetchInput)
        let url = try input.requiredString("url")
        if input.bool("dry_run") == true { return .json(try Downloads.verdict(c, url: url)) }
        return .json(json(try Downloads.fetchAndStore(c, url: url)), status: 201)
    }

    static func json(_ f: FileRecord) -> JSON {
        [
            "id": .number(Double(f.id)), "url": .string(f.sourceURL), "content_type": .string(f.contentType),
            "size": .number(Double(f.size)), "sha256": .string(f.sha256), "created_at": .number(Double(f.createdAt))
        ]
    }

    static func get(_ c: Context) throws -> Response {
        guard let record = try FileRepository(c.db).find(id: try c.id(), userID: try c.user.id) else { throw ServiceError.notFound }
        return .json(json(record))
    }

    /// The bytes, always as a download: fetched content is never rendered from our origin.
    static func content(_ c: Context) throws -> Response {
        let id = try c.id()
        let userID = try c.user.id
        guard let bytes = try FileRepository(c.db).content(id: id, userID: userID) else { throw ServiceError.notFound }
        return Response(
            status: 200,
            headers: [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", "attachment; filename=\"file-\(id)\""),
                ("X-Content-Type-Options", "nosniff")
            ], body: bytes, stream: nil)
    }
}
