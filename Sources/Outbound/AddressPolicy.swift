import Support

/// Which addresses a guarded download may reach (SPEC section 6, REFERENCE-SSRF.md): every
/// special-purpose range of IANA's IPv4 and IPv6 registries that is not globally reachable, and
/// IPv6 forms that embed an IPv4 address (mapped, compatible, translated, NAT64, 6to4, Teredo),
/// which are judged by the address they carry.
public enum AddressPolicy {
    public struct Range: Sendable {
        public let cidr: CIDR
        public let name: String
    }

    static func r(_ text: String, _ name: String) -> Range {
        guard let cidr = CIDR(text) else { preconditionFailure("bad built-in range \(text)") }
        return Range(cidr: cidr, name: name)
    }

    public static let blockedIPv4: [Range] = [
        r("0.0.0.0/8", "this network"), r("10.0.0.0/8", "private"), r("100.64.0.0/10", "shared address space"),
        r("127.0.0.0/8", "loopback"), r("169.254.0.0/16", "link-local"), r("172.16.0.0/12", "private"),
        r("192.0.0.0/24", "IETF protocol assignments"), r("192.0.2.0/24", "documentation"),
        r("192.88.99.0/24", "6to4 relay anycast"), r("192.168.0.0/16", "private"), r("198.18.0.0/15", "benchmarking"),
        r("198.51.100.0/24", "documentation"), r("203.0.113.0/24", "documentation"), r("224.0.0.0/4", "multicast"),
        r("240.0.0.0/4", "reserved"), r("255.255.255.255/32", "limited broadcast")
    ]

    public static let blockedIPv6: [Range] = [
        r("::/128", "unspecified"), r("::1/128", "loopback"), r("100::/64", "discard-only"),
        r("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"), r("2001::/23", "IETF protocol assignments"),
        r("2001:db8::/32", "documentation"), r("3fff::/20", "documentation"), r("5f00::/16", "segment routing"),
        r("fc00::/7", "unique local"), r("fe80::/10", "link-local"), r("fec0::/10", "site-local (deprecated)"),
        r("ff00::/8", "multicast")
    ]

    /// The IPv4 address an IPv6 address carries, and the form it uses, if any.
    public static func embeddedIPv4(_ a: IPAddress) -> (IPAddress, String)? {
        let b = a.bytes
        guard b.count == 16 else { return nil }
        func v4(_ s: ArraySlice<UInt8>) -> IPAddress? { IPAddress(bytes: Array(s)) }
        let firstTen = b[0..<10].allSatisfy { $0 == 0 }
        if firstTen && b[10] == 0xFF && b[11] == 0xFF { return v4(b[12..<16]).map { ($0, "IPv4-mapped") } }
        if b[0..<8].allSatisfy({ $0 == 0 }) && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0 {
            return v4(b[12..<16]).map { ($0, "IPv4-translated") }
        }
        if b[0..<12].allSatisfy({ $0 == 0 }) {
            // ::/96 IPv4-compatible (deprecated); :: and ::1 are judged as themselves.
            if b[12..<15].allSatisfy({ $0 == 0 }) && (b[15] == 0 || b[15] == 1) { return nil }
            return v4(b[12..<16]).map { ($0, "IPv4-compatible") }
        }
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xFF, b[3] == 0x9B, b[4..<12].allSatisfy({ $0 == 0 }) {
            return v4(b[12..<16]).map { ($0, "NAT64") }
        }
        if b[0] == 0x20, b[1] == 0x02 { return v4(b[2..<6]).map { ($0, "6to4") } }
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0, b[3] == 0 {
            // Teredo: the client's IPv4 address is the last 32 bits, inverted.
            return IPAddress(bytes: b[12..<16].map { ~$0 }).map { ($0, "Teredo") }
        }
        return nil
    }

    /// Why `address` must not be reached, or nil when it may be. The operator's allow-list wins.
    public static func blockReason(_ address: IPAddress, allowed: [CIDR] = []) -> String? {
        if allowed.contains(where: { $0.contains(address) }) { return nil }
        if address.isIPv4 {
            return blockedIPv4.first { $0.cidr.contains(address) }.map { "\($0.name) (\($0.cidr))" }
        }
        if let (inner, form) = embeddedIPv4(address) {
            if allowed.contains(where: { $0.contains(inner) }) { return nil }
            if let reason = blockReason(inner) { return "\(form) address embedding \(inner): \(reason)" }
            if form == "Teredo" { return "Teredo tunnel (2001::/32)" }
        }
        return blockedIPv6.first { $0.cidr.contains(address) }.map { "\($0.name) (\($0.cidr))" }
    }
}
