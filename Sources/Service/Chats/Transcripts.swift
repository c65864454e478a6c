import Crypto
import Storage
import Support

/// Chat titles and message bodies at rest: sealed (AES-256-GCM, purpose `transcript`, bound to
/// the row) when ENABLE_LOCAL_ENCRYPTION is on, plaintext otherwise. Rows of either form read.
package struct Transcripts {
    package let keyring: Keyring
    package let encrypt: Bool
    package let opener: EnvelopeOpener

    package init(config: Config, keyring: Keyring) {
        self.keyring = keyring
        self.encrypt = config.localEncryption && keyring.hasKey
        self.opener = EnvelopeOpener(keyring: keyring, purpose: .transcript)
    }

    package static func titlePlace(_ chatID: Int64) -> String { "chat/\(chatID)/title" }
    package static func messagePlace(_ id: Int64) -> String { "message/\(id)/content" }

    /// Transcript text as both engines store it: U+0000 (only a provider's answer can hold it;
    /// request fields refuse control characters) becomes U+FFFD, since PostgreSQL's text cannot
    /// hold it. The same on SQLite and in sealed form, so a chat reads the same everywhere.
    package static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    package func seal(_ text: String, place: String) throws -> (String, Bool) {
        let text = Self.storable(text)
        return encrypt ? (try keyring.seal(text, purpose: .transcript, place: place), true) : (text, false)
    }

    package func open(_ stored: String, encrypted: Bool, place: String) -> String? {
        guard encrypted else { return stored }
        return try? opener.openString(stored, place: place)
    }

    package func title(_ chat: ChatRow) -> String {
        open(chat.title, encrypted: chat.titleEncrypted, place: Self.titlePlace(chat.id)) ?? "[undecryptable]"
    }

    package func content(_ m: MessageRow) -> String? {
        open(m.content, encrypted: m.contentEncrypted, place: Self.messagePlace(m.id))
    }

    /// Stores a message (and indexes it in plaintext mode) inside the caller's transaction.
    package func addMessage(_ repo: ChatRepository, chat: ChatRow, role: String, content: String, model: String?, status: String) throws
        -> Int64
    {
        let content = Self.storable(content)
        if encrypt {
            let id = try repo.addMessage(chatID: chat.id, role: role, content: "", encrypted: false, model: model, status: status)
            let sealed = try keyring.seal(content, purpose: .transcript, place: Self.messagePlace(id))
            try repo.rewriteMessage(id: id, content: sealed, encrypted: true)
            return id
        }
        let id = try repo.addMessage(chatID: chat.id, role: role, content: content, encrypted: false, model: model, status: status)
        try repo.index(body: content, chatID: chat.id, userID: chat.userID, messageID: id)
        return id
    }

    /// Writes the final answer into the row its partial steps used (and indexes it in plaintext mode).
    package func finishMessage(_ repo: ChatRepository, id: Int64, chat: ChatRow, content: String, status: String) throws {
        let (stored, encrypted) = try seal(content, place: Self.messagePlace(id))
        try repo.updateMessage(id: id, content: stored, encrypted: encrypted, status: status)
        if !encrypted { try repo.index(body: stored, chatID: chat.id, userID: chat.userID, messageID: id) }
    }

    package func setTitle(_ repo: ChatRepository, chat: ChatRow, title: String) throws {
        let (stored, encrypted) = try seal(title, place: Self.titlePlace(chat.id))
        try repo.setTitle(chatID: chat.id, title: stored, encrypted: encrypted)
        try repo.unindexTitle(chatID: chat.id)
        if !encrypted && !title.isEmpty { try repo.index(body: stored, chatID: chat.id, userID: chat.userID, messageID: 0) }
    }

    package func chatJSON(_ chat: ChatRow) -> JSON {
        [
            "id": .number(Double(chat.id)), "title": .string(title(chat)), "model": JSON(chat.model),
            "created_at": .number(Double(chat.createdAt)), "updated_at": .number(Double(chat.updatedAt))
        ]
    }

    package func messageJSON(_ m: MessageRow) -> JSON {
        let text = content(m)
        var out: [String: JSON] = [
            "id": .number(Double(m.id)), "chat_id": .number(Double(m.chatID)), "role": .string(m.role),
            "content": .string(text ?? ""), "model": JSON(m.model), "status": .string(m.status),
            "created_at": .number(Double(m.createdAt))
        ]
        if text == nil { out["error"] = "undecryptable" }
        return .object(out)
    }
}

extension Scope {
    package var transcripts: Transcripts { Transcripts(config: config, keyring: services.shared.vault.keyring) }
}
