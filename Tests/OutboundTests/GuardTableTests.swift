import Support
import Testing

@testable import Outbound

/// A resolver with fixed answers: tests never touch real DNS or the network.
struct TableResolver: Resolver {
    let answers: [String: [String]]
    func resolve(_ host: String, port: Int) -> Result<[IPAddress], GuardRefusal> {
        guard let list = answers[host] else { return .failure(GuardRefusal(.dnsFailure, "\(host) does not resolve")) }
        return .success(list.compactMap(IPAddress.init))
    }
}

let resolver = TableResolver(answers: [
    "public.test": ["93.184.216.34"], "allowed.test": ["93.184.216.34"], "mirror.test": ["93.184.216.35"],
    "private.test": ["10.0.0.5"], "metadata.test": ["169.254.169.254"], "mixed.test": ["93.184.216.34", "127.0.0.1"],
    "v6private.test": ["fd00::1"], "v6public.test": ["2606:4700::1111"], "xn--bcher-kva.test": ["93.184.216.34"],
    "mapped.test": ["::ffff:192.168.0.1"], "cgnat.test": ["100.100.100.100"]
])

func guardSettings(protection: Bool = true, cidrs: [String] = []) -> GuardSettings {
    GuardSettings(
        protection: protection, allowInsecureHTTP: true, insecureHosts: ["allowed.test", "mirror.test:8080"],
        allowedCIDRs: cidrs.compactMap(CIDR.init), maxBytes: 1 << 20, maxRetries: 0, initialRetryDelay: 1, totalBudget: 5)
}

func verdict(_ url: String, _ settings: GuardSettings = guardSettings()) -> String {
    switch DownloadGuard.check(url, settings: settings, resolver: resolver) {
    case .success: return "allowed"
    case .failure(let r): return r.code.rawValue
    }
}

