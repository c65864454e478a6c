/// Reading chats and messages for answers, straight from SQLite's row buffers: no `Row`
/// dictionary, no `String` per column. Views are valid only inside the callback; a row the
/// tree path would drop (a wrong column type) is skipped here too.
public enum StoredText {
    case plain(UnsafeBufferPointer<UInt8>)
    /// `SealedBlob` bytes.
    case sealedBlob(UnsafeRawBufferPointer)
    /// A `ct1.` envelope kept as text, the form before blobs (until the migration converts it).
    case sealedText(UnsafeBufferPointer<UInt8>)
}

public struct MessageView {
    public let id: Int64
    public let chatID: Int64
    public let role: UnsafeBufferPointer<UInt8>
    public let content: StoredText
    public let model: UnsafeBufferPointer<UInt8>?
    /// nil when the column holds no text (read as "complete").
    public let status: UnsafeBufferPointer<UInt8>?
    public let createdAt: Int64
}

public struct ChatView {
    public let id: Int64
    public let userID: Int64
    public let title: StoredText
    public let model: UnsafeBufferPointer<UInt8>?
    public let createdAt: Int64
    public let updatedAt: Int64
}

extension ChatRepository {
    /// A chat's messages, oldest first (the columns and order of `messages(chatID:)`).
    public func eachMessage(chatID: Int64, _ body: (MessageView) throws -> Void) throws {
        try db.each("SELECT \(Self.messageColumns) FROM messages WHERE chat_id = ? ORDER BY id", [.integer(chatID)]) { c in
            guard c.isInteger(0), c.isInteger(1), c.isText(2), let content = Self.stored(c, 3, encrypted: c.isInteger(4) && c.int(4) != 0)
            else { return }
            try body(
                MessageView(
                    id: c.int(0), chatID: c.int(1), role: c.text(2), content: content, model: c.isText(5) ? c.text(5) : nil,
                    status: c.isText(6) ? c.text(6) : nil, createdAt: c.isInteger(7) ? c.int(7) : 0))
        }
    }

    /// The user's chats, newest first (the columns and order of `list(userID:limit:)`).
    public func eachChat(userID: Int64, limit: Int = 500, _ body: (ChatView) throws -> Void) throws {
        let sql = "SELECT \(Self.chatColumns) FROM chats WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT ?"
        try db.each(sql, [.integer(userID), .integer(Int64(limit))]) { c in
            guard c.isInteger(0), c.isInteger(1), let title = Self.stored(c, 2, encrypted: c.isInteger(3) && c.int(3) != 0) else { return }
            try body(
                ChatView(
                    id: c.int(0), userID: c.int(1), title: title, model: c.isText(4) ? c.text(4) : nil,
                    createdAt: c.isInteger(5) ? c.int(5) : 0, updatedAt: c.isInteger(6) ? c.int(6) : 0))
        }
    }

    static func stored(_ c: Columns, _ i: Int32, encrypted: Bool) -> StoredText? {
        if c.isText(i) { return encrypted ? .sealedText(c.text(i)) : .plain(c.text(i)) }
        if c.isBlob(i) && encrypted { return .sealedBlob(c.blob(i)) }
        return nil
    }
}
