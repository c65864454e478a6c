extension Array where Element == UInt8 {
    /// Appends `value` in decimal, as `"\(value)"` spells it: the digits from the right into a
    /// stack buffer, then one append (no String, no slice, no reverse). A hot path of every read.
    public mutating func appendDecimal(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var n = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &digits) { raw in
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: n % 10)
                n /= 10
            } while n > 0
            append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }
}
