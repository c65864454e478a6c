import Outbound
import Support

/// Guarded downloads as the service runs them: the guard's settings from the effective config,
/// and what a caller learns of a refusal.
public enum Downloads {
    package static func settings(_ config: Config) -> GuardSettings {
        GuardSettings(protection: config.ssrfProtection, allowInsecureHTTP: config.allowInsecureHTTP,
                      insecureHosts: config.insecureHTTPHosts, allowedCIDRs: config.ssrfAllowedCIDRs,
                      maxBytes: Int(config.remoteFileMaxMB * 1024 * 1024), maxRetries: config.remoteDownloadMaxRetries,
                      initialRetryDelay: config.remoteDownloadInitialRetryDelaySeconds,
                      totalBudget: config.remoteDownloadMaxRetryTimeSeconds)
    }

    /// Logs a refusal once, with the URL cut to scheme, host and path (no userinfo, no query).
    package static func logRefusal(_ c: Scope, url raw: String, _ refusal: GuardRefusal) {
        let shown: String
        if case .success(let u) = GuardedURL.parse(raw) { shown = u.redacted } else { shown = "<unparsable URL, \(raw.utf8.count) bytes>" }
        Log.event(.warn, "fetch_refused", ["request_id": .string(c.requestID), "code": .string(refusal.code.rawValue),
                                           "reason": .string(refusal.reason), "url": .string(shown)])
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
}

