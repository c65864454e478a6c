import Foundation

/// One structured JSON line per event on standard error. Field values are scrubbed by
/// `Redaction`, and callers never pass headers, cookies or bodies.
public enum Log {
    public enum Level: String, Sendable { case debug, info, warn, error }

    public static func event(_ level: Level, _ name: String, _ fields: [String: JSON] = [:]) {
        var record = fields.mapValues(scrubbed)
        record["ts"] = .string(timestamp())
        record["level"] = .string(level.rawValue)
        record["event"] = .string(name)
        let line = JSON.object(record).serialized() + "\n"
        // One write(2) per line keeps lines from different threads whole.
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { Foundation.write(2, $0.baseAddress, $0.count) }
    }

    static func scrubbed(_ value: JSON) -> JSON {
        switch value {
        case .string(let s): return .string(Redaction.scrub(s))
        case .array(let a): return .array(a.map(scrubbed))
        case .object(let o): return .object(o.mapValues(scrubbed))
        default: return value
        }
    }

    static func timestamp() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return timestamp(seconds: Int(tv.tv_sec), millis: Int(tv.tv_usec / 1000))
    }

    /// "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" in UTC, by hand: String(format:) cost more than the
    /// rest of a request's log line (callgrind, issue 14).
    static func timestamp(seconds: Int, millis: Int) -> String {
        var tm = tm()
        var t = time_t(seconds)
        gmtime_r(&t, &tm)
        var out = [UInt8]()
        out.reserveCapacity(24)
        func put(_ value: Int, _ width: Int, _ separator: UInt8) {
            var place = 1
            for _ in 1..<width { place *= 10 }
            var v = max(0, value)
            while v >= place * 10 { place *= 10 }  // wider than `width`: every digit, as %d prints it
            while place > 0 {
                out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v / place))
                v %= place
                place /= 10
            }
            out.append(separator)
        }
        put(Int(tm.tm_year) + 1900, 4, UInt8(ascii: "-"))
        put(Int(tm.tm_mon) + 1, 2, UInt8(ascii: "-"))
        put(Int(tm.tm_mday), 2, UInt8(ascii: "T"))
        put(Int(tm.tm_hour), 2, UInt8(ascii: ":"))
        put(Int(tm.tm_min), 2, UInt8(ascii: ":"))
        put(Int(tm.tm_sec), 2, UInt8(ascii: "."))
        put(millis, 3, UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
