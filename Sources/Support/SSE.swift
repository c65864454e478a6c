/// Splits a server-sent event stream into `data:` payloads as bytes arrive in arbitrary chunks.
public struct SSEDataParser: Sendable {
    var buffer: [UInt8] = []
    public init() {}

    /// Feeds bytes; returns the complete `data:` payloads found (multi-line data joined by "\n").
    public mutating func feed(_ bytes: [UInt8]) -> [String] {
        buffer.append(contentsOf: bytes)
        var payloads: [String] = []
        var pending: [String] = []
        var consumed = 0
        var lineStart = 0
        var i = 0
        while i < buffer.count {
            if buffer[i] == 0x0A {
                var line = Array(buffer[lineStart..<i])
                if line.last == 0x0D { line.removeLast() }
                lineStart = i + 1
                if line.isEmpty {
                    if !pending.isEmpty { payloads.append(pending.joined(separator: "\n")); pending = [] }
                    consumed = lineStart
                } else if line.starts(with: Array("data:".utf8)) {
                    var value = Array(line.dropFirst(5))
                    if value.first == 0x20 { value.removeFirst() }
                    pending.append(String(decoding: value, as: UTF8.self))
                }
            }
            i += 1
        }
        // Keep the unfinished event (its lines are re-read next time).
        buffer.removeFirst(consumed)
        return payloads
    }
}
