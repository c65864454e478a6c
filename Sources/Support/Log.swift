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
        var tm = tm()
        var seconds = tv.tv_sec
        gmtime_r(&seconds, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, Int(tv.tv_usec / 1000))
    }
}
