/// Writes JSON straight into a byte buffer, for answers made of many rows (chat lists and
/// histories): the same bytes `JSON.serialized()` makes for the same values, without building a
/// tree of dictionaries first. `JSON` sorts object keys; callers here write them in that order.
public struct JSONWriter {
    public internal(set) var bytes: [UInt8]

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Punctuation and keys, copied as they are: only for text that needs no escaping.
    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func null() { raw("null") }

    /// An integer as `JSON.number(Double(value))` writes it: below 9e15 as a double (exact
    /// there, so the value's own digits), anything else in Double's spelling (`number`).
    public mutating func int(_ value: Int64) {
        guard abs(Double(value)) < 9.0e15 else {
            number(Double(value))
            return
        }
        bytes.appendDecimal(value)
    }

    public mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { string(utf8: $0) }
    }

    public mutating func string(_ text: String?) {
        if let text { string(text) } else { null() }
    }

    /// A string given as UTF-8 bytes (a SQLite column, a decrypted value). Bytes that are not
    /// valid UTF-8 are written as `String(decoding:as:)` repairs them, as the tree path did.
    public mutating func string(utf8 text: UnsafeBufferPointer<UInt8>) {
        let mark = bytes.count
        if !escape(text) {
            bytes.removeSubrange(mark...)
            string(String(decoding: text, as: UTF8.self))
        }
    }

    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes `text` only when it is valid UTF-8 (a decrypted value that must be text); false,
    /// with nothing written, otherwise. One pass: checking is part of escaping.
    public mutating func validString(utf8 text: UnsafeBufferPointer<UInt8>) -> Bool {
        let mark = bytes.count
        if escape(text) { return true }
        bytes.removeSubrange(mark...)
        return false
    }

    /// Quotes and escapes `text` as `JSON.writeString` does; false (leaving partial output) when
    /// `text` is not valid UTF-8.
    private mutating func escape(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.reserveCapacity(bytes.count + text.count + 2)
        bytes.append(UInt8(ascii: "\""))
        var run = 0  // start of bytes not yet copied
        var i = 0
        let count = text.count
        while i < count {
            let b = text[i]
            if b < 0x80 {
                if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x3C && b != 0x3E && b != 0x26 { i += 1; continue }
                flush(text, run, i)
                escapeASCII(b)
                i += 1
                run = i
                continue
            }
            let length = UTF8Check.sequenceLength(text, at: i)
            guard length > 0 else { return false }
            // U+2028 and U+2029 (E2 80 A8/A9) end lines in JavaScript: `JSON` escapes them.
            if length == 3, b == 0xE2, text[i + 1] == 0x80, text[i + 2] == 0xA8 || text[i + 2] == 0xA9 {
                flush(text, run, i)
                bytes.append(contentsOf: text[i + 2] == 0xA8 ? Self.lineSeparator : Self.paragraphSeparator)
                run = i + 3
            }
            i += length
        }
        flush(text, run, count)
        bytes.append(UInt8(ascii: "\""))
        return true
    }

    static let lineSeparator: [UInt8] = Array("\\u2028".utf8)
    static let paragraphSeparator: [UInt8] = Array("\\u2029".utf8)

    private mutating func flush(_ text: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
        if to > from { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: text[from..<to])) }
    }

    private mutating func escapeASCII(_ b: UInt8) {
        switch b {
        case 0x22: raw("\\\"")
        case 0x5C: raw("\\\\")
        case 0x0A: raw("\\n")
        case 0x0D: raw("\\r")
        case 0x09: raw("\\t")
        case 0x3C: raw("\\u003c")
        case 0x3E: raw("\\u003e")
        case 0x26: raw("\\u0026")
        default:  // the other control characters, as "\u%04x"
            raw("\\u00")
            bytes.append(Self.hex[Int(b >> 4)])
            bytes.append(Self.hex[Int(b & 0x0F)])
        }
    }
}
