import Foundation
import Storage
import Support
import Synchronization

/// What a person has seen of an answer, kept on disk while it streams: a killed responder loses
/// at most the last `interval` of it. One flusher thread writes every answer that grew since the
/// last round, all in one short transaction, so a thousand streams cost four small transactions
/// a second, not four thousand. The row is `streaming` until the answer ends; at start-up any row
/// still `streaming` is marked `interrupted` (`markInterrupted`).
public final class PartialAnswers: Sendable {
    public static let interval = 0.25

    /// One answer in flight. Its lock is held while its row is written, so the final store waits
    /// for a flush in progress and then updates the same row.
    package final class Entry: Sendable {
        struct State {
            var text = ""
            var flushed = 0
            var rowID: Int64?
            var closed = false
        }
        let chat: ChatRow
        let model: String
        let state = Mutex(State())
        init(chat: ChatRow, model: String) {
            self.chat = chat
            self.model = model
        }
    }

    package let entries = Mutex<[ObjectIdentifier: Entry]>([:])
    package let started = Atomic<Bool>(false)

    public init() {}

    package func open(chat: ChatRow, model: String) -> Entry {
        let entry = Entry(chat: chat, model: model)
        entries.withLock { $0[ObjectIdentifier(entry)] = entry }
        return entry
    }

    package func append(_ entry: Entry, _ text: String) {
        entry.state.withLock { $0.text += text }
    }

    /// Ends the entry; returns the row it was written to, if any (the final store updates it).
    package func close(_ entry: Entry) -> Int64? {
        entries.withLock { $0[ObjectIdentifier(entry)] = nil }
        return entry.state.withLock { state in
            state.closed = true
            return state.rowID
        }
    }

    /// Starts the flusher once, on its own database connection.
    public func startFlusher(services: @escaping @Sendable () -> Services?) {
        guard started.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        let thread = Thread { [self] in
            guard let services = services() else { return }
            while true {
                usleep(UInt32(Self.interval * 1_000_000))
                flush(services)
            }
        }
        thread.name = "partial-answers"
        thread.start()
    }

    package func flush(_ services: Services) {
        let dirty = entries.withLock { all in all.values.filter { entry in entry.state.withLock { $0.text.utf8.count != $0.flushed } } }
        guard !dirty.isEmpty else { return }
        let transcripts = Transcripts(config: services.config, keyring: services.shared.vault.keyring)
        let repo = ChatRepository(services.db)
        do {
            try services.db.transaction(.rows) {
                for entry in dirty {
                    try entry.state.withLock { state in
                        guard !state.closed else { return }
                        if state.rowID == nil {
                            state.rowID = try repo.addPartial(chatID: entry.chat.id, userID: entry.chat.userID, model: entry.model)
                        }
                        guard let id = state.rowID else { state.closed = true; return }  // the chat is gone
                        let (stored, encrypted) = try transcripts.seal(state.text, place: Transcripts.messagePlace(id))
                        try repo.updateMessage(id: id, content: stored, encrypted: encrypted, status: "streaming")
                        state.flushed = state.text.utf8.count
                    }
                }
            }
        } catch {
            Log.event(.warn, "partial_answers_not_stored", ["error": .string(String(describing: error)), "answers": JSON(dirty.count)])
        }
    }
}
