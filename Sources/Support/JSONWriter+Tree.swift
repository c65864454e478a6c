/// A whole `JSON` tree through the byte writer: `JSON.serialized()` uses it (log lines and every
/// answer still built as a tree), so keys are sorted here as `JSON` promises.
extension JSONWriter {
    public mutating func value(_ json: JSON) {
        switch json {
        case .null: null()
        case .bool(let b): b ? raw("true") : raw("false")
        case .number(let d): number(d)
        case .string(let s): string(s)
        case .array(let items):
            raw("[")
            for (i, item) in items.enumerated() {
                if i > 0 { raw(",") }
                value(item)
            }
            raw("]")
        case .object(let fields):
            raw("{")
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { raw(",") }
                string(key)
                raw(":")
                if let field = fields[key] { value(field) }
            }
            raw("}")
        }
    }

    /// Integral values below 9e15 as integers (exact there), others in Double's own spelling.
    public mutating func number(_ d: Double) {
        if d.rounded() == d, abs(d) < 9.0e15 {
            int(Int64(d))
        } else {
            var text = String(d)
            text.withUTF8 { bytes.append(contentsOf: $0) }
        }
    }
}
