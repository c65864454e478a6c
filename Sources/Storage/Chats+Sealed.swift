import Crypto

/// Sealed titles and bodies are stored as BLOBs (`SealedBlob`); rows written before that keep
/// their base64 text envelope until the migration converts them, and read either way.
extension ChatRepository {
    /// What to store for a transcript column: a sealed value as its blob, anything else as text.
    /// PostgreSQL keeps the text envelope: its column holds one type.
    func stored(_ text: String, _ encrypted: Bool) -> SQLValue {
        guard encrypted, db.engine == .sqlite, let blob = SealedBlob.fromEnvelope(text) else { return .text(text) }
        return .blob(blob)
    }
}

extension Row {
    /// A transcript column as text: a sealed blob as the text envelope it stands for (an
    /// unreadable blob as "", which then reads as undecryptable); nil when the row is unusable.
    func transcript(_ column: String, encrypted: Bool) -> String? {
        switch values[column] {
        case .text(let text): return text
        case .blob(let blob) where encrypted: return SealedBlob.envelope(blob) ?? ""
        default: return nil
        }
    }
}
