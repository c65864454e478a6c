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
        let raw = input.string("url") ?? ""
        let settings = Downloads.settings(try c.services.runtimeConfig())
        let isAdmin = try c.user.role == .admin
        if input.bool("dry_run") == true {
            switch DownloadGuard.check(raw, settings: settings, resolver: SystemResolver()) {
            case .success(let verdict):
                guard isAdmin else { return .json(["allowed": true, "url": .string(verdict.url.redacted)]) }
                return .json(["allowed": true, "url": .string(verdict.url.redacted), "address": .string(verdict.pinned.description),
                              "addresses": .array(verdict.addresses.map { .string($0.description) })])
            case .failure(let refusal):
                Downloads.logRefusal(c, url: raw, refusal)
                return .json(["allowed": false, "code": .string(refusal.code.rawValue),
                              "reason": .string(isAdmin ? refusal.reason : Downloads.publicReason(refusal.code))])
            }
        }
        c.releaseServices()  // no SQLite or Redis connection is held while downloading
        switch DownloadGuard.fetch(raw, settings: settings) {
        case .failure(let refusal):
            Downloads.logRefusal(c, url: raw, refusal)
            throw Downloads.refusalError(refusal, detailed: isAdmin)
        case .success(let download):
            let sha = Encoding.hex(Digest.sha256(download.body))
            let contentType = String(download.contentType.prefix(200))
            let id = try FileRepository(c.db).insert(userID: try c.user.id, sourceURL: download.finalURL, contentType: contentType,
                                                     sha256: sha, content: download.body)
            Log.event(.info, "file_fetched", ["request_id": .string(c.requestID), "file_id": .number(Double(id)),
                                              "url": .string(download.finalURL), "bytes": JSON(download.body.count),
                                              "attempts": JSON(download.attempts), "redirects": JSON(download.redirects)])
            guard let record = try FileRepository(c.db).find(id: id, userID: try c.user.id) else { throw ServiceError.notFound }
            return .json(json(record), status: 201)
        }
    }

    static func json(_ f: FileRecord) -> JSON {
        ["id": .number(Double(f.id)), "url": .string(f.sourceURL), "content_type": .string(f.contentType),
         "size": .number(Double(f.size)), "sha256": .string(f.sha256), "created_at": .number(Double(f.createdAt))]
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
        return Response(status: 200, headers: [("Content-Type", "application/octet-stream"),
                                               ("Content-Disposition", "attachment; filename=\"file-\(id)\""),
                                               ("X-Content-Type-Options", "nosniff")], body: bytes, stream: nil)
    }
}
