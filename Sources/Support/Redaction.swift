/// Scrubs text bound for logs: bearer tokens, our API tokens, provider-looking keys,
/// `data:` URLs and long base64 runs never reach a log line (SPEC section 8).
public enum Redaction {
    public static let longBase64Threshold = 64

    public static func scrub(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        var word = ""
        for ch in text {
            if isWordCharacter(ch) {
                word.append(ch)
            } else {
                out += scrubWord(word)
                word = ""
                out.append(ch)
            }
        }
        out += scrubWord(word)
        return out
    }

    static func isWordCharacter(_ ch: Character) -> Bool {
        ch.isASCII && (ch.isLetter || ch.isNumber || "+/=_-:;,.".contains(ch))
    }

    static func scrubWord(_ word: String) -> String {
        if word.isEmpty { return word }
        let lower = word.lowercased()
        if lower.hasPrefix("data:") { return "<redacted \(word.utf8.count) bytes>" }
        if lower.hasPrefix("ct_") && word.count > 12 { return "ct_<redacted>" }
        if lower.hasPrefix("sk-") && word.count > 12 { return "sk-<redacted>" }
        if word.utf8.count >= longBase64Threshold, word.allSatisfy({ $0.isLetter || $0.isNumber || "+/=_-".contains($0) }) {
            return "<redacted \(word.utf8.count) bytes>"
        }
        return word
    }
}
