/// systemd's `EnvironmentFile=` syntax, so operator commands read exactly what the service gets:
/// `KEY=VALUE` lines; lines starting with `#` or `;` and blank lines are skipped; a value may be
/// wrapped in single or double quotes; a `#` inside a value is part of it (as systemd reads it);
/// a trailing backslash continues the line.
public enum EnvironmentFile {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let line: Int
        public let reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    public static func parse(_ text: String) throws(Failure) -> [String: String] {
        var values: [String: String] = [:]
        var pending = ""
        var pendingStart = 0
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if pending.isEmpty { pendingStart = index + 1 }
            if line.hasSuffix("\\") {
                pending += line.dropLast()
                continue
            }
            line = pending + line
            pending = ""
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw Failure(line: pendingStart, reason: "expected KEY=VALUE")
            }
            let key = trimmed[..<eq].trimmingCharacters(in: " \t")
            guard let first = key.first, first.isLetter || first == "_",
                key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
            else {
                throw Failure(line: pendingStart, reason: "'\(key)' is not a variable name")
            }
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: " \t")
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        return values
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
