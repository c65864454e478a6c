import Support
import Synchronization

public struct ChatRow: Sendable {
    public let id: Int64
    public let userID: Int64
    public let title: String
    public let titleEncrypted: Bool
    public let model: String?
    public let createdAt: Int64
    public let updatedAt: Int64

    init?(_ row: Row) {
        let encrypted = row.bool("title_encrypted")
        guard let id = row.int("id"), let user = row.int("user_id"), let title = row.transcript("title", encrypted: encrypted) else {
            return nil
        }
        self.id = id
        self.userID = user
        self.title = title
        self.titleEncrypted = encrypted
        self.model = row.text("model")
        self.createdAt = row.int("created_at") ?? 0
        self.updatedAt = row.int("updated_at") ?? 0
    }
}

public struct MessageRow: Sendable {
    public let id: Int64
    public let chatID: Int64
    public let role: String
    public let content: String
    public let contentEncrypted: Bool
    public let model: String?
    public let status: String
    public let createdAt: Int64

    init?(_ row: Row) {
        let encrypted = row.bool("content_encrypted")
        guard let id = row.int("id"), let chat = row.int("chat_id"), let role = row.text("role"),
            let content = row.transcript("content", encrypted: encrypted)
        else { return nil }
        self.id = id
        self.chatID = chat
        self.role = role
        self.content = content
        self.contentEncrypted = encrypted
        self.model = row.text("model")
        self.status = row.text("status") ?? "complete"
        self.createdAt = row.int("created_at") ?? 0
    }
}