@Suite struct GuardTableTests {
    static let rows: [(String, String)] = [
        // Allowed.
        ("https://public.test/", "allowed"), ("https://public.test:8443/x?y=1", "allowed"), ("https://93.184.216.34/", "allowed"),
        ("https://[2606:4700::1111]/", "allowed"), ("https://PUBLIC.test./path", "allowed"), ("https://public.test/#frag", "allowed"),
        ("HtTpS://public.test/", "allowed"), ("https://v6public.test/", "allowed"), ("https://xn--bcher-kva.test/", "allowed"),
        ("https://[64:ff9b::5db8:d822]/", "allowed"), ("https://[2002:5db8:d822::1]/", "allowed"), ("https://public.test?q=1", "allowed"),
        ("http://allowed.test/", "allowed"), ("http://allowed.test:8080/x", "allowed"), ("http://mirror.test:8080/", "allowed"),
        // Loopback, private and every other special-purpose IPv4 range.
        ("https://127.0.0.1/", "blocked_address"), ("https://127.1.2.3/", "blocked_address"),
        ("https://127.255.255.254:8443/", "blocked_address"),
        ("https://10.0.0.1/", "blocked_address"), ("https://10.255.255.255/", "blocked_address"),
        ("https://172.16.0.1/", "blocked_address"),
        ("https://172.31.255.255/", "blocked_address"), ("https://192.168.1.1/", "blocked_address"),
        ("https://169.254.169.254/latest/meta-data/", "blocked_address"),
        ("https://100.64.0.1/", "blocked_address"), ("https://100.127.255.255/", "blocked_address"),
        ("https://0.0.0.0/", "blocked_address"),
        ("https://0.1.2.3/", "blocked_address"), ("https://192.0.0.1/", "blocked_address"), ("https://192.0.2.1/", "blocked_address"),
        ("https://198.51.100.1/", "blocked_address"), ("https://203.0.113.1/", "blocked_address"),
        ("https://192.88.99.1/", "blocked_address"),
        ("https://198.18.0.1/", "blocked_address"), ("https://198.19.255.255/", "blocked_address"),
        ("https://224.0.0.1/", "blocked_address"),
        ("https://239.255.255.250/", "blocked_address"), ("https://240.0.0.1/", "blocked_address"),
        ("https://255.255.255.255/", "blocked_address"),
        // IPv6 ranges and IPv4 hidden inside IPv6.
        ("https://[::1]/", "blocked_address"), ("https://[::]/", "blocked_address"), ("https://[::ffff:127.0.0.1]/", "blocked_address"),
        ("https://[::ffff:7f00:1]/", "blocked_address"), ("https://[::ffff:169.254.169.254]/", "blocked_address"),
        ("https://[::127.0.0.1]/", "blocked_address"),
        ("https://[::a00:1]/", "blocked_address"), ("https://[::ffff:0:a00:1]/", "blocked_address"),
        ("https://[64:ff9b::7f00:1]/", "blocked_address"),
        ("https://[64:ff9b::a9fe:a9fe]/", "blocked_address"), ("https://[64:ff9b:1::1]/", "blocked_address"),
        ("https://[2002:7f00:1::1]/", "blocked_address"),
        ("https://[2002:a9fe:a9fe::1]/", "blocked_address"), ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "blocked_address"),
        ("https://[2001:0:4136:e378:8000:63bf:a2ff:fffe]/", "blocked_address"), ("https://[2001:db8::1]/", "blocked_address"),
        ("https://[fc00::1]/", "blocked_address"), ("https://[fd00:ec2::254]/", "blocked_address"),
        ("https://[fe80::1]/", "blocked_address"),
        ("https://[fec0::1]/", "blocked_address"), ("https://[ff02::1]/", "blocked_address"), ("https://[100::1]/", "blocked_address"),
        ("https://[2001:10::1]/", "blocked_address"), ("https://[2001:20::1]/", "blocked_address"),
        ("https://[3fff::1]/", "blocked_address"),
        ("https://[5f00::1]/", "blocked_address"), ("https://[0:0:0:0:0:ffff:7f00:0001]/", "blocked_address"),
        // Names that lead inside.
        ("https://localhost/", "blocked_address"), ("https://LOCALHOST/", "blocked_address"), ("https://foo.localhost/", "blocked_address"),
        ("https://localhost./", "blocked_address"), ("https://private.test/", "blocked_address"),
        ("https://metadata.test/", "blocked_address"),
        ("https://mixed.test/", "blocked_address"), ("https://v6private.test/", "blocked_address"),
        ("https://mapped.test/", "blocked_address"),
        ("https://cgnat.test/", "blocked_address"),
        // Ambiguous IPv4 spellings and parser confusions: refused, not guessed.
        ("https://2130706433/", "invalid_url"), ("https://0x7f.0.0.1/", "invalid_url"), ("https://0x7f000001/", "invalid_url"),
        ("https://017700000001/", "invalid_url"), ("https://0177.0.0.1/", "invalid_url"), ("https://0127.0.0.1/", "invalid_url"),
        ("https://127.1/", "invalid_url"), ("https://127.0.1/", "invalid_url"), ("https://127.000.000.001/", "invalid_url"),
        ("https://1.1.1.1.1/", "invalid_url"), ("https://256.0.0.1/", "invalid_url"), ("https://0x7f.1/", "invalid_url"),
        ("https://user@public.test/", "invalid_url"), ("https://user:pass@public.test/", "invalid_url"),
        ("https://public.test@127.0.0.1/", "invalid_url"),
        ("https://1.1.1.1\\@127.0.0.1/", "invalid_url"), ("https://public.test\\@127.0.0.1/", "invalid_url"),
        ("https:// public.test/", "invalid_url"),
        ("https://public.test /", "invalid_url"), ("https://pub\tlic.test/", "invalid_url"), ("https://public.test/\n", "invalid_url"),
        ("https://public.test/\u{0}", "invalid_url"), ("https://\u{2460}\u{2461}\u{2466}.\u{24EA}.\u{24EA}.\u{2460}/", "invalid_url"),
        ("https://\u{24DB}\u{24DE}\u{24D2}\u{24D0}\u{24DB}\u{24D7}\u{24DE}\u{24E2}\u{24E3}/", "invalid_url"),
        ("https://\u{FF4C}\u{FF4F}\u{FF43}\u{FF41}\u{FF4C}\u{FF48}\u{FF4F}\u{FF53}\u{FF54}/", "invalid_url"),
        ("https://bücher.test/", "invalid_url"),
        ("https:///path", "invalid_url"), ("https://", "invalid_url"), ("https://:443/", "invalid_url"),
        ("https://public.test:0/", "invalid_url"),
        ("https://public.test:65536/", "invalid_url"), ("https://public.test:-1/", "invalid_url"),
        ("https://public.test:80a/", "invalid_url"),
        ("https://public.test:/", "invalid_url"), ("https://[::1/", "invalid_url"), ("https://[fe80::1%25eth0]/", "invalid_url"),
        ("https://[127.0.0.1]/", "invalid_url"), ("https://-bad.test/", "invalid_url"), ("https://bad-.test/", "invalid_url"),
        ("https://a..b.test/", "invalid_url"), ("public.test/path", "invalid_url"), ("//public.test/", "invalid_url"),
        ("1.1.1.1/", "invalid_url"),
        ("", "invalid_url"), ("https://public.test/caf\u{E9}", "invalid_url"), ("https://under_score.test/", "invalid_url"),
        // Schemes other than http(s), whatever libcurl could speak.
        ("ftp://public.test/", "scheme_not_allowed"), ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://public.test:70/", "scheme_not_allowed"),
        ("dict://127.0.0.1:6379/info", "scheme_not_allowed"), ("ldap://public.test/", "scheme_not_allowed"),
        ("data:text/plain,hi", "scheme_not_allowed"),
        ("javascript:alert(1)", "scheme_not_allowed"), ("ws://public.test/", "scheme_not_allowed"),
        ("sftp://public.test/", "scheme_not_allowed"),
        ("tftp://public.test/", "scheme_not_allowed"), ("smb://public.test/share", "scheme_not_allowed"),
        ("telnet://public.test/", "scheme_not_allowed"),
        // Plain http only to listed hosts.
        ("http://public.test/", "insecure_http_not_allowed"), ("http://93.184.216.34/", "insecure_http_not_allowed"),
        ("http://mirror.test/", "insecure_http_not_allowed"), ("http://127.0.0.1/", "insecure_http_not_allowed"),
        ("http://mirror.test:8081/", "insecure_http_not_allowed"),
        // Names that do not resolve.
        ("https://nx.test/", "dns_failure"), ("https://unknown.example/", "dns_failure")
    ]

    @Test func everyRowGetsItsCode() {
        #expect(Self.rows.count >= 100)
        for (url, expected) in Self.rows {
            #expect(verdict(url) == expected, "\(url.debugDescription)")
        }
    }

    @Test func operatorAllowListOpensOnlyNamedRanges() {
        let settings = guardSettings(cidrs: ["10.9.0.0/16"])
        #expect(verdict("https://10.9.1.1/", settings) == "allowed")
        #expect(verdict("https://[::ffff:10.9.1.1]/", settings) == "allowed")
        #expect(verdict("https://10.10.0.1/", settings) == "blocked_address")
        #expect(verdict("https://127.0.0.1/", settings) == "blocked_address")
    }

    @Test func withProtectionOffSchemeRulesStillApply() {
        let off = guardSettings(protection: false)
        #expect(verdict("https://127.0.0.1/", off) == "allowed")
        #expect(verdict("https://private.test/", off) == "allowed")
        #expect(verdict("ftp://127.0.0.1/", off) == "scheme_not_allowed")
        #expect(verdict("http://127.0.0.1/", off) == "insecure_http_not_allowed")
        #expect(verdict("https://2130706433/", off) == "invalid_url")
    }

    @Test func redactedFormDropsQuery() throws {
        let url = try GuardedURL.parse("https://Public.test:8443/a/b?token=secret#x").get()
        #expect(url.redacted == "https://public.test:8443/a/b")
        #expect(url.normalized == "https://public.test:8443/a/b?token=secret")
    }
}

