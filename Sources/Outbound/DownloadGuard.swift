import Foundation
import Support

public protocol Resolver: Sendable {
    func resolve(_ host: String, port: Int) -> Result<[IPAddress], GuardRefusal>
}

/// getaddrinfo, once per fetch (and once per redirect hop).
public struct SystemResolver: Resolver {
    public init() {}
    public func resolve(_ host: String, port: Int) -> Result<[IPAddress], GuardRefusal> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else { return .failure(GuardRefusal(.dnsFailure, "\(host) does not resolve")) }
        defer { freeaddrinfo(result) }
        var out: [IPAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let sa = n.pointee.ai_addr {
                if n.pointee.ai_family == AF_INET {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) }
                    }
                    if let a = IPAddress(bytes: bytes), !out.contains(a) { out.append(a) }
                } else if n.pointee.ai_family == AF_INET6 {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                    }
                    if let a = IPAddress(bytes: bytes), !out.contains(a) { out.append(a) }
                }
            }
            node = n.pointee.ai_next
        }
        return out.isEmpty ? .failure(GuardRefusal(.dnsFailure, "\(host) has no address")) : .success(out)
    }
}

/// The guard's settings, from the runtime configuration.
public struct GuardSettings: Sendable {
    public var protection: Bool
    public var allowInsecureHTTP: Bool
    public var insecureHosts: [String]
    public var allowedCIDRs: [CIDR]
    public var maxBytes: Int
    public var maxRetries: Int
    public var initialRetryDelay: Double
    public var totalBudget: Double
    public var attemptTimeout: Double = 30
    public var maxRedirects = 5

    public init(
        protection: Bool, allowInsecureHTTP: Bool, insecureHosts: [String], allowedCIDRs: [CIDR], maxBytes: Int,
        maxRetries: Int, initialRetryDelay: Double, totalBudget: Double
    ) {
        self.protection = protection
        self.allowInsecureHTTP = allowInsecureHTTP
        self.insecureHosts = insecureHosts
        self.allowedCIDRs = allowedCIDRs
        self.maxBytes = maxBytes
        self.maxRetries = maxRetries
        self.initialRetryDelay = initialRetryDelay
        self.totalBudget = totalBudget
    }
}

public struct Verdict: Sendable {
    public let url: GuardedURL
    public let addresses: [IPAddress]
    /// The one address the connection will be made to.
    public let pinned: IPAddress
}

public struct Download: Sendable {
    public let finalURL: String  // redacted
    public let status: Int
    public let contentType: String
    public let body: [UInt8]
    public let attempts: Int
    public let redirects: Int
}

public enum DownloadGuard {
    /// The policy decision for one URL, without connecting: parse, scheme rules, one DNS answer,
    /// address rules. `cryotensor check-url` and `dry_run` show exactly this.
    public static func check(_ raw: String, settings: GuardSettings, resolver: any Resolver) -> Result<Verdict, GuardRefusal> {
        let url: GuardedURL
        switch GuardedURL.parse(raw) {
        case .success(let u): url = u
        case .failure(let e): return .failure(e)
        }
        if url.scheme == "http" {
            let allowed =
                settings.allowInsecureHTTP
                && (settings.insecureHosts.contains(url.hostText) || settings.insecureHosts.contains(url.hostAndPort))
            if !allowed {
                return .failure(
                    GuardRefusal(
                        .insecureHTTPNotAllowed,
                        "http is allowed only with ALLOW_INSECURE_HTTP and a host listed in ALLOW_INSECURE_HTTP_HOSTS"))
            }
        }
        let addresses: [IPAddress]
        switch url.host {
        case .address(let a):
            addresses = [a]
        case .name(let name):
            if settings.protection && (name == "localhost" || name.hasSuffix(".localhost")) {
                return .failure(GuardRefusal(.blockedAddress, "\(name) is loopback"))
            }
            switch resolver.resolve(name, port: url.port) {
            case .success(let found): addresses = found
            case .failure(let e): return .failure(e)
            }
        }
        if settings.protection {
            for address in addresses {
                if let reason = AddressPolicy.blockReason(address, allowed: settings.allowedCIDRs) {
                    return .failure(GuardRefusal(.blockedAddress, "\(address) is \(reason)"))
                }
            }
        }
        guard let pinned = addresses.first else { return .failure(GuardRefusal(.dnsFailure, "no address")) }
        return .success(Verdict(url: url, addresses: addresses, pinned: pinned))
    }

