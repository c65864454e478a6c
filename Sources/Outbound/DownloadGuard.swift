import CCurl
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
                    let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin_addr) { Array($0) } }
                    if let a = IPAddress(bytes: bytes), !out.contains(a) { out.append(a) }
                } else if n.pointee.ai_family == AF_INET6 {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) } }
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

    public init(protection: Bool, allowInsecureHTTP: Bool, insecureHosts: [String], allowedCIDRs: [CIDR], maxBytes: Int,
                maxRetries: Int, initialRetryDelay: Double, totalBudget: Double) {
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
            let allowed = settings.allowInsecureHTTP &&
                (settings.insecureHosts.contains(url.hostText) || settings.insecureHosts.contains(url.hostAndPort))
            if !allowed {
                return .failure(GuardRefusal(.insecureHTTPNotAllowed, "http is allowed only with ALLOW_INSECURE_HTTP and a host listed in ALLOW_INSECURE_HTTP_HOSTS"))
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
    public static func fetch(_ raw: String, settings: GuardSettings, resolver: any Resolver = SystemResolver(),
                             sleep: (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }) -> Result<Download, GuardRefusal> {
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
                guard timeout > 0.05 else { return .failure(GuardRefusal(.timeout, "the download time budget (\(Int(settings.totalBudget)) s) ran out")) }
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
            return .success(Download(finalURL: verdict.url.redacted, status: attempt.status, contentType: attempt.contentType,
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

    /// What one transfer's callbacks share; reached through libcurl's user pointers.
    final class Transfer {
        let pinned: IPAddress
        let settings: GuardSettings
        var body: [UInt8] = []
        var headers: [String: String] = [:]
        var refusal: GuardRefusal?
        init(pinned: IPAddress, settings: GuardSettings) {
            self.pinned = pinned
            self.settings = settings
        }
    }

    static func perform(_ verdict: Verdict, settings: GuardSettings, timeout: Double) -> Result<Attempt, GuardRefusal> {
        guard HTTPClient.initialized, let handle = curl_easy_init() else { return .failure(GuardRefusal(.network, "libcurl unavailable")) }
        defer { curl_easy_cleanup(handle) }
        let transfer = Transfer(pinned: verdict.pinned, settings: settings)
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }

        var resolveList: UnsafeMutablePointer<curl_slist>? = nil
        if case .name(let name) = verdict.url.host {
            let address = verdict.pinned.isIPv4 ? "\(verdict.pinned)" : "[\(verdict.pinned)]"
            resolveList = curl_slist_append(nil, "\(name):\(verdict.url.port):\(address)")
        }
        defer { curl_slist_free_all(resolveList) }

        _ = ccurl_setopt_string(handle, CURLOPT_URL, verdict.url.normalized)
        _ = ccurl_setopt_slist(handle, CURLOPT_RESOLVE, resolveList)
        _ = ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_setopt_string(handle, CURLOPT_PROXY, "")
        _ = ccurl_setopt_string(handle, CURLOPT_NOPROXY, "*")
        _ = ccurl_setopt_long(handle, CURLOPT_FORBID_REUSE, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_FRESH_CONNECT, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
        _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Int(min(timeout, 10) * 1000))
        _ = ccurl_setopt_string(handle, CURLOPT_USERAGENT, "CryoTensor-fetch/1")
        _ = ccurl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context.toOpaque())
        _ = ccurl_setopt_opensocket(handle) { clientp, purpose, address in
            // Last line of defence: whatever libcurl wants to connect to must be the checked address.
            guard let clientp, let address else { return CURL_SOCKET_BAD }
            let transfer = Unmanaged<Transfer>.fromOpaque(clientp).takeUnretainedValue()
            var raw = [UInt8](repeating: 0, count: 16)
            let family = ccurl_sockaddr_ip(address, &raw)
            let ip = family == AF_INET ? IPAddress(bytes: Array(raw.prefix(4))) : family == AF_INET6 ? IPAddress(bytes: raw) : nil
            guard let ip, ip == transfer.pinned else {
                transfer.refusal = GuardRefusal(.blockedAddress, "connection to an address that was not checked")
                return CURL_SOCKET_BAD
            }
            if transfer.settings.protection, let reason = AddressPolicy.blockReason(ip, allowed: transfer.settings.allowedCIDRs) {
                transfer.refusal = GuardRefusal(.blockedAddress, "\(ip) is \(reason)")
                return CURL_SOCKET_BAD
            }
            return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque())
        _ = ccurl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION) { data, size, count, clientp in
            guard let data, let clientp else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(clientp).takeUnretainedValue()
            let n = size * count
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
            if line.hasPrefix("HTTP/") { transfer.headers = [:]; return n }
            if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                transfer.headers[name] = value
                if name == "content-length", let length = Int(value), length > transfer.settings.maxBytes {
                    transfer.refusal = GuardRefusal(.tooLarge, "declared \(length) bytes, over the \(transfer.settings.maxBytes)-byte cap")
                    return 0
                }
            }
            return n
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque())
        _ = ccurl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, clientp in
            guard let data, let clientp else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(clientp).takeUnretainedValue()
            let n = size * count
            // Counted here: a chunked or lying body is cut off at the cap, whatever it declared.
            if transfer.body.count + n > transfer.settings.maxBytes {
                transfer.refusal = GuardRefusal(.tooLarge, "more than \(transfer.settings.maxBytes) bytes received")
                transfer.body = []
                return 0
            }
            transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: n))
            return n
        }
        let code = curl_easy_perform(handle)
        if let refusal = transfer.refusal { return .failure(refusal) }
        switch code {
        case CURLE_OK: break
        case CURLE_OPERATION_TIMEDOUT: return .failure(GuardRefusal(.timeout, "no complete answer within \(Int(timeout)) s"))
        case CURLE_COULDNT_RESOLVE_HOST: return .failure(GuardRefusal(.dnsFailure, "host not found"))
        case CURLE_UNSUPPORTED_PROTOCOL: return .failure(GuardRefusal(.schemeNotAllowed, "protocol refused"))
        default: return .failure(GuardRefusal(.network, String(cString: curl_easy_strerror(code))))
        }
        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        let retryAfter = transfer.headers["retry-after"].flatMap { Double($0) }.map { min(max($0, 0), 3600) }
        return .success(Attempt(status: status, contentType: transfer.headers["content-type"] ?? "application/octet-stream",
                                location: transfer.headers["location"], retryAfter: retryAfter, body: transfer.body))
    }
}
