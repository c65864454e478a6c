import Crypto
import Storage
import Support

/// `GET /chats` and `GET /chats/{id}` written straight from SQLite's rows into JSON bytes, sealed
/// values opened by this thread's reader: the bytes `chatJSON` and `messageJSON` make through a
/// tree (ChatReadsTests compares both), at a fraction of the cost (docs/architecture.md, issue 14).
extension Transcripts {
    package func listBody(_ repo: ChatRepository, userID: Int64) throws -> [UInt8] {
        var w = JSONWriter(capacity: 16 * 1024)
        var place = PlaceBytes()
        w.raw("{\"chats\":[")
        var first = true
        try repo.eachChat(userID: userID) { chat in
            if !first { w.raw(",") }
            first = false
            w.raw("{\"created_at\":")
            w.int(chat.createdAt)
            w.raw(",\"id\":")
            w.int(chat.id)
            w.raw(",\"model\":")
            if let model = chat.model { w.string(utf8: model) } else { w.null() }
            w.raw(",\"title\":")
            if !write(chat.title, place: place.title(chat.id), to: &w) { w.string("[undecryptable]") }
            w.raw(",\"updated_at\":")
            w.int(chat.updatedAt)
            w.raw("}")
        }
        w.raw("]}")
        SealedReader.forThisThread().wipe()
        return w.bytes
    }

    package func historyBody(_ repo: ChatRepository, chat: ChatRow) throws -> [UInt8] {
        var w = JSONWriter(capacity: 64 * 1024)
        var place = PlaceBytes()
        w.raw("{\"created_at\":")
        w.int(chat.createdAt)
        w.raw(",\"id\":")
        w.int(chat.id)
        w.raw(",\"messages\":[")
        var first = true
        try repo.eachMessage(chatID: chat.id) { m in
            if !first { w.raw(",") }
            first = false
            w.raw("{\"chat_id\":")
            w.int(m.chatID)
            w.raw(",\"content\":")
            let opened = write(m.content, place: place.message(m.id), to: &w)
            if !opened { w.string("") }
            w.raw(",\"created_at\":")
            w.int(m.createdAt)
            if !opened { w.raw(",\"error\":\"undecryptable\"") }
            w.raw(",\"id\":")
            w.int(m.id)
            w.raw(",\"model\":")
            if let model = m.model { w.string(utf8: model) } else { w.null() }
            w.raw(",\"role\":")
            w.string(utf8: m.role)
            w.raw(",\"status\":")
            if let status = m.status { w.string(utf8: status) } else { w.raw("\"complete\"") }
            w.raw("}")
        }
        w.raw("],\"model\":")
        w.string(chat.model)
        w.raw(",\"title\":")
        w.string(title(chat))
        w.raw(",\"updated_at\":")
        w.int(chat.updatedAt)
        w.raw("}")
        SealedReader.forThisThread().wipe()
        return w.bytes
    }

    /// Writes a stored value as a JSON string; false (nothing written) when a sealed one does not
    /// open or is not UTF-8, as `open` answers nil for it.
    private func write(_ value: StoredText, place: [UInt8], to w: inout JSONWriter) -> Bool {
        switch value {
        case .plain(let text):
            w.string(utf8: text)
            return true
        case .sealedBlob(let blob):
            return open(blob, place: place, to: &w)
        case .sealedText(let text):
            guard let blob = SealedBlob.fromEnvelope(String(decoding: text, as: UTF8.self)) else { return false }
            return blob.withUnsafeBytes { open($0, place: place, to: &w) }
        }
    }

    private func open(_ blob: UnsafeRawBufferPointer, place: [UInt8], to w: inout JSONWriter) -> Bool {
        let reader = SealedReader.forThisThread()
        return place.withUnsafeBufferPointer { p in
            // Not UTF-8: undecryptable, as `String(validating:)` made it on the tree path.
            guard let text = try? reader.open(blob: blob, keyring: keyring, purpose: .transcript, place: p) else { return false }
            return w.validString(utf8: text)
        }
    }
}

/// `chat/<id>/title` and `message/<id>/content` (`Transcripts.titlePlace`, `messagePlace`) as
/// bytes, made in one reused buffer instead of an interpolated `String` per row.
struct PlaceBytes {
    private var bytes: [UInt8] = []

    mutating func title(_ id: Int64) -> [UInt8] { make("chat/", id, "/title") }
    mutating func message(_ id: Int64) -> [UInt8] { make("message/", id, "/content") }

    private mutating func make(_ head: StaticString, _ id: Int64, _ tail: StaticString) -> [UInt8] {
        bytes.removeAll(keepingCapacity: true)
        head.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.appendDecimal(id)
        tail.withUTF8Buffer { bytes.append(contentsOf: $0) }
        return bytes
    }
}
