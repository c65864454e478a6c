import Foundation

/// Scrubs text bound for logs: bearer tokens, our API tokens, provider-looking keys,
/// `data:` URLs and long base64 runs never reach a log line (SPEC section 8).
public enum Redaction {
    public static let longBase64Threshold = 64

    /// Scrubs `text` and also any run of 6 or more characters of the given secrets (a provider
    /// that echoes a key, in whole or cut into pieces, as in `sk-or-v1-mZsGG...4Dl2Ma`).
    public static func scrub(_ text: String, secrets: [String]) -> String {
        var out = text
        for secret in secrets where secret.count >= 6 {
            out = out.replacingOccurrences(of: secret, with: "<redacted>")
            let chars = Array(secret)
            // Then every piece of 6 to 40 characters, longest first (bounded work for long keys).
            for length in stride(from: min(40, chars.count), through: 6, by: -1) {
                for start in 0...(chars.count - length) {
                    let piece = String(chars[start..<start + length])
                    if out.contains(piece) { out = out.replacingOccurrences(of: piece, with: "<redacted>") }
                }
            }
        }
        return scrub(out)
    }

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
