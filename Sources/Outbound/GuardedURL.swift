import Support

/// Why a guarded fetch was refused or failed: the stable codes of SPEC section 6.
public struct GuardRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidURL = "invalid_url"
        case schemeNotAllowed = "scheme_not_allowed"
        case insecureHTTPNotAllowed = "insecure_http_not_allowed"
        case blockedAddress = "blocked_address"
        case dnsFailure = "dns_failure"
        case tooLarge = "too_large"
        case timeout
        case upstreamStatus = "upstream_status"
        case tooManyRedirects = "too_many_redirects"
        case network = "network_error"
    }
    public let code: Code
    public let reason: String
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { "\(code.rawValue): \(reason)" }
}

/// A URL as the guard understands it. The parser is strict on purpose: anything ambiguous
/// (userinfo, backslashes, control characters, whitespace, non-ASCII hosts, IPv4 written any way
/// but four plain decimal parts) is refused rather than guessed, so the address we check is the
/// address libcurl connects to.
public struct GuardedURL: Sendable, Equatable {
    public enum Host: Sendable, Equatable {
        case name(String)
        case address(IPAddress)
    }
    public let scheme: String
    public let host: Host
    public let hostText: String  // as it goes in the URL (brackets around IPv6)
    public let port: Int
    public let explicitPort: Bool
    public let pathAndQuery: String

    public static let maxLength = 8192

    /// The URL libcurl is given: rebuilt from the parsed parts, never the raw input.
    public var normalized: String {
        "\(scheme)://\(hostText)\(explicitPort ? ":\(port)" : "")\(pathAndQuery)"
    }

    /// For logs: no userinfo (there is none) and no query.
    public var redacted: String {
        let path = pathAndQuery.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        return "\(scheme)://\(hostText)\(explicitPort ? ":\(port)" : "")\(path)"
    }

    public var hostAndPort: String { "\(hostText):\(port)" }

    public static func parse(_ raw: String) -> Result<GuardedURL, GuardRefusal> {
        func refuse(_ why: String) -> Result<GuardedURL, GuardRefusal> { .failure(GuardRefusal(.invalidURL, why)) }
        guard !raw.isEmpty, raw.utf8.count <= maxLength else { return refuse("empty or longer than \(maxLength) bytes") }
        for scalar in raw.unicodeScalars {
            if scalar.value < 0x21 || scalar.value == 0x7F { return refuse("control character or whitespace") }
            if scalar == "\\" { return refuse("backslash") }
        }
        guard let sep = raw.range(of: "://") else {
            if raw.lowercased().hasPrefix("data:") || raw.contains(":") {
                return .failure(GuardRefusal(.schemeNotAllowed, "only https (and allowed http) URLs"))
            }
            return refuse("no scheme")
        }
        let scheme = raw[..<sep.lowerBound].lowercased()
        guard scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }), !scheme.isEmpty else {
            return refuse("malformed scheme")
        }
        guard scheme == "https" || scheme == "http" else {
            return .failure(GuardRefusal(.schemeNotAllowed, "scheme \(scheme) is not allowed"))
        }
        let rest = raw[sep.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var tail = String(rest[authorityEnd...])
        if let hash = tail.firstIndex(of: "#") { tail = String(tail[..<hash]) }
        if tail.isEmpty { tail = "/" } else if tail.hasPrefix("?") { tail = "/" + tail }
        guard tail.allSatisfy({ $0.isASCII }) else { return refuse("non-ASCII path (percent-encode it)") }
        if authority.contains("@") { return refuse("userinfo is not allowed") }
        guard !authority.isEmpty else { return refuse("empty host") }

        var hostPart = Substring(authority)
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return refuse("unclosed IPv6 bracket") }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { return refuse("junk after IPv6 address") }
        } else if let colon = authority.firstIndex(of: ":") {
            hostPart = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        let defaultPort = scheme == "https" ? 443 : 80
        var port = defaultPort
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
                let p = Int(portText), (1...65535).contains(p)
            else { return refuse("invalid port") }
            port = p
        }
        let explicit = port != defaultPort

        if authority.hasPrefix("[") {
            guard !hostPart.contains("%"), let address = IPAddress(String(hostPart)), !address.isIPv4 else {
                return refuse("invalid IPv6 address")
            }
            return .success(
                GuardedURL(
                    scheme: scheme, host: .address(address), hostText: "[\(address)]", port: port,
                    explicitPort: explicit, pathAndQuery: tail))
        }
        var host = hostPart.lowercased()
        guard host.allSatisfy({ $0.isASCII }) else { return refuse("non-ASCII host (use its xn-- form)") }
        if host.hasSuffix(".") { host.removeLast() }
        guard !host.isEmpty, host.count <= 253 else { return refuse("empty or too long host") }
        // Anything made only of digits, dots and hex markers is an IPv4 attempt: four decimal parts or nothing.
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let looksNumeric = labels.last.map { $0.allSatisfy { $0.isNumber } || $0.hasPrefix("0x") } ?? false
        if looksNumeric || host.allSatisfy({ $0.isNumber || $0 == "." }) {
            guard labels.count == 4,
                labels.allSatisfy({ label in
                    !label.isEmpty && label.count <= 3 && label.allSatisfy(\.isNumber) && (label == "0" || !label.hasPrefix("0"))
                        && (Int(label) ?? 256) <= 255
                }), let address = IPAddress(host)
            else { return refuse("IPv4 addresses must be four decimal parts (no octal, hex or short forms)") }
            return .success(
                GuardedURL(scheme: scheme, host: .address(address), hostText: host, port: port, explicitPort: explicit, pathAndQuery: tail))
        }
        for label in labels {
            guard !label.isEmpty, label.count <= 63, label.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }),
                !label.hasPrefix("-"), !label.hasSuffix("-")
            else { return refuse("invalid host name") }
        }
        return .success(
            GuardedURL(scheme: scheme, host: .name(host), hostText: host, port: port, explicitPort: explicit, pathAndQuery: tail))
    }
}
