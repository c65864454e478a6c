import Crypto
import Outbound
import Storage
import Support

/// Guarded downloads as the service runs them: the guard's settings from the effective config,
/// and what a caller learns of a refusal.
public enum Downloads {
    package static func settings(_ config: Config) -> GuardSettings {
        GuardSettings(
            protection: config.ssrfProtection, allowInsecureHTTP: config.allowInsecureHTTP,
            insecureHosts: config.insecureHTTPHosts, allowedCIDRs: config.ssrfAllowedCIDRs,
            maxBytes: Int(config.remoteFileMaxMB * 1024 * 1024), maxRetries: config.remoteDownloadMaxRetries,
            initialRetryDelay: config.remoteDownloadInitialRetryDelaySeconds,
            totalBudget: config.remoteDownloadMaxRetryTimeSeconds)
    }

    /// Logs a refusal once, with the URL cut to scheme, host and path (no userinfo, no query).
    package static func logRefusal(_ c: Scope, url raw: String, _ refusal: GuardRefusal) {
        let shown: String
        if case .success(let u) = GuardedURL.parse(raw) { shown = u.redacted } else { shown = "<unparsable URL, \(raw.utf8.count) bytes>" }
        Log.event(
            .warn, "fetch_refused",
            [
                "request_id": .string(c.requestID), "code": .string(refusal.code.rawValue),
                "reason": .string(refusal.reason), "url": .string(shown)
            ])
    }

    package static func refusalError(_ refusal: GuardRefusal, detailed: Bool) -> ServiceError {
        ServiceError(ErrorCode(refusal: refusal.code), detailed ? refusal.reason : publicReason(refusal.code))
    }

    /// What a non-admin learns of a refusal: the verdict and its code, never what an internal
    /// name resolved to (that would make the guard an oracle for the host's network).
    package static func publicReason(_ code: GuardRefusal.Code) -> String {
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

    /// `cryotensor check-url`: the verdict for a URL under the current settings, without connecting.
    public static func check(_ raw: String, config: Config) -> (allowed: Bool, text: String) {
        switch DownloadGuard.check(raw, settings: settings(config), resolver: SystemResolver()) {
        case .success(let v):
            return (true, "allowed: \(v.url.redacted) -> \(v.pinned) (resolved: \(v.addresses.map(\.description).joined(separator: ", ")))")
        case .failure(let r):
            return (false, "refused: \(r.code.rawValue): \(r.reason)")
        }
    }

    /// `dry_run`: the guard's verdict without connecting. Only admins see what a name resolved to.
    package static func verdict(_ s: Scope, url raw: String) throws -> JSON {
        let settings = settings(try s.services.runtimeConfig())
        let isAdmin = try s.user.role == .admin
        switch DownloadGuard.check(raw, settings: settings, resolver: SystemResolver()) {
        case .success(let verdict):
            guard isAdmin else { return ["allowed": true, "url": .string(verdict.url.redacted)] }
            return [
                "allowed": true, "url": .string(verdict.url.redacted), "address": .string(verdict.pinned.description),
                "addresses": .array(verdict.addresses.map { .string($0.description) })
            ]
        case .failure(let refusal):
            logRefusal(s, url: raw, refusal)
            return [
                "allowed": false, "code": .string(refusal.code.rawValue),
                "reason": .string(isAdmin ? refusal.reason : publicReason(refusal.code))
            ]
        }
    }

    /// Fetches through the guard and stores the bytes for the caller. No SQLite or Redis
    /// connection is held while downloading.
    package static func fetchAndStore(_ s: Scope, url raw: String) throws -> FileRecord {
        let settings = settings(try s.services.runtimeConfig())
        let user = try s.user
        s.releaseServices()
        switch DownloadGuard.fetch(raw, settings: settings) {
        case .failure(let refusal):
            logRefusal(s, url: raw, refusal)
            // Scheme, host and port only: a path or query may carry a token (a webhook URL).
            var details: [String: JSON] = ["code": .string(refusal.code.rawValue), "reason": .string(refusal.reason)]
            if case .success(let u) = GuardedURL.parse(raw) {
                details["url"] = .string("\(u.scheme)://\(u.hostText)\(u.explicitPort ? ":\(u.port)" : "")")
            }
            s.auditFailure(.filesFetchRefused, target: AuditTarget("url"), outcome: .denied, details: details)
            throw refusalError(refusal, detailed: user.role == .admin)
        case .success(let download):
            let files = FileRepository(s.db)
            let id = try files.insert(
                userID: user.id, sourceURL: download.finalURL, contentType: String(download.contentType.prefix(200)),
                sha256: Encoding.hex(Digest.sha256(download.body)), content: download.body)
            Log.event(
                .info, "file_fetched",
                [
                    "request_id": .string(s.requestID), "file_id": .number(Double(id)),
                    "url": .string(download.finalURL), "bytes": JSON(download.body.count),
                    "attempts": JSON(download.attempts), "redirects": JSON(download.redirects)
                ])
            guard let record = try files.find(id: id, userID: user.id) else { throw ServiceError.notFound }
            return record
        }
    }
}
