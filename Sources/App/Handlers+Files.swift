import Crypto
import Outbound
import Storage
import Support

/// `POST /files/fetch` and `GET /files/{id}`: user-supplied URLs fetched only through the guard.
enum FileHandlers {
    static let fetchInput = InputSpec([.required("url", .string(min: 1, max: GuardedURL.maxLength)), .optional("dry_run", .bool)])

    static func settings(_ config: Config) -> GuardSettings {
        GuardSettings(protection: config.ssrfProtection, allowInsecureHTTP: config.allowInsecureHTTP,
                      insecureHosts: config.insecureHTTPHosts, allowedCIDRs: config.ssrfAllowedCIDRs,
                      maxBytes: Int(config.remoteFileMaxMB * 1024 * 1024), maxRetries: config.remoteDownloadMaxRetries,
                      initialRetryDelay: config.remoteDownloadInitialRetryDelaySeconds,
                      totalBudget: config.remoteDownloadMaxRetryTimeSeconds)
    }

    static func status(_ code: GuardRefusal.Code) -> Int {
        switch code {
        case .invalidURL, .schemeNotAllowed, .insecureHTTPNotAllowed: 400
        case .blockedAddress: 403
        case .tooLarge: 413
        case .timeout: 504
        case .dnsFailure, .upstreamStatus, .tooManyRedirects, .network: 502
        }
    }

    /// Logs a refusal once, with the URL cut to scheme, host and path (no userinfo, no query).
    static func logRefusal(_ c: Context, url raw: String, _ refusal: GuardRefusal) {
        let shown: String
        if case .success(let u) = GuardedURL.parse(raw) { shown = u.redacted } else { shown = "<unparsable URL, \(raw.utf8.count) bytes>" }
        Log.event(.warn, "fetch_refused", ["request_id": .string(c.requestID), "code": .string(refusal.code.rawValue),
                                           "reason": .string(refusal.reason), "url": .string(shown)])
    }

    static func refusalError(_ refusal: GuardRefusal, detailed: Bool) -> HTTPError {
        HTTPError(status(refusal.code), refusal.code.rawValue, detailed ? refusal.reason : publicReason(refusal.code))
    }

    /// What a non-admin learns of a refusal: the verdict and its code, never what an internal
    /// name resolved to (that would make the guard an oracle for the host's network).
    static func publicReason(_ code: GuardRefusal.Code) -> String {
        switch code {
        case .invalidURL: "The URL is not acceptable."
        case .schemeNotAllowed: "This URL scheme is not allowed."
        case .insecureHTTPNotAllowed: "Plain http is not allowed for this host."
        case .blockedAddress: "This address is not allowed."
        case .tooLarge: "The file is larger than the limit."
        case .timeout: "The download took too long."
        case .dnsFailure: "The host name could not be resolved."
        case .upstreamStatus: "The remote server answered with an error."
        case .tooManyRedirects: "Too many redirects."
        case .network: "The remote server could not be reached."
        }
    }

    static func fetch(_ c: Context) throws -> Response {
        let input = try c.input(fetchInput)
        let raw = input.string("url") ?? ""
        let settings = settings(try c.services.runtimeConfig())
        let isAdmin = try c.user.role == .admin
        if input.bool("dry_run") == true {
            switch DownloadGuard.check(raw, settings: settings, resolver: SystemResolver()) {
            case .success(let verdict):
                guard isAdmin else { return .json(["allowed": true, "url": .string(verdict.url.redacted)]) }
                return .json(["allowed": true, "url": .string(verdict.url.redacted), "address": .string(verdict.pinned.description),
                              "addresses": .array(verdict.addresses.map { .string($0.description) })])
            case .failure(let refusal):
                logRefusal(c, url: raw, refusal)
                return .json(["allowed": false, "code": .string(refusal.code.rawValue),
                              "reason": .string(isAdmin ? refusal.reason : publicReason(refusal.code))])
            }
        }
        c.releaseServices()  // no SQLite or Redis connection is held while downloading
        switch DownloadGuard.fetch(raw, settings: settings) {
        case .failure(let refusal):
            logRefusal(c, url: raw, refusal)
            throw refusalError(refusal, detailed: isAdmin)
        case .success(let download):
            let sha = Encoding.hex(Digest.sha256(download.body))
            let contentType = String(download.contentType.prefix(200))
            let id = try FileRepository(c.db).insert(userID: try c.user.id, sourceURL: download.finalURL, contentType: contentType,
                                                     sha256: sha, content: download.body)
            Log.event(.info, "file_fetched", ["request_id": .string(c.requestID), "file_id": .number(Double(id)),
                                              "url": .string(download.finalURL), "bytes": JSON(download.body.count),
                                              "attempts": JSON(download.attempts), "redirects": JSON(download.redirects)])
            guard let record = try FileRepository(c.db).find(id: id, userID: try c.user.id) else { throw HTTPError.notFound }
            return .json(json(record), status: 201)
        }
    }

    static func json(_ f: FileRecord) -> JSON {
        ["id": .number(Double(f.id)), "url": .string(f.sourceURL), "content_type": .string(f.contentType),
         "size": .number(Double(f.size)), "sha256": .string(f.sha256), "created_at": .number(Double(f.createdAt))]
    }

    static func get(_ c: Context) throws -> Response {
        guard let record = try FileRepository(c.db).find(id: try c.id(), userID: try c.user.id) else { throw HTTPError.notFound }
        return .json(json(record))
    }

    /// The bytes, always as a download: fetched content is never rendered from our origin.
    static func content(_ c: Context) throws -> Response {
        let id = try c.id()
        let userID = try c.user.id
        guard let bytes = try FileRepository(c.db).content(id: id, userID: userID) else { throw HTTPError.notFound }
        return Response(status: 200, headers: [("Content-Type", "application/octet-stream"),
                                               ("Content-Disposition", "attachment; filename=\"file-\(id)\""),
                                               ("X-Content-Type-Options", "nosniff")], body: bytes, stream: nil)
    }

    /// `cryotensor check-url`: the verdict for a URL under the current settings, without connecting.
    public static func checkURL(_ raw: String, config: Config) -> (allowed: Bool, text: String) {
        switch DownloadGuard.check(raw, settings: settings(config), resolver: SystemResolver()) {
        case .success(let v):
            return (true, "allowed: \(v.url.redacted) -> \(v.pinned) (resolved: \(v.addresses.map(\.description).joined(separator: ", ")))")
        case .failure(let r):
            return (false, "refused: \(r.code.rawValue): \(r.reason)")
        }
    }
}

public enum URLCheck {
    public static func run(_ raw: String, config: Config) -> (allowed: Bool, text: String) { FileHandlers.checkURL(raw, config: config) }
}