/// IANA's special-purpose address registries (IPv4 and IPv6), entries that are not globally
/// reachable, plus multicast: the first, a middle and the last address of each must be refused.
@Suite struct IANARegistryTests {
    static let notGloballyReachable = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.0.0/29", "192.0.0.8/32", "192.0.0.170/32", "192.0.0.171/32", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32", "224.0.0.0/4",
        "::1/128", "::/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001::/32", "2001:2::/48",
        "2001:db8::/32", "2001:10::/28", "2002::/16", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "ff00::/8"
    ]

    static func addresses(in cidr: CIDR) -> [IPAddress] {
        let first = cidr.network.bytes
        var last = first
        var middle = first
        for i in 0..<last.count {
            let hostBits = max(0, min(8, (i + 1) * 8 - cidr.prefixLength))
            let mask = UInt8(truncatingIfNeeded: (1 << hostBits) - 1)
            last[i] |= mask
            if i == last.count - 1 { middle[i] |= mask & 0x55 }
        }
        return [first, middle, last].compactMap { IPAddress(bytes: $0) }
    }

    @Test func everyNonGlobalRegistryEntryIsBlocked() throws {
        for entry in Self.notGloballyReachable {
            let cidr = try #require(CIDR(entry))
            for address in Self.addresses(in: cidr) {
                // 6to4 and NAT64 forms of public addresses are public; the registry entries' own
                // edges embed 0.0.0.0 or 255.255.255.255, which are blocked.
                #expect(AddressPolicy.blockReason(address) != nil, "\(address) in \(entry)")
            }
        }
    }

    @Test func globalAddressesAreNotBlocked() throws {
        for text in [
            "1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.32.0.0", "192.0.1.1", "2606:4700::1111",
            "2a00:1450:4001::1", "64:ff9b::808:808", "2002:808:808::1"
        ] {
            let address = try #require(IPAddress(text))
            #expect(AddressPolicy.blockReason(address) == nil, "\(text)")
        }
    }
}