    /// Fetches `raw` through the guard: each hop checked and pinned, redirects followed here (at
    /// most `maxRedirects`), retries with backoff inside the time budget, size capped on the
    /// declared length and on the bytes received. Nothing partial is ever returned.
    public static func fetch(
        _ raw: String, settings: GuardSettings, resolver: any Resolver = SystemResolver(),
        sleep: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }
    ) -> Result<Download, GuardRefusal> {
        let deadline = Clock.monotonicMillis() + settings.totalBudget * 1000
        func remaining() -> Double { (deadline - Clock.monotonicMillis()) / 1000 }
        var current = raw
        var redirects = 0
        var attempts = 0
        while true {
            let verdict: Verdict
            switch check(current, settings: settings, resolver: resolver) {
            case .success(let v): verdict = v
            case .failure(let e): return .failure(e)
            }
            var retry = 0
            var outcome: Result<Attempt, GuardRefusal>
            while true {
                attempts += 1
                let timeout = min(settings.attemptTimeout, remaining())
                guard timeout > 0.05 else {
                    return .failure(GuardRefusal(.timeout, "the download time budget (\(Int(settings.totalBudget)) s) ran out"))
                }
                outcome = perform(verdict, settings: settings, timeout: timeout)
                let retryable: Bool
                var wait = settings.initialRetryDelay * pow(2, Double(retry))
                switch outcome {
                case .success(let a) where [408, 425, 429].contains(a.status) || a.status >= 500:
                    retryable = true
                    if let after = a.retryAfter { wait = after }
                case .failure(let e) where e.code == .network || e.code == .timeout:
                    retryable = true
                default:
                    retryable = false
                }
                guard retryable, retry < settings.maxRetries else { break }
                guard wait < remaining() - 0.05 else { break }
                sleep(wait)
                retry += 1
            }
            let attempt: Attempt
            switch outcome {
            case .failure(let e): return .failure(e)
            case .success(let a): attempt = a
            }
            if (300...399).contains(attempt.status), let location = attempt.location {
                redirects += 1
                guard redirects <= settings.maxRedirects else {
                    return .failure(GuardRefusal(.tooManyRedirects, "more than \(settings.maxRedirects) redirects"))
                }
                current = resolveLocation(location, against: verdict.url)
                continue
            }
            guard (200...299).contains(attempt.status) else {
                return .failure(GuardRefusal(.upstreamStatus, "the server answered HTTP \(attempt.status)"))
            }
            return .success(
                Download(
                    finalURL: verdict.url.redacted, status: attempt.status, contentType: attempt.contentType,
                    body: attempt.body, attempts: attempts, redirects: redirects))
        }
    }

    static func resolveLocation(_ location: String, against base: GuardedURL) -> String {
        if location.contains("://") { return location }
        let origin = "\(base.scheme)://\(base.hostText)\(base.explicitPort ? ":\(base.port)" : "")"
        if location.hasPrefix("//") { return base.scheme + ":" + location }
        if location.hasPrefix("/") { return origin + location }
        let path = base.pathAndQuery.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        let directory = path.hasSuffix("/") ? path : String(path[...(path.lastIndex(of: "/") ?? path.startIndex)])
        return origin + directory + location
    }

    struct Attempt {
        let status: Int
        let contentType: String
        let location: String?
        let retryAfter: Double?
        let body: [UInt8]
    }
}
