/// A FastCGI request copied into Swift: parameters and body stay valid after libfcgi frees its buffers.
public struct Request: Sendable {
    public let params: [String: String]
    public let body: [UInt8]
    /// Set when CONTENT_LENGTH exceeded the body limit; the body was not read.
    public let bodyTooLarge: Bool

    public init(params: [String: String], body: [UInt8] = [], bodyTooLarge: Bool = false) {
        self.params = params
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }

    public var method: String { params["REQUEST_METHOD"] ?? "GET" }

    /// The path part of REQUEST_URI, percent-encoding left as sent.
    public var path: String {
        let uri = params["REQUEST_URI"] ?? params["DOCUMENT_URI"] ?? "/"
        if let q = uri.firstIndex(of: "?") { return String(uri[..<q]) }
        return uri
    }

    public var query: String { params["QUERY_STRING"] ?? "" }

    /// Request header by its HTTP name (`Content-Type`, `X-CSRF-Token`).
    public func header(_ name: String) -> String? {
        let key = name.uppercased().replacingOccurrences(of: "-", with: "_")
        if key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" { return params[key] }
        return params["HTTP_" + key]
    }

    /// The cookie's value when it was sent exactly once. Two cookies of one name (a sibling
    /// subdomain can plant a second one) are ambiguous, and ambiguity is answered with nothing.
    public func cookie(_ name: String) -> String? {
        let values = cookies(name)
        return values.count == 1 ? values[0] : nil
    }

    /// Every value sent under `name`, in order.
    public func cookies(_ name: String) -> [String] {
        guard let header = header("Cookie") else { return [] }
        var values: [String] = []
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: " ")
            if let eq = pair.firstIndex(of: "="), pair[..<eq] == name {
                values.append(String(pair[pair.index(after: eq)...]))
            }
        }
        return values
    }

    public func queryItem(_ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.first.map({ percentDecode(String($0)) }) == name {
                return parts.count > 1 ? percentDecode(String(parts[1])) : ""
            }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return s
    }
}

/// UInt8(_:radix:) alone would also take a sign: "%+1" must stay as sent, not become byte 1.
private func isHexDigit(_ c: UInt8) -> Bool {
    (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c)
}

/// Decodes %XX and '+' in a query component; invalid escapes are kept as sent.
public func percentDecode(_ text: String) -> String {
    var out: [UInt8] = []
    let bytes = Array(text.utf8)
    var i = 0
    while i < bytes.count {
        let c = bytes[i]
        if c == UInt8(ascii: "+") {
            out.append(0x20)
        } else if c == UInt8(ascii: "%"), i + 2 < bytes.count, bytes[i + 1...i + 2].allSatisfy(isHexDigit),
            let v = UInt8(String(decoding: bytes[i + 1...i + 2], as: UTF8.self), radix: 16)
        {
            out.append(v)
            i += 2
        } else {
            out.append(c)
        }
        i += 1
    }
    return String(decoding: out, as: UTF8.self)
}
