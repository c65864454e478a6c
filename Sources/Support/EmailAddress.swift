/// The one rule for an account's email address, used by the API and the operator commands alike:
/// one `@`, a dot in the domain, no spaces or control characters (a NUL or an escape would travel
/// into logs, the audit trail and filters), at most 254 characters.
public enum EmailAddress {
    public static func isValid(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return s.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !s.contains(where: { $0.isWhitespace || $0.isNewline })
            && !s.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
    }
}
