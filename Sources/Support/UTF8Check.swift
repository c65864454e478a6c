/// Well-formed UTF-8, checked on bytes that never became a `String` (SQLite columns, decrypted
/// transcript values): the same rule `String(validating:as:)` applies, without the copy.
public enum UTF8Check {
    public static func isValid(_ text: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < text.count {
            if text[i] < 0x80 { i += 1; continue }
            let length = sequenceLength(text, at: i)
            guard length > 0 else { return false }
            i += length
        }
        return true
    }

    /// Length of the well-formed sequence starting at `i` (a lead byte >= 0x80), or 0: overlong
    /// forms, surrogates and values past U+10FFFF are refused (Unicode table 3-7).
    static func sequenceLength(_ t: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let rest = t.count - i - 1
        func cont(_ k: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool { t[i + k] >= low && t[i + k] <= high }
        switch t[i] {
        case 0xC2...0xDF: return rest >= 1 && cont(1) ? 2 : 0
        case 0xE0: return rest >= 2 && cont(1, 0xA0) && cont(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return rest >= 2 && cont(1) && cont(2) ? 3 : 0
        case 0xED: return rest >= 2 && cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0
        case 0xF0: return rest >= 3 && cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
        case 0xF1...0xF3: return rest >= 3 && cont(1) && cont(2) && cont(3) ? 4 : 0
        case 0xF4: return rest >= 3 && cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0
        default: return 0
        }
    }
}
