/// The one vocabulary of declared values: request fields, the pipe's valves and the runtime
/// settings all say what they accept in these terms, and one function checks them all.
public enum ValueKind: Sendable {
    /// A string of `min` to `max` characters; newlines and tabs allowed, no other control characters.
    case string(min: Int, max: Int)
    /// One line of at most `max` characters, no control characters at all.
    case line(max: Int)
    case email
    case bool
    case integer(ClosedRange<Int>)
    case number(ClosedRange<Double>)
    case oneOf([String])
    /// A key or password: `min` to `max` characters, no control characters (a pasted newline
    /// could end up in a header).
    case secret(min: Int, max: Int)
    /// An http(s) base URL, returned in normal form (BaseURL.normalize).
    case baseURL
    case object
    /// A JSON array of at most `max` items (each checked by its handler).
    case array(max: Int)
    /// A list of at most `max` strings, none holding a comma (lists are stored comma separated).
    case stringList(max: Int)
    /// A list of at most `max` distinct positive integer ids (group ids, user ids), returned
    /// ascending without repeats.
    case idList(max: Int)
    /// Checked by the given function, which returns why a value is refused.
    case custom(@Sendable (JSON) -> String?)
    /// Passed through untouched (a nested document its handler checks).
    case any

    /// `value` in normal form, or why it is refused (a sentence naming `name`).
    public func check(_ value: JSON, name: String) -> Result<JSON, ValueRefusal> {
        func no(_ why: String) -> Result<JSON, ValueRefusal> { .failure(ValueRefusal(message: "'\(name)' \(why).")) }
        func hasControl(_ s: String, allowing allowed: Set<Unicode.Scalar> = []) -> Bool {
            s.unicodeScalars.contains { ($0.value < 0x20 || $0.value == 0x7F) && !allowed.contains($0) }
        }
        switch self {
        case .string(let min, let max):
            guard let s = value.stringValue else { return no("must be a string") }
            guard s.count >= min, s.count <= max else { return no("must be \(min) to \(max) characters long") }
            guard !hasControl(s, allowing: ["\n", "\t"]) else { return no("contains control characters") }
        case .line(let max):
            guard let s = value.stringValue, s.count <= max, !hasControl(s) else {
                return no("must be one line of text of at most \(max) characters")
            }
        case .email:
            guard let s = value.stringValue, EmailAddress.isValid(s) else { return no("must be an email address") }
        case .bool:
            guard value.boolValue != nil else { return no("must be true or false") }
        case .integer(let range):
            guard let i = value.intValue, range.contains(i) else {
                return no("must be an integer in \(range.lowerBound)...\(range.upperBound)")
            }
        case .number(let range):
            // Checked before any conversion: an untrusted 1e300 must be a refusal, never a trap.
            guard case .number(let d) = value, d.isFinite, range.contains(d) else {
                return no("must be a number from \(range.lowerBound) to \(range.upperBound)")
            }
        case .oneOf(let choices):
            guard let s = value.stringValue, choices.contains(s) else { return no("must be one of: \(choices.joined(separator: ", "))") }
        case .secret(let min, let max):
            guard let s = value.stringValue, s.count >= min, s.count <= max else {
                return no("must be \(min) to \(max) characters long")
            }
            guard !hasControl(s) else { return no("must not contain control characters (newline, tab, NUL)") }
        case .baseURL:
            guard let s = value.stringValue else { return no("must be a URL") }
            switch BaseURL.normalize(s) {
            case .success(let normal): return .success(.string(normal))
            case .failure(let why): return no("is not a valid base URL (\(why.rawValue))")
            }
        case .object:
            guard value.objectValue != nil else { return no("must be an object") }
        case .array(let max):
            guard let items = value.arrayValue, items.count <= max else { return no("must be a list of at most \(max) items") }
        case .stringList(let max):
            guard let items = value.arrayValue, items.count <= max else { return no("must be a list of at most \(max) strings") }
            let strings = items.compactMap(\.stringValue)
            guard strings.count == items.count, !strings.contains(where: { $0.contains(",") || hasControl($0) }) else {
                return no("must be a list of strings without commas or control characters")
            }
        case .idList(let max):
            guard let items = value.arrayValue, items.count <= max else { return no("must be a list of at most \(max) ids") }
            var ids: Set<Int> = []
            for item in items {
                // Whole numbers only, checked before any conversion (1e300 is a refusal, not a trap).
                guard case .number(let d) = item, d.isFinite, d >= 1, d <= 9_007_199_254_740_991, d.rounded() == d else {
                    return no("must be a list of positive integer ids")
                }
                ids.insert(Int(d))
            }
            return .success(.array(ids.sorted().map { .number(Double($0)) }))
        case .custom(let refusal):
            if let why = refusal(value) { return no(why) }
        case .any:
            break
        }
        return .success(value)
    }
}

public struct ValueRefusal: Error, Sendable {
    public let message: String
}
