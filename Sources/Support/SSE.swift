/// Splits a server-sent event stream into `data:` payloads as bytes arrive in arbitrary chunks.
/// Each byte is looked at once (a provider sending one huge event cannot make it quadratic), and
/// a line or an event over its cap stops the parser with `overflowed` set.
public struct SSEDataParser: Sendable {
    public let maxLineBytes: Int
    public let maxEventBytes: Int
    /// True once a line or an event went over its cap; nothing more is parsed after that.
    public private(set) var overflowed = false
    var line: [UInt8] = []
    var pending: [String] = []
    var pendingBytes = 0

    public init(maxLineBytes: Int = 8 << 20, maxEventBytes: Int = 8 << 20) {
        self.maxLineBytes = maxLineBytes
        self.maxEventBytes = maxEventBytes
    }

    /// Feeds bytes; returns the complete `data:` payloads found (multi-line data joined by "\n").
    public mutating func feed(_ bytes: [UInt8]) -> [String] {
        guard !overflowed else { return [] }
        var payloads: [String] = []
        var start = bytes.startIndex
        while let newline = bytes[start...].firstIndex(of: 0x0A) {
            guard line.count + (newline - start) <= maxLineBytes else { overflowed = true; return payloads }
            line.append(contentsOf: bytes[start..<newline])
            start = newline + 1
            if let payload = finishLine() { payloads.append(payload) }
            if overflowed { return payloads }
        }
        guard line.count + (bytes.endIndex - start) <= maxLineBytes else { overflowed = true; return payloads }
        line.append(contentsOf: bytes[start...])
        return payloads
    }

    /// Handles the complete line in `line`; returns a payload when it ended an event.
    mutating func finishLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.last == 0x0D { line.removeLast() }
        if line.isEmpty {
            guard !pending.isEmpty else { return nil }
            defer { pending = []; pendingBytes = 0 }
            return pending.joined(separator: "\n")
        }
        guard line.starts(with: Self.dataField) else { return nil }
        var value = line.dropFirst(Self.dataField.count)
        if value.first == 0x20 { value = value.dropFirst() }
        pendingBytes += value.count + 1
        guard pendingBytes <= maxEventBytes else { overflowed = true; return nil }
        pending.append(String(decoding: value, as: UTF8.self))
        return nil
    }

    static let dataField: [UInt8] = Array("data:".utf8)
}
