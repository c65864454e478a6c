/// The masked form of a secret (SPEC section 4): at most a short known prefix and the last 4
/// characters (`sk-…a1b2`), and nothing at all for secrets shorter than 16 characters.
public enum Fingerprint {
    static let knownPrefixes = ["sk-proj-", "sk-or-v1-", "sk-ant-", "sk-", "AIza"]

    public static func of(_ secret: String) -> String? {
        guard secret.count >= 16 else { return nil }
        let prefix = knownPrefixes.first { secret.hasPrefix($0) } ?? ""
        return prefix + "…" + String(secret.suffix(4))
    }

    /// True when a submitted value looks like a mask rather than a real secret.
    public static func looksMasked(_ value: String, current: String?) -> Bool {
        if value.contains("…") || value.contains("***") { return true }
        if let current, let fp = of(current), value == fp { return true }
        return false
    }
}
