import Crypto
import Support
import Testing

@testable import Cache

/// Signed entries read back only when written by us, for the same key and context.
@Suite struct SignedEntryTests {
    let macKey = Array(repeating: UInt8(7), count: 32)
    let key = CacheKey.connectionModels(4)

    func signed(_ value: String, key: CacheKey? = nil, context: String = "connection|4|https://a") -> String {
        let k = key ?? self.key
        return "ct2." + Cache.mac(k, context: context, value: value, macKey: macKey) + "." + value
    }

    func verify(_ stored: String, context: String = "connection|4|https://a", macKey: [UInt8]? = nil, maxBytes: Int = 1 << 20) -> String? {
        Cache.verify(stored, key: key, context: context, macKey: macKey ?? self.macKey, maxBytes: maxBytes)
    }

    @Test func anEntryWeWroteReadsBack() {
        #expect(verify(signed(#"{"names":["a"]}"#)) == #"{"names":["a"]}"#)
        #expect(verify(signed("")) == "")
        #expect(verify(signed("é.ct2.")) == "é.ct2.")
    }

    @Test func forgedEntriesAreRefused() {
        let good = signed("alpha")
        let forged = [
            good.replacingOccurrences(of: "alpha", with: "alphb"),  // value changed
            signed("alpha", key: .connectionModels(5)),  // copied from another key
            signed("alpha", context: "connection|4|https://evil"),  // bound to something else
            "ct2." + Cache.mac(key, context: "connection|4|https://a", value: "alpha", macKey: Array(repeating: 8, count: 32)) + ".alpha",
            good.uppercased(),
            "ct1." + good.dropFirst(4),
            String(good.dropLast(6)),  // no separator or value
            "ct2." + String(repeating: "0", count: 64) + ".alpha",
            #"{"names":["planted-model"],"mac":"00"}"#,  // version 1 / planted
            ""
        ]
        for stored in forged { #expect(verify(stored) == nil, "\(stored)") }
        #expect(verify(good, context: "connection|4|https://a|") == nil)
    }

    /// Context and key are length-prefixed: moving a separator between them changes the MAC.
    @Test func contextBoundariesCannotShift() {
        let a = Cache.mac(key, context: "x|y", value: "z", macKey: macKey)
        let b = Cache.mac(key, context: "x", value: "|yz", macKey: macKey)
        #expect(a != b)
    }

    @Test func oversizedEntriesAreRefused() {
        #expect(verify(signed(String(repeating: "a", count: 100)), maxBytes: 99) == nil)
        #expect(verify(signed(String(repeating: "a", count: 100)), maxBytes: 100) != nil)
    }

    @Test func shortMACKeysAreRefused() throws {
        let server = try RedisServer()
        let cache = Cache(endpoint: RedisEndpoint(address: .unix(path: server.socket)), health: CacheHealth { _ in })
        cache.setSigned(key, "v", context: "c", macKey: [], ttlSeconds: 60)
        #expect(cache.get(key) == nil)
        cache.setSigned(key, "v", context: "c", macKey: macKey, ttlSeconds: 60)
        #expect(cache.getSigned(key, context: "c", macKey: []) == nil)
        #expect(cache.getSigned(key, context: "c", macKey: macKey) == "v")
        // Someone with write access to Redis plants an entry: refused.
        cache.set(key, "ct2." + String(repeating: "a", count: 64) + ".planted", ttlSeconds: 60)
        #expect(cache.getSigned(key, context: "c", macKey: macKey) == nil)
    }
}