/// Chats and messages as stored: titles and bodies are either plaintext or sealed envelopes
/// (the `*_encrypted` flags say which). Every query is scoped by the owner's user id.
public struct ChatRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    static let chatColumns = "id, user_id, title, title_encrypted, model, created_at, updated_at"
    static let messageColumns = "id, chat_id, role, content, content_encrypted, model, status, created_at"

    public func create(userID: Int64, model: String?) throws(StorageError) -> Int64 {
        let now = Clock.now()
        return try db.insert(
            "INSERT INTO chats (user_id, title, model, created_at, updated_at) VALUES (?, '', ?, ?, ?)",
            [.integer(userID), SQLValue(model), .integer(now), .integer(now)])
    }

    public func setTitle(chatID: Int64, title: String, encrypted: Bool) throws(StorageError) {
        try db.run(
            "UPDATE chats SET title = ?, title_encrypted = ?, updated_at = ? WHERE id = ?",
            [stored(title, encrypted), SQLValue(encrypted), .integer(Clock.now()), .integer(chatID)])
    }

    public func touch(chatID: Int64, model: String?) throws(StorageError) {
        try db.run(
            "UPDATE chats SET updated_at = ?, model = COALESCE(?, model) WHERE id = ?",
            [
                .integer(Clock.now()),
                SQLValue(model), .integer(chatID)
            ])
    }

    public func find(id: Int64, userID: Int64) throws(StorageError) -> ChatRow? {
        try db.queryOne(
            "SELECT \(Self.chatColumns) FROM chats WHERE id = ? AND user_id = ?",
            [
                .integer(id),
                .integer(userID)
            ]
        ).flatMap(ChatRow.init)
    }

    public func list(userID: Int64, limit: Int = 500) throws(StorageError) -> [ChatRow] {
        try db.query(
            "SELECT \(Self.chatColumns) FROM chats WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT ?",
            [.integer(userID), .integer(Int64(limit))]
        ).compactMap(ChatRow.init)
    }

    /// Deletes a chat with its messages, artifacts (foreign keys) and index rows (trigger), then
    /// merges the index so the deleted words leave its segments too. Call inside a transaction.
    public func delete(id: Int64, userID: Int64) throws(StorageError) -> Bool {
        guard try db.run("DELETE FROM chats WHERE id = ? AND user_id = ?", [.integer(id), .integer(userID)]) > 0 else { return false }
        try purgeIndexIfDue()
        return true
    }

    /// FTS5 keeps a deleted row's terms in its segments until they merge; `optimize` merges them
    /// all now (secure_delete then zeroes the freed pages). It rewrites the whole index, so it
    /// runs at most once per `purgeIntervalSeconds` per process (a user looping create and delete
    /// cannot keep the write lock busy); a deletion in between is merged by the next due one, or
    /// by `cryotensor cleanup`, which always runs it. PostgreSQL's index rows went with the chat
    /// (the foreign key); their dead tuples are autovacuum's, as for every table (docs/deployment.md).
    public func purgeIndex() throws(StorageError) {
        if db.engine == .sqlite { try db.run("INSERT INTO chat_search (chat_search) VALUES ('optimize')") }
        Self.lastPurge.withLock { $0 = (Clock.monotonicMillis(), false) }
    }

    public static let purgeIntervalSeconds = 10.0
    static let lastPurge = Mutex<(at: Double, pending: Bool)>((-1e12, false))

    public func purgeIndexIfDue() throws(StorageError) {
        let due = Self.lastPurge.withLock { state -> Bool in
            guard Clock.monotonicMillis() - state.at >= Self.purgeIntervalSeconds * 1000 else { state.pending = true; return false }
            return true
        }
        if due { try purgeIndex() }
    }

    /// The chat's id if it still exists and belongs to `userID`: checked in the transaction that
    /// stores an answer, so a chat deleted mid-stream never receives it.
    /// Inside a PostgreSQL transaction the row is also locked (FOR SHARE), so the chat cannot be
    /// deleted before the transaction that checked it commits (SQLite's writer lock does that there).
    public func exists(id: Int64, userID: Int64) throws(StorageError) -> Bool {
        let lock = db.engine == .postgresql && db.inTransaction ? " FOR SHARE" : ""
        return try db.queryOne("SELECT 1 AS one FROM chats WHERE id = ? AND user_id = ?" + lock, [.integer(id), .integer(userID)]) != nil
    }

    public func owner(chatID: Int64) throws(StorageError) -> Int64? {
        try db.queryOne("SELECT user_id FROM chats WHERE id = ?", [.integer(chatID)])?.int("user_id")
    }

    /// Chats not updated since `cutoff` (retention), oldest first, at most `limit`.
    public func untouched(before cutoff: Int64, limit: Int) throws(StorageError) -> [(id: Int64, userID: Int64)] {
        try db.query(
            "SELECT id, user_id FROM chats WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?",
            [.integer(cutoff), .integer(Int64(limit))]
        ).compactMap { row in
            guard let id = row.int("id"), let user = row.int("user_id") else { return nil }
            return (id, user)
        }
    }

    public func ids(userID: Int64) throws(StorageError) -> [Int64] {
        try db.query("SELECT id FROM chats WHERE user_id = ?", [.integer(userID)]).compactMap { $0.int("id") }
    }

    public func addMessage(
        chatID: Int64, role: String, content: String, encrypted: Bool, model: String?,
        status: String
    ) throws(StorageError) -> Int64 {
        try db.insert(
            "INSERT INTO messages (chat_id, role, content, content_encrypted, model, status, created_at) VALUES (?, "
                + "?, ?, ?, ?, ?, ?)",
            [
                .integer(chatID), .text(role), stored(content, encrypted), SQLValue(encrypted), SQLValue(model), .text(status),
                .integer(Clock.now())
            ])
    }

    public func messages(chatID: Int64) throws(StorageError) -> [MessageRow] {
        try db.query(
            "SELECT \(Self.messageColumns) FROM messages WHERE chat_id = ? ORDER BY id",
            [.integer(chatID)]
        ).compactMap(MessageRow.init)
    }

    public func message(id: Int64) throws(StorageError) -> MessageRow? {
        try db.queryOne("SELECT \(Self.messageColumns) FROM messages WHERE id = ?", [.integer(id)]).flatMap(MessageRow.init)
    }

    // MARK: full-text index (plaintext mode only)

    public func index(body: String, chatID: Int64, userID: Int64, messageID: Int64) throws(StorageError) {
        try db.run(
            "INSERT INTO chat_search (body, chat_id, user_id, message_id) VALUES (?, ?, ?, ?)",
            [.text(body), .integer(chatID), .integer(userID), .integer(messageID)])
    }

    public func unindexTitle(chatID: Int64) throws(StorageError) {
        try db.run("DELETE FROM chat_search WHERE chat_id = ? AND message_id = 0", [.integer(chatID)])
    }

    public struct SearchHit: Sendable {
        public let chatID: Int64
        public let messageID: Int64
        public let snippet: String
    }

    /// Messages and titles of the user's own chats that hold every one of `terms`, best first.
    public func search(userID: Int64, terms: [String], limit: Int = 50) throws(StorageError) -> [SearchHit] {
        if db.engine == .postgresql { return try searchPostgres(userID: userID, terms: terms, limit: limit) }
        // FTS5: each term a quoted phrase (user text never becomes query syntax), all of them required.
        let match = terms.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
        return try db.query(
            """
            SELECT chat_id, message_id, snippet(chat_search, 0, '[', ']', '…', 12) AS snippet FROM chat_search
            WHERE chat_search MATCH ? AND user_id = ?
              AND chat_id IN (SELECT id FROM chats WHERE user_id = ?)
              AND (message_id = 0 OR message_id IN (SELECT m.id FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.user_id = ?))
            ORDER BY rank LIMIT ?
            """, [.text(match), .integer(userID), .integer(userID), .integer(userID), .integer(Int64(limit))]
        ).compactMap { row in
            guard let chat = row.int("chat_id"), let message = row.int("message_id") else { return nil }
            return SearchHit(chatID: chat, messageID: message, snippet: row.text("snippet") ?? "")
        }
    }

    /// PostgreSQL's full-text search as FTS5 answers: ASCII punctuation separates words (the
    /// column's `words` and each term split the same way, so `example.com` or `1.2` are found
    /// inside `bob@example.com` or `1.2.3`, which PostgreSQL's parser keeps whole; an explicit
    /// class, since `[:alnum:]` drops non-ASCII letters in a C-locale database), each term a
    /// phrase (`phraseto_tsquery`: no operators from the input), every term required; a term with
    /// no word in it is skipped, as FTS5 does. The terms come as one parameter (they never hold
    /// whitespace), so the statement is one. `ts_headline` gives the same snippet marks.
    func searchPostgres(userID: Int64, terms: [String], limit: Int) throws(StorageError) -> [SearchHit] {
        try db.query(
            """
            WITH query AS (
                SELECT string_agg('(' || phrase::text || ')', ' & ')::tsquery AS q FROM (
                    SELECT phraseto_tsquery('simple', regexp_replace(term, '[^0-9A-Za-z\\u0080-\\U0010FFFF]+', ' ', 'g')) AS phrase
                    FROM regexp_split_to_table(?, '[[:space:]]+') AS term) AS phrases
                WHERE numnode(phrase) > 0)
            SELECT s.chat_id, s.message_id,
                ts_headline('simple', s.body, q, 'StartSel=[, StopSel=], MaxWords=12, MinWords=4, FragmentDelimiter=…') AS snippet
            FROM chat_search s, query
            WHERE s.words @@ q AND s.user_id = ?
              AND s.chat_id IN (SELECT id FROM chats WHERE user_id = ?)
              AND (s.message_id = 0 OR s.message_id IN (SELECT m.id FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.user_id = ?))
            ORDER BY ts_rank(s.words, q) DESC, s.id LIMIT ?
            """, [.text(terms.joined(separator: " ")), .integer(userID), .integer(userID), .integer(userID), .integer(Int64(limit))]
        ).compactMap { row in
            guard let chat = row.int("chat_id"), let message = row.int("message_id") else { return nil }
            return SearchHit(chatID: chat, messageID: message, snippet: row.text("snippet") ?? "")
        }
    }

    public func indexRowCount() throws(StorageError) -> Int {
        Int(try db.queryOne("SELECT COUNT(*) AS n FROM chat_search")?.int("n") ?? 0)
    }

    /// Removes the whole index so no plaintext of it survives: the table is dropped (secure_delete
    /// zeroes its pages), the WAL is checkpointed and truncated, and an empty table is made again.
    /// On PostgreSQL, TRUNCATE gives the table new files and unlinks the old ones (no dead rows
    /// left for a vacuum); the server's WAL is the operator's to manage (docs/deployment.md).
    public func destroyIndex() throws(StorageError) {
        if db.engine == .postgresql { return try db.execute("TRUNCATE chat_search") }
        try db.execute("DROP TABLE IF EXISTS chat_search")
        try db.execute("CREATE VIRTUAL TABLE chat_search USING fts5(body, chat_id UNINDEXED, user_id UNINDEXED, message_id UNINDEXED)")
        _ = try db.query("PRAGMA wal_checkpoint(TRUNCATE)")
    }

    // MARK: bulk access for reencrypt

    public func allChats(afterID: Int64, limit: Int) throws(StorageError) -> [ChatRow] {
        try db.query(
            "SELECT \(Self.chatColumns) FROM chats WHERE id > ? ORDER BY id LIMIT ?",
            [
                .integer(afterID),
                .integer(Int64(limit))
            ]
        ).compactMap(ChatRow.init)
    }

    public func allMessages(afterID: Int64, limit: Int) throws(StorageError) -> [MessageRow] {
        try db.query(
            "SELECT \(Self.messageColumns) FROM messages WHERE id > ? ORDER BY id LIMIT ?",
            [
                .integer(afterID),
                .integer(Int64(limit))
            ]
        ).compactMap(MessageRow.init)
    }

    public func counts() throws(StorageError) -> (chats: Int, messages: Int) {
        let c = Int(try db.queryOne("SELECT COUNT(*) AS n FROM chats")?.int("n") ?? 0)
        let m = Int(try db.queryOne("SELECT COUNT(*) AS n FROM messages")?.int("n") ?? 0)
        return (c, m)
    }

    /// The partial answer of a stream in flight: stored as `streaming` while the chat exists and
    /// belongs to `userID` (nil when it is gone).
    public func addPartial(chatID: Int64, userID: Int64, model: String?) throws(StorageError) -> Int64? {
        guard try exists(id: chatID, userID: userID) else { return nil }
        return try addMessage(chatID: chatID, role: "assistant", content: "", encrypted: false, model: model, status: "streaming")
    }

    public func updateMessage(id: Int64, content: String, encrypted: Bool, status: String) throws(StorageError) {
        try db.run(
            "UPDATE messages SET content = ?, content_encrypted = ?, status = ? WHERE id = ?",
            [stored(content, encrypted), SQLValue(encrypted), .text(status), .integer(id)])
    }

    /// After a crash: answers still marked `streaming` were cut off; they keep what was stored.
    public func markInterrupted() throws(StorageError) -> Int {
        try db.run("UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'")
    }

    public func rewriteMessage(id: Int64, content: String, encrypted: Bool) throws(StorageError) {
        try db.run(
            "UPDATE messages SET content = ?, content_encrypted = ? WHERE id = ?",
            [
                stored(content, encrypted),
                SQLValue(encrypted),
                .integer(id)
            ])
    }

    public func rewriteTitle(id: Int64, title: String, encrypted: Bool) throws(StorageError) {
        try db.run(
            "UPDATE chats SET title = ?, title_encrypted = ? WHERE id = ?",
            [
                stored(title, encrypted), SQLValue(encrypted),
                .integer(id)
            ])
    }
}
