/// The one rule for an account's email address, used by the API and the operator commands alike:
/// one `@`, a dot in the domain, no spaces, at most 254 characters.
public enum EmailAddress {
    public static func isValid(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return s.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !s.contains(where: { $0.isWhitespace || $0.isNewline })
    }
}
