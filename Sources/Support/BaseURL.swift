import Foundation

/// The normal form of an upstream base URL (SPEC section 5): lower-case scheme and host, no default
/// port, no trailing slash, and no userinfo, query or fragment (those are refused, not dropped).
public enum BaseURL {
    public enum Problem: String, Error, Sendable { case malformed, scheme, userinfo, queryOrFragment, host, port }

    public static func normalize(_ raw: String) -> Result<String, Problem> {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let isControl = { (c: Character) in c.asciiValue.map { $0 < 0x20 || $0 == 0x7F } ?? false }
        guard !text.isEmpty, !text.contains(where: { $0.isWhitespace || $0 == "\\" || isControl($0) }) else {
            return .failure(.malformed)
        }
        guard let sep = text.range(of: "://") else { return .failure(.malformed) }
        let scheme = text[..<sep.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { return .failure(.scheme) }
        let rest = text[sep.upperBound...]
        if rest.contains("?") || rest.contains("#") { return .failure(.queryOrFragment) }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if authority.contains("@") { return .failure(.userinfo) }
        var host: String
        var port: Int? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return .failure(.host) }
            host = String(authority[...close])
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { return .failure(.port) }
                port = p
            } else if !after.isEmpty {
                return .failure(.host)
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            let portText = authority[authority.index(after: colon)...]
            guard !portText.isEmpty, portText.allSatisfy(\.isNumber), let p = Int(portText), (1...65535).contains(p) else {
                return .failure(.port)
            }
            port = p
        } else {
            host = String(authority)
        }
        host = host.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        // Brackets and colons belong to an IPv6 literal only: elsewhere the next pass would read them as a
        // port. A second trailing dot is an empty label. Either way the result would not be a fixed point.
        let literal = authority.hasPrefix("[") ? "[]:" : ""
        guard !host.isEmpty, !host.hasSuffix("."),
            host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.".contains($0) || literal.contains($0)) })
        else {
            return .failure(.host)
        }
        if (scheme == "https" && port == 443) || (scheme == "http" && port == 80) { port = nil }
        while path.hasSuffix("/") { path.removeLast() }
        return .success("\(scheme)://\(host)\(port.map { ":\($0)" } ?? "")\(path)")
    }
}
