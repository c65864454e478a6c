import Foundation

/// The FastCGI peers (web servers) a TCP listener accepts. Any peer that can connect can set
/// REMOTE_ADDR and HTTPS, so the default is loopback only.
///
/// libfcgi 2.4.2 (Debian 12) enforces FCGI_WEB_SERVER_ADDRS before a request is read, but only for
/// AF_INET peers (measured: a ::1 peer of a socket spawn-fcgi bound to ::1 was answered), so the
/// server checks the others, IPv4-mapped ones included, itself after accept.
public struct PeerAllowList: Sendable, Equatable {
    /// The addresses in canonical text form (inet_ntop), in the order given.
    public let addresses: [String]
    let ipv4: Set<[UInt8]>
    let ipv6: Set<[UInt8]>

    public static let environmentVariable = "FCGI_WEB_SERVER_ADDRS"
    public static let loopback = PeerAllowList(valid: ["127.0.0.1", "::1"])

    /// Parses `ADDR[,ADDR...]`; every entry must be an IPv4 or IPv6 address (no names, no ranges).
    public init(parsing text: String) throws(FastCGIError) {
        var valid: [String] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = raw.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty else { throw FastCGIError("empty entry in '\(text)'") }
            guard Self.bytes(of: entry) != nil else {
                throw FastCGIError("'\(entry)' is not an IP address (expected IPv4 or IPv6 addresses, comma separated)")
            }
            valid.append(entry)
        }
        self.init(valid: valid)
    }

    /// An operator's own FCGI_WEB_SERVER_ADDRS, kept as libfcgi reads it; entries that are not
    /// addresses match nothing there, so they are dropped here. nil when empty: libfcgi then
    /// accepts every peer, and so does the server.
    public init?(environmentValue text: String) {
        guard !text.isEmpty else { return nil }
        self.init(valid: text.split(separator: ",").map { String($0) }.filter { Self.bytes(of: $0) != nil })
    }

    init(valid entries: [String]) {
        var v4 = Set<[UInt8]>(), v6 = Set<[UInt8]>(), canonical: [String] = []
        for entry in entries {
            guard let (family, bytes) = Self.bytes(of: entry) else { continue }
            if family == AF_INET { v4.insert(bytes) } else { v6.insert(bytes) }
            canonical.append(Self.text(family: family, bytes: bytes) ?? entry)
        }
        addresses = canonical
        ipv4 = v4
        ipv6 = v6
    }

    /// The value handed to libfcgi: canonical addresses without spaces (libfcgi compares each entry
    /// with inet_addr, which does not match " 127.0.0.1").
    public var environmentValue: String { addresses.joined(separator: ",") }

    /// Whether the peer of a connected socket may speak to us; false when it cannot be read.
    func allowsPeer(of fd: Int32) -> (allowed: Bool, peer: String) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok =
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
            } == 0
        guard ok else { return (false, "unknown") }
        switch Int32(storage.ss_family) {
        case AF_UNIX:
            return (true, "unix")
        case AF_INET:
            let in4 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            let address = withUnsafeBytes(of: in4.sin_addr) { Array($0) }
            return (ipv4.contains(address), Self.text(family: AF_INET, bytes: address) ?? "?")
        case AF_INET6:
            let in6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            let address = withUnsafeBytes(of: in6.sin6_addr) { Array($0) }
            let text = Self.text(family: AF_INET6, bytes: address) ?? "?"
            // ::ffff:a.b.c.d is an IPv4 peer on a dual-stack socket: judge it by the IPv4 list.
            if address.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
                return (ipv4.contains(Array(address.suffix(4))), text)
            }
            return (ipv6.contains(address), text)
        default:
            return (false, "family \(storage.ss_family)")
        }
    }

    static func bytes(of text: String) -> (Int32, [UInt8])? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return (AF_INET, withUnsafeBytes(of: v4) { Array($0) }) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return (AF_INET6, withUnsafeBytes(of: v6) { Array($0) }) }
        return nil
    }

    static func text(family: Int32, bytes: [UInt8]) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let done = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        guard done != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension ListenAddress {
    /// True for a TCP listener: --listen HOST:PORT, or a TCP socket inherited on fd 0 (spawn-fcgi -a/-p).
    public var isTCP: Bool {
        switch self {
        case .tcp: return true
        case .unix: return false
        case .inherited:
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let ok =
                withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(0, $0, &length) }
                } == 0
            return ok && (Int32(storage.ss_family) == AF_INET || Int32(storage.ss_family) == AF_INET6)
        }
    }
}
